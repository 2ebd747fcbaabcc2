package drills

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

// TestDrillDevStackKilled SIGKILLs `worker --dev` itself (the worker, its
// embedded Temporal server and the PostgreSQL it runs) with accounts in
// flight and starts it again on the same data folder, once with Temporal on
// SQLite (the default) and once on PostgreSQL (--dev-temporal-store). Every
// account goes on: the timers set before the crash fire after it (low
// accounts are disqualified at their second screen, qualified ones fall
// back from engage when their window closes), events sent after the
// restart are applied, and the record holds no step twice.
func TestDrillDevStackKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drill: needs the built binaries and PostgreSQL")
	}
	for _, temporalStore := range []string{"sqlite", "postgres"} {
		t.Run(temporalStore, func(t *testing.T) {
			t.Parallel()
			drillDevStackKilled(t, temporalStore)
		})
	}
}

func drillDevStackKilled(t *testing.T, temporalStore string) {
	const perKind = 8
	worker, err := testenv.WorkerBinary()
	require.NoError(t, err)
	starter, err := testenv.StarterBinary()
	require.NoError(t, err)
	dir := t.TempDir()
	// Searchable by the PostgreSQL user when the tests run as root.
	require.NoError(t, os.Chmod(dir, 0o755))
	data := filepath.Join(dir, "data")
	polFile := writePolicy(t, dir, fastPolicy(func(p *policy.Policy) {
		p.Identify.ScreenEvery = policy.Duration(10 * time.Second)
		p.Engage.Window = policy.Duration(15 * time.Second)
	}))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	args := []string{"--dev", "--data-dir", data, "--dev-temporal-store", temporalStore, "--dev-temporal-port", "0", "--dev-ui-port", "0",
		"--policy", polFile, "--log-format", "json"}
	var sw stopwatch

	begin := time.Now()
	dev := runWorker(t, worker, "worker-dev-1", dir, env, args...)
	dev.waitReady(3 * time.Minute)
	sw.note("first start", time.Since(begin))
	devEnv := readDevEnv(t, filepath.Join(data, "dev.env"))
	require.NotEmpty(t, devEnv["KAM_ENCRYPTION_KEYS"], "dev.env carries the dev payload key")
	require.FileExists(t, filepath.Join(data, "encryption.keys"))
	// The starter finds Temporal, PostgreSQL and the dev payload key
	// through dev.env, as a developer's shell would.
	starterEnv := append(env, "KAM_DATA_DIR="+data)
	run := func(args ...string) result {
		t.Helper()
		r := runBinary(t, starter, starterEnv, args...)
		require.Equal(t, 0, r.code, "starter %v: %s", args, r)
		return r
	}
	run("managers", "add", "--id", "m1", "--name", "陈明", "--email", "chen@example.com", "--role", "manager")
	rows := [][]string{{"id", "name", "manager", "revenue"}}
	var low, high []string
	for i := range perKind {
		low = append(low, fmt.Sprintf("low-%d", i))
		high = append(high, fmt.Sprintf("high-%d", i))
		rows = append(rows, []string{low[i], fmt.Sprintf("小客户 %d", i), "m1", "0"},
			[]string{high[i], fmt.Sprintf("大客户 %d", i), "m1", "60000000"})
	}
	run("import", writeCSV(t, dir, "accounts.csv", rows))

	db := openDB(t, devEnv["DATABASE_URL"])
	eventually(t, time.Minute, "first screens done", func() (bool, string) {
		engaged := countIn(t, db, `SELECT count(*) FROM accounts WHERE stage = 'engage'`)
		screened := countIn(t, db, `SELECT count(DISTINCT account_id) FROM scores`)
		return engaged == perKind && screened == 2*perKind, fmt.Sprintf("engage %d, screened %d", engaged, screened)
	})
	require.NoError(t, db.Close())
	dev.kill()
	killed := time.Now()

	dev = runWorker(t, worker, "worker-dev-2", dir, env, args...)
	dev.waitReady(3 * time.Minute)
	sw.note("restart after SIGKILL", time.Since(killed))
	devEnv = readDevEnv(t, filepath.Join(data, "dev.env"))
	db = openDB(t, devEnv["DATABASE_URL"])
	defer func() { require.NoError(t, db.Close()) }()

	events := [][]string{{"account", "external_id", "kind", "at", "amount"}}
	for _, id := range high {
		events = append(events, []string{id, "after-restart-" + id, "order", time.Now().UTC().Format(time.RFC3339), "5000"})
	}
	run("events", writeCSV(t, dir, "events.csv", events))

	settled := eventually(t, 2*time.Minute, "timers fired after the restart", func() (bool, string) {
		disq := countIn(t, db, `SELECT count(*) FROM stage_transitions WHERE to_stage = 'disqualified' AND at > $1`, killed)
		fell := countIn(t, db, `SELECT count(DISTINCT account_id) FROM stage_transitions
			WHERE from_stage = 'engage' AND to_stage = 'identify' AND at > $1`, killed)
		reengaged := countIn(t, db, `SELECT count(*) FROM (SELECT account_id FROM stage_transitions WHERE to_stage = 'engage'
			GROUP BY account_id HAVING count(*) >= 2) x`)
		ev := countIn(t, db, `SELECT count(*) FROM account_events WHERE external_id LIKE 'after-restart-%'`)
		return disq == perKind && fell == perKind && reengaged == perKind && ev == perKind,
			fmt.Sprintf("disqualified %d, fell back %d, re-engaged %d, events %d (of %d each)", disq, fell, reengaged, ev, perKind)
	})
	sw.note("restart to every timer fired", time.Since(killed))
	_ = settled

	for _, id := range low {
		require.Equal(t, workflows.StageDisqualified, stageOf(t, db, id), id)
		require.Equal(t, 2, countIn(t, db, `SELECT count(*) FROM scores WHERE account_id = $1`, id), "%s: two screens, no more", id)
	}
	for _, id := range append(low, high...) {
		assertChain(t, db, id)
		// One introduction visit per time the account entered engage.
		require.Equal(t,
			countIn(t, db, `SELECT count(*) FROM stage_transitions WHERE account_id = $1 AND to_stage = 'engage'`, id),
			countIn(t, db, `SELECT count(*) FROM visits WHERE account_id = $1`, id), id)
	}
	// A running account still answers: the starter reads its status
	// through the restarted server.
	require.Contains(t, run("status", high[0]).stdout, "大客户 0")
	t.Logf("drill: %d accounts through a SIGKILL of worker --dev (Temporal on %s); %s", 2*perKind, temporalStore, &sw)
}

// assertChain checks an account's transitions, in key order, form one
// chain (each starts where the last ended): a step replayed as a new side
// effect would repeat a transition and break it.
func assertChain(t *testing.T, db *sql.DB, account string) {
	t.Helper()
	rows, err := db.Query(`SELECT from_stage, to_stage FROM stage_transitions WHERE account_id = $1
		ORDER BY split_part(key, ':', 3)::int`, account)
	require.NoError(t, err)
	prev := ""
	for rows.Next() {
		var from, to string
		require.NoError(t, rows.Scan(&from, &to))
		require.Equal(t, prev, from, "%s: a transition from %s follows one into %s", account, from, prev)
		prev = to
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
}

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	return db
}

func countIn(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(query, args...).Scan(&n), query)
	return n
}

func stageOf(t *testing.T, db *sql.DB, account string) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(`SELECT stage FROM accounts WHERE id = $1`, account).Scan(&s))
	return s
}
