package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

// e2e is one kamflow deployment for a test: a worker process on its own
// task queue and database, and the built starter pointed at both.
type e2e struct {
	t       *testing.T
	starter string
	env     []string
	db      *sql.DB
	prefix  string // makes account and manager ids unique on the shared server
	dir     string
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func newE2E(t *testing.T) *e2e {
	if testing.Short() {
		t.Skip("end-to-end: needs Temporal, PostgreSQL and the built binaries")
	}
	t.Cleanup(testenv.Stop) // the stack this binary started, if any: no other test uses it
	starter, err := testenv.StarterBinary()
	require.NoError(t, err)
	worker, err := testenv.WorkerBinary()
	require.NoError(t, err)
	addr := testenv.TemporalAddress(t)
	dbURL := pgtest.Database(t)
	queue := testenv.TaskQueue(t)
	dir := t.TempDir()

	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "KAM_DATA_DIR=" + filepath.Join(dir, "data"),
		"TEMPORAL_ADDRESS=" + addr, "DATABASE_URL=" + dbURL, "KAM_TASK_QUEUE=" + queue,
		// Worker and starter encrypt payloads with the same key, as in production.
		"KAM_ENCRYPTION_KEYS=e2e:" + e2eKey}
	startWorker(t, worker, append(base, "KAM_SURVEY_SECRET=e2e-survey-secret-0123456789abcdefghij"), dir)

	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return &e2e{t: t, starter: starter, env: base, db: db, dir: dir,
		prefix: "e2e" + strings.ToLower(rand.Text()[:6]) + "-"}
}

// e2eKey is a fixed 32-byte test key (bytes 0..31), base64.
const e2eKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// startWorker runs the worker binary until the test ends and waits until
// it polls its task queue.
func startWorker(t *testing.T, bin string, env []string, dir string) {
	logPath := filepath.Join(dir, "worker.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--http-addr", "127.0.0.1:0", "--policy", "testdata/policy_fast.yaml", "--log-format", "json")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	require.NoError(t, cmd.Start())
	// done closes when the worker has exited; exitErr is how.
	done := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already; exitErr says how
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill() // a stuck worker must not hang the test binary
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath) // best effort: this is diagnostics only
			t.Logf("worker exited (%v); its log:\n%s", exitErr, tail(string(b), 60))
		}
		require.NoError(t, logFile.Close())
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(logPath)
		require.NoError(t, err)
		if strings.Contains(string(b), "kamflow is ready") {
			return
		}
		select {
		case <-done:
			t.Fatalf("worker exited before it was ready (%v):\n%s", exitErr, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready after 90s:\n%s", tail(string(b), 40))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run runs the built starter with the test's environment plus extra.
func (e *e2e) run(extra []string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.starter, args...)
	cmd.Env = append(append([]string{}, e.env...), extra...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatalf("run starter %v: %v", args, err)
	}
	return r
}

func (e *e2e) starterOK(args ...string) result {
	e.t.Helper()
	r := e.run(nil, args...)
	require.Equal(e.t, 0, r.code, "starter %v\n%s", args, r)
	return r
}

// fixture writes a testdata file with {P} replaced by the test's prefix.
func (e *e2e) fixture(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(e.t, err)
	path := filepath.Join(e.dir, name)
	require.NoError(e.t, os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "{P}", e.prefix)), 0o600))
	return path
}

func (e *e2e) id(s string) string { return e.prefix + s }

// with returns e reporting to a subtest: a failure must stop the subtest,
// not its parent from the wrong goroutine.
func (e *e2e) with(t *testing.T) *e2e {
	c := *e
	c.t = t
	return &c
}

