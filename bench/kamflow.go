package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/kamflow/kamflow/internal/pgcluster"
	"github.com/kamflow/kamflow/internal/store"
)

// stack is the dev stack the run measures against (scripts/with-dev-stack.sh
// exports it) and the binaries under test.
type stack struct {
	temporal  string // host:port of the Temporal frontend
	adminURL  string // superuser URL of the PostgreSQL cluster's admin database
	workerBin string
	// starterBin is the built `starter`: E-import and E-events run it as an
	// operator would.
	starterBin string
	// dir keeps generated CSV files and worker logs for the run.
	dir string
	// encryptionKeys is KAM_ENCRYPTION_KEYS of the workers and starters:
	// kamflow runs as production does, payloads sealed; the ceilings run
	// bare Temporal without it.
	encryptionKeys string
	admin          *sql.DB
	// databases created by this run, dropped at the end.
	databases []string
}

// database is a fresh database of one step, with kamflow's schema.
type database struct {
	url string
	// store is kamflow's own access path; db a plain pool for seeding and
	// polling with SQL the store does not offer.
	store *store.Store
	db    *sql.DB
}

func (d *database) close() {
	// Close errors of a pool we are done with change nothing in the results.
	_ = d.store.Close()
	_ = d.db.Close()
}

// newDatabase creates an empty database with kamflow's schema.
func (s *stack) newDatabase(ctx context.Context, prefix string) (*database, error) {
	name := "bench_" + prefix + "_" + randomSuffix()
	if err := pgcluster.CreateDatabaseOn(ctx, s.admin, name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	s.databases = append(s.databases, name)
	u, err := url.Parse(s.adminURL)
	if err != nil {
		return nil, fmt.Errorf("parse KAM_TEST_PG_URL: %w", err)
	}
	u.Path = "/" + name
	d := &database{url: u.String()}
	if d.store, err = store.Open(ctx, d.url); err != nil {
		return nil, err
	}
	if err := d.store.Migrate(ctx); err != nil {
		return nil, errors.Join(err, d.store.Close())
	}
	connector, err := pq.NewConnector(d.url)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("database %s: %w", name, err), d.store.Close())
	}
	d.db = sql.OpenDB(connector)
	return d, nil
}

// newEncryptionKeys makes a KAM_ENCRYPTION_KEYS value for this run.
func newEncryptionKeys() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on Linux
	return "bench:" + base64.StdEncoding.EncodeToString(key)
}

// randomSuffix keeps names of databases, task queues and workflow ids of
// one run apart from every other run's on the same servers.
func randomSuffix() string { return strings.ToLower(rand.Text()[:8]) }

