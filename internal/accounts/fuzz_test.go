package accounts

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
)

// checkLines holds for any input: rows and errors point at lines of the
// input, a line is a row or an error but never both, rows come in file
// order, and only the last error may be fatal.
func checkLines(t *testing.T, data []byte, rowLines []int, errs []RowError) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	seen := map[int]bool{}
	prev := 0
	for _, l := range rowLines {
		require.Greater(t, l, prev, "rows in file order, one per line")
		require.LessOrEqual(t, l, lines)
		seen[l] = true
		prev = l
	}
	for i, e := range errs {
		require.GreaterOrEqual(t, e.Line, 1)
		require.LessOrEqual(t, e.Line, lines+1)
		require.False(t, seen[e.Line], "line %d is both a row and an error (%s)", e.Line, e.Reason)
		require.NotEmpty(t, e.Reason)
		if e.Fatal {
			require.Equal(t, len(errs)-1, i, "only the last error may be fatal")
			require.Empty(t, rowLines, "a fatal error comes before any row")
		}
	}
}

func FuzzReadAccountsCSV(f *testing.F) {
	f.Add([]byte("id,name,manager\nacme-1,Acme,m1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, errs := ReadAccountsCSV(bytes.NewReader(data))
		lines := make([]int, len(rows))
		ids := map[string]bool{}
		for i, r := range rows {
			lines[i] = r.Line
			require.NoError(t, r.Profile.Validate(), "a returned row is valid")
			require.False(t, ids[r.Profile.ID], "ids are unique")
			ids[r.Profile.ID] = true
		}
		checkLines(t, data, lines, errs)
	})
}

func FuzzReadEventsCSV(f *testing.F) {
	f.Add([]byte("account,external_id,kind,at\nacme-1,e1,order,2026-03-01\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, errs := ReadEventsCSV(bytes.NewReader(data))
		lines := make([]int, len(rows))
		for i, r := range rows {
			lines[i] = r.Line
			require.NoError(t, r.Event.Validate(), "a returned event is valid")
			require.NoError(t, activities.ValidID(r.AccountID))
		}
		checkLines(t, data, lines, errs)
	})
}
