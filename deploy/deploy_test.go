package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kamflow/kamflow/internal/policy"
)

// Paths are relative to this folder, where go test runs.
const (
	composeFile     = "compose/compose.yaml"
	promDir         = "prometheus"
	dashboardsDir   = "grafana/dashboards"
	k8sDeployment   = "k8s/deployment.yaml"
	policyFile      = "policy.yaml"
	policyConfigMap = "k8s/policy-configmap.yaml"
	scrapeNamesFile = "../internal/metrics/testdata/scrape_names.txt"
	promtoolMissing = "promtool not found: install Debian's prometheus package (scripts/deps.sh test)"
)

// TestYAMLParses parses every YAML file under deploy/, every document of it.
func TestYAMLParses(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			dec := yaml.NewDecoder(bytes.NewReader(data))
			docs := 0
			for {
				var doc any
				err := dec.Decode(&doc)
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, "%s does not parse as YAML", f)
				docs++
			}
			require.Positive(t, docs, "%s is empty", f)
		})
	}
}

// composeSpec is the part of compose.yaml the reference check reads.
type composeSpec struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Volumes     []any             `yaml:"volumes"`
		EnvFile     []string          `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   any               `yaml:"depends_on"` // a list or a map
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T) composeSpec {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	require.NoError(t, err)
	var spec composeSpec
	require.NoError(t, yaml.Unmarshal(data, &spec), "%s", composeFile)
	return spec
}

// TestComposeReferencesExist checks that the compose file refers only to
// files, services and volumes that exist: build contexts and Dockerfiles,
// bind-mounted config files, env files, depends_on targets, named volumes.
func TestComposeReferencesExist(t *testing.T) {
	spec := readCompose(t)
	dir := filepath.Dir(composeFile)
	exists := func(what, path string) {
		t.Helper()
		_, err := os.Stat(path)
		require.NoError(t, err, "%s: %s refers to %s, which does not exist", composeFile, what, path)
	}
	for _, want := range []string{"temporal", "temporal-ui", "temporal-db", "kamflow-db", "prometheus", "grafana", "worker-1", "worker-2"} {
		require.Contains(t, spec.Services, want, "%s has no service %s", composeFile, want)
	}
	builds := 0
	for name, svc := range spec.Services {
		if svc.Build != nil {
			builds++
			ctx := filepath.Join(dir, svc.Build.Context)
			exists("service "+name+" build context", ctx)
			exists("service "+name+" dockerfile", filepath.Join(ctx, cmp(svc.Build.Dockerfile, "Dockerfile")))
		}
		for _, f := range svc.EnvFile {
			exists("service "+name+" env_file", filepath.Join(dir, f))
		}
		var deps []string
		switch d := svc.DependsOn.(type) {
		case []any:
			for _, dep := range d {
				deps = append(deps, dep.(string))
			}
		case map[string]any:
			for dep := range d {
				deps = append(deps, dep)
			}
		}
		for _, dep := range deps {
			require.Contains(t, spec.Services, dep, "%s: service %s depends on unknown service %s", composeFile, name, dep)
		}
		for _, v := range svc.Volumes {
			source := ""
			switch v := v.(type) {
			case string:
				source, _, _ = strings.Cut(v, ":")
			case map[string]any:
				source, _ = v["source"].(string)
			}
			switch {
			case strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/"):
				exists("service "+name+" volume", filepath.Join(dir, source))
			case source != "":
				require.Contains(t, spec.Volumes, source, "%s: service %s mounts volume %s, which is not declared under volumes:", composeFile, name, source)
			}
		}
	}
	require.Equal(t, 2, builds, "%s: the two workers build from the repository's Dockerfile", composeFile)
}

// TestComposeWorkerEnvIsRead checks that every KAM_* and DATABASE_URL
// variable given to the workers in compose and Kubernetes is one the
// worker reads, so a misspelt name fails here instead of being ignored.
func TestComposeWorkerEnvIsRead(t *testing.T) {
	src, err := os.ReadFile("../internal/config/config.go")
	require.NoError(t, err)
	main, err := os.ReadFile("../worker/main.go")
	require.NoError(t, err)
	read := string(src) + string(main)
	check := func(where, key string) {
		t.Helper()
		if strings.HasPrefix(key, "KAM_") || key == "DATABASE_URL" {
			require.Contains(t, read, `"`+key+`"`, "%s sets %s, which the worker does not read (internal/config/config.go)", where, key)
		}
	}
	spec := readCompose(t)
	for _, name := range []string{"worker-1", "worker-2"} {
		for key := range spec.Services[name].Environment {
			check(composeFile+" service "+name, key)
		}
	}
	for _, f := range []string{"k8s/configmap.yaml", "k8s/secret.example.yaml"} {
		var doc struct {
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		readYAML(t, f, &doc)
		for key := range doc.Data {
			check(f, key)
		}
		for key := range doc.StringData {
			check(f, key)
		}
	}
	for _, c := range readDeployment(t).Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			check(k8sDeployment, e.Name)
		}
	}
}

// TestShellScriptsParse runs sh -n over the compose setup scripts.
func TestShellScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("compose/temporal/*.sh")
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	for _, s := range scripts {
		out, err := exec.Command("sh", "-n", s).CombinedOutput()
		require.NoError(t, err, "sh -n %s:\n%s", s, out)
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	require.NoError(t, err, promtoolMissing)
	cmd := exec.Command(bin, args...)
	cmd.Dir = promDir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool %s in deploy/%s:\n%s", strings.Join(args, " "), promDir, out)
}

// TestPromtool runs promtool's own checks on the Prometheus config and the
// alert rules, and the rule unit tests.
func TestPromtool(t *testing.T) {
	t.Run("check config", func(t *testing.T) { promtool(t, "check", "config", "prometheus.yml") })
	t.Run("check rules", func(t *testing.T) { promtool(t, "check", "rules", "alerts.yml") })
	t.Run("test rules", func(t *testing.T) { promtool(t, "test", "rules", "alerts_test.yml") })
}

// TestAlertsHaveRunbooks checks every alert carries a summary, a
// description and a runbook line.
func TestAlertsHaveRunbooks(t *testing.T) {
	rules := readRules(t)
	alerts := 0
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		alerts++
		for _, a := range []string{"summary", "description", "runbook"} {
			require.NotEmpty(t, strings.TrimSpace(r.Annotations[a]), "alert %s has no %s annotation", r.Alert, a)
		}
		require.NotEmpty(t, r.Labels["severity"], "alert %s has no severity label", r.Alert)
	}
	require.GreaterOrEqual(t, alerts, 6)
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(promDir, "alerts.yml"), &doc)
	var rules []rule
	for _, g := range doc.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// metricName finds kamflow's and the SDK's metric names in PromQL. It is
// deliberately simple: label names never start with these prefixes.
var metricName = regexp.MustCompile(`\b(?:kamflow|temporal)_[a-z0-9_]+\b`)

// TestQueriesUseScrapedMetrics checks that every kamflow_* and temporal_*
// name in the Grafana dashboards and the alert rules is a metric a worker
// serves (internal/metrics/testdata/scrape_names.txt, which the metrics
// test checks against a real scrape) or a recording rule.
func TestQueriesUseScrapedMetrics(t *testing.T) {
	known := map[string]bool{}
	for _, n := range readLines(t, scrapeNamesFile) {
		known[n] = true
	}
	for _, r := range readRules(t) {
		if r.Record != "" {
			known[r.Record] = true
		}
	}
	check := func(where, expr string) {
		t.Helper()
		for _, name := range metricName.FindAllString(expr, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
					base = b
				}
			}
			require.True(t, known[base], "%s uses %s, which no worker serves (add it to %s after checking a real scrape, or fix the query):\n%s",
				where, name, scrapeNamesFile, expr)
		}
	}
	for _, r := range readRules(t) {
		check("alert rule "+r.Alert+r.Record, r.Expr)
	}

	for _, q := range dashboardQueries(t) {
		check(q.where, q.expr)
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, by
// writing them as recording rules with Grafana's interval variables
// replaced by a duration.
func TestDashboardQueriesParse(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	require.NoError(t, err, promtoolMissing)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h")
	type recording struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []recording
	for _, q := range dashboardQueries(t) {
		rules = append(rules, recording{Record: fmt.Sprintf("dashboard:query_%d", len(rules)+1), Expr: vars.Replace(q.expr)})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	data, err := yaml.Marshal(doc)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	out, err := exec.Command(bin, "check", "rules", path).CombinedOutput()
	require.NoError(t, err, "a dashboard query does not parse (rule N is the Nth query in panel order):\n%s", out)
}

// dashboardQuery is one PromQL query of a dashboard panel.
type dashboardQuery struct{ where, expr string }

// dashboardQueries returns every panel query of the dashboards, rows'
// nested panels included.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	dashboards, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, dashboards)
	var out []dashboardQuery
	for _, f := range dashboards {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var dash struct {
			UID    string  `json:"uid"`
			Panels []panel `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(data, &dash), "%s is not valid JSON", f)
		require.NotEmpty(t, dash.UID, "%s has no uid", f)
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, tg := range p.Targets {
					require.NotEmpty(t, strings.TrimSpace(tg.Expr), "%s panel %q has an empty query", f, p.Title)
					out = append(out, dashboardQuery{f + " panel " + strings.TrimSpace(p.Title), tg.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(dash.Panels)
	}
	require.NotEmpty(t, out)
	return out
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// TestDockerfileBuildsLikeMake checks the Dockerfile's build stage runs
// exactly the `go build` commands of `make build`.
func TestDockerfileBuildsLikeMake(t *testing.T) {
	makeCmds := makeBuildCommands(t)
	require.NotEmpty(t, makeCmds, "Makefile: no go build lines under build:")
	dockerCmds := dockerGoBuilds(t)
	require.Equal(t, makeCmds, dockerCmds,
		"the Dockerfile's go build commands differ from `make build`'s: change them together")
}

// makeBuildCommands returns the build target's recipe with $(GO) and
// $(BIN) expanded as the Makefile defines them by default.
func makeBuildCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Z_]+)\s*[?:]?=\s*(.*)$`)
	var cmds []string
	inBuild := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if m := assign.FindStringSubmatch(line); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
		switch {
		case strings.HasPrefix(line, "build:"):
			inBuild = true
		case inBuild && strings.HasPrefix(line, "\t"):
			cmd := strings.TrimSpace(line)
			for k, v := range vars {
				cmd = strings.ReplaceAll(cmd, "$("+k+")", v)
			}
			// Only the compiles must match: the Dockerfile has its own
			// way to make the output folder.
			if strings.Contains(cmd, "go build") {
				cmds = append(cmds, cmd)
			}
		case inBuild:
			inBuild = false
		}
	}
	require.NoError(t, sc.Err())
	return cmds
}

// dockerGoBuilds returns the go build commands of the Dockerfile's RUN
// instructions, with RUN's own --flags removed.
func dockerGoBuilds(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	var cmds []string
	for line := range strings.Lines(joined) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "RUN ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			fields = fields[1:]
		}
		for part := range strings.SplitSeq(strings.Join(fields, " "), "&&") {
			if part = strings.TrimSpace(part); strings.HasPrefix(part, "go build") {
				cmds = append(cmds, part)
			}
		}
	}
	return cmds
}

type deployment struct {
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Name  string `yaml:"name"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					Env []struct {
						Name string `yaml:"name"`
					} `yaml:"env"`
					LivenessProbe  *probe `yaml:"livenessProbe"`
					ReadinessProbe *probe `yaml:"readinessProbe"`
					StartupProbe   *probe `yaml:"startupProbe"`
					Resources      struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

