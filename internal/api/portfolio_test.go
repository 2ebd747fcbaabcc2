package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// The portfolio's period in these tests: a month in the past, so the
// figures do not move while the test runs.
var (
	pfFrom = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	pfTo   = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
)

// portfolioPeople adds the access-matrix organisation: sup supervises mgr1
// and mgr2; mgr3 reports to nobody.
func portfolioPeople(e *env) {
	e.manager(sup, "李伟 Li Wei", activities.RoleSupervisor, "")
	e.manager(mgr1, "张敏 Zhang Min", activities.RoleManager, sup)
	e.manager(mgr2, "Anna Berg", activities.RoleManager, sup)
	e.manager(mgr3, "王芳 Wang Fang", activities.RoleManager, "")
	e.manager(senior, "陈静 Chen Jing", activities.RoleSenior, "")
	e.manager(ops, "Ops Desk", activities.RoleOps, "")
}

// pfAccount writes an account onboarded at `at` straight into the record
// (no workflow: the KPIs read the record), moved through stages, with a
// score.
func pfAccount(t *testing.T, e *env, id, name, manager string, at time.Time, risk float64, stages ...string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.st.UpsertAccount(ctx, store.Account{ID: id, Name: name, ManagerID: manager, CreatedAt: at})
	require.NoError(t, err)
	from := ""
	for i, st := range append([]string{"identify"}, stages...) {
		_, err := e.st.RecordTransition(ctx, store.Transition{Key: fmt.Sprintf("%s:stage:%d", id, i+1), AccountID: id,
			From: from, To: st, At: at.Add(time.Duration(i) * 24 * time.Hour)})
		require.NoError(t, err)
		from = st
	}
	require.NoError(t, e.st.InsertScore(ctx, store.Score{Key: id + ":score:1", AccountID: id, At: at.Add(time.Hour),
		Tier: "core", ChurnRisk: risk, Health: 100 * (1 - risk),
		Reasons: store.Reasons{{Field: "churn_risk", Text: "风险 risk of " + id}}}))
}

// kpis calls GET /api/v1/kpis as who and decodes the answer.
func kpis(t *testing.T, e *env, who, query string) map[string]any {
	t.Helper()
	code, body := e.call(http.MethodGet, "/api/v1/kpis?"+query, e.tokens[who], nil)
	require.Equal(t, http.StatusOK, code, "%s: %s", who, body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out))
	return out
}

// dig walks a decoded JSON document by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestPortfolioKPIScopes proves the figures follow the console's access
// rules: ops and senior management count every account, a supervisor
// their team's, a manager their own; and that every figure carries its
// definition.
func TestPortfolioKPIScopes(t *testing.T) {
	e := newEnv(t)
	portfolioPeople(e)
	in := pfFrom.Add(48 * time.Hour)
	pfAccount(t, e, "pf-1", "上海华东精密机械有限公司", mgr1, in, 0.82, "engage", "deepen")
	pfAccount(t, e, "pf-2", "北京云图科技", mgr1, in, 0.41)
	pfAccount(t, e, "pf-3", "Nordic Freight AB", mgr2, in, 0.2, "engage")
	pfAccount(t, e, "pf-4", "Acme Maschinenbau GmbH", mgr3, in, 0.65, "engage", "deepen")
	q := url.Values{"from": {pfFrom.Format(time.RFC3339)}, "to": {pfTo.Format(time.RFC3339)}}.Encode()

	for _, c := range []struct {
		who        string
		identified float64
		deepened   float64
		top        []string
		managers   []any
	}{
		{ops, 4, 2, []string{"pf-1", "pf-4", "pf-2", "pf-3"}, nil},
		{senior, 4, 2, []string{"pf-1", "pf-4", "pf-2", "pf-3"}, nil},
		{sup, 3, 1, []string{"pf-1", "pf-2", "pf-3"}, []any{sup, mgr2, mgr1}},
		{mgr1, 2, 1, []string{"pf-1", "pf-2"}, []any{mgr1}},
		{mgr3, 1, 1, []string{"pf-4"}, []any{mgr3}},
	} {
		t.Run(c.who, func(t *testing.T) {
			k := kpis(t, e, c.who, q)
			require.Equal(t, c.identified, dig(k, "figures", "acquisition", "data", "identified"))
			require.Equal(t, c.deepened, dig(k, "figures", "acquisition", "data", "deepened"))
			require.InDelta(t, c.deepened/c.identified, dig(k, "figures", "acquisition", "data", "rate"), 1e-9)
			var top []string
			for _, a := range dig(k, "figures", "top_risk", "data").([]any) {
				id := dig(a, "id").(string)
				top = append(top, id)
				require.Equal(t, "/accounts/"+id, dig(a, "url"))
			}
			require.Equal(t, c.top, top)
			if c.managers == nil {
				require.Nil(t, dig(k, "scope", "managers"), "null: every account")
			} else {
				require.ElementsMatch(t, c.managers, dig(k, "scope", "managers"))
			}
		})
	}

	t.Run("every figure has its definition and the period its rule", func(t *testing.T) {
		k := kpis(t, e, ops, q)
		figures := dig(k, "figures").(map[string]any)
		require.Len(t, figures, 13)
		for name, f := range figures {
			require.NotEmpty(t, dig(f, "title"), name)
			require.Greater(t, len(dig(f, "definition").(string)), 40, name)
		}
		require.Contains(t, dig(figures, "retention", "definition"), "from <= t < to")
		require.Equal(t, pfFrom.Format(time.RFC3339), dig(k, "period", "from"))
		require.Equal(t, pfTo.Format(time.RFC3339), dig(k, "period", "to"))
		require.Contains(t, dig(k, "period", "rule"), "from <= t < to")
		require.Equal(t, "1 Mar 2026 to 31 Mar 2026", dig(k, "period", "label"))
	})

	t.Run("anonymous callers get 401", func(t *testing.T) {
		for _, path := range []string{"/api/v1/kpis", "/api/v1/kpis.csv"} {
			code, body := e.call(http.MethodGet, path, "", nil)
			require.Equal(t, http.StatusUnauthorized, code)
			errorBody(t, body)
		}
	})
}

