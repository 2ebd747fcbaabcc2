package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"
	enums "go.temporal.io/api/enums/v1"

	"go.temporal.io/sdk/client"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/scoring"
	"github.com/kamflow/kamflow/workflows"
)

// review measures maintain's periodic cycle: ReviewAccounts accounts in
// maintain, their review, visit and survey all due at one moment, through
// a real worker. It reports accounts reviewed per second and the workflow
// history events one cycle adds per account.
//
// Reaching maintain through the lifecycle takes weeks of policy time and
// human task completions, so the accounts start there: the workflow takes
// its whole state in AccountInput (continue-as-new carries it the same
// way), and the record holds what a maintained account's has, a year of
// weekly orders, so the re-score keeps them in maintain.
func (b *bench) review(ctx context.Context) error {
	count := b.sz.ReviewAccounts
	rate := &Line{Step: "R-cycle", What: fmt.Sprintf("review cycle (re-score, visit, survey) of %d maintained accounts", count), Unit: "accounts/s"}
	hist := &Line{Step: "R-history", What: "workflow history events per account per review cycle", Unit: "events", Target: &Target{Op: "<=", Bound: 30}}

	d, err := b.newDatabase(ctx, "review")
	if err != nil {
		return err
	}
	defer d.close()
	managers := b.managerIDs()[:max(1, min(b.sz.Managers, count/50))]
	if err := addManagers(ctx, d.store, managers); err != nil {
		return err
	}
	prefix := "rv" + randomSuffix()[:5]
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, manager_id, revenue, contact_email, stage, tier, created_at, stage_since)
		 SELECT $1 || '-' || i, 'Review account ' || i, ($2::text[])[1 + i % array_length($2::text[], 1)], 2000000,
		        'review' || i || '@example.com', 'maintain', 'core', now() - interval '2 years', now() - interval '30 days'
		 FROM generate_series(0, $3 - 1) i`, []any{prefix, pq.StringArray(managers), count}},
		{`INSERT INTO account_events (account_id, external_id, kind, at, amount)
		 SELECT $1 || '-' || i, 'w' || k, 'order', now() - k * interval '7 days', 20000 + (k % 5) * 1000
		 FROM generate_series(0, $2 - 1) i, generate_series(1, 52) k`, []any{prefix, count}},
	} {
		if _, err := d.db.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("seed review accounts: %w", err)
		}
	}
	w, err := b.startWorker(ctx, "review", d.url, b.settings)
	if err != nil {
		return err
	}
	defer w.stop()

	// Every review falls due at one moment, after all accounts are started.
	startRate := 20.0
	if l := b.table.line("B0"); l != nil && l.Value > 0 {
		startRate = l.Value
	}
	lead := time.Duration(float64(count)/startRate*1.5*float64(time.Second)) + 5*time.Second
	due := time.Now().Add(lead)
	ids := make([]string, count)
	runs := make([]client.WorkflowRun, count)
	pol := policy.Default()
	if _, err := closedLoop(ctx, b.sz.Concurrency, count, func(ctx context.Context, i int) error {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		in := workflows.AccountInput{Profile: activities.Profile{ID: ids[i], Name: fmt.Sprintf("Review account %d", i),
			Manager: managers[i%len(managers)], Revenue: 2_000_000, ContactEmail: fmt.Sprintf("review%d@example.com", i)}}
		in.State = maintainedState(in.Profile, pol, due)
		run, err := b.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AccountWorkflowID(ids[i]), TaskQueue: w.taskQueue},
			workflows.WorkflowType, in)
		runs[i] = run
		return err
	}); err != nil {
		return fmt.Errorf("start maintained accounts: %w", err)
	}
	if err := waitStarted(ctx, b.client, runs); err != nil {
		return err
	}
	start := due
	if late := time.Now(); late.After(due) {
		rate.Note = fmt.Sprintf("starting the accounts took %s longer than planned, so the last reviews waited for their starts", late.Sub(due).Round(time.Second))
	} else {
		time.Sleep(time.Until(due))
	}
	c0 := b.meter.sample(w.pid())
	done := `SELECT count(*) FROM accounts a WHERE a.id LIKE '` + prefix + `-%'
		AND EXISTS (SELECT 1 FROM scores s WHERE s.account_id = a.id)
		AND EXISTS (SELECT 1 FROM visits v WHERE v.account_id = a.id)
		AND EXISTS (SELECT 1 FROM surveys s WHERE s.account_id = a.id)`
	prog, err := waitCount(ctx, d.db, done, start, count, 20*time.Minute)
	if err != nil {
		return fmt.Errorf("reviews: %w", err)
	}
	cpu := b.meter.sample(w.pid()).sub(c0)
	rate.Reps, rate.CPU = prog.segments(0, count, b.reps), []float64{msPer(cpu.total(), count)}
	// The cycle's last workflow task (after the visit and the survey) ends
	// shortly after their rows are written.
	if err := waitQuiet(ctx, d.db, `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM stage_transitions)`, 2*time.Second, 5*time.Minute); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	per, err := cycleEvents(ctx, b.client, runs, due)
	if err != nil {
		return err
	}
	hist.Reps = []float64{median(per)}
	var stayed int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE id LIKE $1 AND stage = 'maintain'`, prefix+"-%").Scan(&stayed); err != nil {
		return fmt.Errorf("count maintained accounts: %w", err)
	}
	hist.Note = fmt.Sprintf("events from the moment the review fell due, median over %d of the accounts (min %.0f, max %.0f); %d of %d accounts stayed in maintain after the re-score",
		len(per), slices.Min(per), slices.Max(per), stayed, count)
	b.log.Info("R-cycle", "accounts/s", fmtNum(prog.rate(count)), "segments", rate.Reps, "cpu_ms", fmtNum(msPer(cpu.total(), count)), "history_events", hist.Reps[0])
	b.table.add(rate)
	b.table.add(hist)
	return nil
}

