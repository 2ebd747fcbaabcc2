package drills

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.yaml.in/yaml/v3"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/codec"
	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/internal/testenv"
)

// TestMain gives the drills a PostgreSQL server (make test's shared cluster
// or a private one) and stops a Temporal dev stack testenv started for this
// binary, if any.
func TestMain(m *testing.M) { pgtest.Main(m, testenv.Stop) }

// drillTimeout bounds every wait of a drill: a drill that cannot converge
// fails with what it saw instead of hanging `make test`.
const drillTimeout = 3 * time.Minute

// deployment is one kamflow installation for a drill: its own database,
// task queue, payload keys and policy file, on the shared Temporal server,
// with the built worker and starter binaries pointed at them.
type deployment struct {
	t        *testing.T
	dir      string
	worker   string // binary
	starter  string // binary
	dbURL    string
	db       *sql.DB
	st       *store.Store
	temporal string
	queue    string
	keys     string
	prefix   string
	policy   string // file
	env      []string
}

// newDeployment prepares a deployment with policy p; dbURL empty means a
// fresh database from pgtest. The schema is migrated and no worker runs yet.
func newDeployment(t *testing.T, p policy.Policy, dbURL string) *deployment {
	t.Helper()
	if testing.Short() {
		t.Skip("drill: needs the built binaries, Temporal and PostgreSQL")
	}
	d := &deployment{t: t, dir: t.TempDir(), temporal: testenv.TemporalAddress(t), queue: testenv.TaskQueue(t), dbURL: dbURL}
	var err error
	d.worker, err = testenv.WorkerBinary()
	require.NoError(t, err)
	d.starter, err = testenv.StarterBinary()
	require.NoError(t, err)
	if d.dbURL == "" {
		d.dbURL = pgtest.Database(t)
	}
	d.keys, err = codec.GenerateKeys("drill")
	require.NoError(t, err)
	d.prefix = strings.TrimPrefix(d.queue, "test-")[:6] + "-"
	d.policy = writePolicy(t, d.dir, p)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.st, err = store.Open(ctx, d.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.st.Close()) })
	require.NoError(t, d.st.Migrate(ctx))
	d.db, err = sql.Open("postgres", d.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.db.Close()) })

	d.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir, "KAM_DATA_DIR=" + filepath.Join(d.dir, "no-dev-stack"),
		"TEMPORAL_ADDRESS=" + d.temporal, "DATABASE_URL=" + d.dbURL, "KAM_TASK_QUEUE=" + d.queue,
		"KAM_ENCRYPTION_KEYS=" + d.keys, "KAM_SURVEY_SECRET=drill-survey-secret-0123456789abcdefghijkl",
	}
	return d
}

// writePolicy writes p as the worker's --policy file.
func writePolicy(t *testing.T, dir string, p policy.Policy) string {
	t.Helper()
	require.NoError(t, p.Validate())
	b, err := yaml.Marshal(p)
	require.NoError(t, err)
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// id makes an account or manager id unique on the shared Temporal server.
func (d *deployment) id(s string) string { return d.prefix + s }

// addManagers stores managers and gives each an API token, returned by id.
// Supervisors come before the people reporting to them.
func (d *deployment) addManagers(ms ...store.Manager) map[string]string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens := map[string]string{}
	for _, m := range ms {
		require.NoError(d.t, d.st.UpsertManager(ctx, m))
		tok := "tok-" + m.ID + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		require.NoError(d.t, d.st.SetManagerToken(ctx, m.ID, activities.TokenHash(tok)))
		tokens[m.ID] = tok
	}
	return tokens
}

// client dials Temporal as the binaries do: through config, with the
// deployment's payload keys.
func (d *deployment) client() client.Client {
	d.t.Helper()
	opts, err := config.TemporalClientOptions(config.Env(d.env), "")
	require.NoError(d.t, err)
	c, err := client.Dial(opts)
	require.NoError(d.t, err)
	d.t.Cleanup(c.Close)
	return c
}

// count runs a query returning one integer.
func (d *deployment) count(query string, args ...any) int {
	d.t.Helper()
	var n int
	require.NoError(d.t, d.db.QueryRow(query, args...).Scan(&n), query)
	return n
}

