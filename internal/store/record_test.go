package store

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/scoring"
)

func ptr[T any](v T) *T { return &v }

func TestInsertEventsDedups(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	order := func(id string, amount float64) Event {
		return Event{AccountID: "acme-1", ExternalID: id, Kind: "order", At: t0, Amount: amount}
	}
	for _, tc := range []struct {
		name  string
		batch []Event
		want  int
	}{
		{"empty batch", nil, 0},
		{"new", []Event{order("o1", 10), order("o2", 20)}, 2},
		{"within one batch", []Event{order("o3", 30), order("o3", 31), order("o4", 40)}, 2},
		{"across batches", []Event{order("o1", 99), order("o5", 50)}, 1},
		{"all seen", []Event{order("o1", 10), order("o5", 50)}, 0},
		{"rejected and survey", []Event{
			{AccountID: "acme-1", ExternalID: "c1", Kind: "complaint", At: t0, Severity: 9, Status: EventRejected, Reason: "severity must be 1-5"},
			{AccountID: "acme-1", ExternalID: "s1", Kind: "survey_response", At: t0, NPS: ptr(0), Note: "meh"},
		}, 2},
	} {
		n, err := s.InsertEvents(ctx, tc.batch)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, n, tc.name)
	}
	es, err := s.Events(ctx, "acme-1", 0)
	require.NoError(t, err)
	require.Len(t, es, 7)
	byID := map[string]Event{}
	for _, e := range es {
		byID[e.ExternalID] = e
	}
	require.Equal(t, 10.0, byID["o1"].Amount, "the first copy counts")
	require.Equal(t, 30.0, byID["o3"].Amount, "the first copy in a batch counts")
	require.Equal(t, EventApplied, byID["o1"].Status)
	require.Equal(t, EventRejected, byID["c1"].Status)
	require.Equal(t, "severity must be 1-5", byID["c1"].Reason)
	require.Equal(t, ptr(0), byID["s1"].NPS, "NPS 0 is an answer, not NULL")
	require.Nil(t, byID["s1"].CSAT)
	require.True(t, byID["o1"].At.Equal(t0))

	_, err = s.InsertEvents(ctx, []Event{{AccountID: "ghost", ExternalID: "x", Kind: "order", At: t0}})
	require.Error(t, err, "events of an unknown account are refused")
}

func TestRecordTransition(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	tr := Transition{Key: "acme-1:stage:1", AccountID: "acme-1", From: "identify", To: "engage", Reason: "qualified", At: t0}
	created, err := s.RecordTransition(ctx, tr)
	require.NoError(t, err)
	require.True(t, created)
	retry := tr
	retry.To, retry.At = "deepen", t0.Add(time.Hour) // a retry never rewrites history
	created, err = s.RecordTransition(ctx, retry)
	require.NoError(t, err)
	require.False(t, created)

	ts, err := s.Transitions(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, []Transition{tr}, ts)
	a, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "engage", a.Stage)
	require.True(t, a.StageSince.Equal(t0))

	// A later transition moves on; an older one recorded late does not win.
	_, err = s.RecordTransition(ctx, Transition{Key: "acme-1:stage:3", AccountID: "acme-1", From: "deepen", To: "lost",
		Reason: "competitor", Outcome: "lost: competitor", At: t0.Add(2 * time.Hour)})
	require.NoError(t, err)
	_, err = s.RecordTransition(ctx, Transition{Key: "acme-1:stage:2", AccountID: "acme-1", From: "engage", To: "deepen", At: t0.Add(time.Hour)})
	require.NoError(t, err)
	a, err = s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "lost", a.Stage)
	require.Equal(t, "lost: competitor", a.Outcome)
	require.Equal(t, "competitor", a.ClosedReason)
	ts, err = s.Transitions(ctx, "acme-1")
	require.NoError(t, err)
	require.Len(t, ts, 3)

	// Each row knows when the stay it ends began, the late one included,
	// and it also began the stay of the row after it; retrying the late
	// one changes nothing.
	_, err = s.RecordTransition(ctx, Transition{Key: "acme-1:stage:2", AccountID: "acme-1", From: "engage", To: "deepen", At: t0.Add(time.Hour)})
	require.NoError(t, err)
	var entered []sql.NullTime
	require.NoError(t, s.db.SelectContext(ctx, &entered, `SELECT entered_at FROM stage_transitions WHERE account_id = 'acme-1' ORDER BY at, key`))
	require.Len(t, entered, 3)
	require.False(t, entered[0].Valid, "the first transition ends no stay")
	require.Equal(t, []time.Time{t0, t0.Add(time.Hour)}, []time.Time{entered[1].Time.UTC(), entered[2].Time.UTC()})

	// Transitions at the same time are ordered by key, whatever the order
	// they were recorded in: the account is in the stage of the last.
	for _, tr := range []Transition{
		{Key: "acme-1:stage:5", AccountID: "acme-1", From: "closed", To: "identify", At: t0.Add(3 * time.Hour)},
		{Key: "acme-1:stage:4", AccountID: "acme-1", From: "lost", To: "closed", At: t0.Add(3 * time.Hour)},
	} {
		_, err = s.RecordTransition(ctx, tr)
		require.NoError(t, err)
	}
	a, err = s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "identify", a.Stage)
	requirePrevious(t, s)
}

