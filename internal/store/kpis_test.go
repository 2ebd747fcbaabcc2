package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
)

// The KPI fixture: a quarter, [kF, kT), and a record whose rows sit on the
// quarter's edges. Every expected figure below is counted by hand from the
// lists in kpiFixture; each edge is tested both ways, so an off-by-one in
// a period boundary (>= vs >, < vs <=) changes a number:
//   - exactly at from (kF) counts,
//   - just before from (kF - 1µs) does not,
//   - just before to (kT - 1µs) counts,
//   - exactly at to (kT) does not.
//
// PostgreSQL keeps microseconds, so 1µs is the smallest step it can tell.
var (
	kF = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kT = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
)

const us = time.Microsecond

func day(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

// kpiFixture writes the record. Managers: m1 and m2 report to sup; most
// accounts are m1's, a06 and a09 are m2's.
func kpiFixture(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	for _, m := range []Manager{
		{ID: "sen", Name: "陈静 Chen Jing", Role: "senior"},
		{ID: "sup", Name: "李伟 Li Wei", Role: "supervisor", SupervisorID: "sen"},
		{ID: "m1", Name: "张敏 Zhang Min", Role: "manager", SupervisorID: "sup"},
		{ID: "m2", Name: "Anna Berg", Role: "manager", SupervisorID: "sup"},
	} {
		require.NoError(t, s.UpsertManager(ctx, m))
	}

	// Stage histories: each step is (to stage, at); the first is the
	// onboarding ('' -> identify).
	type step struct {
		to string
		at time.Time
	}
	lives := []struct {
		id, manager string
		steps       []step
	}{
		{"a01", "m1", []step{{"identify", kF}, {"engage", kF.Add(day(10))}, {"deepen", kT.Add(-us)}}},
		{"a02", "m1", []step{{"identify", kF.Add(-us)}, {"engage", kF.Add(day(1))}, {"deepen", kT}}},
		{"a03", "m1", []step{{"identify", kF.Add(-day(100))}, {"engage", kF.Add(-day(90))}, {"deepen", kF.Add(-day(50))},
			{"maintain", kF.Add(day(5))}, {"churn_recovery", kF.Add(day(20))}, {"maintain", kF.Add(day(40))},
			{"churn_recovery", kT.Add(day(5))}}},
		{"a04", "m1", []step{{"identify", kF.Add(-day(300))}, {"engage", kF.Add(-day(290))}, {"deepen", kF.Add(-day(250))},
			{"maintain", kF.Add(-day(200))}, {"churn_recovery", kF.Add(-day(10))}, {"lost", kT.Add(-us)}}},
		{"a05", "m1", []step{{"identify", kF.Add(-day(300))}, {"engage", kF.Add(-day(290))}, {"deepen", kF.Add(-day(250))},
			{"maintain", kF.Add(-day(99))}, {"churn_recovery", kF.Add(day(1))}, {"lost", kT}}},
		{"a06", "m2", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(300))}, {"churn_recovery", kT.Add(day(1))}}},
		{"a07", "m1", []step{{"identify", kF.Add(-day(100))}, {"engage", kF.Add(-day(80))}, {"deepen", kF.Add(-day(30))},
			{"maintain", kF}}},
		{"a08", "m1", []step{{"identify", kF.Add(day(2))}, {"disqualified", kF.Add(day(30))}}},
		{"a09", "m2", []step{{"identify", kF.Add(day(3))}, {"engage", kF.Add(day(4))}}},
		{"a10", "m1", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(60))}, {"closed", kF.Add(day(50))}}},
		{"a11", "m1", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(300))}, {"churn_recovery", kF.Add(-day(20))}, {"maintain", kF}}},
		{"a12", "m1", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(300))}, {"churn_recovery", kF.Add(-day(100))}, {"lost", kF.Add(-us)}}},
		{"a13", "m1", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(300))}}},
		{"a14", "m1", []step{{"identify", kF.Add(day(10))}, {"engage", kF.Add(day(11))}, {"deepen", kT}}},
		{"a15", "m1", []step{{"identify", kT}}},
		{"a16", "m1", []step{{"identify", kF.Add(-day(400))}, {"engage", kF.Add(-day(390))}, {"deepen", kF.Add(-day(350))},
			{"maintain", kF.Add(-day(300))}, {"churn_recovery", kF.Add(-day(5))}}},
	}
	for _, l := range lives {
		_, err := s.UpsertAccount(ctx, Account{ID: "kpi-" + l.id, Name: "客户 " + l.id, ManagerID: l.manager, CreatedAt: l.steps[0].at})
		require.NoError(t, err)
		from := ""
		for i, st := range l.steps {
			_, err := s.RecordTransition(ctx, Transition{Key: fmt.Sprintf("kpi-%s:stage:%d", l.id, i+1),
				AccountID: "kpi-" + l.id, From: from, To: st.to, At: st.at})
			require.NoError(t, err)
			from = st.to
		}
	}

	// Scores: (account, at, tier, churn risk). The latest makes the
	// account's current tier and risk.
	for i, sc := range []struct {
		id   string
		at   time.Time
		tier string
		risk float64
	}{
		{"a01", kF.Add(day(1)), "prospect", 0.5},
		{"a01", kF.Add(day(20)), "ordinary", 0.2},
		{"a03", kF.Add(-day(10)), "ordinary", 0.1},
		{"a03", kF.Add(day(10)), "core", 0.2},
		{"a03", kT.Add(-us), "vip", 0.3}, // exactly 0.3: medium
		{"a04", kF.Add(-us), "core", 0.5},
		{"a04", kF, "ordinary", 0.7},
		{"a04", kT, "vip", 0.99}, // at to: not in the period (a04 is lost anyway)
		{"a05", kF.Add(-day(30)), "core", 0.4},
		{"a05", kF.Add(day(50)), "core", 0.45},
		{"a06", kF.Add(-day(5)), "vip", 0.2},
		{"a06", kF.Add(day(5)), "core", 0.6}, // exactly 0.6: high
		{"a07", kF.Add(-day(100)), "ordinary", 0.599},
		{"a10", kT, "core", 0.1},
		{"a11", kF.Add(-day(50)), "core", 0.95},
		{"a13", kF.Add(-day(200)), "vip", 0.1},
	} {
		reasons := Reasons{{Field: "value", Text: "12 orders"}, {Field: "health", Text: "health text " + sc.id},
			{Field: "churn_risk", Text: "risk text " + sc.id}}
		require.NoError(t, s.InsertScore(ctx, Score{Key: fmt.Sprintf("kpi-%s:score:%d", sc.id, i), AccountID: "kpi-" + sc.id,
			At: sc.at, Tier: sc.tier, ChurnRisk: sc.risk, Health: 100 * (1 - sc.risk), Reasons: reasons,
			Signals: Strings{"risk_high"}}))
	}

	// Surveys: (id, account, kind, sent, answered or zero, nps, csat).
	for _, sv := range []struct {
		id, account, kind string
		sent, answered    time.Time
		nps, csat         int
	}{
		{"s01", "a01", "nps", kF.Add(-day(1)), kF, 10, 0},            // answered at from: counts; sent before
		{"s02", "a03", "nps", kF.Add(day(80)), kT.Add(-us), 6, 0},    // answered just before to: counts
		{"s03", "a04", "nps", kF.Add(day(85)), kT, 0, 0},             // answered at to: not in; pending at the end
		{"s04", "a05", "nps", kF.Add(-day(10)), kF.Add(-us), 9, 0},   // answered just before from: not in
		{"s05", "a07", "csat", kF.Add(day(1)), kF.Add(day(8)), 0, 4}, //
		{"s06", "a06", "csat", kF.Add(day(2)), kF.Add(day(9)), 0, 2}, // m2
		{"s07", "a13", "nps", kF.Add(day(20)), kF.Add(day(30)), 9, 0},
		{"s08", "a08", "csat", kF, time.Time{}, 0, 0},               // sent at from, never answered
		{"s09", "a10", "nps", kT.Add(-us), time.Time{}, 0, 0},       // sent just before to, still open
		{"s10", "a11", "nps", kT, time.Time{}, 0, 0},                // sent at to: not in
		{"s11", "a12", "nps", kF.Add(-us), time.Time{}, 0, 0},       // sent just before from: not in
		{"s12", "a07", "csat", kT.Add(-day(14)), time.Time{}, 0, 0}, // due at to: expired, not pending
	} {
		_, err := s.CreateSurvey(ctx, Survey{ID: "kpi-" + sv.id, AccountID: "kpi-" + sv.account, Kind: sv.kind,
			TokenHash: []byte("token-" + sv.id), SentAt: sv.sent, DueAt: sv.sent.Add(day(14))})
		require.NoError(t, err)
		if sv.answered.IsZero() {
			continue
		}
		r := Response{}
		if sv.kind == "nps" {
			r.NPS = &sv.nps
		} else {
			r.CSAT = &sv.csat
		}
		_, err = s.AnswerSurvey(ctx, []byte("token-"+sv.id), r, sv.answered)
		require.NoError(t, err)
	}
	ip := func(n int) *int { return &n }
	_, err := s.InsertEvents(ctx, []Event{
		{AccountID: "kpi-a10", ExternalID: "ext-1", Kind: "survey_response", At: kF.Add(day(15)), NPS: ip(8), Status: EventApplied},
		// The survey answer s01 as the workflow records it: counted once, from the survey.
		{AccountID: "kpi-a01", ExternalID: "survey:kpi-s01", Kind: "survey_response", At: kF, NPS: ip(10), Status: EventApplied},
		{AccountID: "kpi-a11", ExternalID: "phone-7", Kind: "survey_response", At: kF.Add(day(20)), CSAT: ip(5), Status: EventApplied},
		{AccountID: "kpi-a11", ExternalID: "phone-8", Kind: "survey_response", At: kF.Add(day(21)), NPS: ip(0), Status: EventRejected, Reason: "test"},
		{AccountID: "kpi-a11", ExternalID: "phone-9", Kind: "survey_response", At: kT, NPS: ip(0), Status: EventApplied},
		{AccountID: "kpi-a11", ExternalID: "order-1", Kind: "order", At: kF.Add(day(2)), Amount: 100, Status: EventApplied},
	})
	require.NoError(t, err)

	// Tasks: (id, account, kind, assignee, created, due, closed at, done or
	// cancelled; zero closed means still open).
	for _, tk := range []struct {
		id, account, kind, assignee string
		created, due, closed        time.Time
		state                       string
	}{
		{"t01", "a01", "visit", "m1", kF.Add(day(1)), kF.Add(day(3)), time.Time{}, TaskOpen},         // open, overdue
		{"t02", "a01", "visit", "m1", kF.Add(day(5)), kT, time.Time{}, TaskOpen},                     // open, due at to: not overdue
		{"t03", "a03", "visit", "m1", kF.Add(day(10)), kT.Add(-us), time.Time{}, TaskOpen},           // open, overdue
		{"t04", "a03", "visit", "m1", kF.Add(-day(5)), kF, kT, TaskDone},                             // done at to: open at the end, overdue
		{"t05", "a03", "visit", "m1", kF.Add(-day(5)), kF.Add(day(10)), kT.Add(-us), TaskDone},       // done before to, late
		{"t06", "a07", "visit", "m1", kT, kT.Add(day(2)), time.Time{}, TaskOpen},                     // created at to: not counted
		{"t07", "a06", "visit", "m2", kF.Add(day(1)), kF.Add(day(2)), kT.Add(day(1)), TaskCancelled}, // cancelled after to: open at the end
		{"t08", "a07", "ack", "sup", kF.Add(day(2)), kF.Add(day(60)), time.Time{}, TaskOpen},         // the supervisor's, on m1's account
		{"t09", "a01", "follow_up", "m1", kF.Add(day(1)), kF.Add(day(5)), kF.Add(day(5)), TaskDone},  // done exactly at due: within SLA
		{"t10", "a03", "visit", "m1", kF.Add(-day(10)), kF.Add(-day(1)), kF, TaskDone},               // done at from, late
		{"t11", "a03", "visit", "m1", kF.Add(-day(10)), kF.Add(day(1)), kF.Add(-us), TaskDone},       // done just before from
		{"t12", "a07", "recovery_plan", "m1", kF.Add(day(1)), kF.Add(day(20)), kF.Add(day(10)), TaskDone},
		{"t13", "a10", "visit", "m1", kF.Add(day(1)), kF.Add(day(3)), kF.Add(day(5)), TaskCancelled},
		{"t14", "a06", "visit", "m2", kF.Add(day(1)), kF.Add(day(10)), kF.Add(day(9)), TaskDone},
	} {
		id := "kpi-" + tk.account + ":" + tk.kind + ":" + tk.id
		_, err := s.CreateTask(ctx, Task{ID: id, AccountID: "kpi-" + tk.account, Kind: tk.kind, AssigneeID: tk.assignee,
			Title: tk.id, DueAt: tk.due, CreatedAt: tk.created})
		require.NoError(t, err)
		switch tk.state {
		case TaskDone:
			_, err = s.CompleteTask(ctx, id, tk.assignee, "done", "", tk.closed)
		case TaskCancelled:
			err = s.CancelTasks(ctx, []string{id}, tk.closed)
		}
		require.NoError(t, err)
	}

	// Escalations: (id, account, level, created, acknowledged or zero).
	for _, e := range []struct {
		id, account string
		level       int
		created     time.Time
		acked       time.Time
	}{
		{"e1", "a01", 1, kF, kF.Add(day(1))},
		{"e2", "a03", 2, kT.Add(-us), time.Time{}},
		{"e3", "a03", 1, kT, time.Time{}},
		{"e4", "a04", 1, kF.Add(-us), kF},
		{"e5", "a06", 1, kF.Add(day(3)), kT}, // acknowledged at to: not before the end
		{"e6", "a07", 1, kF.Add(day(4)), kT.Add(-us)},
	} {
		_, err := s.CreateEscalation(ctx, Escalation{ID: "kpi-" + e.id, AccountID: "kpi-" + e.account, Level: e.level,
			Reason: "late", RecipientID: "sup", CreatedAt: e.created})
		require.NoError(t, err)
		if !e.acked.IsZero() {
			_, err := s.db.ExecContext(ctx, `UPDATE escalations SET acknowledged_at = $2 WHERE id = $1`, "kpi-"+e.id, e.acked)
			require.NoError(t, err)
		}
	}
}

