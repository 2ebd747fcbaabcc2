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
	var concurrency, batch int
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
one account are sent in file order, up to --batch of them in one message
(the account records a batch in one write and re-scores once). An account
applies an external id once, so sending a file again is harmless. Ctrl-C
stops sending, lets the events in flight finish and prints what was done.`,
		Example: `  starter events events.csv
  starter events --dry-run events.csv
  starter events --concurrency 32 events.csv --json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 {
				return usagef("--concurrency %d: want 1 or more", concurrency)
			}
			if batch < 1 || batch > accounts.MaxBatchEvents {
				return usagef("--batch %d: want 1 to %d", batch, accounts.MaxBatchEvents)
			}
			return a.sendEvents(cmd.Context(), args[0], concurrency, batch, dryRun)
		},
	}
	cmd.Flags().IntVarP(&concurrency, "concurrency", "c", 16, "accounts sent to at once")
	cmd.Flags().IntVar(&batch, "batch", accounts.MaxBatchEvents, "events of one account sent in one message (1: each on its own)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the file without sending anything")
	return cmd
}

func (a *app) sendEvents(ctx context.Context, path string, concurrency, batch int, dryRun bool) error {
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
		outs, gaveUp := a.bulk(concurrency, "events", "sending", len(rows)).run(ctx, len(rows), eventLanes(rows, batch), func(ctx context.Context, job []int) (bool, error) {
			if len(job) == 1 {
				return false, accounts.SendEvent(ctx, c, rows[job[0]].AccountID, rows[job[0]].Event)
			}
			return false, accounts.SendEvents(ctx, c, rows[job[0]].AccountID, eventsOf(rows, job))
		})
		sum.GaveUp = a.explain(gaveUp)
		sum.Sent, _ = a.tally(&sum, outs, func(i int) int { return rows[i].Line })
	}
	return a.finishImport(sum, fmt.Sprintf("%d sent", sum.Sent), len(rows))
}

// eventLanes gives each account a lane, in order of first appearance, of
// batches of its events in file order (accounts.Batches, at most batch
// events each).
func eventLanes(rows []accounts.EventRow, batch int) [][][]int {
	lane := map[string]int{}
	var byAccount [][]int
	for i, r := range rows {
		l, ok := lane[r.AccountID]
		if !ok {
			l = len(byAccount)
			lane[r.AccountID] = l
			byAccount = append(byAccount, nil)
		}
		byAccount[l] = append(byAccount[l], i)
	}
	lanes := make([][][]int, len(byAccount))
	for l, idx := range byAccount {
		for _, b := range accounts.Batches(eventsOf(rows, idx), batch) {
			lanes[l] = append(lanes[l], idx[b[0]:b[1]])
		}
	}
	return lanes
}

// eventsOf is the events of rows idx, in that order.
func eventsOf(rows []accounts.EventRow, idx []int) []activities.Event {
	events := make([]activities.Event, len(idx))
	for k, i := range idx {
		events[k] = rows[i].Event
	}
	return events
}
