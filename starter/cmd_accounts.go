package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/workflows"
)

func (a *app) startCommand() *cobra.Command {
	var p activities.Profile
	cmd := &cobra.Command{
		Use:   "start --id ID --name NAME --manager M [--industry --region --revenue ...]",
		Short: "onboard one account",
		Long: `start onboards one account and starts its lifecycle workflow. An account that
is already onboarded is reported as existing, not as an error, so running the
same command twice is safe. The manager must have been added with
` + "`starter managers add`" + `.`,
		Example: `  starter start --id acme-1 --name "Acme Ltd" --manager m.chen --revenue 1200000
  starter start --id sh-001 --name 上海华东机电有限公司 --manager m.chen --region 华东 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "id", "name", "manager"); err != nil {
				return err
			}
			if err := p.Validate(); err != nil {
				return usageError{err: err}
			}
			return a.start(cmd.Context(), p)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&p.ID, "id", "", "account id: 1-64 letters, digits, '.', '_' or '-' (required)")
	f.StringVar(&p.Name, "name", "", "account name (required)")
	f.StringVar(&p.Manager, "manager", "", "id of the account manager (required)")
	f.StringVar(&p.Industry, "industry", "", "industry")
	f.StringVar(&p.Region, "region", "", "region")
	f.Float64Var(&p.Revenue, "revenue", 0, "declared annual revenue")
	f.Float64Var(&p.GrowthRate, "growth-rate", 0, "expected growth as a fraction (0.15 for 15%)")
	f.Float64Var(&p.MarketShare, "market-share", 0, "share of wallet, 0 to 1")
	f.StringVar(&p.ContactName, "contact-name", "", "the customer's contact person")
	f.StringVar(&p.ContactEmail, "contact-email", "", "where surveys are sent")
	return cmd
}

func (a *app) start(ctx context.Context, p activities.Profile) error {
	known, err := a.managerIDs(ctx)
	if err != nil {
		return err
	}
	if !known[p.Manager] {
		return unknownManager(p.Manager)
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	opCtx, cancel := a.opCtx(ctx)
	defer cancel()
	existing, err := accounts.Onboard(opCtx, c, a.taskQueue, p)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"account_id": p.ID, "existing": existing})
	}
	if existing {
		a.printf("account %s already exists\n", p.ID)
	} else {
		a.printf("started account %s\n", accounts.StaticSummary(p))
	}
	return nil
}

func unknownManager(id string) error {
	return fmt.Errorf("unknown manager %s: add it first with `starter managers add --id %s ...`", id, id)
}

// managerIDs loads the known manager ids once per run; an import checks
// every row against them before starting anything.
func (a *app) managerIDs(ctx context.Context) (map[string]bool, error) {
	st, err := a.db(ctx)
	if err != nil {
		return nil, fmt.Errorf("check managers: %w", err)
	}
	ms, err := st.Managers(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(ms))
	for _, m := range ms {
		ids[m.ID] = true
	}
	return ids, nil
}

// importSummary is what `import` and `events` print at the end, and their
// --json output.
type importSummary struct {
	File         string `json:"file"`
	Rows         int    `json:"rows"`
	Started      int    `json:"started"`
	Existing     int    `json:"existing"`
	Sent         int    `json:"sent"`
	Failed       int    `json:"failed"`
	NotAttempted int    `json:"not_attempted"`
	DryRun       bool   `json:"dry_run"`
	// GaveUp says why the run stopped early when the service, not the
	// rows, kept failing.
	GaveUp string              `json:"gave_up,omitempty"`
	Errors []accounts.RowError `json:"errors"`
}

func (a *app) importCommand() *cobra.Command {
	var concurrency int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "onboard accounts from a CSV file",
		Long: `import onboards every account of a CSV file. Columns are matched by their
header, in any order, case-insensitively; other columns are ignored. The file
is UTF-8 with or without a byte order mark; quoted fields may hold commas and
line breaks. Columns (other accepted headers in brackets):

` + columnHelp(accounts.AccountColumns) + `
Each bad row (missing id, bad number, unknown manager, an id twice in the
file ...) is reported as "line N: reason" and skipped; every good row goes in.
An account already onboarded is counted as existing, so re-running a file
starts nothing twice. Ctrl-C stops starting new accounts, lets the ones in
flight finish and prints what was done; run the same command again to finish.
The same happens when Temporal fails three requests in a row (unreachable, or
no worker answering within --timeout).`,
		Example: `  starter import accounts.csv
  starter import --dry-run accounts.csv
  starter import --concurrency 64 big.csv --json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 {
				return usagef("--concurrency %d: want 1 or more", concurrency)
			}
			return a.importAccounts(cmd.Context(), args[0], concurrency, dryRun)
		},
	}
	cmd.Flags().IntVarP(&concurrency, "concurrency", "c", 16, "accounts started at once")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the file (and the managers) without starting anything")
	return cmd
}