func f64(v float64) *float64 { return &v }

// TestKPIDefinitions checks every figure against the hand-counted fixture,
// for every account and for each manager's accounts.
func TestKPIDefinitions(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	kpiFixture(t, s)
	ctx := t.Context()

	all, err := s.KPIs(ctx, KPIQuery{From: kF, To: kT})
	require.NoError(t, err)
	m1, err := s.KPIs(ctx, KPIQuery{From: kF, To: kT, Managers: []string{"m1"}})
	require.NoError(t, err)
	m2, err := s.KPIs(ctx, KPIQuery{From: kF, To: kT, Managers: []string{"m2"}})
	require.NoError(t, err)
	none, err := s.KPIs(ctx, KPIQuery{From: kF, To: kT, Managers: []string{}})
	require.NoError(t, err)

	t.Run("funnel", func(t *testing.T) {
		entered := func(r KPIReport) map[string]int {
			m := map[string]int{}
			for _, f := range r.Funnel {
				m[f.Stage] = f.Entered
			}
			return m
		}
		// identify: a01 (at from), a08, a09, a14; not a02 (just before
		// from). deepen: a01 (just before to); not a02 or a14 (at to). lost:
		// a04 (just before to); not a05 (at to), nor a12 (just before from).
		require.Equal(t, map[string]int{"identify": 4, "engage": 4, "deepen": 1, "maintain": 3, "churn_recovery": 2,
			"lost": 1, "disqualified": 1, "closed": 1}, entered(all))
		require.Equal(t, map[string]int{"identify": 3, "engage": 3, "deepen": 1, "maintain": 3, "churn_recovery": 2,
			"lost": 1, "disqualified": 1, "closed": 1}, entered(m1))
		require.Equal(t, map[string]int{"identify": 1, "engage": 1, "deepen": 0, "maintain": 0, "churn_recovery": 0,
			"lost": 0, "disqualified": 0, "closed": 0}, entered(m2))

		f := all.Funnel
		require.Equal(t, []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "lost", "disqualified", "closed"},
			stages(f))
		// identify -> engage: a01, a09 and a14 of a01, a08, a09, a14. engage
		// -> deepen: a01 only (a02 and a14 deepened at to). deepen ->
		// maintain: not a01.
		require.Equal(t, "engage", f[0].Next)
		require.Equal(t, 3, f[0].Converted)
		require.InDelta(t, 3.0/4, *f[0].Conversion, 1e-9)
		require.Equal(t, 1, f[1].Converted)
		require.InDelta(t, 1.0/4, *f[1].Conversion, 1e-9)
		require.Equal(t, 0, f[2].Converted)
		require.InDelta(t, 0, *f[2].Conversion, 1e-9)
		require.Empty(t, f[3].Next, "maintain has no next stage in the funnel")
		require.Nil(t, f[3].Conversion)
		require.Nil(t, m2.Funnel[2].Conversion, "nothing entered deepen: no conversion, not 0%")

		// Stays ended in the period. identify: a09 1d, a14 1d, a02 1d+1µs
		// (started just before from), a01 10d, a08 28d; engage: a01 80d-1µs
		// (a02's and a14's ended at to); deepen: a07 30d (ended at from), a03 55d; maintain:
		// a03 15d, a05 100d, a10 110d (a03's second stay ends after to);
		// churn recovery: a11 20d (ended at from), a03 20d, a04 100d-1µs.
		type stay struct {
			n      int
			median float64
		}
		want := map[string]stay{"identify": {5, 1}, "engage": {1, 80}, "deepen": {2, 42.5}, "maintain": {3, 100},
			"churn_recovery": {3, 20}}
		for _, st := range f {
			w, ok := want[st.Stage]
			if !ok {
				require.Zero(t, st.StaysEnded, st.Stage)
				require.Nil(t, st.MedianDays, st.Stage)
				continue
			}
			require.Equal(t, w.n, st.StaysEnded, st.Stage)
			require.NotNil(t, st.MedianDays, st.Stage)
			require.InDelta(t, w.median, *st.MedianDays, 1e-6, st.Stage)
		}
	})

	t.Run("acquisition", func(t *testing.T) {
		// Onboarded in the period: a01 (at from), a08, a09 (m2), a14; a02
		// was onboarded just before from. Reached deepen before to: a01 (just
		// before to); a14 reached it at to.
		require.Equal(t, Acquisition{Identified: 4, Deepened: 1, Rate: f64(1.0 / 4)}, all.Acquisition)
		require.Equal(t, Acquisition{Identified: 3, Deepened: 1, Rate: f64(1.0 / 3)}, m1.Acquisition)
		require.Equal(t, Acquisition{Identified: 1, Deepened: 0, Rate: f64(0)}, m2.Acquisition)
	})

	t.Run("retention", func(t *testing.T) {
		// Customers at from: a03 (deepen), a04 (churn recovery), a05, a06,
		// a10, a13 (maintain), a07 (deepen: its move to maintain at from is
		// in the period), a11 and a16 (churn recovery). Not a12 (lost just
		// before from). At to: a04 lost just before it; a10 closed; a05's
		// loss at to and a03's and a06's later changes do not count.
		require.Equal(t, Retention{ActiveAtStart: 9, Retained: 7, Lost: 1, Closed: 1, Rate: f64(7.0 / 9)}, all.Retention)
		require.Equal(t, Retention{ActiveAtStart: 8, Retained: 6, Lost: 1, Closed: 1, Rate: f64(0.75)}, m1.Retention)
		require.Equal(t, Retention{ActiveAtStart: 1, Retained: 1, Rate: f64(1)}, m2.Retention)
	})

	t.Run("win back", func(t *testing.T) {
		// Recovery stays ended in the period: a11 recovered at from, a03
		// recovered, a04 lost just before to; a05 lost at to is next period's.
		require.Equal(t, WinBack{Recovered: 2, Lost: 1, Rate: f64(2.0 / 3)}, all.WinBack)
		require.Equal(t, WinBack{}, m2.WinBack)
	})

	t.Run("satisfaction", func(t *testing.T) {
		// NPS: s01 10 (at from), s02 6 (just before to), s07 9, event ext-1
		// 8; not s03 (at to), s04 (just before from), the event repeating
		// s01, the rejected event or the event at to.
		sat := all.Satisfaction
		require.Equal(t, 4, sat.NPSResponses)
		require.Equal(t, []int{2, 1, 1}, []int{sat.Promoters, sat.Passives, sat.Detractors})
		require.InDelta(t, 25, *sat.NPS, 1e-9)
		// CSAT: s05 4, s06 2 (m2), phone-7 5.
		require.Equal(t, 3, sat.CSATResponses)
		require.InDelta(t, 11.0/3, *sat.CSAT, 1e-9)
		weeks := map[string][2]int{}
		for _, w := range sat.Weeks {
			weeks[w.Week.Format(time.DateOnly)] = [2]int{w.NPSResponses, w.CSATResponses}
		}
		// Weeks start on Monday: from (a Thursday) is in the week of 29 Dec.
		require.Equal(t, map[string][2]int{
			"2025-12-29": {1, 0}, // s01
			"2026-01-05": {0, 2}, // s05 (9 Jan) and s06 (10 Jan)
			"2026-01-12": {1, 0}, // ext-1 (16 Jan)
			"2026-01-19": {0, 1}, // phone-7 (21 Jan)
			"2026-01-26": {1, 0}, // s07 (31 Jan)
			"2026-03-30": {1, 0}, // s02 (31 Mar, just before to)
		}, weeks)

		require.Equal(t, 2, m1.Satisfaction.CSATResponses)
		require.InDelta(t, 4.5, *m1.Satisfaction.CSAT, 1e-9)
		require.Equal(t, 1, m2.Satisfaction.CSATResponses)
		require.Zero(t, m2.Satisfaction.NPSResponses)
		require.Nil(t, m2.Satisfaction.NPS, "no answers: no score")
	})

	t.Run("survey response rate", func(t *testing.T) {
		// Sent in the period: s02, s03, s05, s06, s07, s08 (at from), s09
		// (just before to), s12; not s10 (at to), s11 (just before from),
		// s01, s04. Answered before to: s02, s05, s06, s07. Still open at
		// to: s03 (answered at to) and s09; s12 is due at to, so expired.
		require.Equal(t, SurveyResponse{Sent: 8, Answered: 4, Pending: 2, Rate: f64(4.0 / 6)}, all.SurveyResponse)
		require.Equal(t, SurveyResponse{Sent: 7, Answered: 3, Pending: 2, Rate: f64(3.0 / 5)}, m1.SurveyResponse)
		require.Equal(t, SurveyResponse{Sent: 1, Answered: 1, Rate: f64(1)}, m2.SurveyResponse)
	})

	t.Run("tier moves", func(t *testing.T) {
		// a01 new -> ordinary; a03 ordinary -> vip (its vip just before to);
		// a04 core (just before from) -> ordinary (at from; vip at to does
		// not count); a05 core -> core; a06 vip -> core. a07, a10, a11, a13
		// have no score in the period.
		require.Equal(t, TierMoves{Cells: []TierMove{
			{"", "ordinary", 1}, {"ordinary", "vip", 1}, {"core", "ordinary", 1}, {"core", "core", 1}, {"vip", "core", 1},
		}, Promoted: 1, Demoted: 2, Unchanged: 1, New: 1}, all.TierMoves)
		require.Equal(t, TierMoves{Cells: []TierMove{{"vip", "core", 1}}, Demoted: 1}, m2.TierMoves)
	})

	t.Run("risk", func(t *testing.T) {
		// Live now: a01, a02, a03, a06, a07, a09, a11, a13, a14, a15, a16
		// (a03 and a06 in churn recovery after to). Bands: below 0.3 low,
		// below 0.6 medium; never scored is prospect at 0.
		require.ElementsMatch(t, []RiskCell{
			{"low", "ordinary", 1}, {"low", "prospect", 5}, {"low", "vip", 1},
			{"medium", "vip", 1}, {"medium", "ordinary", 1}, {"high", "core", 2},
		}, all.RiskBands)
		require.ElementsMatch(t, []RiskCell{{"low", "prospect", 1}, {"high", "core", 1}}, m2.RiskBands)

		var ids []string
		for _, a := range all.TopRisk {
			ids = append(ids, strings.TrimPrefix(a.ID, "kpi-"))
		}
		// Ten of the eleven: the last of the unscored (by id) is left out.
		require.Equal(t, []string{"a11", "a06", "a07", "a03", "a01", "a13", "a02", "a09", "a14", "a15"}, ids)
		top := all.TopRisk[0]
		require.Equal(t, "high", top.Band)
		require.Equal(t, "m1", top.ManagerID)
		require.Equal(t, "张敏 Zhang Min", top.ManagerName)
		require.Equal(t, Reasons{{Field: "health", Text: "health text a11"}, {Field: "churn_risk", Text: "risk text a11"}}, top.Reasons)
		require.Equal(t, Strings{"risk_high"}, top.Signals)
		require.Equal(t, "medium", all.TopRisk[3].Band, "0.3 is medium")
		require.Empty(t, all.TopRisk[6].Reasons, "never scored: no reasons")
	})

	t.Run("work", func(t *testing.T) {
		// Open at to: m1 t01, t02, t03, t04 (done at to); overdue t01, t03,
		// t04 (t02 is due at to). sup: t08. m2: t07 (cancelled after to).
		require.Equal(t, []ManagerTasks{
			{"m1", "张敏 Zhang Min", 4, 3}, {"m2", "Anna Berg", 1, 1}, {"sup", "李伟 Li Wei", 1, 1},
		}, all.TasksByManager)
		require.Equal(t, []ManagerTasks{{"m1", "张敏 Zhang Min", 4, 3}, {"sup", "李伟 Li Wei", 1, 1}}, m1.TasksByManager,
			"the supervisor's task on an m1 account is in m1's scope")
		require.Equal(t, []ManagerTasks{{"m2", "Anna Berg", 1, 1}}, m2.TasksByManager)

		// Escalations raised: e1 (at from), e5, e6 at level 1, e2 (just
		// before to) at level 2; not e3 (at to) or e4 (just before from).
		// Acknowledged before to: e1, e6 (just before to); not e5 (at to).
		require.Equal(t, []EscalationLevel{{1, 3, 2}, {2, 1, 0}}, all.Escalations)
		require.Equal(t, []EscalationLevel{{1, 1, 0}}, m2.Escalations)

		// Done in the period: t05 (late, just before to), t09 (at its due
		// time: within), t10 (at from, late), t12, t14 (m2). Not t11 (just
		// before from), t04 (at to) or the cancelled t13.
		require.Equal(t, SLA{Completed: 5, Within: 3, Rate: f64(0.6), ByKind: []SLAKind{
			{"follow_up", 1, 1, f64(1)}, {"recovery_plan", 1, 1, f64(1)}, {"visit", 3, 1, f64(1.0 / 3)},
		}}, all.SLA)
		require.Equal(t, 4, m1.SLA.Completed)
		require.InDelta(t, 0.5, *m1.SLA.Rate, 1e-9)
	})

	t.Run("empty scope", func(t *testing.T) {
		require.Zero(t, none.Acquisition.Identified)
		require.Nil(t, none.Retention.Rate)
		require.Empty(t, none.TopRisk)
		require.Empty(t, none.TasksByManager)
		require.NotNil(t, none.TopRisk, "empty lists encode as []")
	})
}

