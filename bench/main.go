// Command bench measures kamflow's throughput against the bare Temporal and
// PostgreSQL ceilings of the machine it runs on, and prints the table that
// bench/README.md quotes (`make bench`).
//
// On a shared two-core machine an absolute figure says little: every speed
// line is therefore held against a ceiling measured in the same run, on the
// same servers, at the same concurrency, and judged by that ratio. Each
// figure is the median of several repetitions, with the spread shown, and
// the repetitions of a kamflow line and its ceiling are interleaved so that
// a neighbour's compile slows both alike.
//
// It runs against the dev stack scripts/with-dev-stack.sh starts (the
// embedded Temporal server on SQLite and a private PostgreSQL cluster), with
// the built worker and starter binaries, exactly as operators run them.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the benchmark's flags.
type options struct {
	size    string
	reps    int
	steps   map[string]bool
	results string
	readme  string
	// concurrency is N: clients of the ceilings and --concurrency of the
	// starter; 0 keeps the size's default.
	concurrency int
	settings    workerSettings
	// overrides set single sizes by their JSON name.
	overrides map[string]int
}

// allSteps are the groups of lines, in the order they run.
var allSteps = []string{"import", "pgtemporal", "events", "db", "review", "api", "kpi"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{settings: workerSettings{}, overrides: map[string]int{}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.size, "size", "full", "full (the issue's sizes, under 15 minutes) or tiny (a smoke test of the harness)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of each line; the table shows their median")
	steps := fs.String("steps", strings.Join(allSteps, ","), "comma-separated groups to run: "+strings.Join(allSteps, ", "))
	fs.StringVar(&o.results, "results", "bench/results", "folder for the JSON results; empty for none")
	fs.StringVar(&o.readme, "readme", "", "also write the table as Markdown to this file")
	fs.IntVar(&o.concurrency, "concurrency", 0, "concurrent clients N of every step (0: the size's default)")
	fs.Func("worker-env", "KEY=VALUE given to every kamflow worker and mirrored in the ceiling workers, e.g. KAM_STICKY_CACHE_SIZE=2000 (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		o.settings[k] = v
		return nil
	})
	fs.Func("set", "NAME=N overrides one size by its name in the results' settings.sizes, e.g. b0_workflows=3000 (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("want NAME=N with N a whole number, got %q", s)
		}
		o.overrides[k] = n
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.size != "full" && o.size != "tiny" {
		return o, fmt.Errorf("-size %q: want full or tiny", o.size)
	}
	if o.reps < 1 {
		return o, fmt.Errorf("-reps %d: want 1 or more", o.reps)
	}
	o.steps = map[string]bool{}
	for _, s := range strings.Split(*steps, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, a := range allSteps {
			known = known || a == s
		}
		if !known {
			return o, fmt.Errorf("-steps: unknown step %q (want %s)", s, strings.Join(allSteps, ", "))
		}
		o.steps[s] = true
	}
	return o, nil
}

