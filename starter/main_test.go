package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// runInProcess runs the starter as main would, without a process.
func runInProcess(t *testing.T, env config.Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = exitCode(run(ctx, args, env, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

// isolatedEnv points the starter at nothing: no dev.env, no Temporal, no
// database, so a test proves which commands need none of them.
func isolatedEnv(t *testing.T) config.Env {
	dir := t.TempDir()
	return config.Env{"HOME=" + dir, "KAM_DATA_DIR=" + filepath.Join(dir, "data")}
}

func TestUsageErrors(t *testing.T) {
	env := isolatedEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"imprt", "x.csv"}, `unknown command "imprt" for "starter"; did you mean import?`},
		{"unknown flag", []string{"list", "--stag", "engage"}, "unknown flag: --stag"},
		{"import without file", []string{"import"}, "missing FILE"},
		{"import two files", []string{"import", "a.csv", "b.csv"}, `unexpected argument "b.csv"`},
		{"import missing file", []string{"import", "no-such.csv"}, "no-such.csv: no such file"},
		{"import bad concurrency", []string{"import", "--concurrency", "0", "a.csv"}, "--concurrency 0: want 1 or more"},
		{"events bad concurrency", []string{"events", "-c", "-1", "a.csv"}, "--concurrency -1: want 1 or more"},
		{"concurrency not a number", []string{"import", "--concurrency", "many", "a.csv"}, `invalid argument "many" for "-c, --concurrency"`},
		{"start without flags", []string{"start", "--id", "a-1"}, "missing --name, --manager"},
		{"start bad id", []string{"start", "--id", "a 1", "--name", "A", "--manager", "m1"}, `id: "a 1" is not a valid id`},
		{"start bad share", []string{"start", "--id", "a-1", "--name", "A", "--manager", "m1", "--market-share", "2"}, "market_share: want a fraction from 0 to 1"},
		{"event without kind", []string{"event", "--account", "a-1"}, "missing --kind"},
		{"event bad kind", []string{"event", "--account", "a-1", "--kind", "refund"}, `kind "refund": want one of order`},
		{"event bad time", []string{"event", "--account", "a-1", "--kind", "order", "--at", "yesterday"}, `--at: "yesterday" is not a time`},
		{"event survey without answer", []string{"event", "--account", "a-1", "--kind", "survey_response"}, "survey_response: needs nps or csat"},
		{"status bad id", []string{"status", "no/such"}, `ID: "no/such" is not a valid id`},
		{"status without id", []string{"status"}, "missing ID"},
		{"list bad stage", []string{"list", "--stage", "won"}, `stage "won": want one of identify`},
		{"list bad tier", []string{"list", "--tier", "gold"}, `tier "gold": want one of prospect`},
		{"list quote in manager", []string{"list", "--manager", "m1' OR 'x'='x"}, "manager:"},
		{"tasks without manager", []string{"tasks"}, "missing --manager"},
		{"tasks bad state", []string{"tasks", "--manager", "m1", "--state", "late"}, `--state "late"`},
		{"tasks unknown subcommand", []string{"tasks", "finish", "a:visit:1"}, `unknown command "finish"`},
		{"complete bad task id", []string{"tasks", "complete", "nocolon", "--outcome", "x"}, `task id "nocolon": want <account>:<kind>:<n>`},
		{"complete without outcome", []string{"tasks", "complete", "a-1:visit:1"}, "missing --outcome"},
		{"managers without subcommand", []string{"managers"}, "a subcommand is required: add, list"},
		{"managers add bad role", []string{"managers", "add", "--id", "m1", "--name", "M", "--email", "m@x.example", "--role", "boss"}, `--role "boss": want one of manager`},
		{"managers add bad email", []string{"managers", "add", "--id", "m1", "--name", "M", "--email", "nope", "--role", "manager"}, `--email "nope"`},
		{"managers add self supervisor", []string{"managers", "add", "--id", "m1", "--name", "M", "--email", "m@x.example", "--role", "manager", "--supervisor", "m1"}, "cannot supervise themselves"},
		{"close without reason", []string{"close", "a-1"}, "missing --reason"},
		{"policy without file", []string{"policy", "check"}, "missing FILE"},
		{"bad timeout", []string{"list", "--timeout", "0s"}, "--timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, env, tc.args...)
			require.Equal(t, 2, code, "stdout %q stderr %q", stdout, stderr)
			require.Contains(t, stderr, tc.want)
			require.Contains(t, stderr, "--help` for usage")
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		require.NotEmpty(t, c.Example, "%s has no Example", c.CommandPath())
		require.NotEmpty(t, c.Short, "%s has no Short", c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk((&app{env: isolatedEnv(t)}).rootCommand())
	code, stdout, _ := runInProcess(t, isolatedEnv(t), "import", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "contact_email [email]")
	require.Contains(t, stdout, "starter import --dry-run accounts.csv")
}

func TestSetupDryRun(t *testing.T) {
	env := append(isolatedEnv(t), "TEMPORAL_NAMESPACE=kam-prod")
	code, stdout, stderr := runInProcess(t, env, "setup", "--dry-run")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, `temporal operator search-attribute create --namespace kam-prod --name AccountManager --type Keyword
temporal operator search-attribute create --namespace kam-prod --name AccountStage --type Keyword
temporal operator search-attribute create --namespace kam-prod --name AccountTier --type Keyword
temporal operator search-attribute create --namespace kam-prod --name ChurnRisk --type Double
temporal operator search-attribute create --namespace kam-prod --name HealthScore --type Double
`, stdout)
}

func TestPolicyCheck(t *testing.T) {
	env := isolatedEnv(t)
	code, stdout, stderr := runInProcess(t, env, "policy", "check", "testdata/policy_fast.yaml")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "testdata/policy_fast.yaml is valid; it changes")
	require.Contains(t, stdout, "  visits.lead_time: 1d -> 0s\n")

	code, _, stderr = runInProcess(t, env, "policy", "check", "testdata/policy_unknown_field.yaml")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "line 3: field windw not found")
}

