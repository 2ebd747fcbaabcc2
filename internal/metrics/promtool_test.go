package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/testenv"
)

// promtoolMissing is what to do when promtool is not installed: CI installs
// it, so the check fails rather than skips.
const promtoolMissing = "promtool not found: install Debian's prometheus package (scripts/deps.sh test)"

// scrapeWorkflow runs flakyActivity, which fails its first attempt, so the
// SDK reports activity failures and retries as well as successes.
// scrapeWorkflow runs the flaky activity remotely, as runs from before
// workflows.versionLeanHistory do, and locally, as later runs do, so both
// families of activity metrics appear.
func scrapeWorkflow(ctx workflow.Context) (string, error) {
	retry := &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 3}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: retry})
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: retry})
	var remote, local string
	if err := workflow.ExecuteActivity(ctx, flakyActivity).Get(ctx, &remote); err != nil {
		return "", err
	}
	if err := workflow.ExecuteLocalActivity(ctx, flakyActivity).Get(ctx, &local); err != nil {
		return "", err
	}
	return remote + " " + local, nil
}

func flakyActivity(ctx context.Context) (string, error) {
	if activity.GetInfo(ctx).Attempt == 1 {
		return "", errors.New("first attempt fails on purpose")
	}
	return "ok", nil
}

// TestScrapePassesPromtool builds the registry the way worker/main.go does
// (Go and process collectors, domain metrics, the SDK's metrics through
// tally, the level gauges on a real PostgreSQL), runs a workflow through a
// real SDK worker against the test Temporal server, scrapes /metrics over
// HTTP and has promtool lint the scrape. It also checks that every metric
// family in testdata/scrape_names.txt (what the dashboard and the alert
// rules use) is in the scrape, and every kamflow_* metric is listed there.
func TestScrapePassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, promtoolMissing)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	declared := &declaredNames{reg: reg}
	m := metrics.New(declared)
	sdkMetrics, flush := metrics.SDKHandler(reg)
	t.Cleanup(func() { require.NoError(t, flush.Close()) })
	st, db := levelStore(t)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	seedLevels(t, db)
	require.NoError(t, st.RecordImport(t.Context(), "accounts.csv", 3, 1, 2))
	require.NoError(t, declared.Register(metrics.NewLevelsCollector(st, metrics.LevelsOptions{})))

	addr := testenv.TemporalAddress(t)
	t.Cleanup(testenv.Stop) // no-op when make test owns the stack
	c, err := client.Dial(client.Options{
		HostPort: addr, Namespace: "default", MetricsHandler: sdkMetrics,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	queue := testenv.TaskQueue(t)
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflow(scrapeWorkflow)
	w.RegisterActivity(flakyActivity)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, scrapeWorkflow)
	require.NoError(t, err)
	var out string
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, "ok ok", out)

	// Every domain metric once, as activities and the API would.
	m.StageTransition("", "identify")
	m.Escalated(1)
	m.SurveySent("nps")
	m.SurveyAnswered("nps")
	m.VisitScheduled()
	m.EventIngested("order", "applied")
	m.TaskCompleted("visit", 90*time.Minute)

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	want := readScrapeNames(t)

	// The SDK's tally scope reports once a second: scrape until every
	// family the dashboards use has arrived.
	var body []byte
	var missing []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		body = scrape(t, srv.URL+"/metrics")
		families := parseFamilies(t, body)
		missing = missing[:0]
		for _, name := range want {
			if !families[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Empty(t, missing, "metric families missing from the scrape (testdata/scrape_names.txt)")

	for _, name := range declared.names {
		require.Contains(t, want, name, "kamflow metric %s is not listed in testdata/scrape_names.txt", name)
	}
	for name := range parseFamilies(t, body) {
		if strings.HasPrefix(name, "kamflow_") {
			require.Contains(t, want, name, "kamflow metric %s is not listed in testdata/scrape_names.txt", name)
		}
	}

	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	outBytes, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics complains about the scrape:\n%s", outBytes)
	require.Empty(t, strings.TrimSpace(string(outBytes)), "promtool check metrics output")
}

// declaredNames registers collectors on reg and remembers the names of the
// metrics they declare, so the test knows every kamflow_* metric whether or
// not it has a value yet.
type declaredNames struct {
	reg   prometheus.Registerer
	names []string
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *declaredNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 32)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil && !slices.Contains(d.names, m[1]) {
			d.names = append(d.names, m[1])
		}
	}
	return d.reg.Register(c)
}

func (d *declaredNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

func (d *declaredNames) Unregister(c prometheus.Collector) bool { return d.reg.Unregister(c) }

func scrape(t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	// The text format promtool reads, as Prometheus 2 negotiates it.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, errors.Join(err, resp.Body.Close()))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return body
}

// parseFamilies returns the metric family names in a text-format scrape.
func parseFamilies(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	out := map[string]bool{}
	for name := range fams {
		out[name] = true
	}
	return out
}

// readScrapeNames reads testdata/scrape_names.txt: one name a line, #
// comments.
func readScrapeNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("testdata/scrape_names.txt")
	require.NoError(t, err)
	var names []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
}