// requirePrevious checks every transition's entered_at and every score's
// prev_at and prev_tier against the row before it for its account in (at,
// key) order, as lag() computes them.
func requirePrevious(t *testing.T, s *Store) {
	t.Helper()
	var bad []string
	require.NoError(t, s.db.SelectContext(t.Context(), &bad, `
SELECT key FROM (SELECT key, entered_at, lag(at) OVER (PARTITION BY account_id ORDER BY at, key) AS want
                 FROM stage_transitions) x
WHERE entered_at IS DISTINCT FROM want
UNION ALL
SELECT key FROM (SELECT key, prev_at, prev_tier, lag(at) OVER w AS want_at, lag(tier) OVER w AS want_tier
                 FROM scores WINDOW w AS (PARTITION BY account_id ORDER BY at, key)) x
WHERE (prev_at, prev_tier) IS DISTINCT FROM (COALESCE(want_at, '-infinity'), COALESCE(want_tier, ''))`))
	require.Empty(t, bad, "rows whose previous row's time or tier is wrong")
}

func TestInsertScore(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	res := scoring.Result{Value: "high", Potential: "medium", Loyalty: "low", ABC: "A", Segment: "high_value",
		Strategy: "key", Tier: "core", Health: 71.5, ChurnRisk: 0.25, CLV: 120000.55, Lifecycle: "growth",
		Reasons: []scoring.Reason{{Field: "value", Text: "12 orders"}}, Signals: []string{"risk_high"}}
	sc := ScoreRow("acme-1:score:1", "acme-1", t0, res)
	for range 2 {
		require.NoError(t, s.InsertScore(ctx, sc))
	}
	got, err := s.LatestScore(ctx, "acme-1")
	require.NoError(t, err)
	got.At = got.At.UTC()
	sc.At = sc.At.UTC()
	require.Equal(t, sc, got)
	var n int
	require.NoError(t, s.db.GetContext(ctx, &n, `SELECT count(*) FROM scores`))
	require.Equal(t, 1, n)

	a, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, []any{"core", 71.5, 0.25, "high", "medium", "low"},
		[]any{a.Tier, a.Health, a.ChurnRisk, a.Value, a.Potential, a.Loyalty})

	// An older score recorded late is kept but does not become current.
	old := ScoreRow("acme-1:score:0", "acme-1", t0.Add(-time.Hour), scoring.Result{Tier: "prospect", Health: 10})
	require.NoError(t, s.InsertScore(ctx, old))
	a, err = s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "core", a.Tier)
	latest, err := s.LatestScore(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "acme-1:score:1", latest.Key)

	// The late score is the previous one of the score after it, retried
	// or not. Scores at the same time are ordered by key: the account takes
	// the tier of the last, whatever the order they were recorded in.
	require.NoError(t, s.InsertScore(ctx, old))
	require.NoError(t, s.InsertScore(ctx, ScoreRow("acme-1:score:2", "acme-1", t0, scoring.Result{Tier: "vip", Health: 90})))
	require.NoError(t, s.InsertScore(ctx, ScoreRow("acme-1:score:15", "acme-1", t0, scoring.Result{Tier: "ordinary", Health: 40})))
	type prev struct {
		Key   string     `db:"key"`
		First bool       `db:"first"`
		At    *time.Time `db:"prev_at"`
		Tier  string     `db:"prev_tier"`
	}
	var prevs []prev
	require.NoError(t, s.db.SelectContext(ctx, &prevs, `SELECT key, prev_at = '-infinity' AS first,
    NULLIF(prev_at, '-infinity') AS prev_at, prev_tier FROM scores WHERE account_id = 'acme-1' ORDER BY at, key`))
	for i := range prevs {
		if prevs[i].At != nil {
			prevs[i].At = ptr(prevs[i].At.UTC())
		}
	}
	require.Equal(t, []prev{
		{Key: "acme-1:score:0", First: true},
		{Key: "acme-1:score:1", At: ptr(t0.Add(-time.Hour)), Tier: "prospect"},
		{Key: "acme-1:score:15", At: ptr(t0), Tier: "core"},
		{Key: "acme-1:score:2", At: ptr(t0), Tier: "ordinary"},
	}, prevs)
	a, err = s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "vip", a.Tier)
	latest, err = s.LatestScore(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "acme-1:score:2", latest.Key)
	requirePrevious(t, s)
}

