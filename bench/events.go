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
)

// events runs S0 (one repetition before E-events, the rest after) and one
// E-events of EventAccounts x EventsPerAccount events to accounts the
// import onboarded, whose repetitions are its consecutive thirds.
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
	total := b.sz.EventAccounts * b.sz.EventsPerAccount
	ev := &Line{Step: "E-events", What: fmt.Sprintf("starter events: %d events over %d accounts until every row is in PostgreSQL, --concurrency %d", total, b.sz.EventAccounts, n),
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
	db := run.db.db
	var before int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM account_events`).Scan(&before); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	ids := run.ids[:b.sz.EventAccounts]
	file, err := b.eventsCSV("e"+randomSuffix()[:5], ids)
	if err != nil {
		return err
	}
	c0 := b.meter.sample(run.worker.pid())
	sum, starterCPU, prog, err := b.runStarterUntil(ctx, run.worker, db, `SELECT count(*) FROM account_events`, before+total, 30*time.Minute,
		"events", "--concurrency", strconv.Itoa(n), file)
	if err != nil {
		return fmt.Errorf("events step: %w", err)
	}
	if sum.Sent != total {
		return fmt.Errorf("events step: starter sent %d of %d events", sum.Sent, total)
	}
	cpu := b.meter.sample(run.worker.pid()).sub(c0)
	ev.Reps, ev.CPU = prog.segments(before, total, b.reps), []float64{msPer(cpu.total()+starterCPU, total)}
	var mean float64
	// Rows written by one InsertEvents statement share recorded_at (now()
	// is the transaction's start), so this groups them by batch.
	if err := db.QueryRowContext(ctx, `SELECT avg(n) FROM (SELECT count(*) AS n FROM account_events
		WHERE account_id = ANY ($1) GROUP BY account_id, recorded_at) b`, pq.StringArray(ids)).Scan(&mean); err != nil {
		return fmt.Errorf("events step: batch sizes: %w", err)
	}
	b.eventBatch = max(1, int(mean+0.5))
	b.log.Info("E-events", "events/s", fmtNum(prog.rate(total)), "segments", ev.Reps, "batch", fmtNum(mean), "cpu_ms", fmtNum(msPer(cpu.total()+starterCPU, total)),
		"server_cpu_ms", fmtNum(msPer(cpu.temporal, total)), "worker_cpu_ms", fmtNum(msPer(cpu.worker, total)), "pg_cpu_ms", fmtNum(msPer(cpu.postgres, total)))
	for rep := 1; rep < b.reps; rep++ {
		if err := ceiling(rep); err != nil {
			return err
		}
	}
	ev.Note = fmt.Sprintf("one run at %s events/s overall, median and spread over its %d consecutive parts; the workflow wrote them in batches of %.1f on average (E-db replays that size)",
		fmtNum(prog.rate(total)), b.reps, mean)
	b.table.add(s0)
	b.table.add(ev)
	return nil
}

// eventsCSV writes EventsPerAccount events for each account, interleaved
// as an export sorted by time would list them: mostly orders, some notes,
// mild complaints and survey answers.
func (b *bench) eventsCSV(prefix string, ids []string) (string, error) {
	path := filepath.Join(b.dir, prefix+"-events.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	rng := rand.New(rand.NewPCG(7, uint64(len(ids))))
	base := time.Now().UTC().Add(-365 * 24 * time.Hour)
	_ = w.Write([]string{"account", "external_id", "kind", "at", "amount", "severity", "nps", "csat", "note"})
	for k := range b.sz.EventsPerAccount {
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
