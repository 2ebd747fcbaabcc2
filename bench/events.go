package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/kamflow/kamflow/internal/accounts"
)

// events runs S0 (one repetition before the kamflow lines, the rest after),
// E-events (EventAccounts x EventsPerAccount events to accounts the import
// onboarded, as the starter sends a file: batched per account) and
// E-events@1 (fewer events, each its own signal: a live feed's cost). The
// repetitions of a kamflow line are its run's consecutive thirds.
func (b *bench) events(ctx context.Context) error {
	run := b.lastImport
	if run == nil {
		return errors.New("events step: E-events needs the accounts of E-import: run the import step too")
	}
	if len(run.ids) < b.sz.EventAccounts {
		return fmt.Errorf("events step: E-events needs %d imported accounts, the import has %d", b.sz.EventAccounts, len(run.ids))
	}
	n := b.sz.Concurrency
	signals := b.sz.S0Accounts * b.sz.S0PerAccount
	s0 := &Line{Step: "S0", What: fmt.Sprintf("SignalWorkflow to a waiting no-op workflow, %d x %d signals, %d lanes", b.sz.S0Accounts, b.sz.S0PerAccount, n), Unit: "signals/s"}
	ev := &Line{Step: "E-events", What: fmt.Sprintf("starter events: %d events over %d accounts until every row is in PostgreSQL, --concurrency %d", b.sz.EventAccounts*b.sz.EventsPerAccount, b.sz.EventAccounts, n),
		Unit: "events/s", Ceiling: "S0", Target: &Target{Op: ">=", Bound: 0.7, OnRatio: true}}

	tq := "bench-signal-" + randomSuffix()
	stop, err := ceilingWorker(b.client, tq, b.ceilingOpts)
	if err != nil {
		return err
	}
	defer stop()
	ceiling := func(rep int) error {
		r, cpu, err := runSignals(ctx, b.client, b.meter, tq, fmt.Sprintf("s0-%s-%d", tq, rep), n, b.sz.S0Accounts, b.sz.S0PerAccount)
		if err != nil {
			return fmt.Errorf("S0: %w", err)
		}
		s0.Reps, s0.CPU = append(s0.Reps, r), append(s0.CPU, msPer(cpu.total(), signals))
		b.log.Info("S0", "rep", rep, "signals/s", fmtNum(r), "cpu_ms", fmtNum(msPer(cpu.total(), signals)))
		return nil
	}
	if err := ceiling(0); err != nil {
		return err
	}
	ids := run.ids[:b.sz.EventAccounts]
	mean, err := b.runEvents(ctx, run, ev, ids, b.sz.EventsPerAccount, "--batch", strconv.Itoa(accounts.MaxBatchEvents))
	if err != nil {
		return err
	}
	b.eventBatch = max(1, int(mean+0.5))
	single := &Line{Step: "E-events@1", Unit: "events/s", Ceiling: "S0",
		What: fmt.Sprintf("starter events --batch 1: %d events over %d accounts, one signal each, --concurrency %d", b.sz.EventAccounts*b.sz.SingleEventsPerAccount, b.sz.EventAccounts, n)}
	if _, err := b.runEvents(ctx, run, single, ids, b.sz.SingleEventsPerAccount, "--batch", "1"); err != nil {
		return err
	}
	for rep := 1; rep < b.reps; rep++ {
		if err := ceiling(rep); err != nil {
			return err
		}
	}
	ev.Note += fmt.Sprintf("; the starter sends an account's events in batches of up to %d (one signal, one write, one re-score each): the workflow wrote them in batches of %.1f on average (E-db replays that size)",
		accounts.MaxBatchEvents, mean)
	single.Note += "; a live feed's path: every event is its own signal and workflow turn"
	b.table.add(s0)
	b.table.add(ev)
	b.table.add(single)
	return nil
}