func TestFacts(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	_, err := s.UpsertAccount(ctx, Account{ID: "acme-1", Name: "Acme", Revenue: 1e6, GrowthRate: 0.15, MarketShare: 0.3})
	require.NoError(t, err)
	require.NoError(t, s.InsertScore(ctx, Score{Key: "acme-1:score:1", AccountID: "acme-1", At: t0.AddDate(0, -1, 0), Tier: "core"}))

	day := 24 * time.Hour
	ev := func(id, kind string, at time.Time, mut func(*Event)) Event {
		e := Event{AccountID: "acme-1", ExternalID: id, Kind: kind, At: at}
		if mut != nil {
			mut(&e)
		}
		return e
	}
	_, err = s.InsertEvents(ctx, []Event{
		ev("o-old", "order", t0.AddDate(-3, 0, 0), func(e *Event) { e.Amount = 1 }), // outside the window
		ev("o1", "order", t0.Add(-30*day), func(e *Event) { e.Amount = 100.25 }),
		ev("o2", "order", t0.Add(-10*day), func(e *Event) { e.Amount = 200 }),
		ev("o-bad", "order", t0.Add(-5*day), func(e *Event) { e.Amount = 5; e.Status = EventRejected }), // rejected
		ev("o-future", "order", t0.Add(day), func(e *Event) { e.Amount = 7 }),                           // after now
		ev("c1", "complaint", t0.Add(-3*day), func(e *Event) { e.Severity = 4 }),
		ev("r1", "contract_renewed", t0.AddDate(-4, 0, 0), nil), // renewals count for life
		ev("r2", "contract_renewed", t0.AddDate(-1, 0, 0), nil),
		ev("m1", "renewal_missed", t0.Add(-day), nil),
		ev("sr1", "survey_response", t0.Add(-2*day), func(e *Event) { e.CSAT = ptr(4) }),
		ev("acme-1:survey:1", "survey_response", t0.Add(-2*day), func(e *Event) { e.NPS = ptr(9) }), // = the survey below
	})
	require.NoError(t, err)

	answered, err := s.CreateSurvey(ctx, Survey{ID: "acme-1:survey:1", AccountID: "acme-1", Kind: "nps", TokenHash: []byte("t1"),
		SentAt: t0.Add(-20 * day), DueAt: t0.Add(-6 * day)})
	require.NoError(t, err)
	_, err = s.AnswerSurvey(ctx, answered.TokenHash, Response{NPS: ptr(9)}, t0.Add(-8*day))
	require.NoError(t, err)
	_, err = s.CreateSurvey(ctx, Survey{ID: "acme-1:survey:2", AccountID: "acme-1", Kind: "csat", TokenHash: []byte("t2"),
		SentAt: t0.Add(-2 * day), DueAt: t0.Add(12 * day)})
	require.NoError(t, err)

	for _, tk := range []Task{
		{ID: "acme-1:follow_up:1", Kind: "follow_up", DueAt: t0.Add(-day)}, // overdue
		{ID: "acme-1:follow_up:2", Kind: "follow_up", DueAt: t0.Add(day)},  // not yet
	} {
		tk.AccountID, tk.AssigneeID = "acme-1", "m1"
		_, err := s.CreateTask(ctx, tk)
		require.NoError(t, err)
	}
	slots := func(after time.Time) []time.Time { return []time.Time{t0.Add(-15 * day)} }
	v, _, err := s.ScheduleVisit(ctx, VisitRequest{Key: "acme-1:visit:1", AccountID: "acme-1", ManagerID: "m1",
		Earliest: t0.Add(-16 * day), Slots: slots, Length: time.Hour, Due: 2 * day})
	require.NoError(t, err)
	_, err = s.CompleteTask(ctx, v.TaskID, "m1", "met the buyer", "", t0.Add(-14*day))
	require.NoError(t, err)

	f, err := s.Facts(ctx, "acme-1", t0)
	require.NoError(t, err)
	require.True(t, f.Now.Equal(t0))
	require.True(t, f.Since.Equal(t0.AddDate(-1, 0, 0)))
	require.Equal(t, 1e6, f.DeclaredRevenue)
	require.Equal(t, 0.15, f.GrowthRate)
	require.Equal(t, 0.3, f.MarketShare)
	require.Equal(t, "core", f.PrevTier)
	require.Len(t, f.Orders, 2)
	require.Equal(t, 100.25, f.Orders[0].Amount)
	require.True(t, f.Orders[0].At.Equal(t0.Add(-30*day)))
	require.Equal(t, 200.0, f.Orders[1].Amount)
	require.Equal(t, []scoring.Complaint{{At: f.Complaints[0].At, Severity: 4}}, f.Complaints)
	require.Equal(t, 2, f.Renewals)
	require.Equal(t, 1, f.MissedRenewals)
	require.Equal(t, 1, f.OverdueTasks)
	require.Equal(t, 1, f.CompletedVisits)
	require.Len(t, f.Surveys, 3)
	nps, ops, pending := f.Surveys[0], f.Surveys[2], f.Surveys[1]
	require.Equal(t, "nps", nps.Kind)
	require.True(t, nps.Answered)
	require.Equal(t, ptr(9), nps.NPS)
	require.Equal(t, "csat", pending.Kind)
	require.False(t, pending.Answered)
	require.Nil(t, pending.CSAT)
	require.True(t, ops.Answered, "an operations-fed response counts")
	require.Equal(t, ptr(4), ops.CSAT)

	// As of an earlier moment, later facts do not exist yet.
	early, err := s.Facts(ctx, "acme-1", t0.Add(-20*day))
	require.NoError(t, err)
	require.Len(t, early.Orders, 1)
	require.Len(t, early.Surveys, 1)
	require.False(t, early.Surveys[0].Answered, "answered only after that moment")
	require.Nil(t, early.Surveys[0].NPS)
}

