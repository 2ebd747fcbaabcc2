package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/api"
	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

// TestMain gives the package a PostgreSQL server (make test's shared one,
// or a private cluster). Temporal comes from internal/testenv: make test's
// shared dev server, or one this test binary starts on first use.
func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a whole kamflow in one test: a fresh database, a real Temporal
// server, a real worker on a private task queue running the account
// workflow with real activities, and the HTTP server under test.
type env struct {
	t      testing.TB
	dbURL  string
	st     *store.Store
	c      client.Client
	tq     string
	srv    *httptest.Server
	acts   *activities.Activities
	reg    *prometheus.Registry
	tokens map[string]string // manager id -> API token
}

// fastPolicy compresses the lifecycle to seconds: screening at once, visits
// bookable at any second, a visit task overdue three seconds after its
// visit and escalated again three seconds later. Everything else is slow
// enough not to move during a test.
func fastPolicy() policy.Policy {
	p := policy.Default()
	sec := func(n int) policy.Duration { return policy.Duration(time.Duration(n) * time.Second) }
	p.Identify.ScreenEvery = sec(2)
	p.Engage.Window = policy.Days(1)
	p.Deepen.FollowUpEvery = policy.Days(1)
	p.Tasks.Due = map[string]policy.Duration{
		policy.TaskVisit: sec(3), policy.TaskRecoveryPlan: policy.Days(1),
		policy.TaskAck: policy.Days(1), policy.TaskFollowUp: policy.Days(1),
	}
	p.Tasks.EscalateAfter = sec(3)
	p.Visits = policy.Visits{
		TimeZone: "Asia/Shanghai", DayStart: "00:00", DayEnd: "24:00", Length: sec(1), PerDay: 86400,
		Workdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, LeadTime: 0,
	}
	p.Surveys.AnswerWithin = policy.Days(1)
	return p
}

// newEnv starts a kamflow for t; mods adjust the fast policy.
func newEnv(t testing.TB, mods ...func(*policy.Policy)) *env {
	t.Helper()
	ctx := context.Background()
	pol := fastPolicy()
	for _, mod := range mods {
		mod(&pol)
	}
	require.NoError(t, pol.Validate(), "the test policy")

	dbURL := pgtest.Database(t)
	st, err := store.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(ctx))

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Namespace: "default", Logger: sdklog.NewStructuredLogger(logger)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	e := &env{t: t, dbURL: dbURL, st: st, c: c, tq: testenv.TaskQueue(t), reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	m := metrics.New(e.reg)
	e.acts = &activities.Activities{
		Store: st, Policy: func() policy.Policy { return pol }, Metrics: m,
		SurveySecret: []byte("a test secret of thirty-two bytes!"), Now: time.Now,
	}
	ready := make(chan struct{})
	close(ready)
	e.srv = httptest.NewServer(api.New(api.Deps{
		Store: st, Temporal: e.c, Gatherer: e.reg, Metrics: m, Logger: logger, Ready: ready,
		Activities: e.acts, TaskQueue: e.tq,
	}))
	t.Cleanup(e.srv.Close)
	e.acts.PublicURL = e.srv.URL

	w := sdkworker.New(e.c, e.tq, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(workflows.AccountLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	w.RegisterActivity(e.acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return e
}

// manager adds a person with a fresh API token and returns the token.
func (e *env) manager(id, name, role, supervisor string) string {
	e.t.Helper()
	ctx := context.Background()
	require.NoError(e.t, e.st.UpsertManager(ctx, store.Manager{
		ID: id, Name: name, Email: id + "@example.com", Role: role, SupervisorID: supervisor,
	}))
	token := rand.Text() + rand.Text()
	require.NoError(e.t, e.st.SetManagerToken(ctx, id, activities.TokenHash(token)))
	e.tokens[id] = token
	return token
}

// onboard starts an account that qualifies at its first screening, so its
// manager soon has an introduction visit to report on.
func (e *env) onboard(id, name, manager string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := accounts.Onboard(ctx, e.c, e.tq, activities.Profile{
		ID: id, Name: name, Manager: manager, Industry: "Manufacturing", Region: "East",
		Revenue: 80_000_000, GrowthRate: 0.2, MarketShare: 0.1,
		ContactName: "Contact of " + name, ContactEmail: "contact@" + id + ".example.com",
	})
	require.NoError(e.t, err, "onboard %s", id)
}

// waitTask waits until the record holds an open task of that kind and
// assignee on the account, and returns it.
func (e *env) waitTask(accountID, kind, assignee string) store.Task {
	e.t.Helper()
	var found store.Task
	require.Eventually(e.t, func() bool {
		ts, err := e.st.Tasks(context.Background(), store.TaskFilter{AccountID: accountID, State: store.TaskOpen, Kind: kind})
		require.NoError(e.t, err)
		for _, t := range ts {
			if t.AssigneeID == assignee {
				found = t
				return true
			}
		}
		return false
	}, 90*time.Second, 200*time.Millisecond, "no open %s task for %s on %s", kind, assignee, accountID)
	return found
}

// call sends a request with a Bearer token ("" for none) and returns the
// status and body.
func (e *env) call(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.NoError(e.t, resp.Body.Close())
	return resp.StatusCode, b
}

// browserless is an HTTP client with a cookie jar that does not follow
// redirects, for testing the console's forms without a browser.
func (e *env) browserless() *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// errorBody decodes a JSON error answer.
func errorBody(t *testing.T, b []byte) (code, detail string) {
	t.Helper()
	var e struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(b, &e), "want a JSON error body, got %q", b)
	require.NotEmpty(t, e.Error, "error code in %s", b)
	return e.Error, e.Detail
}
