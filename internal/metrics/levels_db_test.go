package metrics_test

import (
	"database/sql"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/store"
)

// TestMain gives the package a PostgreSQL server (make test's shared one, or
// a private cluster).
func TestMain(m *testing.M) { pgtest.Main(m) }

// dbNow is the "now" the level queries are asked about.
var dbNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// levelStore returns a migrated store on a fresh database and a plain
// connection to write fixtures with.
func levelStore(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	ctx := t.Context()
	url := pgtest.Database(t)
	st, err := store.Open(ctx, url)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return st, db
}

// seedLevels writes rows straight into the tables the level queries read,
// one of every case the gauges tell apart.
func seedLevels(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := t.Context()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	accounts := []struct{ id, stage, tier string }{
		{"a1", "maintain", "vip"}, {"a2", "maintain", "vip"}, {"a3", "maintain", "core"},
		{"a4", "engage", "prospect"}, {"a5", "churn_recovery", "ordinary"}, {"a6", "lost", "ordinary"},
	}
	for _, a := range accounts {
		exec(`INSERT INTO accounts (id, name, manager_id, stage, tier) VALUES ($1, $1, 'm1', $2, $3)`, a.id, a.stage, a.tier)
	}
	h := time.Hour
	tasks := []struct {
		id, kind, state string
		due             time.Time
	}{
		{"a1:visit:1", "visit", "open", dbNow.Add(-2 * h)}, // overdue
		{"a1:visit:2", "visit", "open", dbNow.Add(-h)},     // overdue
		{"a2:visit:1", "visit", "open", dbNow.Add(h)},
		{"a2:visit:2", "visit", "open", dbNow}, // due this instant: not late yet
		{"a5:recovery_plan:1", "recovery_plan", "open", dbNow.Add(-h)},
		{"a5:ack:1", "ack", "open", dbNow.Add(48 * h)},
		{"a3:visit:1", "visit", "done", dbNow.Add(-48 * h)},         // done: not open
		{"a4:follow_up:1", "follow_up", "cancelled", dbNow.Add(-h)}, // cancelled: not open
	}
	for _, tk := range tasks {
		exec(`INSERT INTO tasks (id, account_id, kind, assignee_id, due_at, state) VALUES ($1, split_part($1, ':', 1), $2, 'm1', $3, $4)`,
			tk.id, tk.kind, tk.due, tk.state)
	}
	surveys := []struct {
		id       string
		due      time.Time
		answered *time.Time
	}{
		{"a1:survey:1", dbNow.Add(24 * h), nil},                // pending
		{"a2:survey:1", dbNow.Add(h), nil},                     // pending
		{"a3:survey:1", dbNow.Add(-h), ptr(dbNow.Add(-2 * h))}, // answered in time
		{"a4:survey:1", dbNow.Add(h), ptr(dbNow.Add(-h))},      // answered early
		{"a5:survey:1", dbNow.Add(-h), nil},                    // expired
		{"a6:survey:1", dbNow, nil},                            // expires this instant: no longer answerable
	}
	for _, s := range surveys {
		exec(`INSERT INTO surveys (id, account_id, kind, token_hash, sent_at, due_at, answered_at) VALUES ($1, split_part($1, ':', 1), 'nps', convert_to($1, 'UTF8'), $2, $3, $4)`,
			s.id, dbNow.Add(-14*24*h), s.due, s.answered)
	}
	exec(`INSERT INTO outbox (id, recipient, sent_at) VALUES ('mail:1', 'x@example.com', NULL), ('mail:2', 'x@example.com', NULL), ('mail:3', 'x@example.com', $1)`, dbNow)
	exec(`UPDATE outbox SET error = 'smtp: connection refused', attempts = 3 WHERE id = 'mail:2'`)
}

func ptr[T any](v T) *T { return &v }

