package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// importRun is what one E-import repetition leaves behind: a worker with
// ImportAccounts open accounts, which E-events feeds.
type importRun struct {
	worker *kamWorker
	db     *database
	// ids of the accounts imported, in file order.
	ids []string
}

// importLadder runs B0 and B1 (one repetition before the import, the rest
// after it, so the ceilings sample the machine's load across the run) and
// one E-import of ImportAccounts, whose repetitions are its consecutive
// thirds: importing 10,000 accounts three times does not fit the time
// budget. The memory lines are read from the import's worker, which then
// stays up for E-events.
func (b *bench) importLadder(ctx context.Context) error {
	n := b.sz.Concurrency
	b0 := &Line{Step: "B0", What: fmt.Sprintf("empty workflow start+complete, %d clients", n), Unit: "wf/s"}
	b1 := &Line{Step: "B1", What: fmt.Sprintf("workflow of %d no-op activities, %d clients", b.sz.ImportActivities, n), Unit: "wf/s"}
	imp := &Line{Step: "E-import", What: fmt.Sprintf("starter import of %d accounts until each has a score row, --concurrency %d", b.sz.ImportAccounts, n),
		Unit: "accounts/s", Ceiling: "B1", Target: &Target{Op: ">=", Bound: 0.8, OnRatio: true}}

	tq := "bench-ceiling-" + randomSuffix()
	stop, err := ceilingWorker(b.client, tq, b.ceilingOpts)
	if err != nil {
		return err
	}
	defer stop()
	ceilings := func(rep int) error {
		c0 := b.meter.sample(0)
		r, err := runWorkflows(ctx, b.client, tq, fmt.Sprintf("b0-%s-%d", tq, rep), n, b.sz.B0, emptyWorkflow)
		if err != nil {
			return fmt.Errorf("B0: %w", err)
		}
		c1 := b.meter.sample(0)
		b0.Reps, b0.CPU = append(b0.Reps, r), append(b0.CPU, msPer(c1.sub(c0).total(), b.sz.B0))
		b.log.Info("B0", "rep", rep, "wf/s", fmtNum(r), "cpu_ms", fmtNum(msPer(c1.sub(c0).total(), b.sz.B0)))
		r, err = runWorkflows(ctx, b.client, tq, fmt.Sprintf("b1-%s-%d", tq, rep), n, b.sz.B1, noopWorkflow, b.sz.ImportActivities)
		if err != nil {
			return fmt.Errorf("B1: %w", err)
		}
		c2 := b.meter.sample(0)
		b1.Reps, b1.CPU = append(b1.Reps, r), append(b1.CPU, msPer(c2.sub(c1).total(), b.sz.B1))
		b.log.Info("B1", "rep", rep, "wf/s", fmtNum(r), "cpu_ms", fmtNum(msPer(c2.sub(c1).total(), b.sz.B1)),
			"server_cpu_ms", fmtNum(msPer(c2.sub(c1).temporal, b.sz.B1)))
		return nil
	}
	if err := ceilings(0); err != nil {
		return err
	}
	run, res, err := b.importOnce(ctx)
	if err != nil {
		return fmt.Errorf("import step: %w", err)
	}
	b.lastImport = run
	imp.Reps, imp.CPU = res.segments, []float64{res.cpuMs}
	b.log.Info("E-import", "accounts/s", fmtNum(res.rate), "segments", res.segments, "cpu_ms", fmtNum(res.cpuMs), "server_cpu_ms", fmtNum(res.serverMs),
		"worker_cpu_ms", fmtNum(res.workerMs), "pg_cpu_ms", fmtNum(res.pgMs), "rss_MiB", res.rss>>20)
	for rep := 1; rep < b.reps; rep++ {
		if err := ceilings(rep); err != nil {
			return err
		}
	}
	imp.Note = fmt.Sprintf("one run of %d accounts at %s accounts/s overall; the median and spread are over its %d consecutive parts. "+
		"An onboarding runs %d activities until its first score (B1's count) and 2 more after it (RecordTransition to engage, ScheduleVisit), "+
		"which load the servers during the run but are not in B1",
		b.sz.ImportAccounts, fmtNum(res.rate), b.reps, b.sz.ImportActivities)
	b.table.add(b0)
	b.table.add(b1)
	b.table.add(imp)
	return b.memoryLines(ctx, res)
}