func (a *app) importAccounts(ctx context.Context, path string, concurrency int, dryRun bool) error {
	f, err := openInput(path)
	if err != nil {
		return err
	}
	rows, rowErrs := accounts.ReadAccountsCSV(f)
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := a.fatalError(path, rowErrs); err != nil {
		return err
	}
	sum := importSummary{File: path, Rows: len(rows) + len(rowErrs), DryRun: dryRun, Errors: rowErrs}
	if len(rows) > 0 {
		known, err := a.managerIDs(ctx)
		if err != nil {
			return err
		}
		good := rows[:0]
		for _, r := range rows {
			if known[r.Profile.Manager] {
				good = append(good, r)
				continue
			}
			sum.Errors = append(sum.Errors, accounts.RowError{Line: r.Line, Reason: unknownManager(r.Profile.Manager).Error()})
		}
		rows = good
	}
	if !dryRun && len(rows) > 0 {
		c, err := a.client(ctx)
		if err != nil {
			return err
		}
		outs, gaveUp := a.bulk(concurrency, "starts", "importing", len(rows)).run(ctx, len(rows), singleRows(len(rows)), func(ctx context.Context, job []int) (bool, error) {
			return accounts.Onboard(ctx, c, a.taskQueue, rows[job[0]].Profile)
		})
		sum.GaveUp = a.explain(gaveUp)
		sum.Started, sum.Existing = a.tally(&sum, outs, func(i int) int { return rows[i].Line })
		// The run's counts feed kamflow_import_rows_total on every worker.
		st, err := a.db(ctx)
		if err != nil {
			return err
		}
		if err := st.RecordImport(context.WithoutCancel(ctx), path, sum.Started, sum.Existing, len(sum.Errors)); err != nil {
			return err
		}
	}
	return a.finishImport(sum, fmt.Sprintf("%d started, %d already existed", sum.Started, sum.Existing), len(rows))
}

// finishImport prints every failed row in file order, then the summary
// line, and decides the exit status.
func (a *app) finishImport(sum importSummary, done string, valid int) error {
	if sum.Errors == nil {
		sum.Errors = []accounts.RowError{}
	}
	sortRowErrors(sum.Errors)
	sum.Failed = len(sum.Errors)
	a.printRowErrors(sum.Errors)
	var line string
	if sum.DryRun {
		line = fmt.Sprintf("%d rows: %d valid, %d failed (dry run: nothing sent)", sum.Rows, valid, sum.Failed)
	} else {
		line = fmt.Sprintf("%d rows: %s, %d failed", sum.Rows, done, sum.Failed)
		switch {
		case sum.NotAttempted > 0 && sum.GaveUp != "":
			line += fmt.Sprintf(", %d not attempted (stopped: run the same command again once the service answers)", sum.NotAttempted)
		case sum.NotAttempted > 0:
			line += fmt.Sprintf(", %d not attempted (interrupted: run the same command again to finish)", sum.NotAttempted)
		}
	}
	if a.json {
		if err := a.printJSON(sum); err != nil {
			return err
		}
	} else {
		a.printf("%s\n", line)
	}
	switch {
	case sum.GaveUp != "":
		return fmt.Errorf("%s: stopped after %d requests in a row failed as above; %d rows not attempted", sum.File, giveUpAfter, sum.NotAttempted)
	case sum.NotAttempted > 0:
		return fmt.Errorf("%s: interrupted with %d of %d rows not attempted, %d failed", sum.File, sum.NotAttempted, sum.Rows, sum.Failed)
	case sum.Failed > 0:
		return fmt.Errorf("%s: %d of %d rows failed", sum.File, sum.Failed, sum.Rows)
	}
	return nil
}

