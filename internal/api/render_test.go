package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/store"
)

// samplePages renders every page with made-up data, Chinese and English
// names mixed, so a template error fails here in milliseconds rather than
// in the browser test.
func samplePages(now time.Time) map[string]*page {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	me := &principal{Manager: store.Manager{ID: "zhang.min", Name: "张敏 Zhang Min", Role: "supervisor"}, Team: []string{"anna"},
		Session: &store.Session{CSRF: "csrf-token"}}
	done := now.Add(-2 * time.Hour)
	tasks := []Task{
		{ID: "acme:visit:3", AccountID: "acme", AccountName: "上海华东精密机械有限公司", Kind: "visit", Title: "Visit: introduction visit", AssigneeID: "zhang.min", AssigneeName: "张敏 Zhang Min", DueAt: now.Add(-26 * time.Hour), State: "open", Overdue: true, EscalationLevel: 1, CanComplete: true},
		{ID: "nordic:ack:9", AccountID: "nordic", AccountName: "Nordic Freight AB", Kind: "ack", Title: "Acknowledge level-1 escalation on Nordic Freight AB: visit overdue", AssigneeID: "zhang.min", DueAt: now.Add(3 * time.Hour), State: "open", Soon: true, CanComplete: true},
		{ID: "bj:recovery_plan:4", AccountID: "bj", AccountName: "北京云图科技", Kind: "recovery_plan", Title: "Recovery plan for 北京云图科技: health 38 below 45", AssigneeID: "anna", AssigneeName: "Anna Berg", DueAt: now.Add(5 * 24 * time.Hour), State: "open", CanComplete: true},
	}
	doneTask := Task{ID: "acme:visit:1", AccountID: "acme", AccountName: "上海华东精密机械有限公司", Kind: "visit", Title: "Visit: first contact", AssigneeID: "zhang.min", State: "done", DueAt: now, CompletedAt: &done, CompletedBy: "zhang.min", Outcome: "Visited, follow-up agreed", Notes: "采购经理很感兴趣 — wants a quote by Friday."}
	score := &store.Score{At: now.Add(-time.Hour), Value: "high", Potential: "high", Loyalty: "medium", ABC: "A", Segment: "high_value", Strategy: "key", Tier: "core", Health: 72, ChurnRisk: 0.18, CLV: 12_400_000,
		Reasons: store.Reasons{{Field: "value", Text: "12 orders worth 1.2M in the last 365d: high"}, {Field: "loyalty", Text: "NPS 9 in the last survey; no complaints: medium"}},
		Signals: store.Strings{"survey_unanswered"}}
	nps := 9
	timeline := []TimelineEntry{
		describe(store.TimelineItem{At: now.Add(-time.Hour), Type: "task_done", Ref: "acme:visit:1", Kind: "visit", Title: "Visit: first contact", Actor: "zhang.min", Extra: "Visited", Detail: "采购经理很感兴趣"}, map[string]string{"zhang.min": "张敏 Zhang Min"}),
		describe(store.TimelineItem{At: now.Add(-2 * time.Hour), Type: "event", Ref: "1", Kind: "survey_response", NPS: &nps, Detail: "Great service", Extra: "applied"}, nil),
		describe(store.TimelineItem{At: now.Add(-3 * time.Hour), Type: "event", Ref: "2", Kind: "order", Num1: 1_250_000, Extra: "applied"}, nil),
		describe(store.TimelineItem{At: now.Add(-4 * time.Hour), Type: "stage", Ref: "acme:stage:2", Kind: "engage", Title: "identify", Detail: "qualified: value high, potential high"}, nil),
		describe(store.TimelineItem{At: now.Add(-5 * time.Hour), Type: "score", Ref: "acme:score:1", Kind: "core", Title: "high/high/medium", Detail: "high_value", Num1: 72, Num2: 0.18}, nil),
		describe(store.TimelineItem{At: now.Add(-6 * time.Hour), Type: "escalation", Ref: "acme:esc:5", Level: 1, Actor: "li.wei", Title: "visit overdue"}, nil),
		describe(store.TimelineItem{At: now.Add(-7 * time.Hour), Type: "survey", Ref: "acme:survey:4", Kind: "csat", Detail: "li@acme.cn", Extra: "waiting"}, nil),
		describe(store.TimelineItem{At: now.Add(-8 * time.Hour), Type: "visit", Ref: "acme:visit:3", Kind: "scheduled", Title: "introduction visit", Actor: "zhang.min"}, nil),
	}
	acct := Account{Account: store.Account{ID: "acme", Name: "上海华东精密机械有限公司", ManagerID: "zhang.min", Industry: "Manufacturing", Region: "华东 East China", Revenue: 80_000_000, GrowthRate: 0.2, MarketShare: 0.1,
		ContactName: "李娜", ContactEmail: "li@acme.cn", Stage: "deepen", Tier: "core", Health: 72, ChurnRisk: 0.18, StageSince: now.Add(-48 * time.Hour), CreatedAt: now.Add(-30 * 24 * time.Hour)}, ManagerName: "张敏 Zhang Min"}
	nav := []navItem{{Href: "/inbox", Label: "Inbox", Active: true, Count: 2}, {Href: "/accounts", Label: "Accounts"}, {Href: "/escalations", Label: "Escalations"}}
	console := func(title string, data any) *page {
		return &page{Title: title, Me: me, Nav: nav, CSRF: "csrf-token", Data: data, loc: shanghai, now: now, Path: "/inbox"}
	}
	list := AccountList{Accounts: []Account{acct, {Account: store.Account{ID: "nordic", Name: "Nordic Freight AB", Stage: "maintain", Tier: "vip", Health: 88, ChurnRisk: 0.05}, ManagerName: "Anna Berg"}},
		Total: 2, ByStage: map[string]int{"deepen": 1, "maintain": 1}, ByTier: map[string]int{"core": 1, "vip": 1},
		Matrix: map[string]map[string]int{"deepen": {"core": 1}, "maintain": {"vip": 1}}, Limit: 100,
		Managers: []store.TeamMember{{ID: "zhang.min", Name: "张敏 Zhang Min"}, {ID: "anna", Name: "Anna Berg"}}}
	return map[string]*page{
		"signin":      {Title: "Sign in", CSRF: "x", Data: signInData{Error: "That token matches no one.", Next: "/inbox"}, loc: shanghai, now: now},
		"survey":      {Title: "A quick question", Data: surveyView{Token: "tok", Kind: "nps", AccountName: "上海华东精密机械有限公司", ContactName: "李娜", DueAt: now.Add(14 * 24 * time.Hour), Score: -1}, loc: shanghai, now: now},
		"survey_done": {Title: "Thank you", Data: surveyDoneView{Icon: "ok", Heading: "Thank you!", Text: "Your answer has reached your account team."}, loc: shanghai, now: now},
		"inbox":       console("Inbox", inboxView{Inbox: Inbox{State: "open", Counts: store.InboxCounts{Open: 3, Overdue: 1, DueSoon: 1}, Tasks: tasks}, Team: true, Overdue: tasks[:1], Later: tasks[1:]}),
		"account":     console(acct.Name, accountView{AccountDetail: AccountDetail{Account: acct, Score: score, OpenTasks: tasks[:1], Timeline: timeline, Next: "abc"}, Path: []stageStep{{Stage: "identify", State: "past"}, {Stage: "engage", State: "past"}, {Stage: "deepen", State: "now"}, {Stage: "maintain", State: "next"}}}),
		"accounts":    console("Accounts", accountsView{AccountList: list, Stages: []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "lost"}, Tiers: []string{"prospect", "ordinary", "core", "vip"}, Query: func(kv ...string) string { return "/accounts?x=1" }}),
		"escalations": console("Escalations", struct {
			Escalations []store.EscalationItem
			Tasks       map[string]Task
		}{[]store.EscalationItem{{ID: "nordic:esc:8", AccountID: "nordic", AccountName: "Nordic Freight AB", Level: 1, Reason: "Visit overdue since Mon 09:00", RecipientID: "zhang.min", RecipientName: "张敏 Zhang Min", TaskID: "nordic:ack:9", TaskState: "open", CreatedAt: now.Add(-time.Hour)}}, map[string]Task{"nordic:ack:9": tasks[1]}}),
		"outbox": console("Outbox", struct {
			Items []store.OutboxItem
			Q     string
		}{[]store.OutboxItem{{ID: "acme:survey:4:mail", Recipient: "li@acme.cn", Subject: "A quick question from your account team", Body: "Dear 李娜,\n\nAnswer here: http://127.0.0.1:8080/s/abc_DEF-123.\n<script>alert(1)</script>", CreatedAt: now}}, ""}),
		"error": console("Not yours", errorView{Status: 403, Heading: "Not yours to see", Detail: "account x is managed by y"}),
		"done":  console("Inbox", inboxView{Inbox: Inbox{State: "done", Tasks: []Task{doneTask}}}),
	}
}