// TestKPIBoundaries slides the period by a microsecond at each end and
// checks the figures move the way the half-open rule says.
func TestKPIBoundaries(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	kpiFixture(t, s)
	ctx := t.Context()
	entered := func(r KPIReport, stage string) int {
		for _, f := range r.Funnel {
			if f.Stage == stage {
				return f.Entered
			}
		}
		return -1
	}
	for _, tc := range []struct {
		name       string
		from, to   time.Time
		identify   int // a01 at from, a02 just before it, a15 at to (a08, a09, a14 inside)
		deepen     int // a01 just before to, a02 and a14 at to
		lost       int // a04 just before to, a05 at to, a12 just before from
		escalated  int // e1 at from, e2 just before to, e3 at to, e4 just before from
		npsAnswers int // s01 at from, s02 just before to, s03 at to, s04 just before from
	}{
		{"the quarter", kF, kT, 4, 1, 1, 4, 4},
		{"from a microsecond later", kF.Add(us), kT, 3, 1, 1, 3, 3},
		{"from a microsecond earlier", kF.Add(-us), kT, 5, 1, 2, 5, 5},
		{"to a microsecond later", kF, kT.Add(us), 5, 3, 2, 5, 6}, // and the event phone-9 at to
		{"to a microsecond earlier", kF, kT.Add(-us), 4, 0, 0, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.KPIs(ctx, KPIQuery{From: tc.from, To: tc.to})
			require.NoError(t, err)
			require.Equal(t, tc.identify, entered(r, "identify"), "identify")
			require.Equal(t, tc.deepen, entered(r, "deepen"), "deepen")
			require.Equal(t, tc.lost, entered(r, "lost"), "lost")
			raised := 0
			for _, e := range r.Escalations {
				raised += e.Raised
			}
			require.Equal(t, tc.escalated, raised, "escalations")
			require.Equal(t, tc.npsAnswers, r.Satisfaction.NPSResponses, "nps answers")
		})
	}

	_, err := s.KPIs(ctx, KPIQuery{From: kT, To: kT})
	require.Error(t, err, "an empty period is refused")
}