// runEvents sends perAccount events to each of ids with `starter events`
// (extra flags in args) until every row is in PostgreSQL, and fills l's
// repetitions (the run's consecutive parts), CPU and note. It returns the
// mean number of rows the workflows wrote per RecordEvents.
func (b *bench) runEvents(ctx context.Context, run *importRun, l *Line, ids []string, perAccount int, args ...string) (mean float64, err error) {
	db := run.db.db
	total := len(ids) * perAccount
	var before int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM account_events`).Scan(&before); err != nil {
		return 0, fmt.Errorf("%s: count events: %w", l.Step, err)
	}
	prefix := "e" + randomSuffix()[:5]
	file, err := b.eventsCSV(prefix, ids, perAccount)
	if err != nil {
		return 0, err
	}
	c0 := b.meter.sample(run.worker.pid())
	args = append([]string{"events", "--concurrency", strconv.Itoa(b.sz.Concurrency)}, append(args, file)...)
	sum, starterCPU, prog, err := b.runStarterUntil(ctx, run.worker, db, `SELECT count(*) FROM account_events`, before+total, 30*time.Minute, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", l.Step, err)
	}
	if sum.Sent != total {
		return 0, fmt.Errorf("%s: starter sent %d of %d events", l.Step, sum.Sent, total)
	}
	cpu := b.meter.sample(run.worker.pid()).sub(c0)
	l.Reps, l.CPU = prog.segments(before, total, b.reps), []float64{msPer(cpu.total()+starterCPU, total)}
	// Rows written by one InsertEvents statement share recorded_at (now()
	// is the transaction's start), so this groups them by batch.
	if err := db.QueryRowContext(ctx, `SELECT avg(n) FROM (SELECT count(*) AS n FROM account_events
		WHERE account_id = ANY ($1) AND external_id LIKE $2 GROUP BY account_id, recorded_at) b`, pq.StringArray(ids), prefix+"-%").Scan(&mean); err != nil {
		return 0, fmt.Errorf("%s: batch sizes: %w", l.Step, err)
	}
	b.log.Info(l.Step, "events/s", fmtNum(prog.rate(total)), "segments", l.Reps, "batch", fmtNum(mean), "cpu_ms", fmtNum(msPer(cpu.total()+starterCPU, total)),
		"server_cpu_ms", fmtNum(msPer(cpu.temporal, total)), "worker_cpu_ms", fmtNum(msPer(cpu.worker, total)), "pg_cpu_ms", fmtNum(msPer(cpu.postgres, total)))
	l.Note = fmt.Sprintf("one run at %s events/s overall, median and spread over its %d consecutive parts", fmtNum(prog.rate(total)), b.reps)
	return mean, nil
}

// eventsCSV writes perAccount events for each account, interleaved as an
// export sorted by time would list them: mostly orders, some notes, mild
// complaints and survey answers.
func (b *bench) eventsCSV(prefix string, ids []string, perAccount int) (string, error) {
	path := filepath.Join(b.dir, prefix+"-events.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	rng := rand.New(rand.NewPCG(7, uint64(len(ids))))
	base := time.Now().UTC().Add(-365 * 24 * time.Hour)
	_ = w.Write([]string{"account", "external_id", "kind", "at", "amount", "severity", "nps", "csat", "note"})
	for k := range perAccount {
		for i, id := range ids {
			at := base.Add(time.Duration(k*len(ids)+i) * time.Minute).Format(time.RFC3339)
			rec := []string{id, fmt.Sprintf("%s-%d-%d", prefix, i, k), "order", at, "", "", "", "", ""}
			switch x := rng.IntN(10); {
			case x < 7:
				rec[4] = strconv.Itoa(1000 + rng.IntN(50000))
			case x == 7:
				rec[2], rec[8] = "note", "called about the next delivery"
			case x == 8:
				rec[2], rec[5], rec[8] = "complaint", strconv.Itoa(1+rng.IntN(2)), "late delivery"
			default:
				rec[2], rec[6] = "survey_response", strconv.Itoa(6+rng.IntN(5))
			}
			_ = w.Write(rec)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
