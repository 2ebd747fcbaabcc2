package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver of the seeding connection
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
)

// seedLarge fills the record the way a busy deployment looks: one manager
// with 10,000 open tasks over 1,000 accounts, and one account with 5,000
// timeline entries. Rows go in with SQL (no workflows): the point is the
// read path.
func seedLarge(t testing.TB, e *env) (token string) {
	t.Helper()
	token = e.manager("bench.m", "Bench Manager", activities.RoleManager, "")
	db, err := sql.Open("postgres", e.dbURL)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for _, q := range []string{
		`INSERT INTO accounts (id, name, manager_id, stage, tier)
		 SELECT 'bench-' || i, '基准客户 Bench account ' || i, 'bench.m', 'maintain', 'core' FROM generate_series(1, 1000) i`,
		`INSERT INTO tasks (id, account_id, kind, assignee_id, title, due_at, created_at)
		 SELECT 'bench-' || (i % 1000 + 1) || ':visit:' || i, 'bench-' || (i % 1000 + 1), 'visit', 'bench.m',
		        'Visit ' || i, now() + (i - 5000) * interval '1 minute', now() - interval '1 day'
		 FROM generate_series(1, 10000) i`,
		`INSERT INTO account_events (account_id, external_id, kind, at, amount, note)
		 SELECT 'bench-1', 'order-' || i, 'order', now() - i * interval '1 minute', 1000 + i, 'seeded order'
		 FROM generate_series(1, 5000) i`,
		`ANALYZE`,
	} {
		_, err := db.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
	return token
}

// BenchmarkReadPaths measures the API's two heaviest reads against a large
// record and reports their p50 and p99 (the target is p99 under 50 ms):
//
//	go test -run '^$' -bench ReadPaths ./internal/api/
func BenchmarkReadPaths(b *testing.B) {
	e := newEnv(b)
	token := seedLarge(b, e)
	for name, path := range map[string]string{
		"inbox_10k_open_tasks":      "/api/v1/tasks",
		"account_5k_timeline_items": "/api/v1/accounts/bench-1",
		"accounts_list_1k":          "/api/v1/accounts",
	} {
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				code, body := e.call(http.MethodGet, path, token, nil)
				took = append(took, time.Since(start))
				if code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", path, code, body)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
