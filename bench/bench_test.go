package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/testenv"
)

// TestMain stops the dev stack testenv starts when this package is tested
// on its own (make test shares one stack and starts none here).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Stop()
	os.Exit(code)
}

// wantLines is every line the table must have, in order.
var wantLines = []string{
	"B0", "B1", "E-import", "M0", "M-account", "M-heap", "M-open", "M-worker",
	"B0-pg", "B1-pg", "E-import-pg",
	"S0", "E-events", "E-events@1", "D0", "E-db", "E-db@1", "E-db@100", "R-cycle", "R-history",
	"API-inbox-p50", "API-inbox-p99", "API-account-p50", "API-account-p99", "KPI-p50", "KPI-p99",
}

// mayBeZero are the memory-growth lines: with a handful of accounts the
// garbage collector can run between the two readings and the growth reads
// zero or less. Every other figure is a rate, a latency or a count.
var mayBeZero = map[string]bool{"M-account": true, "M-heap": true}

// TestBenchSmoke runs every step of the benchmark at a tiny size against a
// real dev stack and the built binaries: a test of the harness, not of the
// timings, which mean nothing at this size.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts workers and runs every benchmark step")
	}
	env := map[string]string{
		"KAM_TEST_TEMPORAL_ADDRESS": os.Getenv("KAM_TEST_TEMPORAL_ADDRESS"),
		"KAM_TEST_PG_URL":           os.Getenv("KAM_TEST_PG_URL"),
	}
	if env["KAM_TEST_TEMPORAL_ADDRESS"] == "" || env["KAM_TEST_PG_URL"] == "" {
		// go test ./bench on its own: testenv starts a private stack.
		env["KAM_TEST_TEMPORAL_ADDRESS"] = testenv.TemporalAddress(t)
		env["KAM_TEST_PG_URL"] = testenv.PostgresAdminURL()
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-size", "tiny", "-results", dir, "-readme", filepath.Join(dir, "table.md")},
		func(k string) string { return env[k] }, &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	t.Log(stdout.String())

	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var table Table
	require.NoError(t, json.Unmarshal(b, &table))
	var got []string
	for _, l := range table.Lines {
		got = append(got, l.Step)
		if l.Pending {
			continue
		}
		require.NotEmpty(t, l.Reps, "%s has no figures", l.Step)
		if !mayBeZero[l.Step] {
			require.Greater(t, l.Value, 0.0, "%s: %v", l.Step, l.Reps)
		}
		if l.Ceiling != "" {
			require.Greater(t, l.Ratio, 0.0, "%s has no ratio to %s", l.Step, l.Ceiling)
		}
	}
	require.Equal(t, wantLines, got)
	md, err := os.ReadFile(filepath.Join(dir, "table.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| E-import |")
}
