package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
)

// dbAccounts is how many accounts the D0 and E-db rows spread over.
const dbAccounts = 200

// dbPath runs D0 (PostgreSQL's COPY, the fastest way rows get in) against
// E-db (store.InsertEvents, the statement RecordEvents runs, in the batch
// size E-events saw the workflow produce), each at N concurrent clients on
// a fresh database with kamflow's schema. Two more lines show where
// batching pays: InsertEvents one event at a time and 100 at a time.
func (b *bench) dbPath(ctx context.Context) error {
	n := b.sz.Concurrency
	batch := b.eventBatch
	if batch == 0 {
		// Without E-events: the batches the starter makes of its file.
		batch = min(b.sz.EventsPerAccount, accounts.MaxBatchEvents)
	}
	d0 := &Line{Step: "D0", What: fmt.Sprintf("PostgreSQL COPY (pq.CopyIn) of %d event rows, %d streams", b.sz.D0Rows, n), Unit: "rows/s"}
	edb := &Line{Step: "E-db", What: fmt.Sprintf("store.InsertEvents, %d rows in batches of %d (the workflow's), %d clients", b.sz.EDBRows, batch, n),
		Unit: "rows/s", Ceiling: "D0", Target: &Target{Op: ">=", Bound: 0.5, OnRatio: true}}
	one := &Line{Step: "E-db@1", What: fmt.Sprintf("store.InsertEvents one row at a time, %d clients", n), Unit: "rows/s", Ceiling: "D0"}
	hundred := &Line{Step: "E-db@100", What: fmt.Sprintf("store.InsertEvents in batches of 100, %d clients", n), Unit: "rows/s", Ceiling: "D0"}

	d, err := b.newDatabase(ctx, "db")
	if err != nil {
		return err
	}
	defer d.close()
	if _, err := d.db.ExecContext(ctx, `INSERT INTO accounts (id, name) SELECT 'db-' || i, 'DB account ' || i FROM generate_series(0, $1 - 1) i`, dbAccounts); err != nil {
		return fmt.Errorf("seed accounts: %w", err)
	}
	var seq atomic.Int64
	for rep := range b.reps {
		for _, c := range []struct {
			l    *Line
			rows int
			run  func() error
		}{
			{d0, b.sz.D0Rows, func() error { return copyEvents(ctx, d.db, n, b.sz.D0Rows, &seq) }},
			{edb, b.sz.EDBRows, func() error { return insertEvents(ctx, d.store, n, b.sz.EDBRows, batch, &seq) }},
			{one, b.sz.EDBRows / 4, func() error { return insertEvents(ctx, d.store, n, b.sz.EDBRows/4, 1, &seq) }},
			{hundred, b.sz.EDBRows, func() error { return insertEvents(ctx, d.store, n, b.sz.EDBRows, 100, &seq) }},
		} {
			c0 := b.meter.sample(0)
			start := time.Now()
			if err := c.run(); err != nil {
				return fmt.Errorf("%s: %w", c.l.Step, err)
			}
			r := float64(c.rows) / time.Since(start).Seconds()
			cpu := b.meter.sample(0).sub(c0)
			c.l.Reps, c.l.CPU = append(c.l.Reps, r), append(c.l.CPU, msPer(cpu.total(), c.rows))
			b.log.Info(c.l.Step, "rep", rep, "rows/s", fmtNum(r), "cpu_ms", fmtNum(msPer(cpu.total(), c.rows)))
		}
	}
	for _, l := range []*Line{d0, edb, one, hundred} {
		b.table.add(l)
	}
	return nil
}

// eventRow makes the i-th benchmark event, of account i % dbAccounts.
func eventRow(i int64) store.Event {
	nps := int(i % 11)
	return store.Event{
		AccountID: fmt.Sprintf("db-%d", i%dbAccounts), ExternalID: fmt.Sprintf("db-%d", i), Kind: "order",
		At: time.Unix(1_700_000_000+i, 0).UTC(), Amount: float64(i%5000) + 0.5, NPS: &nps, Note: "bench order", Status: store.EventApplied,
	}
}

// copyEvents streams rows events with COPY over n connections, each in one
// transaction: the ceiling of getting rows into account_events.
func copyEvents(ctx context.Context, db *sql.DB, n, rows int, seq *atomic.Int64) error {
	g, ctx := errgroup.WithContext(ctx)
	for w := range n {
		share := rows / n
		if w == 0 {
			share += rows % n
		}
		g.Go(func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			// After Commit, Rollback only reports ErrTxDone.
			defer func() { _ = tx.Rollback() }()
			stmt, err := tx.PrepareContext(ctx, `COPY account_events (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason) FROM STDIN`)
			if err != nil {
				return fmt.Errorf("copy in: %w", err)
			}
			for range share {
				e := eventRow(seq.Add(1))
				if _, err := stmt.ExecContext(ctx, e.AccountID, e.ExternalID, e.Kind, e.At, e.Amount, e.Severity, e.NPS, e.CSAT, e.Note, e.Status, e.Reason); err != nil {
					return fmt.Errorf("copy row: %w", err)
				}
			}
			if _, err := stmt.ExecContext(ctx); err != nil {
				return fmt.Errorf("copy flush: %w", err)
			}
			if err := stmt.Close(); err != nil {
				return fmt.Errorf("copy close: %w", err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// insertEvents writes rows events through store.InsertEvents in batches of
// batch, from n clients: RecordEvents as busy accounts run it.
func insertEvents(ctx context.Context, st *store.Store, n, rows, batch int, seq *atomic.Int64) error {
	batches := (rows + batch - 1) / batch
	_, err := closedLoop(ctx, n, batches, func(ctx context.Context, i int) error {
		size := min(batch, rows-i*batch)
		es := make([]store.Event, size)
		for k := range es {
			es[k] = eventRow(seq.Add(1))
		}
		got, err := st.InsertEvents(ctx, es)
		if err != nil {
			return err
		}
		if got != size {
			return fmt.Errorf("inserted %d of %d events", got, size)
		}
		return nil
	})
	return err
}
