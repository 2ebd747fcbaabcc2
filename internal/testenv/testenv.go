// Package testenv gives tests a real Temporal server. `make test` starts one
// dev stack for the whole run and exports its address in
// KAM_TEST_TEMPORAL_ADDRESS; a plain `go test` of one package starts a
// private stack from the worker binary (built on first use) for that test
// binary and stops it when the tests end.
package testenv

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/scoring"
	"github.com/kamflow/kamflow/workflows"
)

var (
	once    sync.Once
	addr    string
	pgURL   string
	stopFn  func()
	onceErr error
)

// TemporalAddress returns host:port of a real Temporal frontend with the
// default namespace and kamflow's search attributes.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("KAM_TEST_TEMPORAL_ADDRESS"); a != "" {
		return a
	}
	once.Do(startStack)
	if onceErr != nil {
		t.Fatalf("start a dev stack for this test binary: %v", onceErr)
	}
	return addr
}

// Client dials the test Temporal server; it is closed when t ends.
func Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: TemporalAddress(t), Namespace: "default"})
	if err != nil {
		t.Fatalf("dial temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TaskQueue returns a task queue no other test uses, so that test packages
// running at once against one server never take each other's tasks.
func TaskQueue(t testing.TB) string {
	return "test-" + strings.ToLower(rand.Text()[:12])
}

// Stop stops a stack this package started; call it from TestMain after m.Run.
func Stop() {
	if stopFn != nil {
		stopFn()
	}
}

// WorkerBinary returns the worker binary: KAM_WORKER_BIN, or one built into
// a cache folder (the Go build cache makes later builds quick).
func WorkerBinary() (string, error) {
	return binary("KAM_WORKER_BIN", "worker")
}

// StarterBinary returns the starter binary, as WorkerBinary does.
func StarterBinary() (string, error) {
	return binary("KAM_STARTER_BIN", "starter")
}

func binary(env, name string) (string, error) {
	if b := os.Getenv(env); b != "" {
		return b, nil
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out := filepath.Join(root, "bin", name)
	cmd := exec.Command("go", "build", "-o", out, "./"+name)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./%s: %v\n%s", name, err, b)
	}
	return out, nil
}

// PostgresAdminURL returns the admin database URL of the stack's cluster
// when this package started the stack, for pgtest to share.
func PostgresAdminURL() string { return pgURL }

func startStack() {
	bin, err := WorkerBinary()
	if err != nil {
		onceErr = err
		return
	}
	dir, err := os.MkdirTemp("", "kamflow-testenv-")
	if err != nil {
		onceErr = err
		return
	}
	st, err := StartStack(bin, dir)
	if err != nil {
		os.RemoveAll(dir)
		onceErr = err
		return
	}
	addr, pgURL = st.TemporalAddress, st.PostgresURL
	stopFn = func() {
		st.Stop()
		os.RemoveAll(dir)
	}
}

// DevStack is `worker --dev --services-only` run as a process: the
// embedded Temporal server and a private PostgreSQL cluster.
type DevStack struct {
	TemporalAddress string
	// PostgresURL is the cluster's admin database (KAM_TEST_PG_URL).
	PostgresURL string
	cmd         *exec.Cmd
	log         string
	// exited closes when the process has exited.
	exited chan struct{}
}

// StartStack starts workerBin as a services-only dev stack with its data
// and log (stack.log) in dir, on free ports, with extra flags appended,
// and waits for the addresses it prints once Temporal answers. The stack
// always starts its own cluster (DATABASE_URL is cleared), and dies with
// the calling process.
func StartStack(workerBin, dir string, extra ...string) (*DevStack, error) {
	s := &DevStack{log: filepath.Join(dir, "stack.log"), exited: make(chan struct{})}
	logFile, err := os.Create(s.log)
	if err != nil {
		return nil, fmt.Errorf("create stack log: %w", err)
	}
	args := append([]string{"--dev", "--services-only", "--data-dir", filepath.Join(dir, "data"),
		"--dev-temporal-port", "0", "--dev-ui-port", "0", "--log-level", "warn", "--http-addr", "127.0.0.1:0"}, extra...)
	s.cmd = exec.Command(workerBin, args...)
	s.cmd.Env = append(os.Environ(), "DATABASE_URL=")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.cmd.Stderr = logFile
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("stack output: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", workerBin, err)
	}
	found := make(chan struct{})
	go func() {
		var temporal string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "TEMPORAL_ADDRESS":
				temporal = v
			case "KAM_TEST_PG_URL":
				s.TemporalAddress, s.PostgresURL = temporal, v
				close(found)
			}
		}
		_ = s.cmd.Wait() // its exit status says nothing the log does not
		logFile.Close()
		close(s.exited)
	}()
	select {
	case <-found:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("the dev stack exited before it was ready:\n%s", s.logTail())
	case <-time.After(2 * time.Minute):
		s.Stop()
		return nil, fmt.Errorf("the dev stack did not start within 2 minutes:\n%s", s.logTail())
	}
}

// Stop asks the stack to shut down (Temporal, then PostgreSQL) and waits.
func (s *DevStack) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill() // it ignored SIGTERM; the reader goroutine reaps it
		<-s.exited
	}
}

// logTail is the end of the stack's log, for errors.
func (s *DevStack) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// FastPolicy is the default policy with every duration compressed to
// seconds, so an account walks its whole lifecycle within a test.
func FastPolicy() policy.Policy {
	p := policy.Default()
	sec := func(n int) policy.Duration { return policy.Duration(time.Duration(n) * time.Second) }
	p.Identify.ScreenEvery = sec(2)
	p.Engage.Window = sec(120)
	p.Deepen.RepeatWindow, p.Deepen.FollowUpEvery = sec(600), sec(600)
	for _, tier := range scoring.Tiers() {
		p.Maintain.Review[tier], p.Maintain.Visit[tier], p.Maintain.Survey[tier] = sec(3), sec(600), sec(600)
	}
	p.Churn.StableFor, p.Churn.RecoveryWindow = sec(3), sec(600)
	for kind := range p.Tasks.Due {
		p.Tasks.Due[kind] = sec(600)
	}
	p.Tasks.EscalateAfter = sec(600)
	p.Visits = policy.Visits{
		TimeZone: "UTC", DayStart: "00:00", DayEnd: "24:00", Length: sec(60), PerDay: 1440,
		Workdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
	}
	p.Surveys.AnswerWithin = sec(600)
	return p
}

// StartWorker runs a kamflow worker in this process on taskQueue, with the
// real workflow and the given activities, until the test ends.
func StartWorker(t testing.TB, c client.Client, taskQueue string, acts *activities.Activities) {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.AccountLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	w.RegisterActivity(acts)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker on %s: %v", taskQueue, err)
	}
	t.Cleanup(w.Stop)
}