// TestPortfolioKPIPeriods covers the period parameters: presets end now,
// dates are midnight UTC, and mistakes are 400s that say what is wrong.
func TestPortfolioKPIPeriods(t *testing.T) {
	e := newEnv(t)
	portfolioPeople(e)
	before := time.Now().UTC().Truncate(time.Second)
	for _, c := range []struct {
		query  string
		days   int
		preset string
	}{{"", 90, "90d"}, {"period=30d", 30, "30d"}, {"period=365d", 365, "365d"}} {
		k := kpis(t, e, ops, c.query)
		from, err := time.Parse(time.RFC3339, dig(k, "period", "from").(string))
		require.NoError(t, err)
		to, err := time.Parse(time.RFC3339, dig(k, "period", "to").(string))
		require.NoError(t, err)
		require.False(t, to.Before(before), "a preset ends now")
		require.Equal(t, to.AddDate(0, 0, -c.days), from, c.query)
		require.Equal(t, c.preset, dig(k, "period", "preset"))
	}
	k := kpis(t, e, ops, "from=2026-01-01&to=2026-04-01")
	require.Equal(t, "2026-01-01T00:00:00Z", dig(k, "period", "from"))
	require.Equal(t, "2026-04-01T00:00:00Z", dig(k, "period", "to"))
	require.Equal(t, "1 Jan 2026 to 31 Mar 2026", dig(k, "period", "label"), "to is not included")
	k = kpis(t, e, ops, "from=2026-01-01T08:00:00%2B08:00&to=2026-01-02T00:00:00Z")
	require.Equal(t, "2026-01-01T00:00:00Z", dig(k, "period", "from"), "times are UTC")

	for _, c := range []struct{ query, says string }{
		{"period=7d", "want 30d, 90d or 365d"},
		{"period=30d&from=2026-01-01", "not both"},
		{"from=2026-02-01&to=2026-01-01", "must be before"},
		{"from=2026-01-01&to=2026-01-01", "must be before"},
		{"from=yesterday", "want a date"},
		{"from=2000-01-01&to=2026-01-01", "longer than ten years"},
		{"to=2026-13-01", "want a date"},
		{"from=1999-12-31&to=2000-01-02", "out of range"},
	} {
		code, body := e.call(http.MethodGet, "/api/v1/kpis?"+c.query, e.tokens[ops], nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", c.query, body)
		codeName, detail := errorBody(t, body)
		require.Equal(t, "bad_request", codeName)
		require.Contains(t, detail, c.says, c.query)
	}
}

// TestPortfolioKPICSV checks the export: a byte order mark for Excel, CRLF
// lines, one long table with the same figures as the JSON, Chinese names
// intact, and a name that looks like a formula kept as text.
func TestPortfolioKPICSV(t *testing.T) {
	e := newEnv(t)
	portfolioPeople(e)
	in := pfFrom.Add(48 * time.Hour)
	pfAccount(t, e, "pf-1", "上海华东精密机械有限公司", mgr1, in, 0.82, "engage", "deepen")
	pfAccount(t, e, "pf-2", "=HYPERLINK(\"http://evil.example\")", mgr2, in, 0.5)
	pfAccount(t, e, "pf-3", "北京云图科技", mgr3, in, 0.3, "engage")
	q := url.Values{"from": {pfFrom.Format(time.RFC3339)}, "to": {pfTo.Format(time.RFC3339)}}.Encode()

	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/kpis.csv?"+q, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.tokens[sup])
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="kamflow-kpis-20260301T0000-to-20260401T0000.csv"`, resp.Header.Get("Content-Disposition"))
	require.True(t, bytes.HasPrefix(raw, []byte("\xEF\xBB\xBF")), "starts with the UTF-8 byte order mark")
	require.NotContains(t, strings.ReplaceAll(string(raw), "\r\n", ""), "\n", "every line ends in CRLF")

	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF")))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"section", "key", "label", "measure", "value", "unit"}, rows[0])
	find := func(section, key, measure string) []string {
		for _, r := range rows {
			if r[0] == section && r[1] == key && r[3] == measure {
				return r
			}
		}
		return nil
	}
	// The supervisor's scope: pf-1 (mgr1) and pf-2 (mgr2), not pf-3.
	require.Equal(t, []string{"period", "from", "1 Mar 2026 to 31 Mar 2026", "start (included)", "2026-03-01T00:00:00Z", "time"},
		find("period", "from", "start (included)"))
	require.Equal(t, "2", find("acquisition", "", "identified")[4])
	require.Equal(t, "1", find("acquisition", "", "reached_deepen")[4])
	require.Equal(t, "0.5000", find("acquisition", "", "rate")[4])
	require.Equal(t, "", find("retention", "", "rate")[4], "no customers at the start: no rate, not 0")
	require.Equal(t, "2", find("funnel", "identify", "entered")[4])
	require.Equal(t, []string{"top_risk", "pf-1", "上海华东精密机械有限公司", "churn_risk", "0.820", "0-1"},
		find("top_risk", "pf-1", "churn_risk"))
	require.Equal(t, "'=HYPERLINK(\"http://evil.example\")", find("top_risk", "pf-2", "rank")[2],
		"a formula-like name is text")
	require.Contains(t, find("top_risk", "pf-1", "reasons")[4], "风险 risk of pf-1")
	require.Nil(t, find("top_risk", "pf-3", "rank"), "outside the supervisor's team")
	require.Equal(t, "张敏 Zhang Min", find("top_risk", "pf-1", "manager")[4])
	var defs []string
	for _, r := range rows {
		if r[0] == "definition" {
			defs = append(defs, r[1])
			require.NotEmpty(t, r[4])
		}
	}
	require.Len(t, defs, len(store.KPIDefinitions))
	for _, r := range rows {
		require.Len(t, r, 6)
	}

	// The JSON says the same.
	k := kpis(t, e, sup, q)
	require.Equal(t, float64(2), dig(k, "figures", "acquisition", "data", "identified"))
}

// TestPortfolioPageScopes renders the page for each role without a
// browser: the navigation has the entry, the page says whose accounts it
// counts, and a manager's page holds no other manager's account.
func TestPortfolioPageScopes(t *testing.T) {
	e := newEnv(t)
	portfolioPeople(e)
	in := time.Now().UTC().Add(-72 * time.Hour)
	pfAccount(t, e, "pf-1", "上海华东精密机械有限公司", mgr1, in, 0.82, "engage", "deepen")
	pfAccount(t, e, "pf-3", "Nordic Freight AB", mgr3, in, 0.7, "engage")
	for _, c := range []struct {
		who, scope  string
		has, hasNot []string
	}{
		{senior, "All accounts", []string{"上海华东精密机械有限公司", "Nordic Freight AB"}, nil},
		{sup, "Your team&#39;s accounts (you and 2 people)", []string{"上海华东精密机械有限公司"}, []string{"Nordic Freight AB"}},
		{mgr3, "Your accounts", []string{"Nordic Freight AB"}, []string{"上海华东精密机械有限公司"}},
	} {
		c2 := e.browserless()
		signIn(t, e, c2, e.tokens[c.who])
		resp, err := c2.Get(e.srv.URL + "/portfolio?period=30d")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		page := string(b)
		require.Contains(t, page, `<a href="/portfolio" aria-current="page">Portfolio</a>`, c.who)
		require.Contains(t, page, c.scope, c.who)
		for _, s := range c.has {
			require.Contains(t, page, s, c.who)
		}
		for _, s := range c.hasNot {
			require.NotContains(t, page, s, c.who)
		}
	}

	c := e.browserless()
	signIn(t, e, c, e.tokens[ops])
	resp, err := c.Get(e.srv.URL + "/portfolio?period=7d")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(b), "want 30d, 90d or 365d", "a bad period is a page, not JSON")

	resp, err = e.browserless().Get(e.srv.URL + "/portfolio")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "anonymous: to the sign-in page")
	require.Equal(t, "/signin?next=%2Fportfolio", resp.Header.Get("Location"))
}