// surveyLinks are survey_response events and the survey each records the
// answer to (migrations/0007_event_survey_id.sql), for surveys a1:survey:1
// and a2:survey:1.
var surveyLinks = []struct{ account, external, kind, survey string }{
	{"a1", "a1:survey:1", "survey_response", "a1:survey:1"},        // the survey's id
	{"a1", "survey:a1:survey:1", "survey_response", "a1:survey:1"}, // "survey:" and the id: the answer page's
	{"a1", "survey-a1:survey:1", "survey_response", ""},            // seven other characters and the id
	{"a1", "a1:survey:2", "survey_response", ""},                   // no such survey
	{"a2", "a1:survey:1", "survey_response", ""},                   // another account's survey
	{"a2", "a2:survey:1", "order", ""},                             // not an answer
}

// requireSurveyLinks checks every event of surveyLinks is recorded with
// the survey it answers, and no other.
func requireSurveyLinks(t *testing.T, s *Store) {
	t.Helper()
	var got []string
	require.NoError(t, s.db.SelectContext(t.Context(), &got, `SELECT account_id || ' ' || external_id || ' -> ' || COALESCE(survey_id, '')
FROM account_events ORDER BY account_id, external_id`))
	var want []string
	for _, l := range surveyLinks {
		want = append(want, l.account+" "+l.external+" -> "+l.survey)
	}
	slices.Sort(want)
	require.Equal(t, want, got)
}

