package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history recorded from real runs
// (testdata/histories, written by TestAccountThroughEveryStage with
// KAM_RECORD_HISTORIES=1) against today's workflow code: a change that would
// break running accounts fails here, not in production.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories: run the lifecycle test with KAM_RECORD_HISTORIES=1")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(AccountLifecycle, workflow.RegisterOptions{Name: WorkflowType})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}

// TestReplayCatchesUnversionedChange proves the replay test has teeth: a
// copy of the workflow with one unguarded change at its start fails to replay a recorded history with a
// non-determinism error.
func TestReplayCatchesUnversionedChange(t *testing.T) {
	file := filepath.Join("testdata", "histories", "golden_path.json")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("recorded history missing: %v", err)
	}
	incompatible := func(ctx workflow.Context, in AccountInput) (AccountResult, error) {
		// A "small" change: wait a second before starting, without
		// workflow.GetVersion. Recorded runs scheduled an activity here.
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return AccountResult{}, err
		}
		return AccountLifecycle(ctx, in)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(incompatible, workflow.RegisterOptions{Name: WorkflowType})
	err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file)
	require.Error(t, err)
	// TMPRL1100 is the SDK's code for a non-deterministic workflow.
	require.Contains(t, strings.ToUpper(err.Error()), "TMPRL1100")
}