func TestStoreLevels(t *testing.T) {
	st, db := levelStore(t)
	defer func() { require.NoError(t, st.Close()) }()

	empty, err := st.Levels(t.Context(), dbNow)
	require.NoError(t, err)
	require.Equal(t, metrics.Levels{}, empty, "an empty record has no levels")

	seedLevels(t, db)
	got, err := st.Levels(t.Context(), dbNow)
	require.NoError(t, err)
	require.ElementsMatch(t, []metrics.AccountCount{
		{Stage: "maintain", Tier: "vip", N: 2}, {Stage: "maintain", Tier: "core", N: 1},
		{Stage: "engage", Tier: "prospect", N: 1}, {Stage: "churn_recovery", Tier: "ordinary", N: 1},
		{Stage: "lost", Tier: "ordinary", N: 1},
	}, got.Accounts)
	require.ElementsMatch(t, []metrics.TaskCount{
		{Kind: "visit", Overdue: true, N: 2}, {Kind: "visit", Overdue: false, N: 2},
		{Kind: "recovery_plan", Overdue: true, N: 1}, {Kind: "ack", Overdue: false, N: 1},
	}, got.OpenTasks)
	require.Equal(t, metrics.SurveyCounts{Pending: 2, Answered: 2, Expired: 2}, got.Surveys)
	require.Equal(t, 2, got.OutboxPending, "unsent mail counts whether or not a send failed")

	// Import runs add up across runs and never shrink: a counter.
	require.NoError(t, st.RecordImport(t.Context(), "a.csv", 10, 0, 2))
	require.NoError(t, st.RecordImport(t.Context(), "a.csv", 0, 10, 2))
	got, err = st.Levels(t.Context(), dbNow)
	require.NoError(t, err)
	require.Equal(t, metrics.ImportRows{Started: 10, Existing: 10, Failed: 4}, got.ImportRows)

	// A day later everything still open is overdue and every open survey expired.
	later, err := st.Levels(t.Context(), dbNow.Add(72*time.Hour))
	require.NoError(t, err)
	require.ElementsMatch(t, []metrics.TaskCount{
		{Kind: "visit", Overdue: true, N: 4}, {Kind: "recovery_plan", Overdue: true, N: 1}, {Kind: "ack", Overdue: true, N: 1},
	}, later.OpenTasks)
	require.Equal(t, metrics.SurveyCounts{Pending: 0, Answered: 2, Expired: 4}, later.Surveys)
}

// TestLevelsCollectorOnPostgres scrapes the collector over a real store,
// then loses the database: the scrape still succeeds, reports
// kamflow_levels_up 0 and keeps the values it had.
func TestLevelsCollectorOnPostgres(t *testing.T) {
	st, db := levelStore(t)
	seedLevels(t, db)
	clk := &clock{t: dbNow}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics.NewLevelsCollector(st, metrics.LevelsOptions{Now: clk.now})))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems, "promlint problems")
	require.Equal(t, 1.0, gaugeValues(t, reg, "kamflow_levels_up")[""])
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="maintain",tier="vip"`])
	require.Equal(t, 0.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="identify",tier="vip"`])
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_open_tasks")[`kind="visit",overdue="true"`])
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_surveys")[`state="expired"`])
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_outbox_pending")[""])

	// More rows, but within the TTL: the cached read answers.
	_, err = db.ExecContext(t.Context(), `INSERT INTO outbox (id, recipient) VALUES ('mail:4', 'x@example.com')`)
	require.NoError(t, err)
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_outbox_pending")[""])
	clk.advance(metrics.DefaultLevelsTTL)
	require.Equal(t, 3.0, gaugeValues(t, reg, "kamflow_outbox_pending")[""])

	// The database goes away.
	require.NoError(t, st.Close())
	clk.advance(metrics.DefaultLevelsTTL)
	mfs, err := reg.Gather()
	require.NoError(t, err, "a database error must not fail the scrape")
	require.NotEmpty(t, mfs)
	require.Equal(t, 0.0, gaugeValues(t, reg, "kamflow_levels_up")[""])
	require.Equal(t, 3.0, gaugeValues(t, reg, "kamflow_outbox_pending")[""], "last values kept")
	require.Equal(t, 2.0, gaugeValues(t, reg, "kamflow_accounts")[`stage="maintain",tier="vip"`], "last values kept")
	problems, err = testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}