// fatalError reports a file that could not be read through: nothing of it
// is sent, since what follows the failure is unknown.
func (a *app) fatalError(path string, errs []accounts.RowError) error {
	if len(errs) == 0 || !errs[len(errs)-1].Fatal {
		return nil
	}
	a.printRowErrors(errs[:len(errs)-1])
	return fmt.Errorf("%s: %w (nothing was sent)", path, errs[len(errs)-1])
}

func sortRowErrors(errs []accounts.RowError) {
	slices.SortStableFunc(errs, func(x, y accounts.RowError) int { return x.Line - y.Line })
}

func (a *app) printRowErrors(errs []accounts.RowError) {
	for _, e := range errs {
		diag(a.stderr, "%s\n", e.Error())
	}
}

func columnHelp(cols []accounts.Column) string {
	var tb table
	for _, c := range cols {
		name := c.Name
		if len(c.Aliases) > 0 {
			name += " [" + strings.Join(c.Aliases, ", ") + "]"
		}
		req := ""
		if c.Required {
			req = "required"
		}
		tb.add(name, req, c.Help)
	}
	var b strings.Builder
	_ = tb.write(&b, "  ") // writes to a strings.Builder cannot fail
	return b.String()
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "show an account's stage, tier, scores, open tasks and next review",
		Long: `status asks the account's workflow for its state: stage and since when, tier,
manager, the latest scores with the reasons for them, churn signals, open
tasks, the last visit and the next review.`,
		Example: `  starter status acme-1
  starter status acme-1 --json | jq .scores`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := activities.ValidID(args[0]); err != nil {
				return usageError{err: fmt.Errorf("ID: %w", err)}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			st, err := accounts.Status(ctx, c, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			return printStatus(a.stdout, st)
		},
	}
}

func printStatus(w io.Writer, st workflows.Status) error {
	var kv table
	kv.add("account", st.AccountID+" ("+st.Name+")")
	kv.add("stage", st.Stage+" since "+when(st.StageSince))
	if st.Outcome != "" {
		kv.add("outcome", st.Outcome)
	}
	kv.add("tier", st.Tier)
	kv.add("manager", st.Manager)
	if s := st.Scores; s.Value != "" {
		kv.add("scores", fmt.Sprintf("value %s, potential %s, loyalty %s", s.Value, s.Potential, s.Loyalty))
		kv.add("", fmt.Sprintf("health %.0f, churn risk %.2f, ABC %s, segment %s, strategy %s, CLV %.0f",
			s.Health, s.ChurnRisk, s.ABC, s.Segment, s.Strategy, s.CLV))
		for _, r := range s.Reasons {
			kv.add("", "- "+r.Field+": "+r.Text)
		}
	} else {
		kv.add("scores", "not scored yet")
	}
	if len(st.ChurnReasons) > 0 {
		kv.add("churn signals", strings.Join(st.ChurnReasons, ", "))
	}
	kv.add("last visit", whenPtr(st.LastVisit))
	kv.add("next review", whenPtr(st.NextReview))
	if len(st.OpenTasks) == 0 {
		kv.add("open tasks", "none")
		return kv.write(w, "")
	}
	kv.add("open tasks", "")
	if err := kv.write(w, ""); err != nil {
		return err
	}
	var tasks table
	tasks.add("ID", "KIND", "ASSIGNEE", "DUE", "ESCALATION", "TITLE")
	for _, t := range st.OpenTasks {
		tasks.add(t.ID, t.Kind, t.Assignee, when(t.Due), t.EscalationLevel, t.Title)
	}
	return tasks.write(w, "  ")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return when(*t)
}

