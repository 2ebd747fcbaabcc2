package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
	pg, err := startPGStack(ctx, b.workerBin, dir)
	if err != nil {
		return err
	}
	defer pg.stop()
	b.log.Info("postgres-backed dev stack started", "temporal", pg.temporal, "took", time.Since(started).Round(time.Millisecond))

	pb := *b
	pb.dir, pb.temporal, pb.adminURL, pb.databases, pb.lastImport = dir, pg.temporal, pg.adminURL, nil, nil
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

// pgStack is a dev stack with Temporal on PostgreSQL, run as a worker
// process as scripts/with-dev-stack.sh runs the first one.
type pgStack struct {
	cmd *exec.Cmd
	// exited closes when the process has exited, with exitErr set.
	exited   chan struct{}
	exitErr  error
	log      string
	temporal string
	adminURL string
}

// startPGStack starts the stack with its data in dir and waits for the
// addresses it prints once Temporal answers.
func startPGStack(ctx context.Context, workerBin, dir string) (*pgStack, error) {
	s := &pgStack{exited: make(chan struct{}), log: filepath.Join(dir, "stack.log")}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, fmt.Errorf("create stack log: %w", err)
	}
	s.cmd = exec.Command(workerBin, "--dev", "--services-only", "--dev-temporal-store", "postgres",
		"--data-dir", filepath.Join(dir, "data"), "--dev-temporal-port", "0", "--dev-ui-port", "0",
		"--http-addr", "127.0.0.1:0", "--log-level", "warn")
	// No DATABASE_URL: the stack must start its own cluster to keep
	// Temporal in.
	s.cmd.Env = append(os.Environ(), "DATABASE_URL=")
	s.cmd.Stderr = logf
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("stack output: %w", err)
	}
	// The stack dies with the benchmark, whatever happens to it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", workerBin, err)
	}
	ready := make(chan struct{})
	go func() {
		var temporal, adminURL string
		announced := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "TEMPORAL_ADDRESS":
				temporal = v
			case "KAM_TEST_PG_URL":
				adminURL = v
			}
			if !announced && temporal != "" && adminURL != "" {
				s.temporal, s.adminURL, announced = temporal, adminURL, true
				close(ready)
			}
		}
		s.exitErr = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("the postgres-backed dev stack exited before it was ready (%v): %s", s.exitErr, tail(s.log))
	case <-time.After(3 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("the postgres-backed dev stack did not start within 3 minutes: %s", tail(s.log))
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// stop asks the stack to shut down (Temporal, then PostgreSQL) and waits.
func (s *pgStack) stop() {
	// It may have exited already; then there is nothing to signal.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill() // it ignored SIGTERM; the reader goroutine reaps it
		<-s.exited
	}
}
