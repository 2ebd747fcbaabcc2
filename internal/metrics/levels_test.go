package metrics_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/metrics"
)

// fakeSource counts reads and fails while err is set. It stands in for the
// store where the collector's own logic (cache, error handling) is tested;
// the SQL is tested against a real PostgreSQL in levels_db_test.go.
type fakeSource struct {
	mu     sync.Mutex
	levels metrics.Levels
	err    error
	reads  atomic.Int32
	delay  time.Duration
}

func (f *fakeSource) Levels(ctx context.Context, _ time.Time) (metrics.Levels, error) {
	f.reads.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return metrics.Levels{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.levels, f.err
}

func (f *fakeSource) set(l metrics.Levels, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.levels, f.err = l, err
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func sampleLevels(vipMaintain int) metrics.Levels {
	return metrics.Levels{
		Accounts: []metrics.AccountCount{
			{Stage: "maintain", Tier: "vip", N: vipMaintain},
			{Stage: "engage", Tier: "prospect", N: 2},
		},
		OpenTasks: []metrics.TaskCount{
			{Kind: "visit", Overdue: true, N: 4},
			{Kind: "visit", Overdue: false, N: 1},
		},
		Surveys:       metrics.SurveyCounts{Pending: 5, Answered: 7, Expired: 2},
		OutboxPending: 3,
	}
}

func newCollector(t *testing.T, src metrics.LevelSource, clk *clock) (*metrics.LevelsCollector, *prometheus.Registry) {
	t.Helper()
	c := metrics.NewLevelsCollector(src, metrics.LevelsOptions{TTL: 10 * time.Second, Now: clk.now})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	return c, reg
}

func TestLevelsCollectorReportsAndLints(t *testing.T) {
	src := &fakeSource{levels: sampleLevels(3)}
	_, reg := newCollector(t, src, &clock{t: time.Unix(1_800_000_000, 0)})

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems, "promlint problems")

	const want = `
# HELP kamflow_levels_up 1 if the last read of the level gauges from PostgreSQL succeeded, 0 if it failed (the gauges then keep their last values).
# TYPE kamflow_levels_up gauge
kamflow_levels_up 1
# HELP kamflow_outbox_pending Messages in the outbox not yet sent, read from PostgreSQL.
# TYPE kamflow_outbox_pending gauge
kamflow_outbox_pending 3
# HELP kamflow_surveys Surveys sent by state: pending (within the answer window), answered, expired (unanswered past it), read from PostgreSQL.
# TYPE kamflow_surveys gauge
kamflow_surveys{state="answered"} 7
kamflow_surveys{state="expired"} 2
kamflow_surveys{state="pending"} 5
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kamflow_levels_up", "kamflow_outbox_pending", "kamflow_surveys"))

	// Every known stage x tier and kind x overdue is reported, zero or not.
	vals := gaugeValues(t, reg, "kamflow_accounts")
	require.Len(t, vals, 8*4)
	require.Equal(t, 3.0, vals[`stage="maintain",tier="vip"`])
	require.Equal(t, 2.0, vals[`stage="engage",tier="prospect"`])
	require.Equal(t, 0.0, vals[`stage="churn_recovery",tier="core"`])
	tasks := gaugeValues(t, reg, "kamflow_open_tasks")
	require.Len(t, tasks, 4*2)
	require.Equal(t, 4.0, tasks[`kind="visit",overdue="true"`])
	require.Equal(t, 1.0, tasks[`kind="visit",overdue="false"`])
	require.Equal(t, 0.0, tasks[`kind="ack",overdue="true"`])
	require.Equal(t, 1_800_000_000.0, gaugeValues(t, reg, "kamflow_levels_last_success_timestamp_seconds")[""])
}

func TestLevelsCollectorCachesForTTL(t *testing.T) {
	src := &fakeSource{levels: sampleLevels(3)}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	_, reg := newCollector(t, src, clk)

	for range 5 {
		_, err := reg.Gather()
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, src.reads.Load(), "scrapes within the TTL must share one read")

	src.set(sampleLevels(9), nil)
	clk.advance(9 * time.Second)
	require.Equal(t, 3.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="maintain",tier="vip"`], "still cached")
	clk.advance(time.Second)
	require.Equal(t, 9.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="maintain",tier="vip"`], "read again after the TTL")
	require.EqualValues(t, 2, src.reads.Load())
}

func TestLevelsCollectorConcurrentScrapesShareOneRead(t *testing.T) {
	src := &fakeSource{levels: sampleLevels(3), delay: 50 * time.Millisecond}
	_, reg := newCollector(t, src, &clock{t: time.Unix(1_800_000_000, 0)})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := reg.Gather()
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, src.reads.Load())
}

func TestLevelsCollectorKeepsLastValuesOnError(t *testing.T) {
	src := &fakeSource{}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	_, reg := newCollector(t, src, clk)

	// Before any successful read only the up gauge is reported.
	src.set(metrics.Levels{}, errors.New("connection refused"))
	mfs, err := reg.Gather()
	require.NoError(t, err, "a database error must not fail the scrape")
	require.Len(t, mfs, 1)
	require.Equal(t, 0.0, gaugeValues(t, reg, "kamflow_levels_up")[""])

	clk.advance(10 * time.Second)
	src.set(sampleLevels(3), nil)
	require.Equal(t, 1.0, gaugeValues(t, reg, "kamflow_levels_up")[""])

	clk.advance(10 * time.Second)
	src.set(sampleLevels(99), errors.New("connection refused"))
	require.Equal(t, 0.0, gaugeValues(t, reg, "kamflow_levels_up")[""])
	require.Equal(t, 3.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="maintain",tier="vip"`], "last values kept")
	require.Equal(t, 1_800_000_010.0, gaugeValues(t, reg, "kamflow_levels_last_success_timestamp_seconds")[""])
	reads := src.reads.Load()
	for range 3 {
		_, err := reg.Gather()
		require.NoError(t, err)
	}
	require.Equal(t, reads, src.reads.Load(), "a failed read is also cached for the TTL")

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestLevelsCollectorTimesOutSlowReads(t *testing.T) {
	src := &fakeSource{levels: sampleLevels(1), delay: time.Minute}
	c := metrics.NewLevelsCollector(src, metrics.LevelsOptions{Timeout: 50 * time.Millisecond})
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	start := time.Now()
	require.Equal(t, 0.0, gaugeValues(t, reg, "kamflow_levels_up")[""])
	require.Less(t, time.Since(start), 5*time.Second)
}

// gaugeValues gathers reg and returns name's gauge values keyed by their
// labels rendered as `a="x",b="y"` in label-name order ("" for none).
func gaugeValues(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, lp := range m.GetLabel() {
				parts = append(parts, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			out[strings.Join(parts, ",")] = m.GetGauge().GetValue()
		}
	}
	return out
}