func TestPagesRender(t *testing.T) {
	s := &server{Deps: Deps{Logger: slog.New(slog.DiscardHandler), Now: time.Now}, pages: mustParsePages()}
	now := time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC)
	dir := os.Getenv("KAM_RENDER_DIR") // set it to look at the pages in a browser
	for name, p := range samplePages(now) {
		t.Run(name, func(t *testing.T) {
			tmpl := name
			if name == "done" {
				tmpl = "inbox"
			}
			w := httptest.NewRecorder()
			s.render(w, httptest.NewRequest(http.MethodGet, "/x", nil), http.StatusOK, tmpl, p)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			body := w.Body.String()
			require.Contains(t, body, "</html>")
			require.NotContains(t, body, "<script>alert", "text must be escaped")
			if p.Me != nil {
				require.Contains(t, body, "张敏 Zhang Min")
			}
			if dir != "" {
				html := strings.ReplaceAll(body, `"/static/`, `"`+staticDir(t)+`/`)
				require.NoError(t, os.WriteFile(filepath.Join(dir, name+".html"), []byte(html), 0o644))
			}
		})
	}
}

func staticDir(t *testing.T) string {
	d, err := filepath.Abs("static")
	require.NoError(t, err)
	return "file://" + d
}

func TestLinkify(t *testing.T) {
	got := string(linkify("Go to https://x.test/s/ab_C-1. Or <b>not</b> & done"))
	require.Equal(t, `Go to <a href="https://x.test/s/ab_C-1" rel="noreferrer">https://x.test/s/ab_C-1</a>. Or &lt;b&gt;not&lt;/b&gt; &amp; done`, got)
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/inbox": "/inbox", "//evil.test": "/", "/\\evil.test": "/", "https://evil.test": "/",
		"/accounts?stage=engage": "/accounts?stage=engage", "/signin": "/", "/x\r\nSet-Cookie: a": "/",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	gotAt, id, err := decodeCursor(encodeCursor(at, "acme:visit:3"))
	require.NoError(t, err)
	require.True(t, at.Equal(gotAt))
	require.Equal(t, "acme:visit:3", id)
	for _, bad := range []string{"!!!", "bm9waXBl", "MTIz"} {
		_, _, err := decodeCursor(bad)
		require.Error(t, err, bad)
	}
	c, err := decodeTimelineCursor(encodeTimelineCursor(store.TimelineItem{At: at, Type: "task_done", Ref: "a:b|c"}))
	require.NoError(t, err)
	require.Equal(t, "task_done", c.Type)
	require.Equal(t, "a:b|c", c.Ref)
}

// A panicking handler answers a JSON 500 and the server goes on.
func TestRecovererAnswersJSON(t *testing.T) {
	h := recoverer(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("a bug in a handler")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/me", nil))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.JSONEq(t, `{"error":"internal","detail":"the server failed to answer; the error is in its log"}`, w.Body.String())
}