// bench is one run: where it measures, how big, and what it found.
type bench struct {
	stack
	sz       sizes
	settings workerSettings
	// ceilingOpts are the SDK worker options of the kamflow worker as its
	// configuration would set them, for the in-process ceiling workers.
	ceilingOpts worker.Options
	// defaultCache is the worker's sticky cache size by default.
	defaultCache int
	client       client.Client
	table        *Table
	reps         int
	log          *slog.Logger
	// lastImport is the worker and database of the last E-import, whose
	// open accounts E-events feeds.
	lastImport *importRun
	// meter reads the CPU time of the servers for the cpu columns.
	meter cpuMeter
	// eventBatch is the median batch E-events saw the workflow write: the
	// batch size E-db replays.
	eventBatch int
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	started := time.Now()
	b := &bench{sz: sizesFor(o.size), settings: o.settings, reps: o.reps,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if o.concurrency > 0 {
		b.sz.Concurrency = o.concurrency
	}
	if err := b.sz.override(o.overrides); err != nil {
		return err
	}
	b.temporal, b.adminURL = getenv("KAM_TEST_TEMPORAL_ADDRESS"), getenv("KAM_TEST_PG_URL")
	if b.temporal == "" || b.adminURL == "" {
		return errors.New("KAM_TEST_TEMPORAL_ADDRESS and KAM_TEST_PG_URL are not set: run `make bench`, or scripts/with-dev-stack.sh go run ./bench")
	}
	if b.workerBin, err = testenv.WorkerBinary(); err != nil {
		return err
	}
	if b.starterBin, err = testenv.StarterBinary(); err != nil {
		return err
	}
	b.encryptionKeys = newEncryptionKeys()
	if b.dir, err = os.MkdirTemp("", "kamflow-bench-"); err != nil {
		return fmt.Errorf("create scratch folder: %w", err)
	}
	defer os.RemoveAll(b.dir)
	if b.ceilingOpts, b.defaultCache, err = ceilingOptions(o.settings); err != nil {
		return err
	}
	disconnect, err := b.connect(ctx, stderr)
	if err != nil {
		return err
	}
	defer disconnect()

	defer b.release()
	b.table = &Table{Date: started, Machine: machine(), LoadBefore: loadAverage(), Size: o.size, Reps: o.reps,
		Settings: map[string]any{"concurrency": b.sz.Concurrency, "worker_env": o.settings, "sizes": b.sz}}
	for _, step := range allSteps {
		if !o.steps[step] {
			continue
		}
		b.log.Info("step", "name", step)
		var err error
		switch step {
		case "import":
			err = b.importLadder(ctx)
		case "pgtemporal":
			err = b.pgTemporal(ctx)
		case "events":
			err = b.events(ctx)
		case "db":
			err = b.dbPath(ctx)
		case "review":
			err = b.review(ctx)
		case "api":
			err = b.api(ctx)
		case "kpi":
			err = b.kpi(ctx)
		}
		if err != nil {
			return fmt.Errorf("step %s: %w", step, err)
		}
	}
	b.release()
	if err := b.dropDatabases(context.WithoutCancel(ctx)); err != nil {
		b.log.Warn("clean up", "error", err)
	}
	b.table.LoadAfter = loadAverage()
	b.table.Took = time.Since(started).Round(time.Second).String()
	b.table.judge()
	if err := b.table.Print(stdout); err != nil {
		return err
	}
	if o.results != "" {
		path, err := b.table.Save(o.results)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nresults:", path)
	}
	if o.readme != "" {
		f, err := os.Create(o.readme)
		if err != nil {
			return fmt.Errorf("write %s: %w", o.readme, err)
		}
		b.table.Markdown(f)
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", o.readme, err)
		}
	}
	return nil
}

// findServers finds the Temporal server and PostgreSQL processes of the
// stack for the CPU columns; without them those columns stay empty.
func (b *bench) findServers() cpuMeter {
	var m cpuMeter
	var err error
	if m.temporalPID, err = listener(b.temporal); err != nil {
		b.log.Warn("no cpu figures for the Temporal server", "error", err)
	}
	if u, perr := url.Parse(b.adminURL); perr == nil {
		if m.postgresPID, err = listener(u.Host); err != nil {
			b.log.Warn("no cpu figures for PostgreSQL", "error", err)
		}
	}
	return m
}

// connect opens the admin database and the Temporal client of the stack at
// b.adminURL and b.temporal, and finds the stack's processes for the cpu
// columns.
func (b *bench) connect(ctx context.Context, stderr io.Writer) (disconnect func(), err error) {
	connector, err := pq.NewConnector(b.adminURL)
	if err != nil {
		return nil, fmt.Errorf("admin database URL: %w", err)
	}
	b.admin = sql.OpenDB(connector)
	b.meter = b.findServers()
	b.client, err = client.DialContext(ctx, client.Options{
		HostPort: b.temporal, Namespace: "default",
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))),
	})
	if err != nil {
		b.admin.Close()
		return nil, fmt.Errorf("dial temporal at %s: %w", b.temporal, err)
	}
	return func() { b.client.Close(); b.admin.Close() }, nil
}

// release stops what the steps left running for later steps.
func (b *bench) release() {
	if b.lastImport != nil {
		b.lastImport.worker.stop()
		b.lastImport.db.close()
		b.lastImport = nil
	}
}

// ceilingOptions derives the SDK options of the kamflow worker from the
// same configuration code the worker runs, so a changed default moves both
// sides of every ratio.
func ceilingOptions(settings workerSettings) (opts worker.Options, stickyCache int, err error) {
	env := config.Env{"DATABASE_URL=postgres://unused", "KAM_ALLOW_PLAINTEXT_PAYLOADS=true"}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	cfg, _, err := config.LoadWorker(nil, env)
	if err != nil {
		return opts, 0, fmt.Errorf("worker settings: %w", err)
	}
	worker.SetStickyWorkflowCacheSize(cfg.StickyCacheSize)
	opts = cfg.SDKOptions()
	if v := settings["GOGC"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return opts, 0, fmt.Errorf("GOGC %q: want a whole number", v)
		}
		debug.SetGCPercent(n)
	}
	return opts, cfg.StickyCacheSize, nil
}

// machine describes where the run happened, for the README's table.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
					mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d × %s%s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// loadAverage is the 1-minute load average, or 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64) // 0 is an honest "unknown"
	return v
}
