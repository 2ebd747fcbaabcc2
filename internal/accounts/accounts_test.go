package accounts

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
)

func TestBatchesKeepOrderWithinBothLimits(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	events := func(n int, note string) []activities.Event {
		es := make([]activities.Event, n)
		for i := range es {
			es[i] = activities.Event{ExternalID: fmt.Sprintf("e-%d", i), Kind: activities.EventNote, At: at, Note: note}
		}
		return es
	}
	require.Empty(t, Batches(nil, 0))
	require.Equal(t, [][2]int{{0, 3}}, Batches(events(3, ""), 0))
	require.Equal(t, [][2]int{{0, 2}, {2, 4}, {4, 5}}, Batches(events(5, ""), 2))
	require.Equal(t, [][2]int{{0, 100}, {100, 200}, {200, 250}}, Batches(events(250, ""), 500), "never above MaxBatchEvents")

	// 4000-byte notes: about 63 fit in MaxBatchBytes of JSON.
	long := events(150, strings.Repeat("x", 4000))
	got := Batches(long, 0)
	next := 0
	for _, b := range got {
		require.Equal(t, next, b[0], "batches are consecutive, in order")
		payload, err := json.Marshal(long[b[0]:b[1]])
		require.NoError(t, err)
		require.LessOrEqual(t, len(payload), MaxBatchBytes)
		next = b[1]
	}
	require.Equal(t, len(long), next)
	require.Len(t, got, 3)

	// An event above the byte limit on its own still goes, alone.
	huge := events(3, "")
	huge[1].Note = strings.Repeat("y", MaxBatchBytes)
	require.Equal(t, [][2]int{{0, 1}, {1, 2}, {2, 3}}, Batches(huge, 0))
}