// maintainedState is an account that has been in maintain for a month,
// scored core and healthy an hour ago, with its review, visit and survey all
// due at due.
func maintainedState(p activities.Profile, pol policy.Policy, due time.Time) *workflows.AccountState {
	now := time.Now()
	return &workflows.AccountState{
		Profile: p, Policy: pol, Stage: workflows.StageMaintain, StageSince: now.Add(-30 * 24 * time.Hour), Seq: 10, Onboards: 1,
		Score: scoring.Result{
			Value: scoring.LevelHigh, Potential: scoring.LevelMedium, Loyalty: scoring.LevelHigh, ABC: "A",
			Segment: "high_value", Strategy: "key", Tier: scoring.TierCore, Health: 75, ChurnRisk: 0.15, Lifecycle: "mature",
		},
		ScoredAt:   now.Add(-time.Hour),
		NextReview: due, NextVisit: due.Add(-time.Second), NextSurvey: due.Add(-time.Second),
		LastVisit: now.Add(-40 * 24 * time.Hour), FirstOrder: true, IntroVisitDone: true,
	}
}

// cycleEvents counts, in the histories of up to 100 of the runs, the
// events written from the moment their review fell due: the timer that
// wakes the account, the workflow tasks and what they record. Counting by
// event time stays right when a loaded machine starts the accounts late
// and a review runs in an account's first workflow task.
func cycleEvents(ctx context.Context, c client.Client, runs []client.WorkflowRun, due time.Time) ([]float64, error) {
	sample := runs[:min(len(runs), 100)]
	out := make([]float64, len(sample))
	_, err := closedLoop(ctx, 8, len(sample), func(ctx context.Context, i int) error {
		iter := c.GetWorkflowHistory(ctx, sample[i].GetID(), sample[i].GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return fmt.Errorf("history of %s: %w", sample[i].GetID(), err)
			}
			if !e.GetEventTime().AsTime().Before(due) {
				out[i]++
			}
		}
		return nil
	})
	return out, err
}
