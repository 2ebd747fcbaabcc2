package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Levels is what kamflow's record holds at one moment. Levels are read from
// PostgreSQL, not counted in the process, so that every worker reports the
// same numbers however many of them run and however often they restart.
type Levels struct {
	// Accounts counts accounts by stage and tier, end stages included.
	Accounts []AccountCount
	// OpenTasks counts open tasks by kind and whether they are past due.
	OpenTasks []TaskCount
	// Surveys splits the surveys sent by where they stand now.
	Surveys SurveyCounts
	// OutboxPending counts messages written to the outbox and not yet sent.
	OutboxPending int
	// ImportRows sums the rows of every `starter import` run by result.
	ImportRows ImportRows
}

// ImportRows counts import rows by result. The record only ever adds runs,
// so these only grow: they are reported as counters.
type ImportRows struct {
	Started, Existing, Failed int
}

// AccountCount is the number of accounts in one stage and tier.
type AccountCount struct {
	Stage, Tier string
	N           int
}

// TaskCount is the number of open tasks of one kind, overdue or not.
type TaskCount struct {
	Kind    string
	Overdue bool
	N       int
}

// SurveyCounts splits surveys into answered ones, unanswered ones still
// within their answer window (pending) and unanswered ones past it
// (expired), which is what a response-rate panel needs.
type SurveyCounts struct {
	Pending, Answered, Expired int
}

// LevelSource reads Levels; *store.Store implements it. It is an interface
// so that this package does not depend on the store.
type LevelSource interface {
	// Levels reads the record as of now (now decides which tasks are
	// overdue and which surveys expired).
	Levels(ctx context.Context, now time.Time) (Levels, error)
}

// The names the contract fixes. The collector reports zero for every known
// combination, so a panel shows 0 rather than "no data" and an alert on a
// series that has never been non-zero still evaluates; values the record
// holds beyond these are reported as they are.
var (
	knownStages = []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "lost", "disqualified", "closed"}
	knownTiers  = []string{"prospect", "ordinary", "core", "vip"}
	knownKinds  = []string{"visit", "recovery_plan", "ack", "follow_up"}
)

// Defaults of LevelsOptions.
const (
	DefaultLevelsTTL     = 10 * time.Second
	DefaultLevelsTimeout = 5 * time.Second
)

// LevelsOptions tunes a LevelsCollector; the zero value is the production
// setting.
type LevelsOptions struct {
	// TTL is how long one read serves scrapes (DefaultLevelsTTL): a scrape
	// storm or several Prometheus servers cost one query per TTL per worker.
	// A failed read is also remembered for TTL, so a database that is down is
	// not asked again on every scrape.
	TTL time.Duration
	// Timeout bounds one read (DefaultLevelsTimeout); keep it under the
	// Prometheus scrape timeout so a slow database does not fail the scrape.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives read failures; nothing is logged when nil.
	Logger *slog.Logger
}

// LevelsCollector is a prometheus.Collector that reports Levels read at
// scrape time, cached for a short TTL. On a read error it reports
// kamflow_levels_up 0 and the last values it read, so one bad read neither
// fails the scrape nor blanks the dashboards.
type LevelsCollector struct {
	src  LevelSource
	opts LevelsOptions

	accounts, openTasks, surveys, outbox, importRows, up, lastSuccess *prometheus.Desc

	mu          sync.Mutex
	last        Levels
	haveLast    bool
	lastOK      bool
	lastAttempt time.Time
	succeededAt time.Time
}