func stages(f []FunnelStage) []string {
	var out []string
	for _, s := range f {
		out = append(out, s.Stage)
	}
	return out
}

// TestSeedKPIBench loads a small synthetic record and checks the report
// over it is plausible: the seeder is what make bench measures with.
func TestSeedKPIBench(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, s.SeedKPIBench(ctx, 600, 3000, now))
	r, err := s.KPIs(ctx, KPIQuery{From: now.AddDate(0, 0, -365), To: now})
	require.NoError(t, err)
	require.Positive(t, r.Acquisition.Identified)
	require.Positive(t, r.Retention.ActiveAtStart)
	require.Positive(t, r.Satisfaction.NPSResponses+r.Satisfaction.CSATResponses)
	require.Positive(t, r.SurveyResponse.Sent)
	require.NotEmpty(t, r.TierMoves.Cells)
	require.Len(t, r.TopRisk, 10)
	require.NotEmpty(t, r.TasksByManager)
	require.NotEmpty(t, r.Escalations)
	require.Positive(t, r.SLA.Completed)
	requirePrevious(t, s)
	requireEntryFacts(t, s)
	// Every answer is recorded as an event too, linked as InsertEvents
	// links it.
	var linked, wrong int
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT count(survey_id), count(*) FILTER (WHERE survey_id IS DISTINCT FROM
    (SELECT s.id FROM surveys s WHERE s.account_id = e.account_id AND e.external_id IN (s.id, 'survey:' || s.id)))