func (a *app) listCommand() *cobra.Command {
	var f accounts.Filter
	cmd := &cobra.Command{
		Use:   "list [--stage S] [--tier T] [--manager M]",
		Short: "list accounts by stage, tier and manager, with counts",
		Long: `list shows the accounts (of this task queue) that match every filter given,
with how many are in each stage and tier. It reads Temporal's visibility
store, which trails the workflows by a moment.

Stages: ` + strings.Join(accounts.Stages, ", ") + `
Tiers:  ` + strings.Join(accounts.Tiers, ", "),
		Example: `  starter list
  starter list --stage churn_recovery --tier vip
  starter list --manager m.chen --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.TaskQueue = a.taskQueue
			if err := f.Validate(); err != nil {
				return usageError{err: err}
			}
			return a.list(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.Stage, "stage", "", "only accounts in this stage")
	cmd.Flags().StringVar(&f.Tier, "tier", "", "only accounts of this tier")
	cmd.Flags().StringVar(&f.Manager, "manager", "", "only accounts of this manager")
	return cmd
}

func (a *app) list(ctx context.Context, f accounts.Filter) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	list, err := accounts.List(ctx, c, a.converter, f)
	if err != nil {
		return err
	}
	byStage, byTier, err := accounts.Counts(ctx, c, f)
	if err != nil {
		return err
	}
	if a.json {
		if list == nil {
			list = []accounts.Summary{}
		}
		return a.printJSON(map[string]any{"accounts": list, "by_stage": byStage, "by_tier": byTier})
	}
	var tb table
	tb.add("ID", "NAME", "STAGE", "TIER", "MANAGER", "HEALTH", "RISK")
	for _, s := range list {
		tb.add(s.AccountID, s.Name, s.Stage, s.Tier, s.Manager, fmt.Sprintf("%.0f", s.Health), fmt.Sprintf("%.2f", s.ChurnRisk))
	}
	if err := tb.write(a.stdout, ""); err != nil {
		return err
	}
	a.printf("%d accounts\nby stage: %s\nby tier:  %s\n", len(list), counts(byStage, accounts.Stages), counts(byTier, accounts.Tiers))
	return nil
}

func counts(m map[string]int, order []string) string {
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (a *app) closeCommand() *cobra.Command {
	var reason, actor string
	cmd := &cobra.Command{
		Use:   "close ID --reason REASON",
		Short: "end an account's lifecycle",
		Long: `close ends the account as ops: its open tasks are cancelled, its workflow
completes and it takes no more events. It waits until the account has ended
and prints its final status.`,
		Example: `  starter close acme-1 --reason "customer merged into acme-group"`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := activities.ValidID(args[0]); err != nil {
				return usageError{err: fmt.Errorf("ID: %w", err)}
			}
			if err := requireFlags(cmd, "reason"); err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			st, err := accounts.Close(ctx, c, args[0], workflows.CloseRequest{Reason: reason, Actor: actor, ActorRole: activities.RoleOps})
			if err != nil {
				return rejectedError(err)
			}
			if a.json {
				return a.printJSON(st)
			}
			a.printf("closed account %s: stage %s\n", st.AccountID, st.Stage)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the account is closed (required)")
	cmd.Flags().StringVar(&actor, "as", opsActor(), "who closes it, for the record")
	return cmd
}

// opsActor names the person at the terminal in the record.
func opsActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "ops:" + u.Username
	}
	return "ops"
}

// rejectedError keeps a workflow's refusal short: the message is already
// the reason.
func rejectedError(err error) error {
	var r *accounts.Rejected
	if errors.As(err, &r) {
		return fmt.Errorf("rejected (%d): %s", r.Code, r.Message)
	}
	return err
}