// NewLevelsCollector returns a collector reading src; register it on the
// worker's registry.
func NewLevelsCollector(src LevelSource, opts LevelsOptions) *LevelsCollector {
	if opts.TTL <= 0 {
		opts.TTL = DefaultLevelsTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLevelsTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &LevelsCollector{
		src:  src,
		opts: opts,
		accounts: prometheus.NewDesc("kamflow_accounts",
			"Accounts in kamflow's record by stage and tier, read from PostgreSQL (the same on every worker: aggregate with max, not sum).",
			[]string{"stage", "tier"}, nil),
		openTasks: prometheus.NewDesc("kamflow_open_tasks",
			"Open tasks by kind and whether they are past due, read from PostgreSQL (aggregate with max, not sum).",
			[]string{"kind", "overdue"}, nil),
		surveys: prometheus.NewDesc("kamflow_surveys",
			"Surveys sent by state: pending (within the answer window), answered, expired (unanswered past it), read from PostgreSQL.",
			[]string{"state"}, nil),
		outbox: prometheus.NewDesc("kamflow_outbox_pending",
			"Messages in the outbox not yet sent, read from PostgreSQL.", nil, nil),
		importRows: prometheus.NewDesc("kamflow_import_rows_total",
			"Rows of `starter import` runs by result (started, existing, failed), summed from the runs recorded in PostgreSQL (aggregate with max, not sum).",
			[]string{"result"}, nil),
		up: prometheus.NewDesc("kamflow_levels_up",
			"1 if the last read of the level gauges from PostgreSQL succeeded, 0 if it failed (the gauges then keep their last values).", nil, nil),
		lastSuccess: prometheus.NewDesc("kamflow_levels_last_success_timestamp_seconds",
			"Unix time of the last successful read of the level gauges, to tell how stale kept values are.", nil, nil),
	}
}

// Describe sends the descriptors of every metric the collector reports.
func (c *LevelsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.accounts, c.openTasks, c.surveys, c.outbox, c.importRows, c.up, c.lastSuccess} {
		ch <- d
	}
}

// Collect reads the levels when the cached read is older than the TTL and
// sends them. Concurrent scrapes wait for one read rather than each
// starting their own.
func (c *LevelsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.opts.Now()
	if c.lastAttempt.IsZero() || now.Sub(c.lastAttempt) >= c.opts.TTL {
		c.refresh(now)
	}
	last, haveLast, ok, succeededAt := c.last, c.haveLast, c.lastOK, c.succeededAt
	c.mu.Unlock()

	up := 0.0
	if ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	if !haveLast {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(succeededAt.UnixNano())/1e9)
	c.collectLevels(ch, last)
}

// refresh reads the source; the caller holds c.mu.
func (c *LevelsCollector) refresh(now time.Time) {
	c.lastAttempt = now
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	l, err := c.src.Levels(ctx, now)
	if err != nil {
		c.lastOK = false
		if c.opts.Logger != nil {
			c.opts.Logger.Warn("read level gauges, keeping the last values", "error", err)
		}
		return
	}
	c.last, c.haveLast, c.lastOK, c.succeededAt = l, true, true, now
}

func (c *LevelsCollector) collectLevels(ch chan<- prometheus.Metric, l Levels) {
	accounts := map[[2]string]int{}
	for _, s := range knownStages {
		for _, t := range knownTiers {
			accounts[[2]string{s, t}] = 0
		}
	}
	for _, a := range l.Accounts {
		accounts[[2]string{a.Stage, a.Tier}] += a.N
	}
	for k, n := range accounts {
		ch <- prometheus.MustNewConstMetric(c.accounts, prometheus.GaugeValue, float64(n), k[0], k[1])
	}

	tasks := map[[2]string]int{}
	for _, k := range knownKinds {
		tasks[[2]string{k, "true"}] = 0
		tasks[[2]string{k, "false"}] = 0
	}
	for _, t := range l.OpenTasks {
		overdue := "false"
		if t.Overdue {
			overdue = "true"
		}
		tasks[[2]string{t.Kind, overdue}] += t.N
	}
	for k, n := range tasks {
		ch <- prometheus.MustNewConstMetric(c.openTasks, prometheus.GaugeValue, float64(n), k[0], k[1])
	}

	ch <- prometheus.MustNewConstMetric(c.surveys, prometheus.GaugeValue, float64(l.Surveys.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(c.surveys, prometheus.GaugeValue, float64(l.Surveys.Answered), "answered")
	ch <- prometheus.MustNewConstMetric(c.surveys, prometheus.GaugeValue, float64(l.Surveys.Expired), "expired")
	ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(l.OutboxPending))
	ch <- prometheus.MustNewConstMetric(c.importRows, prometheus.CounterValue, float64(l.ImportRows.Started), "started")
	ch <- prometheus.MustNewConstMetric(c.importRows, prometheus.CounterValue, float64(l.ImportRows.Existing), "existing")
	ch <- prometheus.MustNewConstMetric(c.importRows, prometheus.CounterValue, float64(l.ImportRows.Failed), "failed")
}