FROM account_events e WHERE kind = 'survey_response'`).Scan(&linked, &wrong))
	require.Zero(t, wrong)
	var answered int
	require.NoError(t, s.db.GetContext(ctx, &answered, `SELECT count(*) FROM survey_responses`))
	require.Equal(t, answered, linked)

	// A report on every account reads whole days from the rollups; one on
	// every manager's accounts (the same accounts) reads the rows: both
	// must give the same figures, whatever the period's edges.
	requireKPIDays(t, s)
	var managers []string
	require.NoError(t, s.db.SelectContext(ctx, &managers, `SELECT DISTINCT manager_id FROM accounts`))
	for _, p := range [][2]time.Time{
		{now.AddDate(0, 0, -365), now},
		{now.AddDate(0, 0, -200).Add(-5*time.Hour + us), now.Add(-3 * time.Hour)},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 2, 3, 1, 0, 0, 0, time.UTC), time.Date(2026, 2, 3, 23, 0, 0, 0, time.UTC)}, // no whole day
	} {
		all, err := s.KPIs(ctx, KPIQuery{From: p[0], To: p[1]})
		require.NoError(t, err)
		each, err := s.KPIs(ctx, KPIQuery{From: p[0], To: p[1], Managers: managers})
		require.NoError(t, err)
		require.Equal(t, each.SLA, all.SLA, "%v", p)
		require.Equal(t, each.Satisfaction, all.Satisfaction, "%v", p)
		require.Positive(t, all.SLA.Completed+all.Satisfaction.NPSResponses, "%v: something to compare", p)
	}
	require.Error(t, s.SeedKPIBench(ctx, 0, 0, now))
}

// migratedTo opens a fresh database migrated up to version v, and returns
// the migration provider to take it further.
func migratedTo(t *testing.T, v int64) (*Store, *goose.Provider) {
	t.Helper()
	s, err := Open(t.Context(), pgtest.Database(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	fsys, err := fs.Sub(migrations, "migrations")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, fsys, goose.WithLogger(goose.NopLogger()))
	require.NoError(t, err)
	_, err = p.UpTo(t.Context(), v)
	require.NoError(t, err)
	return s, p
}

// TestPreviousBackfill migrates a record kept before 0005_kpi_previous.sql
// and checks the backfill gives every transition and score what lag()
// gives (what RecordTransition and InsertScore fill in since): rows
// recorded out of order, and rows at the same time, ordered by key.
func TestPreviousBackfill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := migratedTo(t, 4)
	_, err := s.db.ExecContext(ctx, `