func TestFileErrorsNeedNoServer(t *testing.T) {
	dir := t.TempDir()
	noHeader := filepath.Join(dir, "accounts.csv")
	require.NoError(t, os.WriteFile(noHeader, []byte("id,name,region\na-1,A,East\n"), 0o600))
	code, stdout, stderr := runInProcess(t, isolatedEnv(t), "import", noHeader)
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "line 1: header: missing column manager")
	require.Contains(t, stderr, "(nothing was sent)")

	events := filepath.Join(dir, "events.csv")
	require.NoError(t, os.WriteFile(events, []byte("account,external_id,kind,at\na-1,,order,2026-01-01\na-1,e2,refund,2026-01-01\n"), 0o600))
	code, stdout, stderr = runInProcess(t, isolatedEnv(t), "events", "--dry-run", events)
	require.Equal(t, 1, code)
	require.Equal(t, "2 rows: 0 valid, 2 failed (dry run: nothing sent)\n", stdout)
	require.Contains(t, stderr, "line 2: external_id: missing")
	require.Contains(t, stderr, `line 3: kind "refund"`)
}

func TestNoDatabaseConfigured(t *testing.T) {
	code, _, stderr := runInProcess(t, isolatedEnv(t), "managers", "list")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "DATABASE_URL is not set")
}

func TestUnreachableTemporalFromDevEnv(t *testing.T) {
	env := isolatedEnv(t)
	dataDir := env.Get("KAM_DATA_DIR")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, devEnvFile), []byte("TEMPORAL_ADDRESS=127.0.0.1:1\nDATABASE_URL=postgres://nobody@127.0.0.1:1/x\n"), 0o600))
	start := time.Now()
	code, stdout, stderr := runInProcess(t, env, "status", "acme-1")
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Less(t, time.Since(start), 15*time.Second)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 1, "one clear line: %s", stderr)
	require.Contains(t, lines[0], "starter: cannot reach Temporal at 127.0.0.1:1 (from "+filepath.Join(dataDir, devEnvFile)+")")
}

func TestExitCodes(t *testing.T) {
	var b bytes.Buffer
	require.Equal(t, 0, exitCode(nil, &b))
	require.Equal(t, 2, exitCode(usagef("bad"), &b))
	require.Equal(t, 2, exitCode(config.UsageError{Err: os.ErrInvalid}, &b))
	require.Equal(t, 1, exitCode(os.ErrNotExist, &b))
}
