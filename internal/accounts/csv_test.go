package accounts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// errorsByLine renders errors as "line N: reason" for compact comparisons.
func errorsByLine(errs []RowError) map[int]string {
	m := map[int]string{}
	for _, e := range errs {
		m[e.Line] = e.Reason
	}
	return m
}

func TestReadAccountsCSVMessy(t *testing.T) {
	rows, errs := ReadAccountsCSV(bytes.NewReader(readFixture(t, "accounts_messy.csv")))

	got := map[int]string{}
	for _, r := range rows {
		got[r.Line] = r.Profile.ID
	}
	require.Equal(t, map[int]string{
		2: "acme-1", 3: "sh-001", 5: "ml-1", 16: "gm-1", 18: "short-1", 19: "long-1", 22: "last-1",
	}, got, "good rows by the line they start on")

	wantErrs := map[int]string{
		7:  "id: missing",
		8:  `revenue "12x": not a number`,
		9:  "duplicate id acme-1 (first on line 2)",
		10: `id: "bad id!" is not a valid id`,
		12: `growth_rate "abc": not a number`,
		13: "market_share: want a fraction from 0 to 1",
		14: "contact_email: not an e-mail address",
		15: "manager: missing",
		17: "malformed CSV: extraneous or missing \" in quoted-field",
		21: "revenue: must not be negative",
	}
	gotErrs := errorsByLine(errs)
	require.Len(t, gotErrs, len(wantErrs), "errors: %v", errs)
	for line, want := range wantErrs {
		require.Contains(t, gotErrs[line], want, "line %d", line)
	}
	for _, e := range errs {
		require.False(t, e.Fatal, "%v", e)
		require.True(t, strings.HasPrefix(e.Error(), fmt.Sprintf("line %d: ", e.Line)))
	}

	byID := map[string]AccountRow{}
	for _, r := range rows {
		byID[r.Profile.ID] = r
	}
	acme := byID["acme-1"].Profile
	require.Equal(t, "Acme, Ltd", acme.Name)
	require.Equal(t, "m1", acme.Manager)
	require.Equal(t, "East", acme.Region)
	require.InDelta(t, 1_200_000, acme.Revenue, 1e-9)
	require.InDelta(t, 0.15, acme.GrowthRate, 1e-9)
	require.InDelta(t, 0.3, acme.MarketShare, 1e-9)
	require.Equal(t, "jane@acme.example", acme.ContactEmail)

	sh := byID["sh-001"].Profile
	require.Equal(t, []byte("上海华东机电有限公司"), []byte(sh.Name), "Chinese names stay byte-exact")
	require.Equal(t, "华东", sh.Region)
	require.Equal(t, "王小明", sh.ContactName)

	require.Equal(t, "Multi\nline, Inc", byID["ml-1"].Profile.Name, "quoted line break kept (CRLF read as LF)")
	require.Equal(t, "m2", byID["short-1"].Profile.Manager)
	require.InDelta(t, 1.5e6, byID["last-1"].Profile.Revenue, 1e-9)
}

func TestReadEventsCSVMessy(t *testing.T) {
	rows, errs := ReadEventsCSV(bytes.NewReader(readFixture(t, "events_messy.csv")))

	got := map[int]string{}
	for _, r := range rows {
		got[r.Line] = r.AccountID + "/" + r.Event.ExternalID
	}
	require.Equal(t, map[int]string{2: "acme-1/SO-1", 3: "acme-1/C-1", 6: "sh-001/S-1", 16: "acme-1/R-1"}, got)

	wantErrs := map[int]string{
		7:  "duplicate external_id SO-1 for account acme-1 (first on line 2)",
		8:  "account: missing",
		9:  "external_id: missing",
		10: `kind "refund": want one of order, complaint`,
		11: `at: "yesterday" is not a time`,
		12: `amount "lots": not a number`,
		13: "severity: want 1 to 5",
		14: "survey_response: needs nps or csat",
		15: `csat "x": not a whole number`,
	}
	gotErrs := errorsByLine(errs)
	require.Len(t, gotErrs, len(wantErrs), "errors: %v", errs)
	for line, want := range wantErrs {
		require.Contains(t, gotErrs[line], want, "line %d", line)
	}

	order := rows[0].Event
	require.Equal(t, "order", order.Kind)
	require.InDelta(t, 12500.50, order.Amount, 1e-9)
	require.Equal(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), order.At)
	require.Equal(t, "first order, big", order.Note)

	complaint := rows[1].Event
	require.Equal(t, "complaint", complaint.Kind)
	require.Equal(t, 4, complaint.Severity)
	require.Equal(t, "late\ndelivery", complaint.Note)
	require.True(t, complaint.At.Equal(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)))

	survey := rows[2].Event
	require.Equal(t, "survey_response", survey.Kind)
	require.NotNil(t, survey.NPS)
	require.Equal(t, 9, *survey.NPS)
	require.Nil(t, survey.CSAT)
	require.Equal(t, "很满意", survey.Note)
}