type importResult struct {
	rate     float64
	segments []float64
	cpuMs    float64
	serverMs float64
	workerMs float64
	pgMs     float64
	// idle and rss are the worker's resident set before the import and
	// with every imported account open; stack and heap its Go stacks and
	// heap in use then.
	idle, rss            int64
	idleStack, stack     float64
	idleHeap, heap       float64
	cached, openAccounts int
}

// importOnce imports ImportAccounts fresh accounts into a fresh database
// through a fresh worker, and measures the rate until every account has
// its first score row, then the worker's memory with all of them open.
func (b *bench) importOnce(ctx context.Context) (*importRun, importResult, error) {
	var res importResult
	d, err := b.newDatabase(ctx, "import")
	if err != nil {
		return nil, res, err
	}
	managers := b.managerIDs()
	if err := addManagers(ctx, d.store, managers); err != nil {
		d.close()
		return nil, res, err
	}
	prefix := "i" + randomSuffix()[:5]
	file, ids, err := b.accountsCSV(prefix, managers)
	if err != nil {
		d.close()
		return nil, res, err
	}
	w, err := b.startWorker(ctx, "import", d.url, b.settings)
	if err != nil {
		d.close()
		return nil, res, err
	}
	run := &importRun{worker: w, db: d, ids: ids}
	fail := func(err error) (*importRun, importResult, error) {
		w.stop()
		d.close()
		return nil, res, err
	}
	time.Sleep(time.Second) // let the idle worker's memory settle before the baseline
	if res.idle, res.idleHeap, res.idleStack, err = w.memory(); err != nil {
		return fail(err)
	}
	c0 := b.meter.sample(w.pid())
	sum, starterCPU, prog, err := b.runStarterUntil(ctx, w, d.db, `SELECT count(DISTINCT account_id) FROM scores`, len(ids), 30*time.Minute,
		"import", "--concurrency", strconv.Itoa(b.sz.Concurrency), file)
	if err != nil {
		return fail(err)
	}
	if sum.Started != len(ids) {
		return fail(fmt.Errorf("starter started %d of %d accounts", sum.Started, len(ids)))
	}
	cpu := b.meter.sample(w.pid()).sub(c0)
	res.rate, res.segments = prog.rate(len(ids)), prog.segments(0, len(ids), b.reps)
	res.cpuMs = msPer(cpu.total()+starterCPU, len(ids))
	res.serverMs, res.workerMs, res.pgMs = msPer(cpu.temporal, len(ids)), msPer(cpu.worker, len(ids)), msPer(cpu.postgres, len(ids))
	// The onboardings' last activities (engage, visit) finish shortly after
	// the score; memory is read once the worker is idle again.
	if err := waitQuiet(ctx, d.db, `SELECT (SELECT count(*) FROM stage_transitions) + (SELECT count(*) FROM visits)`, 3*time.Second, 10*time.Minute); err != nil {
		return fail(err)
	}
	if res.rss, res.heap, res.stack, err = w.memory(); err != nil {
		return fail(err)
	}
	res.openAccounts = len(ids)
	res.cached = min(len(ids), b.stickyCacheSize())
	return run, res, nil
}