INSERT INTO accounts (id, name) VALUES ('b1', 'B1'), ('b2', 'B2');
INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, at) VALUES
    ('b1:stage:1', 'b1', '', 'identify', '2026-01-01 00:00+00'),
    ('b1:stage:3', 'b1', 'engage', 'deepen', '2026-01-03 00:00+00'),
    ('b1:stage:2', 'b1', 'identify', 'engage', '2026-01-02 00:00+00'),
    ('b1:stage:4', 'b1', 'deepen', 'maintain', '2026-01-03 00:00+00'),
    ('b2:stage:1', 'b2', '', 'identify', '2026-01-01 00:00+00');
INSERT INTO scores (key, account_id, at, tier) VALUES
    ('b1:score:2', 'b1', '2026-01-02 00:00+00', 'core'),
    ('b1:score:1', 'b1', '2026-01-01 00:00+00', 'ordinary'),
    ('b1:score:3', 'b1', '2026-01-02 00:00+00', 'vip'),
    ('b2:score:1', 'b2', '2026-01-01 00:00+00', 'prospect')`)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 5)
	require.NoError(t, err)
	requirePrevious(t, s)
	var n int
	require.NoError(t, s.db.GetContext(ctx, &n, `SELECT (SELECT count(entered_at) FROM stage_transitions)
    + (SELECT count(*) FROM scores WHERE prev_at > '-infinity')`))
	require.Equal(t, 5, n, "b1's later transitions and scores have a previous row")
}

// requireEntryFacts checks every transition's prev_entry_at, next_up_at
// and deepen_at against their definitions (migrations/0006_kpi_entries.sql)
// computed over the whole table by window functions.
func requireEntryFacts(t *testing.T, s *Store) {
	t.Helper()
	var bad []string
	require.NoError(t, s.db.SelectContext(t.Context(), &bad, `
SELECT key FROM (
    SELECT key, prev_entry_at, next_up_at, deepen_at,
        lag(at) OVER (PARTITION BY account_id, to_stage ORDER BY at, key) AS want_prev,
        CASE to_stage
            WHEN 'identify' THEN min(at) FILTER (WHERE to_stage = 'engage') OVER later
            WHEN 'engage' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later
            WHEN 'deepen' THEN min(at) FILTER (WHERE to_stage = 'maintain') OVER later
        END AS want_up,
        CASE WHEN from_stage = '' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later END AS want_deepen
    FROM stage_transitions
    WINDOW later AS (PARTITION BY account_id ORDER BY at DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) x
WHERE (prev_entry_at, next_up_at, deepen_at) IS DISTINCT FROM (want_prev, want_up, want_deepen)`))
	require.Empty(t, bad, "transitions whose entry facts are wrong")
}

// entryHistory is a stage history with what makes the entry facts hard:
// re-entries into a stage, moves at the same time (ordered by key), and an
// onboarding straight into deepen. Keys are in time order.
var entryHistory = []struct {
	account, key, from, to string
	at                     time.Duration
}{
	{"e1", "e1:stage:01", "", "identify", 0},
	{"e1", "e1:stage:02", "identify", "engage", time.Hour},
	{"e1", "e1:stage:03", "engage", "identify", 2 * time.Hour},
	{"e1", "e1:stage:04", "identify", "engage", 3 * time.Hour},
	{"e1", "e1:stage:05", "engage", "deepen", 3 * time.Hour},
	{"e1", "e1:stage:06", "deepen", "maintain", 3 * time.Hour},
	{"e1", "e1:stage:07", "maintain", "churn_recovery", 4 * time.Hour},
	{"e1", "e1:stage:08", "churn_recovery", "maintain", 5 * time.Hour},
	{"e1", "e1:stage:09", "maintain", "churn_recovery", 6 * time.Hour},
	{"e2", "e2:stage:01", "", "identify", time.Hour},
	{"e2", "e2:stage:02", "identify", "disqualified", 2 * time.Hour},
	{"e3", "e3:stage:01", "", "deepen", 0},
	{"e3", "e3:stage:02", "deepen", "maintain", time.Hour},
	{"e3", "e3:stage:03", "maintain", "closed", time.Hour},
}

// TestEntryFactsBackfill migrates a record kept before
// 0006_kpi_entries.sql, rows inserted out of order, and checks the
// backfill gives every transition what RecordTransition fills in since.
func TestEntryFactsBackfill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := migratedTo(t, 5)
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts (id, name) VALUES ('e1', 'E1'), ('e2', 'E2'), ('e3', 'E3')`)
	require.NoError(t, err)
	for _, i := range []int{5, 0, 13, 8, 2, 11, 6, 1, 9, 3, 12, 7, 10, 4} {
		h := entryHistory[i]
		_, err := s.db.ExecContext(ctx, `INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, at)
VALUES ($1, $2, $3, $4, $5)`, h.key, h.account, h.from, h.to, t0.Add(h.at))
		require.NoError(t, err)
	}
	_, err = p.UpTo(ctx, 6)
	require.NoError(t, err)
	requireEntryFacts(t, s)
	var n int
	require.NoError(t, s.db.GetContext(ctx, &n, `SELECT count(prev_entry_at) + count(next_up_at) + count(deepen_at)
FROM stage_transitions`))
	require.Equal(t, 12, n, "e1's re-entries (4), the moves up that were followed (6), e1's and e3's deepening onboardings (2)")
}

