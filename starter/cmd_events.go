package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
)

func (a *app) eventCommand() *cobra.Command {
	var (
		account, at string
		e           activities.Event
		nps, csat   int
	)
	cmd := &cobra.Command{
		Use:   "event --account ID --kind KIND [--amount --severity --nps --csat --note --external-id --at]",
		Short: "send one business event to an account",
		Long: `event sends one business event (an order, a complaint, a renewal, a survey
answer ...) to an account. Kinds: ` + strings.Join(activities.EventKinds, ", ") + `.

The external id makes the event idempotent: the account applies an id once,
so sending the same event again is harmless. Without --external-id a new id
is made up and printed, so a retry should pass that id.`,
		Example: `  starter event --account acme-1 --kind order --amount 25000 --external-id SO-1001
  starter event --account acme-1 --kind complaint --severity 4 --note "late delivery"
  starter event --account acme-1 --kind survey_response --nps 9 --at 2026-03-01`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "account", "kind"); err != nil {
				return err
			}
			if err := activities.ValidID(account); err != nil {
				return usageError{err: fmt.Errorf("--account: %w", err)}
			}
			e.At = time.Now().UTC()
			if at != "" {
				t, err := accounts.ParseTime(at)
				if err != nil {
					return usageError{err: fmt.Errorf("--at: %w", err)}
				}
				e.At = t
			}
			if cmd.Flags().Changed("nps") {
				e.NPS = &nps
			}
			if cmd.Flags().Changed("csat") {
				e.CSAT = &csat
			}
			if e.ExternalID == "" {
				e.ExternalID = "cli-" + strings.ToLower(rand.Text()[:16])
			}
			if err := e.Validate(); err != nil {
				return usageError{err: err}
			}
			return a.sendEvent(cmd.Context(), account, e)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&account, "account", "", "account id (required)")
	f.StringVar(&e.Kind, "kind", "", "event kind: "+strings.Join(activities.EventKinds, ", ")+" (required)")
	f.Float64Var(&e.Amount, "amount", 0, "order amount")
	f.IntVar(&e.Severity, "severity", 0, "complaint severity, 1 (minor) to 5 (critical)")
	f.IntVar(&nps, "nps", 0, "survey answer, 0 to 10")
	f.IntVar(&csat, "csat", 0, "survey answer, 1 to 5")
	f.StringVar(&e.Note, "note", "", "free text")
	f.StringVar(&e.ExternalID, "external-id", "", "the event's id in the source system (made up when empty)")
	f.StringVar(&at, "at", "", "when it happened: 2026-03-01 or 2026-03-01T10:00:00+08:00 (default now)")
	return cmd
}

func (a *app) sendEvent(ctx context.Context, account string, e activities.Event) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := accounts.SendEvent(ctx, c, account, e); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"account_id": account, "external_id": e.ExternalID, "sent": true})
	}
	a.printf("sent %s event %s to account %s\n", e.Kind, e.ExternalID, account)
	return nil
}

func (a *app) eventsCommand() *cobra.Command {
	var concurrency int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "events FILE",
		Short: "send business events from a CSV file",
		Long: `events sends every event of a CSV file to its account. Columns are matched by
their header, in any order, case-insensitively; other columns are ignored.
Columns (other accepted headers in brackets):

` + columnHelp(accounts.EventColumns) + `
Each bad row, and each event for an account that does not exist or has
ended, is reported as "line N: reason"; every good row is sent. The events of
one account are sent in file order. An account applies an external id once,
so sending a file again is harmless. Ctrl-C stops sending, lets the events in
flight finish and prints what was done.`,
		Example: `  starter events events.csv
  starter events --dry-run events.csv
  starter events --concurrency 32 events.csv --json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 {
				return usagef("--concurrency %d: want 1 or more", concurrency)
			}
			return a.sendEvents(cmd.Context(), args[0], concurrency, dryRun)
		},
	}
	cmd.Flags().IntVarP(&concurrency, "concurrency", "c", 16, "accounts sent to at once")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the file without sending anything")
	return cmd
}

func (a *app) sendEvents(ctx context.Context, path string, concurrency int, dryRun bool) error {
	f, err := openInput(path)
	if err != nil {
		return err
	}
	rows, rowErrs := accounts.ReadEventsCSV(f)
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := a.fatalError(path, rowErrs); err != nil {
		return err
	}
	sum := importSummary{File: path, Rows: len(rows) + len(rowErrs), DryRun: dryRun, Errors: rowErrs}
	if !dryRun && len(rows) > 0 {
		c, err := a.client(ctx)
		if err != nil {
			return err
		}
		// One lane per account, in order of first appearance.
		lane := map[string]int{}
		var lanes [][]int
		for i, r := range rows {
			l, ok := lane[r.AccountID]
			if !ok {
				l = len(lanes)
				lane[r.AccountID] = l
				lanes = append(lanes, nil)
			}
			lanes[l] = append(lanes[l], i)
		}
		outs, gaveUp := a.bulk(concurrency, "events", "sending", len(rows)).run(ctx, len(rows), lanes, func(ctx context.Context, i int) (bool, error) {
			return false, accounts.SendEvent(ctx, c, rows[i].AccountID, rows[i].Event)
		})
		sum.GaveUp = a.explain(gaveUp)
		var failed []accounts.RowError
		for i, o := range outs {
			switch {
			case !o.done:
				sum.NotAttempted++
			case o.err != nil:
				failed = append(failed, accounts.RowError{Line: rows[i].Line, Reason: a.explain(o.err)})
			default:
				sum.Sent++
			}
		}
		sum.Errors = append(sum.Errors, failed...)
	}
	return a.finishImport(sum, fmt.Sprintf("%d sent", sum.Sent), len(rows))
}
