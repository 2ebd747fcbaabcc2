package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/store"
)

// TestPortfolioRendersEmptyAndFull renders the page for a programme with
// nothing in the period (every chart says so, every rate is "—", never
// 0%) and for one with data, without a database.
func TestPortfolioRendersEmptyAndFull(t *testing.T) {
	s := &server{Deps: Deps{Logger: slog.New(slog.DiscardHandler), Now: time.Now}, pages: mustParsePages()}
	me := &principal{Manager: store.Manager{ID: "chen.jing", Name: "陈静 Chen Jing", Role: "senior"}, Session: &store.Session{CSRF: "c"}}
	per := period{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	f := func(v float64) *float64 { return &v }
	render := func(r store.KPIReport) string {
		t.Helper()
		v := newPortfolioView(newKPIResponse(me, per, r, per.To), per)
		w := httptest.NewRecorder()
		s.render(w, httptest.NewRequest(http.MethodGet, "/portfolio", nil), http.StatusOK, "portfolio",
			&page{Title: "Portfolio", Me: me, Data: v, loc: time.UTC, now: per.To})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		return w.Body.String()
	}

	empty := render(emptyReport())
	for _, want := range []string{
		"No account changed stage in this period.", "No answers in this period.", "No account was scored in this period.",
		"No live accounts.", "No open tasks at the period's end.", "No escalations in this period.",
		"No task was completed in this period.", "no data in this period", "1 Jan 2026 to 31 Mar 2026",
		`href="/api/v1/kpis.csv?from=2026-01-01T00%3A00%3A00Z&amp;to=2026-04-01T00%3A00%3A00Z"`,
	} {
		require.Contains(t, empty, want)
	}
	require.NotContains(t, empty, `class="pf-value">0%`, "no data is not 0%")
	require.Equal(t, 7, strings.Count(empty, `<b class="pf-value">—</b>`))

	full := emptyReport()
	full.Funnel[0] = store.FunnelStage{Stage: "identify", Entered: 1200, Next: "engage", Converted: 600, Conversion: f(0.5), StaysEnded: 900, MedianDays: f(0.002)}
	full.Acquisition = store.Acquisition{Identified: 1200, Deepened: 90, Rate: f(0.075)}
	full.Retention = store.Retention{ActiveAtStart: 10, Retained: 9, Lost: 1, Rate: f(0.9)}
	full.Satisfaction = store.Satisfaction{NPSResponses: 4, Promoters: 1, Detractors: 3, NPS: f(-50), CSATResponses: 1, CSAT: f(2),
		Weeks: []store.SatisfactionWeek{
			{Week: per.From, NPSResponses: 4, Promoters: 1, Detractors: 3, NPS: f(-50)},
			{Week: per.From.AddDate(0, 0, 14), CSATResponses: 1, CSAT: f(2), CSATSum: 2},
		}}
	full.TierMoves = store.TierMoves{Cells: []store.TierMove{{From: "core", To: "vip", Accounts: 3}}, Promoted: 3}
	full.RiskBands = []store.RiskCell{{Band: "high", Tier: "vip", Accounts: 2}}
	full.TopRisk = []store.RiskAccount{{ID: "acme", Name: "<b>Acme</b> 上海", ChurnRisk: 0.91, Band: "high", Tier: "vip", Stage: "churn_recovery",
		Reasons: store.Reasons{{Field: "churn_risk", Text: "severe complaint: 0.91"}}, Signals: store.Strings{"severe_complaint"}}}
	full.TasksByManager = []store.ManagerTasks{{ManagerID: "m1", Name: "张敏 Zhang Min", Open: 4, Overdue: 1}}
	full.Escalations = []store.EscalationLevel{{Level: 2, Raised: 4, Acknowledged: 1}}
	page := render(full)
	for _, want := range []string{
		`<text class="num in" x="384" y="22" text-anchor="end">1,200</text>`, // the widest bar holds its count
		"↓ 50% went on to Engage (600)",
		"median stay 3 min", // demo periods are minutes long
		">7.5%<",            // below 10%: one decimal
		"−50",               // NPS with a real minus sign
		`<a class="acct-name" href="/accounts/acme">&lt;b&gt;Acme&lt;/b&gt; 上海</a>`,
		"Churn risk: severe complaint: 0.91",
		"4 open · 1 overdue",
		"Level 2 · to senior management",
	} {
		require.Contains(t, page, want)
	}
	require.Contains(t, page, `<td class="mv-up h4" title="Core → VIP: 3 accounts">3</td>`, "the promotion, at full strength")
	require.Equal(t, 1, strings.Count(page, `class="mv-up h4"`))
}

func emptyReport() store.KPIReport {
	r := store.KPIReport{TierMoves: store.TierMoves{Cells: []store.TierMove{}}, RiskBands: []store.RiskCell{},
		TopRisk: []store.RiskAccount{}, TasksByManager: []store.ManagerTasks{}, Escalations: []store.EscalationLevel{},
		SLA: store.SLA{ByKind: []store.SLAKind{}}}
	for _, st := range []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "lost", "disqualified", "closed"} {
		r.Funnel = append(r.Funnel, store.FunnelStage{Stage: st})
	}
	return r
}