// column returns the one text column of a query's rows.
func (e *e2e) column(query string, args ...any) []string {
	e.t.Helper()
	rows, err := e.db.Query(query, args...)
	require.NoError(e.t, err)
	out := []string{}
	for rows.Next() {
		var v string
		require.NoError(e.t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(e.t, rows.Err())
	require.NoError(e.t, rows.Close())
	return out
}

// eventually polls cond until it holds or a minute has passed.
func (e *e2e) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not true after a minute; last: %s", what, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var summaryRE = regexp.MustCompile(`(?m)^(\d+) rows: (.*)$`)

func summary(t *testing.T, r result) string {
	t.Helper()
	m := summaryRE.FindString(r.stdout)
	require.NotEmpty(t, m, "no summary line\n%s", r)
	return m
}

func TestE2E(t *testing.T) {
	e := newE2E(t)
	p := e.prefix

	t.Run("managers", func(t *testing.T) {
		e := e.with(t)
		r := e.starterOK("managers", "add", "--id", e.id("s1"), "--name", "王芳", "--email", "wang@example.com", "--role", "supervisor")
		token := strings.TrimSpace(r.stdout[strings.LastIndex(strings.TrimSpace(r.stdout), "\n")+1:])
		require.Len(t, token, 26, "rand.Text token\n%s", r)
		var hash []byte
		require.NoError(t, e.db.QueryRow(`SELECT token_hash FROM managers WHERE id = $1`, e.id("s1")).Scan(&hash))
		sum := sha256.Sum256([]byte(token))
		require.Equal(t, sum[:], hash, "only the token's sha256 is stored")

		e.starterOK("managers", "add", "--id", e.id("m1"), "--name", "陈明", "--email", "chen@example.com", "--role", "manager", "--supervisor", e.id("s1"))
		e.starterOK("managers", "add", "--id", e.id("m2"), "--name", "Ann Lee", "--email", "ann@example.com", "--role", "manager", "--supervisor", e.id("s1"))
		e.starterOK("managers", "add", "--id", e.id("ops"), "--name", "Ops", "--email", "ops@example.com", "--role", "ops")

		r = e.run(nil, "managers", "add", "--id", e.id("m3"), "--name", "X", "--email", "x@example.com", "--role", "manager", "--supervisor", e.id("nobody"))
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "unknown manager: add the supervisor first")

		r = e.starterOK("managers", "list", "--json")
		var ms []struct {
			ID, Name, Role string
			Supervisor     string `json:"supervisor_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &ms))
		require.Len(t, ms, 4)
		require.Equal(t, "陈明", ms[0].Name)
		require.Equal(t, e.id("s1"), ms[0].Supervisor)
	})

	started := []string{"acme-1", "sh-001", "ml-1", "short-1", "long-1", "last-1"}
	t.Run("import messy CSV", func(t *testing.T) {
		e := e.with(t)
		file := e.fixture("accounts_messy.csv")
		r := e.run(nil, "import", file)
		require.Equal(t, 1, r.code, "bad rows make exit 1\n%s", r)
		require.Equal(t, "17 rows: 6 started, 0 already existed, 11 failed", summary(t, r))
		for _, want := range []string{
			"line 7: id: missing",
			`line 8: revenue "12x": not a number`,
			"line 9: duplicate id " + p + "acme-1 (first on line 2)",
			`line 10: id: "` + p + `bad id!" is not a valid id`,
			`line 12: growth_rate "abc": not a number`,
			"line 13: market_share: want a fraction from 0 to 1",
			"line 14: contact_email: not an e-mail address",
			"line 15: manager: missing",
			"line 16: unknown manager " + p + "ghost: add it first",
			`line 17: malformed CSV: extraneous or missing " in quoted-field`,
			"line 21: revenue: must not be negative",
		} {
			require.Contains(t, r.stderr, want+"", "stderr:\n%s", r.stderr)
		}
		require.Len(t, regexp.MustCompile(`(?m)^line \d+: `).FindAllString(r.stderr, -1), 11, r.stderr)

		// Every row the workflows registered is in PostgreSQL, names byte-exact.
		e.eventually("accounts registered", func() (bool, string) {
			ids := e.column(`SELECT id FROM accounts WHERE id LIKE $1`, p+"%")
			return len(ids) == len(started), fmt.Sprint(ids)
		})
		require.ElementsMatch(t, []string{
			"acme-1|Acme, Ltd|m1", "sh-001|上海华东机电有限公司|m1", "ml-1|Multi\nline, Inc|m2",
			"short-1|Short Co|m2", "long-1|Long Co|m2", "last-1|Last Co|m1",
		}, e.column(`SELECT replace(id || '|' || name || '|' || manager_id, $1, '') FROM accounts WHERE id LIKE $1 || '%'`, p))

		// Re-running the same file starts nothing twice.
		r = e.run(nil, "import", "--json", file)
		require.Equal(t, 1, r.code, r)
		var sum importSummary
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
		require.Equal(t, importSummary{File: file, Rows: 17, Existing: 6, Failed: 11}, withoutErrors(sum))
		require.Len(t, sum.Errors, 11)
		require.Equal(t, 16, sum.Errors[8].Line)

		// A dry run checks without starting.
		r = e.run(nil, "import", "--dry-run", file)
		require.Equal(t, 1, r.code, r)
		require.Equal(t, "17 rows: 6 valid, 11 failed (dry run: nothing sent)", summary(t, r))
	})

	t.Run("start one", func(t *testing.T) {
		e := e.with(t)
		r := e.starterOK("start", "--id", e.id("one"), "--name", "北京一号", "--manager", e.id("m2"), "--revenue", "2000000")
		require.Contains(t, r.stdout, "started account 北京一号 ("+e.id("one")+"), managed by "+e.id("m2"))
		r = e.starterOK("start", "--id", e.id("one"), "--name", "北京一号", "--manager", e.id("m2"), "--json")
		require.JSONEq(t, `{"account_id":"`+e.id("one")+`","existing":true}`, r.stdout)
		r = e.run(nil, "start", "--id", e.id("two"), "--name", "Two", "--manager", e.id("ghost"))
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "unknown manager "+e.id("ghost"))
		started = append(started, "one")
	})

	t.Run("events", func(t *testing.T) {
		e := e.with(t)
		file := e.fixture("events_messy.csv")
		r := e.run(nil, "events", file)
		require.Equal(t, 1, r.code, r)
		require.Equal(t, "8 rows: 4 sent, 4 failed", summary(t, r))
		require.Contains(t, r.stderr, "line 7: duplicate external_id SO-1 for account "+p+"acme-1 (first on line 2)")
		// An account's events travel as one batch, and fail together.
		for _, line := range []string{"8", "11"} {
			require.Contains(t, r.stderr, "line "+line+": send 2 events (X-1 to X-2): account "+p+"nobody does not exist")
		}
		require.Contains(t, r.stderr, `line 9: kind "refund": want one of`)

		// Sending the file again, one event per message this time, and one
		// of its events by hand, applies nothing twice.
		r = e.run(nil, "events", "--batch", "1", file)
		require.Equal(t, "8 rows: 4 sent, 4 failed", summary(t, r))
		require.Contains(t, r.stderr, "line 8: send event X-1: account "+p+"nobody does not exist")
		r = e.run(nil, "events", "--batch", "0", file)
		require.Equal(t, 2, r.code, r)
		require.Contains(t, r.stderr, "--batch 0: want 1 to 100")
		r = e.starterOK("event", "--account", e.id("acme-1"), "--kind", "order", "--amount", "99", "--external-id", "SO-1", "--at", "2026-03-09")
		require.Contains(t, r.stdout, "sent order event SO-1 to account "+e.id("acme-1"))
		r = e.starterOK("event", "--account", e.id("sh-001"), "--kind", "note", "--note", "来电咨询", "--json")
		var sent struct {
			ExternalID string `json:"external_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sent))
		require.True(t, strings.HasPrefix(sent.ExternalID, "cli-"), r.stdout)

		want := map[string]int{p + "acme-1/SO-1": 1, p + "acme-1/C-1": 1, p + "sh-001/S-1": 1, p + "sh-001/SO-9": 1, p + "sh-001/" + sent.ExternalID: 1}
		e.eventually("events recorded once each", func() (bool, string) {
			got := map[string]int{}
			for _, k := range e.column(`SELECT account_id || '/' || external_id FROM account_events WHERE account_id LIKE $1`, p+"%") {
				got[k]++
			}
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
		})
		var amount float64
		var note string
		require.NoError(t, e.db.QueryRow(`SELECT amount, note FROM account_events WHERE account_id = $1 AND external_id = 'SO-1'`, e.id("acme-1")).Scan(&amount, &note))
		require.InDelta(t, 12500.50, amount, 0.001, "the first SO-1 wins")
		require.Equal(t, "first order, big", note)
		require.NoError(t, e.db.QueryRow(`SELECT note FROM account_events WHERE account_id = $1 AND external_id = 'S-1'`, e.id("sh-001")).Scan(&note))
		require.Equal(t, "很满意", note)

		r = e.run(nil, "event", "--account", e.id("nobody"), "--kind", "order", "--amount", "1")
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "account "+e.id("nobody")+" does not exist")
	})

	t.Run("status", func(t *testing.T) {
		e := e.with(t)
		r := e.starterOK("status", e.id("sh-001"), "--json")
		var st workflows.Status
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
		require.Equal(t, e.id("sh-001"), st.AccountID)
		require.Equal(t, "上海华东机电有限公司", st.Name)
		require.Equal(t, e.id("m1"), st.Manager)
		require.Contains(t, accounts.Stages, st.Stage)
		require.Contains(t, accounts.Tiers, st.Tier)

		r = e.starterOK("status", e.id("sh-001"))
		require.Regexp(t, `(?m)^account +`+regexp.QuoteMeta(e.id("sh-001"))+` \(上海华东机电有限公司\)$`, r.stdout)
		require.Regexp(t, `(?m)^manager +`+regexp.QuoteMeta(e.id("m1"))+`$`, r.stdout)

		r = e.run(nil, "status", e.id("nobody"))
		require.Equal(t, 1, r.code, r)
		require.Equal(t, "starter: status of account "+e.id("nobody")+": account "+e.id("nobody")+" does not exist\n", r.stderr)
	})

	t.Run("list", func(t *testing.T) {
		e := e.with(t)
		var out struct {
			Accounts []accounts.Summary `json:"accounts"`
			ByStage  map[string]int     `json:"by_stage"`
			ByTier   map[string]int     `json:"by_tier"`
		}
		e.eventually("visibility shows every account with its stage", func() (bool, string) {
			r := e.starterOK("list", "--json")
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
			staged, total := 0, 0
			for _, a := range out.Accounts {
				if a.Stage != "" {
					staged++
				}
			}
			for _, n := range out.ByStage {
				total += n
			}
			return len(out.Accounts) == len(started) && staged == len(started) && total == len(started), r.stdout
		})
		byID := map[string]accounts.Summary{}
		tiers := 0
		for _, a := range out.Accounts {
			byID[strings.TrimPrefix(a.AccountID, p)] = a
		}
		for _, n := range out.ByTier {
			tiers += n
		}
		require.Equal(t, len(started), tiers)
		require.Len(t, out.ByStage, len(accounts.Stages), "every stage is counted, zero or not")
		require.Equal(t, "上海华东机电有限公司", byID["sh-001"].Name)
		require.Equal(t, e.id("m2"), byID["ml-1"].Manager)

		r := e.starterOK("list", "--manager", e.id("m2"), "--json")
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		ids := []string{}
		for _, a := range out.Accounts {
			ids = append(ids, strings.TrimPrefix(a.AccountID, p))
		}
		require.Equal(t, []string{"long-1", "ml-1", "one", "short-1"}, ids)

		stage := byID["acme-1"].Stage
		r = e.starterOK("list", "--stage", stage)
		require.Contains(t, r.stdout, e.id("acme-1"))
		require.Contains(t, r.stdout, "by stage: identify ")
	})

	t.Run("tasks", func(t *testing.T) {
		e := e.with(t)
		// acme-1 qualifies at its first screen (growth and share make its
		// potential high), so engage gives its manager an introduction visit.
		var visit string
		e.eventually("an introduction visit for acme-1 in m1's inbox", func() (bool, string) {
			r := e.starterOK("tasks", "--manager", e.id("m1"), "--json")
			var tasks []struct {
				ID        string `json:"id"`
				Kind      string `json:"kind"`
				AccountID string `json:"account_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &tasks), r.stdout)
			for _, task := range tasks {
				if task.AccountID == e.id("acme-1") && task.Kind == "visit" {
					visit = task.ID
				}
			}
			return visit != "", r.stdout
		})
		r := e.starterOK("tasks", "--manager", e.id("m1"))
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(visit)+` +visit +`+regexp.QuoteMeta(e.id("acme-1"))+` `, r.stdout)

		r = e.run(nil, "tasks", "complete", visit, "--outcome", "met the buyer", "--as", e.id("m2"))
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "rejected (403): task "+visit+" belongs to "+e.id("m1"))
		r = e.starterOK("tasks", "complete", visit, "--outcome", "met the buyer", "--notes", "想要报价", "--as", e.id("m1"))
		require.Contains(t, r.stdout, "completed task "+visit)
		r = e.run(nil, "tasks", "complete", visit, "--outcome", "again", "--as", e.id("m1"))
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "rejected (409): task "+visit+" is already done")

		var state, by, notes string
		require.NoError(t, e.db.QueryRow(`SELECT state, completed_by, notes FROM tasks WHERE id = $1`, visit).Scan(&state, &by, &notes))
		require.Equal(t, []string{"done", e.id("m1"), "想要报价"}, []string{state, by, notes})
		r = e.starterOK("tasks", "--manager", e.id("m1"), "--state", "done")
		require.Contains(t, r.stdout, visit)

		r = e.run(nil, "tasks", "--manager", e.id("ghost"))
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "unknown manager "+e.id("ghost"))
		r = e.run(nil, "tasks", "complete", e.id("acme-1")+":visit:999", "--outcome", "met")
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "rejected (404): task "+e.id("acme-1")+":visit:999 is not an open task")
		r = e.run(nil, "tasks", "complete", e.id("nobody")+":visit:1", "--outcome", "met")
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "rejected (404): account "+e.id("nobody")+" does not exist")
	})

	t.Run("close", func(t *testing.T) {
		e := e.with(t)
		r := e.starterOK("close", e.id("last-1"), "--reason", "merged into acme", "--as", e.id("ops"))
		require.Equal(t, "closed account "+e.id("last-1")+": stage closed\n", r.stdout)
		r = e.run(nil, "close", e.id("last-1"), "--reason", "again")
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "rejected (409): account "+e.id("last-1")+" has ended")

		r = e.run(nil, "event", "--account", e.id("last-1"), "--kind", "note", "--note", "too late")
		require.Equal(t, 1, r.code, r)
		require.Contains(t, r.stderr, "account "+e.id("last-1")+" has ended")

		// Re-importing never restarts an account that has ended.
		r = e.run(nil, "import", e.fixture("accounts_messy.csv"))
		require.Equal(t, "17 rows: 0 started, 6 already existed, 11 failed", summary(t, r))
		r = e.starterOK("status", e.id("last-1"), "--json")
		var st workflows.Status
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
		require.Equal(t, workflows.StageClosed, st.Stage)
	})

	t.Run("interrupted import", func(t *testing.T) {
		e := e.with(t)
		const n = 120
		var b strings.Builder
		b.WriteString("id,name,manager\n")
		for i := range n {
			fmt.Fprintf(&b, "%sbulk-%03d,Bulk %d,%sm1\n", p, i, i, p)
		}
		file := filepath.Join(e.dir, "bulk.csv")
		require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))

		cmd := exec.Command(e.starter, "import", "--concurrency", "1", file)
		cmd.Env = e.env
		var out strings.Builder
		cmd.Stdout = &out
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		var errLines []string
		var mu sync.Mutex
		progressed := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stderr)
			once := sync.Once{}
			for sc.Scan() {
				mu.Lock()
				errLines = append(errLines, sc.Text())
				mu.Unlock()
				if strings.HasPrefix(sc.Text(), "importing: ") {
					once.Do(func() { close(progressed) })
				}
			}
		}()
		select {
		case <-progressed:
		case <-time.After(time.Minute):
			t.Fatal("no progress line within a minute")
		}
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		<-done
		err = cmd.Wait()
		require.Error(t, err)
		require.Equal(t, 1, cmd.ProcessState.ExitCode())
		mu.Lock()
		require.Contains(t, strings.Join(errLines, "\n"), "interrupted: waiting for")
		mu.Unlock()

		m := regexp.MustCompile(`^120 rows: (\d+) started, 0 already existed, 0 failed, (\d+) not attempted`).FindStringSubmatch(out.String())
		require.NotNil(t, m, out.String())
		first, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		rest, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		require.Equal(t, n, first+rest)
		require.Positive(t, rest, "Ctrl-C stopped the import early")

		// The summary told the truth: running again starts exactly the rest.
		r := e.run(nil, "import", "--concurrency", "8", file)
		require.Equal(t, 0, r.code, r)
		require.Equal(t, fmt.Sprintf("120 rows: %d started, %d already existed, 0 failed", rest, first), summary(t, r))
	})

	t.Run("no worker on the task queue", func(t *testing.T) {
		e := e.with(t)
		var b strings.Builder
		b.WriteString("id,name,manager\n")
		for i := range 40 {
			fmt.Fprintf(&b, "%sidle-%02d,Idle %d,%sm1\n", p, i, i, p)
		}
		file := filepath.Join(e.dir, "idle.csv")
		require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
		queue := "idle-" + strings.ToLower(rand.Text()[:8])
		start := time.Now()
		r := e.run(nil, "import", "--task-queue", queue, "--timeout", "2s", "--concurrency", "2", file)
		require.Equal(t, 1, r.code, r)
		require.Less(t, time.Since(start), 30*time.Second, "gives up instead of timing out row by row")
		require.Contains(t, r.stderr, `no answer within 2s: is a kamflow worker polling task queue "`+queue+`"?`)
		require.Contains(t, r.stderr, "stopped after 3 requests in a row failed")
		require.Regexp(t, `^40 rows: 0 started, 0 already existed, \d+ failed, \d+ not attempted \(stopped`, summary(t, r))
	})

	t.Run("setup", func(t *testing.T) {
		e := e.with(t)
		r := e.starterOK("setup")
		require.Contains(t, r.stdout, "AccountStage (Keyword): already registered")
		require.Contains(t, r.stdout, "ChurnRisk (Double): already registered")
	})

	t.Run("unreachable temporal", func(t *testing.T) {
		e := e.with(t)
		start := time.Now()
		r := e.run([]string{"TEMPORAL_ADDRESS=127.0.0.1:1"}, "list")
		require.Equal(t, 1, r.code, r)
		require.Less(t, time.Since(start), 15*time.Second)
		require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one clear line:\n%s", r.stderr)
		require.Contains(t, r.stderr, "starter: cannot reach Temporal at 127.0.0.1:1, namespace \"default\"")
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		e := e.with(t)
		for _, args := range [][]string{{"import"}, {"list", "--tier", "gold"}, {"bogus"}, {"status", "bad id"}, {"import", "--concurrency", "0", "x.csv"}} {
			r := e.run(nil, args...)
			require.Equal(t, 2, r.code, "%v\n%s", args, r)
		}
	})
}

func withoutErrors(s importSummary) importSummary {
	s.Errors = nil
	return s
}