// memoryLines reports the worker's memory with every imported account open
// against M0, the Go SDK's own cost of one cached workflow that waits.
func (b *bench) memoryLines(ctx context.Context, res importResult) error {
	m0 := &Line{Step: "M0", What: "Go SDK alone: heap+stacks per cached waiting no-op workflow (in-process, after GC)", Unit: "KiB"}
	for rep := range b.reps {
		kib, err := sdkFloor(ctx, b.client, b.ceilingOpts, b.sz.M0Workflows)
		if err != nil {
			return fmt.Errorf("M0: %w", err)
		}
		m0.Reps = append(m0.Reps, kib)
		b.log.Info("M0", "rep", rep, "KiB", fmtNum(kib))
	}
	perCached := float64(res.rss-res.idle) / float64(res.cached) / 1024
	b.table.add(m0)
	b.table.add(&Line{Step: "M-account", What: fmt.Sprintf("worker RSS growth per cached account (%d open, %d cached)", res.openAccounts, res.cached),
		Unit: "KiB", Reps: []float64{perCached}, Target: &Target{Op: "<", Bound: 20},
		Note: fmt.Sprintf("sticky cache %d (KAM_STICKY_CACHE_SIZE); M0 is the floor any Go SDK worker pays per cached workflow", b.stickyCacheSize())})
	b.table.add(&Line{Step: "M-heap", What: "worker Go heap+stacks in use per cached account (no forced GC: includes garbage)", Unit: "KiB",
		Reps: []float64{((res.heap - res.idleHeap) + (res.stack - res.idleStack)) / float64(res.cached) / 1024}})
	b.table.add(&Line{Step: "M-open", What: fmt.Sprintf("worker RSS per open account (%d open)", res.openAccounts), Unit: "KiB",
		Reps: []float64{float64(res.rss) / float64(res.openAccounts) / 1024}})
	b.table.add(&Line{Step: "M-worker", What: fmt.Sprintf("worker RSS with %d open accounts (idle: %.0f MiB)", res.openAccounts, float64(res.idle)/(1<<20)),
		Unit: "MiB", Reps: []float64{float64(res.rss) / (1 << 20)}})
	return nil
}

// stickyCacheSize is the kamflow worker's sticky cache as configured.
func (b *bench) stickyCacheSize() int {
	if n, err := strconv.Atoi(b.settings["KAM_STICKY_CACHE_SIZE"]); err == nil && n > 0 {
		return n
	}
	return b.defaultCache
}

// managerIDs names the managers owning the imported accounts.
func (b *bench) managerIDs() []string {
	ms := make([]string, max(1, b.sz.Managers))
	for i := range ms {
		ms[i] = fmt.Sprintf("m-%03d", i)
	}
	return ms
}

// accountsCSV writes ImportAccounts accounts as an operator's export would
// look: every column the starter reads, Chinese and English names, a spread
// of revenues so that screening qualifies some accounts and not others.
func (b *bench) accountsCSV(prefix string, managers []string) (string, []string, error) {
	path := filepath.Join(b.dir, prefix+"-accounts.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	rng := rand.New(rand.NewPCG(uint64(len(prefix)), 42))
	industries := []string{"machinery", "chemicals", "retail", "logistics", "software"}
	regions := []string{"华东", "华南", "North", "South", "West"}
	ids := make([]string, b.sz.ImportAccounts)
	_ = w.Write([]string{"id", "name", "manager", "industry", "region", "revenue", "growth_rate", "market_share", "contact_name", "contact_email"})
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		name := fmt.Sprintf("Bench Account %d Ltd", i)
		if i%3 == 0 {
			name = fmt.Sprintf("基准客户%d有限公司", i)
		}
		_ = w.Write([]string{ids[i], name, managers[i%len(managers)], industries[i%len(industries)], regions[i%len(regions)],
			strconv.Itoa(50_000 + rng.IntN(5_000_000)), fmt.Sprintf("%.2f", rng.Float64()*0.4), fmt.Sprintf("%.2f", rng.Float64()),
			"Contact " + strconv.Itoa(i), fmt.Sprintf("contact%d@example.com", i)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	return path, ids, nil
}

// addManagers creates the managers accounts are assigned to.
func addManagers(ctx context.Context, st *store.Store, ids []string) error {
	for _, m := range ids {
		if err := st.UpsertManager(ctx, store.Manager{ID: m, Name: "Manager " + m, Email: m + "@example.com", Role: activities.RoleManager}); err != nil {
			return err
		}
	}
	return nil
}

// msPer is d in milliseconds per unit.
func msPer(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(n)
}
