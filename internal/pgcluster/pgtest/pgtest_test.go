package pgtest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	for _, test := range []string{
		"TestX",
		"TestScheduleVisit/eight_callers",
		"Test" + strings.Repeat("VeryLong", 20),
		"TestÜnicode/名前",
	} {
		a, b := databaseName(test), databaseName(test)
		require.Regexp(t, valid, a, test)
		require.NotEqual(t, a, b, "names are unique per call")
	}
	require.True(t, strings.HasPrefix(databaseName("TestTimeline/limit"), "t_testtimeline_limit_"))
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ admin, want string }{
		{"postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5433/t_x?sslmode=disable"},
		{"postgres://u:p@h/", "postgres://u:p@h/t_x"},
		{"host=h port=5433 dbname=postgres sslmode=disable", "host=h port=5433 dbname=postgres sslmode=disable dbname=t_x"},
	} {
		got, err := withDatabase(tc.admin, "t_x")
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := withDatabase("postgres://u:secret@h:bad/db", "t_x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
	require.Equal(t, "host=h password=xxxxx", redact("host=h password=secret"))
}