// TestEntryFactsWriter records the same history through RecordTransition
// in orders a retrying workflow might produce (in order; reversed; late
// rows between others, each sent twice) and checks every order ends with
// the facts the backfill gives, and the same report.
func TestEntryFactsWriter(t *testing.T) {
	t.Parallel()
	n := len(entryHistory)
	inOrder := make([]int, n)
	for i := range inOrder {
		inOrder[i] = i
	}
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name  string
		order []int
	}{
		{"in order", inOrder},
		{"reversed", reversed},
		{"late and twice", []int{0, 0, 3, 9, 13, 6, 1, 1, 11, 5, 8, 2, 10, 7, 12, 4, 3, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			ctx := t.Context()
			for _, id := range []string{"e1", "e2", "e3"} {
				_, err := s.UpsertAccount(ctx, Account{ID: id, Name: id, CreatedAt: t0})
				require.NoError(t, err)
			}
			for _, i := range tc.order {
				h := entryHistory[i]
				_, err := s.RecordTransition(ctx, Transition{Key: h.key, AccountID: h.account, From: h.from, To: h.to,
					At: t0.Add(h.at)})
				require.NoError(t, err)
			}
			requireEntryFacts(t, s)
			requirePrevious(t, s)

			// The period holds e1's moves from its first engagement on,
			// e2's whole history and e3's after its onboarding into deepen.
			r, err := s.KPIs(ctx, KPIQuery{From: t0.Add(time.Hour), To: t0.Add(6 * time.Hour)})
			require.NoError(t, err)
			entered, converted := map[string]int{}, map[string]int{}
			for _, f := range r.Funnel {
				entered[f.Stage], converted[f.Stage] = f.Entered, f.Converted
			}
			require.Equal(t, map[string]int{"identify": 2, "engage": 1, "deepen": 1, "maintain": 2, "churn_recovery": 1,
				"lost": 0, "disqualified": 1, "closed": 1}, entered, "e1 once per stage however often it entered")
			// e1 identified again at 2h and engaged at 3h; its first
			// engagement in the period (1h) led to deepen at 3h, and deepen
			// to maintain at the same time. e2 never engaged.
			require.Equal(t, map[string]int{"identify": 1, "engage": 1, "deepen": 1, "maintain": 0, "churn_recovery": 0,
				"lost": 0, "disqualified": 0, "closed": 0}, converted)
			require.Equal(t, Acquisition{Identified: 1, Deepened: 0, Rate: f64(0)}, r.Acquisition, "e2 onboarded, never deepened")
		})
	}
}

