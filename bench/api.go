package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// api measures the two heaviest reads of the managers' API on the worker
// binary's own HTTP server: the inbox of a manager with APITasks open tasks
// and an account with APITimeline timeline entries. The record is seeded
// with SQL, as internal/api's BenchmarkReadPaths seeds it: the point is the
// read path, not how the rows got there.
func (b *bench) api(ctx context.Context) error {
	d, err := b.newDatabase(ctx, "api")
	if err != nil {
		return err
	}
	defer d.close()
	token, err := addTokenManager(ctx, d.store, store.Manager{ID: "bench.m", Name: "Bench Manager", Email: "bench@example.com", Role: activities.RoleManager})
	if err != nil {
		return err
	}
	accountsN := max(1, b.sz.APITasks/10)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, manager_id, stage, tier)
		  SELECT 'bench-' || i, '基准客户 Bench account ' || i, 'bench.m', 'maintain', 'core' FROM generate_series(1, $1) i`, []any{accountsN}},
		{`INSERT INTO tasks (id, account_id, kind, assignee_id, title, due_at, created_at)
		  SELECT 'bench-' || (i % $2 + 1) || ':visit:' || i, 'bench-' || (i % $2 + 1), 'visit', 'bench.m',
		         'Visit ' || i, now() + (i - $1 / 2) * interval '1 minute', now() - interval '1 day'
		  FROM generate_series(1, $1) i`, []any{b.sz.APITasks, accountsN}},
		{`INSERT INTO account_events (account_id, external_id, kind, at, amount, note)
		  SELECT 'bench-1', 'order-' || i, 'order', now() - i * interval '1 minute', 1000 + i, 'seeded order'
		  FROM generate_series(1, $1) i`, []any{b.sz.APITimeline}},
		{`ANALYZE`, nil},
	} {
		if _, err := d.db.ExecContext(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("seed api record: %w", err)
		}
	}
	w, err := b.startWorker(ctx, "api", d.url, b.settings)
	if err != nil {
		return err
	}
	defer w.stop()
	for _, c := range []struct{ step, what, path string }{
		{"API-inbox", fmt.Sprintf("GET /api/v1/tasks, inbox of %d open tasks", b.sz.APITasks), "/api/v1/tasks"},
		{"API-account", fmt.Sprintf("GET /api/v1/accounts/{id}, %d timeline entries", b.sz.APITimeline), "/api/v1/accounts/bench-1"},
	} {
		if err := b.latencyLines(ctx, w, token, c.step, c.what, []string{c.path}, b.sz.APIRequests, 50); err != nil {
			return err
		}
	}
	return nil
}

// latencyLines times requests GETs (cycling over paths) in each repetition,
// one after another as one person clicking, after a few unrecorded ones to
// warm the caches, and adds a p50 and a p99 line; the p99 must stay under
// bound milliseconds.
func (b *bench) latencyLines(ctx context.Context, w *kamWorker, token, step, what string, paths []string, requests int, bound float64) error {
	p50 := &Line{Step: step + "-p50", What: what + ", median latency", Unit: "ms"}
	p99 := &Line{Step: step + "-p99", What: what + ", 99th percentile latency", Unit: "ms", Target: &Target{Op: "<", Bound: bound}}
	get := func(path string) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.httpAddr+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		took := time.Since(start)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
		}
		return took, nil
	}
	for i := range min(5, requests) {
		if _, err := get(paths[i%len(paths)]); err != nil {
			return err
		}
	}
	byPath := map[string][]time.Duration{}
	for rep := range b.reps {
		took := make([]time.Duration, 0, requests)
		for i := range requests {
			path := paths[i%len(paths)]
			t, err := get(path)
			if err != nil {
				return err
			}
			took = append(took, t)
			byPath[path] = append(byPath[path], t)
		}
		slices.Sort(took)
		p50.Reps, p99.Reps = append(p50.Reps, percentile(took, 0.5)), append(p99.Reps, percentile(took, 0.99))
		b.log.Info(step, "rep", rep, "p50_ms", fmtNum(percentile(took, 0.5)), "p99_ms", fmtNum(percentile(took, 0.99)))
	}
	p99.Note = fmt.Sprintf("%d requests per repetition, one at a time", requests)
	if len(paths) > 1 {
		var parts []string
		for _, path := range paths {
			slices.Sort(byPath[path])
			parts = append(parts, fmt.Sprintf("%s p50 %s ms, max %s ms", path, fmtNum(percentile(byPath[path], 0.5)), fmtNum(percentile(byPath[path], 1))))
		}
		p99.Note += "; by path: " + strings.Join(parts, "; ")
	}
	b.table.add(p50)
	b.table.add(p99)
	return nil
}

// addTokenManager creates (or updates) a manager with a fresh API token,
// as `starter managers add` does, and returns the token.
func addTokenManager(ctx context.Context, st *store.Store, m store.Manager) (string, error) {
	if err := st.UpsertManager(ctx, m); err != nil {
		return "", err
	}
	token := rand.Text()
	if err := st.SetManagerToken(ctx, m.ID, activities.TokenHash(token)); err != nil {
		return "", err
	}
	return token, nil
}