func readDeployment(t *testing.T) deployment {
	t.Helper()
	var d deployment
	readYAML(t, k8sDeployment, &d)
	require.Len(t, d.Spec.Template.Spec.Containers, 1, "%s: one worker container", k8sDeployment)
	return d
}

// TestK8sProbes checks liveness goes to /healthz, readiness to /readyz,
// both on the container's HTTP port, and that resources are set.
func TestK8sProbes(t *testing.T) {
	c := readDeployment(t).Spec.Template.Spec.Containers[0]
	require.NotEmpty(t, c.Ports, "%s: container %s exposes no port", k8sDeployment, c.Name)
	port := c.Ports[0]
	for _, p := range []struct {
		name string
		pr   *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"startupProbe", c.StartupProbe, ""}} {
		if p.pr == nil && p.path == "" {
			continue
		}
		require.NotNil(t, p.pr, "%s: container %s has no %s", k8sDeployment, c.Name, p.name)
		require.NotNil(t, p.pr.HTTPGet, "%s: %s is not an httpGet probe", k8sDeployment, p.name)
		if p.path != "" {
			require.Equal(t, p.path, p.pr.HTTPGet.Path, "%s: %s path", k8sDeployment, p.name)
		} else {
			require.Contains(t, []string{"/healthz", "/readyz"}, p.pr.HTTPGet.Path, "%s: %s path", k8sDeployment, p.name)
		}
		require.Contains(t, []any{port.Name, port.ContainerPort}, p.pr.HTTPGet.Port,
			"%s: %s must probe the container's port %s/%d", k8sDeployment, p.name, port.Name, port.ContainerPort)
	}
	require.NotEmpty(t, c.Resources.Requests["cpu"], "%s: no CPU request", k8sDeployment)
	require.NotEmpty(t, c.Resources.Requests["memory"], "%s: no memory request", k8sDeployment)
	require.NotEmpty(t, c.Resources.Limits["memory"], "%s: no memory limit", k8sDeployment)
}

// TestPolicyConfigMapMatchesPolicy checks the Kubernetes policy ConfigMap
// carries deploy/policy.yaml verbatim, and that the worker would accept it.
func TestPolicyConfigMapMatchesPolicy(t *testing.T) {
	want, err := os.ReadFile(policyFile)
	require.NoError(t, err)
	_, err = policy.Parse(want, policyFile)
	require.NoError(t, err, "the worker would refuse deploy/%s", policyFile)
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, policyConfigMap, &cm)
	require.Equal(t, string(want), cm.Data["policy.yaml"],
		"%s is out of date with deploy/%s: paste the file into data.policy.yaml (indented 4 spaces) or regenerate it as its header says",
		policyConfigMap, policyFile)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), "%s", path)
}

// readLines reads a list file: one entry a line, # comments, blanks skipped.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