// BenchmarkKPIs measures the whole report on 100,000 accounts and a
// million events (KAM_KPI_ACCOUNTS and KAM_KPI_EVENTS change the size):
//
//	scripts/with-dev-stack.sh go test -run '^$' -bench KPIs -benchtime 20x ./internal/store/
func BenchmarkKPIs(b *testing.B) {
	ctx := context.Background()
	s := newTestStore(b)
	accounts, events := envInt("KAM_KPI_ACCOUNTS", 100_000), envInt("KAM_KPI_EVENTS", 1_000_000)
	now := time.Now().UTC()
	start := time.Now()
	if err := s.SeedKPIBench(ctx, accounts, events, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d accounts and %d events in %s", accounts, events, time.Since(start).Round(time.Second))
	for _, days := range []int{30, 90, 365} {
		for _, scope := range []string{"all", "team"} {
			q := KPIQuery{From: now.AddDate(0, 0, -days), To: now}
			if scope == "team" {
				for i := 1; i <= 10; i++ {
					q.Managers = append(q.Managers, "bench-m-"+strconv.Itoa(i))
				}
			}
			b.Run(fmt.Sprintf("%dd_%s", days, scope), func(b *testing.B) {
				var took []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := s.KPIs(ctx, q); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50_ms")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99_ms")
			})
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// requireKPIDays checks the day rollups (migrations/0008_kpi_days.sql)
// hold what their definitions give over the rows, leaving out days that
// went back to zero.
func requireKPIDays(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	for _, q := range []struct{ name, rollup, rows string }{
		{"sla", `SELECT day || ' ' || kind || ' ' || completed || ' ' || within FROM kpi_sla_days
WHERE completed <> 0 OR within <> 0 ORDER BY day, kind`,
			`SELECT (completed_at AT TIME ZONE 'UTC')::date || ' ' || kind || ' ' || count(*) || ' '
    || count(*) FILTER (WHERE completed_at <= due_at)
FROM tasks WHERE state = 'done' GROUP BY (completed_at AT TIME ZONE 'UTC')::date, kind ORDER BY 1`},
		{"answers", `SELECT concat_ws(' ', day, nps_responses, promoters, passives, detractors, csat_responses, csat_sum)
FROM kpi_answer_days WHERE nps_responses <> 0 OR csat_responses <> 0 ORDER BY day`,
			`SELECT concat_ws(' ', (answered_at AT TIME ZONE 'UTC')::date, count(nps), count(*) FILTER (WHERE nps >= 9),
    count(*) FILTER (WHERE nps BETWEEN 7 AND 8), count(*) FILTER (WHERE nps <= 6), count(csat), COALESCE(sum(csat), 0))
FROM survey_responses GROUP BY (answered_at AT TIME ZONE 'UTC')::date ORDER BY (answered_at AT TIME ZONE 'UTC')::date`},
	} {
		var rollup, rows []string
		require.NoError(t, s.db.SelectContext(ctx, &rollup, q.rollup), q.name)
		require.NoError(t, s.db.SelectContext(ctx, &rows, q.rows), q.name)
		require.Equal(t, rows, rollup, q.name)
	}
}

// TestKPIDaysWriters changes counted rows every way the record allows
// (late, moved to another day, kind or due time, cancelled, deleted) and
// checks the day rollups follow each step.
func TestKPIDaysWriters(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	seed(t, s)
	ctx := t.Context()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := s.db.ExecContext(ctx, q, args...)
		require.NoError(t, err)
	}
	day := 24 * time.Hour
	for i, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(-3 * day)} {
		_, err := s.CreateTask(ctx, Task{ID: fmt.Sprintf("acme-1:visit:%d", i), AccountID: "acme-1", Kind: "visit",
			AssigneeID: "m1", Title: "Visit", DueAt: t0.Add(2 * time.Hour), CreatedAt: at.Add(-day)})
		require.NoError(t, err)
		_, err = s.CompleteTask(ctx, fmt.Sprintf("acme-1:visit:%d", i), "m1", "visited", "", at)
		require.NoError(t, err)
	}
	requireKPIDays(t, s)
	exec(`UPDATE tasks SET completed_at = completed_at + interval '1 day' WHERE id = 'acme-1:visit:0'`) // late
	exec(`UPDATE tasks SET kind = 'follow_up' WHERE id = 'acme-1:visit:1'`)
	exec(`UPDATE tasks SET due_at = due_at - interval '1 day' WHERE id = 'acme-1:visit:2'`)
	requireKPIDays(t, s)
	exec(`UPDATE tasks SET state = 'cancelled' WHERE id = 'acme-1:visit:1'`)
	exec(`UPDATE tasks SET notes = 'called back' WHERE id = 'acme-1:visit:2'`) // not counted: no change
	exec(`DELETE FROM tasks WHERE id = 'acme-1:visit:0'`)
	requireKPIDays(t, s)

	for i, nps := range []int{9, 4} {
		sv, err := s.CreateSurvey(ctx, Survey{ID: fmt.Sprintf("acme-1:survey:%d", i), AccountID: "acme-1", Kind: "nps",
			TokenHash: fmt.Appendf(nil, "t%d", i), SentAt: t0.Add(-2 * day), DueAt: t0.Add(day)})
		require.NoError(t, err)
		_, err = s.AnswerSurvey(ctx, sv.TokenHash, Response{NPS: ptr(nps)}, t0.Add(time.Duration(i)*time.Hour))
		require.NoError(t, err)
	}
	requireKPIDays(t, s)
	exec(`UPDATE survey_responses SET nps = 7, answered_at = answered_at - interval '2 days' WHERE survey_id = 'acme-1:survey:0'`)
	requireKPIDays(t, s)
	exec(`DELETE FROM survey_responses WHERE survey_id = 'acme-1:survey:1'`)
	requireKPIDays(t, s)
	var days []string
	require.NoError(t, s.db.SelectContext(ctx, &days, `SELECT day || ' ' || nps_responses || ' ' || passives FROM kpi_answer_days ORDER BY day`))
	require.Equal(t, []string{"2026-02-28 1 1", "2026-03-02 0 0"}, days, "the moved answer, and a day back at zero")
}

// TestKPIDaysBackfill migrates a record kept before 0008_kpi_days.sql and
// checks the rollups it starts hold what the rows give.
func TestKPIDaysBackfill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := migratedTo(t, 7)
	_, err := s.db.ExecContext(ctx, `
INSERT INTO accounts (id, name) VALUES ('b1', 'B1');
INSERT INTO tasks (id, account_id, kind, assignee_id, due_at, state, created_at, completed_at) VALUES
    ('b1:visit:1', 'b1', 'visit', 'm', '2026-03-02 12:00Z', 'done', '2026-03-01Z', '2026-03-02 11:00Z'),
    ('b1:visit:2', 'b1', 'visit', 'm', '2026-03-02 12:00Z', 'done', '2026-03-01Z', '2026-03-02 23:59:59Z'),
    ('b1:follow_up:3', 'b1', 'follow_up', 'm', '2026-03-02Z', 'done', '2026-03-01Z', '2026-03-03Z'),
    ('b1:visit:4', 'b1', 'visit', 'm', '2026-03-02Z', 'cancelled', '2026-03-01Z', '2026-03-03Z'),
    ('b1:visit:5', 'b1', 'visit', 'm', '2026-03-02Z', 'open', '2026-03-01Z', NULL);
INSERT INTO surveys (id, account_id, kind, token_hash, sent_at, due_at, answered_at) VALUES
    ('b1:survey:1', 'b1', 'nps', 'x', '2026-03-01Z', '2026-03-09Z', '2026-03-02 10:00Z');
INSERT INTO survey_responses (survey_id, nps, answered_at) VALUES ('b1:survey:1', 6, '2026-03-02 10:00Z');
INSERT INTO account_events (account_id, external_id, kind, at, nps, csat, survey_id) VALUES
    ('b1', 'survey:b1:survey:1', 'survey_response', '2026-03-02 10:00Z', 6, NULL, 'b1:survey:1'),
    ('b1', 'p1', 'survey_response', '2026-03-02 23:00Z', 9, NULL, NULL),
    ('b1', 'p2', 'survey_response', '2026-03-04Z', NULL, 5, NULL),
    ('b1', 'o1', 'order', '2026-03-04Z', NULL, NULL, NULL)`)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 8)
	require.NoError(t, err)
	requireKPIDays(t, s)
	var sla []string
	require.NoError(t, s.db.SelectContext(ctx, &sla, `SELECT day || ' ' || kind || ' ' || completed || ' ' || within FROM kpi_sla_days ORDER BY 1`))
	require.Equal(t, []string{"2026-03-02 visit 2 1", "2026-03-03 follow_up 1 0"}, sla)
}
