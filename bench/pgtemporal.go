package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kamflow/kamflow/internal/testenv"
)

// pgLines are the lines of the import ladder measured again with Temporal
// on PostgreSQL, each named with pgSuffix.
var pgLines = []string{"B0", "B1", "E-import"}

const pgSuffix = "-pg"

// pgTemporal runs the import ladder (B0, B1, E-import) again against a
// second dev stack whose Temporal server persists in its PostgreSQL
// cluster (worker --dev --dev-temporal-store postgres) instead of SQLite,
// so the table shows both stores side by side. It is the same code on a
// copy of the run pointed at the other stack; kamflow's own database lives
// in that stack's cluster too, as it would next to a production Temporal
// on PostgreSQL. The import is PGImportAccounts accounts, fewer than
// E-import's, to keep the whole run within its time budget; the memory
// lines the ladder also measures are left out, since they do not depend
// on Temporal's store.
func (b *bench) pgTemporal(ctx context.Context) error {
	dir := filepath.Join(b.dir, "pgtemporal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create scratch folder: %w", err)
	}
	started := time.Now()
	pg, err := testenv.StartStack(b.workerBin, dir, "--dev-temporal-store", "postgres")
	if err != nil {
		return fmt.Errorf("postgres-backed stack: %w", err)
	}
	defer pg.Stop()
	b.log.Info("postgres-backed dev stack started", "temporal", pg.TemporalAddress, "took", time.Since(started).Round(time.Millisecond))

	pb := *b
	pb.dir, pb.temporal, pb.adminURL, pb.databases, pb.lastImport = dir, pg.TemporalAddress, pg.PostgresURL, nil, nil
	pb.sz.ImportAccounts = b.sz.PGImportAccounts
	// The ladder ends with the memory lines, which are dropped here: M0's
	// smallest size makes them cost next to nothing.
	pb.sz.M0Workflows = 1
	pb.table = &Table{}
	pb.log = b.log.With("temporal_store", "postgres")
	disconnect, err := pb.connect(ctx, os.Stderr)
	if err != nil {
		return fmt.Errorf("postgres-backed stack: %w", err)
	}
	defer disconnect()
	err = pb.importLadder(ctx)
	// The stack and its databases go away with the stack's folder.
	pb.release()
	if err != nil {
		return err
	}
	for _, step := range pgLines {
		l := pb.table.line(step)
		if l == nil {
			return fmt.Errorf("the import ladder measured no %s", step)
		}
		l.Step += pgSuffix
		if l.Ceiling != "" {
			l.Ceiling += pgSuffix
		}
		l.What += "; Temporal on PostgreSQL"
		b.table.Lines = append(b.table.Lines, l)
	}
	if l := b.table.line("B0" + pgSuffix); l != nil {
		l.Note = "B0, B1 and E-import against a second dev stack whose Temporal persists in its PostgreSQL cluster (worker --dev --dev-temporal-store postgres), " +
			"same dynamic config and worker settings; kamflow's database is in that cluster too. PostgreSQL commits with fsync (synchronous_commit on), " +
			"the SQLite store in WAL mode with synchronous=NORMAL (no fsync per commit)"
	}
	if l := b.table.line("E-import" + pgSuffix); l != nil {
		l.Note = fmt.Sprintf("%s; size pg_import_accounts=%d, where E-import has import_accounts=%d", l.Note, b.sz.PGImportAccounts, b.sz.ImportAccounts)
	}
	return nil
}