// dropDatabases removes what the run created; the stack's cluster lives in
// a temporary folder anyway, so a failure here only costs disk until then.
func (s *stack) dropDatabases(ctx context.Context) error {
	var errs []error
	for _, name := range s.databases {
		if err := pgcluster.DropDatabaseOn(ctx, s.admin, name); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// kamWorker is a running kamflow worker binary: the same process operators
// run, not a worker built inside the benchmark.
type kamWorker struct {
	cmd       *exec.Cmd
	taskQueue string
	httpAddr  string
	dbURL     string
	log       string
	// done closes when the process has exited, with exitErr set.
	done    chan struct{}
	exitErr error
}

// workerSettings are environment variables given to every kamflow worker
// this run starts (KAM_STICKY_CACHE_SIZE, KAM_MAX_CONCURRENT_ACTIVITIES ...),
// so a tuning experiment is one flag of the benchmark.
type workerSettings map[string]string

// startWorker runs the worker binary against the shared Temporal server and
// dbURL on a task queue of its own, and waits until it is ready.
func (s *stack) startWorker(ctx context.Context, name, dbURL string, settings workerSettings, extraEnv ...string) (*kamWorker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	w := &kamWorker{
		taskQueue: "bench-" + name + "-" + randomSuffix(),
		httpAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dbURL:     dbURL,
		log:       filepath.Join(s.dir, name+"-worker.log"),
		done:      make(chan struct{}),
	}
	logf, err := os.Create(w.log)
	if err != nil {
		return nil, fmt.Errorf("create worker log: %w", err)
	}
	env := append(os.Environ(),
		"TEMPORAL_ADDRESS="+s.temporal, "DATABASE_URL="+dbURL, "KAM_TASK_QUEUE="+w.taskQueue,
		"KAM_HTTP_ADDR="+w.httpAddr, "KAM_SURVEY_SECRET="+rand.Text()+rand.Text(), "KAM_LOG_LEVEL=warn",
		"KAM_DEV=false", "KAM_ENCRYPTION_KEYS="+s.encryptionKeys,
	)
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	w.cmd = exec.Command(s.workerBin)
	w.cmd.Env = append(env, extraEnv...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	// The worker dies with the benchmark, whatever happens to it.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start worker %s: %w", s.workerBin, err)
	}
	go func() {
		w.exitErr = w.cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	if err := w.waitReady(ctx, time.Minute); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

func (w *kamWorker) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-w.done:
			return fmt.Errorf("worker exited before it was ready (%v): %s", w.exitErr, tail(w.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + w.httpAddr + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("worker not ready within %s: %s", limit, tail(w.log))
}

// stop asks the worker to shut down and waits for it.
func (w *kamWorker) stop() {
	if w == nil || w.cmd.Process == nil {
		return
	}
	// It may have exited already; then there is nothing to stop.
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill() // it ignored SIGTERM; Wait's goroutine reaps it
		<-w.done
	}
}

// pid is the worker's process id.
func (w *kamWorker) pid() int { return w.cmd.Process.Pid }

// rss is the worker's resident set size in bytes, from /proc.
func (w *kamWorker) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read worker status: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status of the worker")
}

// memory reads the worker's resident set, and the Go heap and stacks in
// use from its /metrics.
func (w *kamWorker) memory() (rss int64, heap, stack float64, err error) {
	if rss, err = w.rss(); err != nil {
		return 0, 0, 0, err
	}
	if heap, err = w.metric("go_memstats_heap_inuse_bytes"); err != nil {
		return 0, 0, 0, err
	}
	if stack, err = w.metric("go_memstats_stack_inuse_bytes"); err != nil {
		return 0, 0, 0, err
	}
	return rss, heap, stack, nil
}

// metric reads one unlabelled gauge from the worker's /metrics.
func (w *kamWorker) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + w.httpAddr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape worker metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read worker metrics: %w", err)
	}
	return 0, fmt.Errorf("worker metrics have no %s", name)
}

// starterSummary is the part of `starter import/events --json` we check.
type starterSummary struct {
	Rows    int `json:"rows"`
	Started int `json:"started"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Errors  []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// runStarter runs the starter binary as an operator would, against the
// worker's task queue and database, and returns its JSON summary and the
// CPU time it used.
func (s *stack) runStarter(ctx context.Context, w *kamWorker, args ...string) (sum starterSummary, cpu time.Duration, err error) {
	// A long timeout: under load an onboarding waits behind thousands of
	// workflow tasks for its first one, longer than an operator's 30 s
	// default; the benchmark wants the rate, not a give-up.
	cmd := exec.CommandContext(ctx, s.starterBin, append([]string{"--json", "--timeout", "10m", "--task-queue", w.taskQueue}, args...)...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+s.temporal, "DATABASE_URL="+w.dbURL, "KAM_ENCRYPTION_KEYS="+s.encryptionKeys)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); jerr != nil {
		return sum, cpu, fmt.Errorf("starter %s: %v: %w (stderr: %s)", strings.Join(args, " "), err, jerr, lastLines(stderr.String(), 5))
	}
	if err != nil || sum.Failed > 0 {
		first := ""
		if len(sum.Errors) > 0 {
			first = fmt.Sprintf("line %d: %s", sum.Errors[0].Line, sum.Errors[0].Reason)
		}
		return sum, cpu, fmt.Errorf("starter %s: %v, %d failed: %s", strings.Join(args, " "), err, sum.Failed, first)
	}
	return sum, cpu, nil
}

// runStarterUntil runs the starter and meanwhile polls query (a count)
// until it reaches want, so the polls see the whole climb from the
// starter's launch to the last row: the starter of an import returns only
// when nearly every account is onboarded.
func (s *stack) runStarterUntil(ctx context.Context, w *kamWorker, db *sql.DB, query string, want int, limit time.Duration, args ...string) (starterSummary, time.Duration, *progressLog, error) {
	start := time.Now()
	sctx, stopStarter := context.WithCancel(ctx)
	defer stopStarter()
	pctx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	var (
		sum      starterSummary
		cpu      time.Duration
		err      error
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		sum, cpu, err = s.runStarter(sctx, w, args...)
		if err != nil {
			stopPolling() // no point waiting for rows that will not come
		}
	}()
	prog, perr := waitCount(pctx, db, query, start, want, limit)
	if perr != nil {
		stopStarter()
	}
	<-finished
	if err != nil {
		return sum, cpu, nil, err
	}
	if perr != nil {
		return sum, cpu, nil, perr
	}
	return sum, cpu, prog, nil
}

// progressLog is how a count polled from PostgreSQL grew: when it reached
// each value, for cutting a long run into segments.
type progressLog struct {
	start time.Time
	at    []time.Time
	n     []int
}

// waitCount polls query (a single count) until it reaches want, and returns
// how it got there. Polling every 100 ms costs the database far less than
// the steps themselves do.
func waitCount(ctx context.Context, db *sql.DB, query string, start time.Time, want int, limit time.Duration) (*progressLog, error) {
	p := &progressLog{start: start}
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
			return nil, fmt.Errorf("poll %q: %w", query, err)
		}
		p.at, p.n = append(p.at, time.Now()), append(p.n, n)
		if n >= want {
			return p, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d after %s: %q", n, want, limit, query)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// done is when the count reached its goal.
func (p *progressLog) done() time.Time { return p.at[len(p.at)-1] }

// rate is units per second over the whole run.
func (p *progressLog) rate(total int) float64 {
	return float64(total) / p.done().Sub(p.start).Seconds()
}

// segments cuts a run of total units (counted from base) into k equal
// parts and returns each part's rate: the repetitions of a line too big to
// run three times within the time budget. The first part includes the
// client's start-up and the last the tail, so their spread is an honest
// upper bound of the noise. Crossing times are interpolated between polls.
func (p *progressLog) segments(base, total, k int) []float64 {
	rates := make([]float64, 0, k)
	prev := p.start
	for seg := 1; seg <= k; seg++ {
		goal := base + total*seg/k
		for i, n := range p.n {
			if n < goal {
				continue
			}
			at := p.at[i]
			if i > 0 && n > p.n[i-1] {
				frac := float64(goal-p.n[i-1]) / float64(n-p.n[i-1])
				at = p.at[i-1].Add(time.Duration(frac * float64(p.at[i].Sub(p.at[i-1]))))
			}
			if d := at.Sub(prev).Seconds(); d > 0 {
				rates = append(rates, float64(total*seg/k-total*(seg-1)/k)/d)
			}
			prev = at
			break
		}
	}
	return rates
}

// waitQuiet waits until query's count has not changed for quiet: the
// workflows have finished what the step set off.
func waitQuiet(ctx context.Context, db *sql.DB, query string, quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		var n int
		if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
			return fmt.Errorf("poll %q: %w", query, err)
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("still changing after %s: %q", limit, query)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	b, _ := io.ReadAll(f) // best effort: only used in the message
	return lastLines(string(b), 10)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