// strings runs a query returning one text column.
func (d *deployment) strings(query string, args ...any) []string {
	d.t.Helper()
	rows, err := d.db.Query(query, args...)
	require.NoError(d.t, err, query)
	out := []string{}
	for rows.Next() {
		var s string
		require.NoError(d.t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(d.t, rows.Err())
	require.NoError(d.t, rows.Close())
	return out
}

// process is a worker binary run by a drill.
type process struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	addr    string // HTTP host:port
	done    chan struct{}
	err     error
}

// startWorker runs the worker binary with the deployment's environment plus
// env and the deployment's policy plus args, and waits until it polls its
// task queue.
func (d *deployment) startWorker(name string, env []string, args ...string) *process {
	d.t.Helper()
	p := runWorker(d.t, d.worker, name, d.dir, append(append([]string{}, d.env...), env...),
		append([]string{"--policy", d.policy, "--log-format", "json"}, args...)...)
	p.waitReady(90 * time.Second)
	return p
}

// runWorker starts bin with env and args plus a free --http-addr, logging to
// dir/name.log; the test's cleanup stops it if the test did not.
func runWorker(t *testing.T, bin, name, dir string, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, logPath: filepath.Join(dir, name+".log"), addr: freeAddr(t), done: make(chan struct{})}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, append([]string{"--http-addr", p.addr}, args...)...)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
		if err := logFile.Close(); err != nil {
			t.Logf("%s: close log: %v", name, err)
		}
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log (last 40 lines):\n%s", name, tail(p.log(), 40))
		}
	})
	return p
}

// waitReady waits for the worker's "kamflow is ready" line.
func (p *process) waitReady(limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.log(), "kamflow is ready") {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.err, tail(p.log(), 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready after %s:\n%s", p.name, limit, tail(p.log(), 40))
		}
	}
}

// kill SIGKILLs the process, as a crash or the OOM killer would, and waits
// until it is gone.
func (p *process) kill() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Kill())
	<-p.done
}

// stop asks the process to shut down (SIGTERM) and waits, killing it after
// 20 seconds; a process already gone is fine.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may exit on its own meanwhile; done says when
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill() // a stuck process must not hang the test binary
		<-p.done
	}
}

func (p *process) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return string(b)
}

// url is the worker's HTTP base URL.
func (p *process) url() string { return "http://" + p.addr }

// result is one finished starter run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.stdout, 30), tail(r.stderr, 30))
}

// runStarter runs the starter binary with the deployment's environment.
func (d *deployment) runStarter(args ...string) result {
	d.t.Helper()
	return runBinary(d.t, d.starter, d.env, args...)
}

// runBinary runs bin to completion (two minutes at most) with exactly env.
func runBinary(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	return runBinaryFor(t, 2*time.Minute, bin, env, args...)
}

// runBinaryFor is runBinary with another time limit.
func runBinaryFor(t *testing.T, limit time.Duration, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// eventually polls cond every 250ms until it holds, failing the test with
// cond's last report after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not true after %s; last: %s", what, limit, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// writeCSV writes rows (header first) to dir/name.
func writeCSV(t *testing.T, dir, name string, rows [][]string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.WriteAll(rows))
	require.NoError(t, f.Close())
	return path
}

// readDevEnv reads the KEY=VALUE lines `worker --dev` writes.
func readDevEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		}
	}
	require.NoError(t, sc.Err())
	require.NoError(t, f.Close())
	return out
}

// get fetches url with an optional bearer token and returns status and body.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode, string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fastPolicy is testenv.FastPolicy with every clock a drill does not drive
// set to an hour, so an account waits where the drill expects it; mods
// then set what the drill does drive.
func fastPolicy(mods ...func(*policy.Policy)) policy.Policy {
	p := testenv.FastPolicy()
	hour := policy.Duration(time.Hour)
	p.Identify.ScreenEvery = policy.Duration(2 * time.Second)
	p.Identify.MaxFailedScreens = 2
	p.Engage.Window = hour
	p.Deepen.FollowUpEvery, p.Deepen.RepeatWindow = hour, hour
	for tier := range p.Maintain.Review {
		p.Maintain.Review[tier], p.Maintain.Visit[tier], p.Maintain.Survey[tier] = hour, hour, hour
	}
	p.Churn.StableFor, p.Churn.RecoveryWindow = hour, 2*hour
	for kind := range p.Tasks.Due {
		p.Tasks.Due[kind] = hour
	}
	p.Tasks.EscalateAfter = hour
	p.Surveys.AnswerWithin = hour
	// One-second visit slots all day: a few managers can take thousands of
	// visits without the calendar reaching into next week.
	p.Visits.Length, p.Visits.PerDay = policy.Duration(time.Second), 86400
	for _, m := range mods {
		m(&p)
	}
	return p
}

// stopwatch records named durations for the drill's report line.
type stopwatch struct {
	mu    sync.Mutex
	marks []string
}

func (s *stopwatch) note(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, fmt.Sprintf("%s %s", name, d.Round(100*time.Millisecond)))
}

func (s *stopwatch) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.marks, ", ")
}