// TestEventSurveyLink records the events of surveyLinks before their
// surveys and after them, and in a record kept before the link existed,
// and checks each ends linked to the survey it answers.
func TestEventSurveyLink(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	accounts := `INSERT INTO accounts (id, name) VALUES ('a1', 'A1'), ('a2', 'A2')`
	surveys := []Survey{
		{ID: "a1:survey:1", AccountID: "a1", Kind: "nps", TokenHash: []byte("t1"), SentAt: t0, DueAt: t0.Add(time.Hour)},
		{ID: "a2:survey:1", AccountID: "a2", Kind: "csat", TokenHash: []byte("t2"), SentAt: t0, DueAt: t0.Add(time.Hour)},
	}
	events := make([]Event, 0, len(surveyLinks))
	for i, l := range surveyLinks {
		events = append(events, Event{AccountID: l.account, ExternalID: l.external, Kind: l.kind,
			At: t0.Add(time.Duration(i) * time.Minute), NPS: ptr(9)})
	}
	for _, surveysFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("surveys first %v", surveysFirst), func(t *testing.T) {
			t.Parallel()
			s := newTestStore(t)
			_, err := s.db.ExecContext(ctx, accounts)
			require.NoError(t, err)
			createSurveys := func() {
				for _, sv := range surveys {
					for range 2 { // a retried create links nothing twice
						_, err := s.CreateSurvey(ctx, sv)
						require.NoError(t, err)
					}
				}
			}
			if surveysFirst {
				createSurveys()
			}
			_, err = s.InsertEvents(ctx, events)
			require.NoError(t, err)
			if !surveysFirst {
				createSurveys()
			}
			requireSurveyLinks(t, s)
		})
	}
	t.Run("migrated", func(t *testing.T) {
		t.Parallel()
		s, p := migratedTo(t, 6)
		_, err := s.db.ExecContext(ctx, accounts)
		require.NoError(t, err)
		for _, sv := range surveys {
			_, err := s.db.ExecContext(ctx, `INSERT INTO surveys (id, account_id, kind, token_hash, sent_at, due_at)
VALUES ($1, $2, $3, $4, $5, $6)`, sv.ID, sv.AccountID, sv.Kind, sv.TokenHash, sv.SentAt, sv.DueAt)
			require.NoError(t, err)
		}
		for _, e := range events {
			_, err := s.db.ExecContext(ctx, `INSERT INTO account_events (account_id, external_id, kind, at, nps)
VALUES ($1, $2, $3, $4, $5)`, e.AccountID, e.ExternalID, e.Kind, e.At, *e.NPS)
			require.NoError(t, err)
		}
		_, err = p.UpTo(ctx, 7)
		require.NoError(t, err)
		requireSurveyLinks(t, s)
	})
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	_, err := s.InsertEvents(ctx, []Event{
		{AccountID: "acme-1", ExternalID: "o1", Kind: "order", At: at(1), Amount: 12.5},
		{AccountID: "acme-1", ExternalID: "c1", Kind: "complaint", At: at(5), Severity: 9, Status: EventRejected, Reason: "bad severity"},
	})
	require.NoError(t, err)
	_, err = s.RecordTransition(ctx, Transition{Key: "acme-1:stage:1", AccountID: "acme-1", From: "identify", To: "engage", Reason: "qualified", At: at(2)})
	require.NoError(t, err)
	require.NoError(t, s.InsertScore(ctx, Score{Key: "acme-1:score:1", AccountID: "acme-1", At: at(3), Tier: "core", Health: 80}))
	_, err = s.CreateTask(ctx, Task{ID: "acme-1:follow_up:1", AccountID: "acme-1", Kind: "follow_up", AssigneeID: "m1", Title: "Call", DueAt: at(100), CreatedAt: at(4)})
	require.NoError(t, err)
	_, err = s.CompleteTask(ctx, "acme-1:follow_up:1", "m1", "called", "", at(6))
	require.NoError(t, err)
	_, err = s.CreateEscalation(ctx, Escalation{ID: "acme-1:esc:1", AccountID: "acme-1", Level: 1, Reason: "overdue", RecipientID: "sup", CreatedAt: at(7)})
	require.NoError(t, err)
	_, err = s.CreateSurvey(ctx, Survey{ID: "acme-1:survey:1", AccountID: "acme-1", Kind: "nps", TokenHash: []byte("tok"), SentAt: at(8), DueAt: at(1000), Recipient: "buyer@acme"})
	require.NoError(t, err)
	_, err = s.AnswerSurvey(ctx, []byte("tok"), Response{NPS: ptr(10), Comment: "great"}, at(9))
	require.NoError(t, err)
	slots := func(time.Time) []time.Time { return []time.Time{at(10)} }
	_, _, err = s.ScheduleVisit(ctx, VisitRequest{Key: "acme-1:visit:1", AccountID: "acme-1", ManagerID: "m1", Purpose: "review",
		Earliest: at(10), Slots: slots, Length: time.Hour, At: at(0)})
	require.NoError(t, err)

	all, err := s.Timeline(ctx, "acme-1", 0)
	require.NoError(t, err)
	var kinds []string
	for _, e := range all {
		kinds = append(kinds, fmt.Sprintf("%s %s", e.At.UTC().Format("04"), e.Kind))
	}
	require.Equal(t, []string{
		"10 visit", "09 survey_answer", "08 survey", "07 escalation", "06 task_done", "05 event",
		"04 task", "03 score", "02 stage", "01 event", "00 task",
	}, kinds)
	byKind := map[string]TimelineEntry{}
	for _, e := range all {
		byKind[e.Kind+e.Ref] = e
	}
	require.Equal(t, "identify -> engage", byKind["stageacme-1:stage:1"].Title)
	require.Equal(t, "amount 12.50", byKind["evento1"].Detail)
	require.Contains(t, byKind["eventc1"].Detail, "rejected: bad severity")
	require.Equal(t, "NPS 10, great", byKind["survey_answeracme-1:survey:1"].Detail)
	require.Equal(t, "by m1: called", byKind["task_doneacme-1:follow_up:1"].Detail)

	top, err := s.Timeline(ctx, "acme-1", 3)
	require.NoError(t, err)
	require.Equal(t, all[:3], top)
	none, err := s.Timeline(ctx, "nobody", 10)
	require.NoError(t, err)
	require.Empty(t, none)
}