func TestReadAccountsCSVFileProblems(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		rows       int
		errLine    int
		err        string
		fatal      bool
	}{
		{name: "missing required column", file: "accounts_no_manager_column.csv", errLine: 1, err: "header: missing column manager", fatal: true},
		{name: "two columns mean the same", file: "accounts_dup_columns.csv", errLine: 1, err: `columns 1 ("id") and 4 ("account_id") both mean id`, fatal: true},
		{name: "empty file", file: "empty.csv", errLine: 1, err: "empty file: want a header row naming the columns id, name, manager", fatal: true},
		{name: "header only", file: "accounts_header_only.csv"},
		{name: "not UTF-8", file: "accounts_gbk.csv", errLine: 2, err: "name: not valid UTF-8 (save the file as UTF-8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, errs := ReadAccountsCSV(bytes.NewReader(readFixture(t, tc.file)))
			require.Len(t, rows, tc.rows)
			if tc.err == "" {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			require.Equal(t, tc.errLine, errs[0].Line)
			require.Contains(t, errs[0].Reason, tc.err)
			require.Equal(t, tc.fatal, errs[0].Fatal)
		})
	}
}

func TestReadCSVLineEndings(t *testing.T) {
	// The same rows with every line ending and with or without a BOM give
	// the same result, line numbers included.
	body := []string{"id,name,manager", "a-1,\"A, \"\"one\"\"\",m1", "", "a-2,二,m1"}
	for _, tc := range []struct{ name, bom, eol string }{
		{"LF", "", "\n"}, {"CRLF", "", "\r\n"}, {"BOM LF", "\uFEFF", "\n"}, {"BOM CRLF", "\uFEFF", "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, errs := ReadAccountsCSV(strings.NewReader(tc.bom + strings.Join(body, tc.eol) + tc.eol))
			require.Empty(t, errs)
			require.Len(t, rows, 2)
			require.Equal(t, 2, rows[0].Line)
			require.Equal(t, `A, "one"`, rows[0].Profile.Name)
			require.Equal(t, 4, rows[1].Line)
			require.Equal(t, "二", rows[1].Profile.Name)
		})
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		percent bool
		want    float64
		bad     bool
	}{
		{in: "", want: 0},
		{in: " 1200 ", want: 1200},
		{in: "1,200,000.50", want: 1_200_000.5},
		{in: "1.2e6", want: 1.2e6},
		{in: "15%", percent: true, want: 0.15},
		{in: "15 %", percent: true, want: 0.15},
		{in: "15%", bad: true},
		{in: "1,5", bad: true},
		{in: "12,34,567", bad: true},
		{in: "NaN", bad: true},
		{in: "Inf", bad: true},
		{in: "¥100", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var fe fieldErrs
			got := number(&fe, "x", tc.in, tc.percent)
			if tc.bad {
				require.Error(t, fe.err())
				return
			}
			require.NoError(t, fe.err())
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-03-01", want: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-03-01T10:00:00+08:00", want: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)},
		{in: "2026-03-01T10:00:00.5Z", want: time.Date(2026, 3, 1, 10, 0, 0, 5e8, time.UTC)},
		{in: "2026-03-01 10:00", bad: true},
		{in: "01/03/2026", bad: true},
		{in: "2026-02-30", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in)
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "got %v", got)
		})
	}
}

// TestReadAccountsCSVLarge parses a 50,000-row file: every row comes back,
// in order, with its line, and the bad ones are reported without stopping.
func TestReadAccountsCSVLarge(t *testing.T) {
	const n = 50_000
	var b bytes.Buffer
	b.WriteString("\uFEFFid,name,manager,region,revenue,contact_email\r\n")
	for i := range n {
		switch {
		case i%10_000 == 9_999:
			fmt.Fprintf(&b, "acct-%d,客户 %d,m%d,华东,lots,c%d@example.com\r\n", i, i, i%50, i)
		default:
			fmt.Fprintf(&b, "acct-%d,\"客户, %d\",m%d,华东,%d,c%d@example.com\r\n", i, i, i%50, i*10, i)
		}
	}
	start := time.Now()
	rows, errs := ReadAccountsCSV(&b)
	t.Logf("parsed %d rows in %s", n, time.Since(start))
	require.Len(t, errs, 5)
	require.Len(t, rows, n-5)
	for _, e := range errs {
		require.Contains(t, e.Reason, `revenue "lots": not a number`)
	}
	require.Equal(t, 10_001, errs[0].Line)
	for i, r := range rows[:100] {
		require.Equal(t, i+2, r.Line)
		require.Equal(t, fmt.Sprintf("客户, %d", i), r.Profile.Name)
	}
	last := rows[len(rows)-1] // row n-1 is a bad one
	require.Equal(t, n, last.Line)
	require.Equal(t, fmt.Sprintf("acct-%d", n-2), last.Profile.ID)
}

func TestFilterQuery(t *testing.T) {
	q, err := Filter{Stage: "churn_recovery", Tier: "vip", Manager: "m.chen", TaskQueue: `q'x\`}.Query()
	require.NoError(t, err)
	require.Equal(t, `WorkflowType = 'AccountLifecycle' AND (ExecutionStatus = 'Running' OR ExecutionStatus = 'Completed')`+
		` AND TaskQueue = 'q\'x\\' AND AccountStage = 'churn_recovery' AND AccountTier = 'vip' AND AccountManager = 'm.chen'`, q)

	for _, f := range []Filter{
		{Stage: "identify' OR 'a'='a"},
		{Tier: "gold"},
		{Manager: "m1' OR AccountManager != '"},
		{TaskQueue: "a\nb"},
	} {
		_, err := f.Query()
		require.Error(t, err, "%+v", f)
	}
}

func TestTaskAccount(t *testing.T) {
	id, err := TaskAccount("acme-1:visit:3")
	require.NoError(t, err)
	require.Equal(t, "acme-1", id)
	for _, bad := range []string{"acme-1", ":visit:3", "bad id:visit:1", ""} {
		_, err := TaskAccount(bad)
		require.Error(t, err, bad)
	}
}
