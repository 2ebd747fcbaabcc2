package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCreateTaskIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	in := Task{ID: "acme-1:follow_up:1", AccountID: "acme-1", Kind: "follow_up", AssigneeID: "m1", Title: "Call back", DueAt: t0, CreatedAt: t0}
	first, err := s.CreateTask(ctx, in)
	require.NoError(t, err)
	require.Equal(t, TaskOpen, first.State)
	retry := in
	retry.Title, retry.DueAt = "changed", t0.Add(time.Hour)
	second, err := s.CreateTask(ctx, retry)
	require.NoError(t, err)
	require.Equal(t, first, second, "a retry gets the stored row")
	ts, err := s.Tasks(ctx, TaskFilter{AccountID: "acme-1"})
	require.NoError(t, err)
	require.Len(t, ts, 1)

	_, err = s.CreateTask(ctx, Task{ID: "x", AccountID: "acme-1", Kind: "chores", AssigneeID: "m1", DueAt: t0})
	require.Error(t, err, "kinds are checked")
}

func TestCompleteTaskOnce(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	_, err := s.CreateTask(ctx, Task{ID: "acme-1:follow_up:1", AccountID: "acme-1", Kind: "follow_up", AssigneeID: "m1", DueAt: t0})
	require.NoError(t, err)

	done, err := s.CompleteTask(ctx, "acme-1:follow_up:1", "m1", "called", "all good", t0)
	require.NoError(t, err)
	require.Equal(t, TaskDone, done.State)
	require.Equal(t, "m1", done.CompletedBy)
	require.True(t, done.CompletedAt.Equal(t0))

	again, err := s.CompleteTask(ctx, "acme-1:follow_up:1", "m1", "other outcome", "", t0.Add(time.Hour))
	require.NoError(t, err, "repeating one's own completion is fine")
	require.Equal(t, done, again, "and changes nothing")

	_, err = s.CompleteTask(ctx, "acme-1:follow_up:1", "m2", "mine", "", t0)
	require.ErrorIs(t, err, ErrTaskClosed)

	// Racing completions by two people: exactly one wins.
	_, err = s.CreateTask(ctx, Task{ID: "acme-1:follow_up:2", AccountID: "acme-1", Kind: "follow_up", AssigneeID: "m1", DueAt: t0})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.CompleteTask(ctx, "acme-1:follow_up:2", fmt.Sprintf("actor-%d", i), "", "", t0)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, ErrTaskClosed)
		}
	}
	require.Equal(t, 1, wins)
}

func TestTasksAndEscalateTask(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	for i, tk := range []Task{
		{Kind: "follow_up", AssigneeID: "m1", DueAt: t0.Add(3 * time.Hour)},
		{Kind: "recovery_plan", AssigneeID: "m1", DueAt: t0.Add(time.Hour)},
		{Kind: "ack", AssigneeID: "sup", DueAt: t0.Add(2 * time.Hour)},
	} {
		tk.ID, tk.AccountID = fmt.Sprintf("acme-1:task:%d", i), "acme-1"
		_, err := s.CreateTask(ctx, tk)
		require.NoError(t, err)
	}
	ids := func(f TaskFilter) []string {
		ts, err := s.Tasks(ctx, f)
		require.NoError(t, err)
		out := []string{}
		for _, tk := range ts {
			out = append(out, tk.ID)
		}
		return out
	}
	require.Equal(t, []string{"acme-1:task:1", "acme-1:task:2", "acme-1:task:0"}, ids(TaskFilter{}), "by due time")
	require.Equal(t, []string{"acme-1:task:1", "acme-1:task:0"}, ids(TaskFilter{Assignees: []string{"m1"}}))
	require.Equal(t, []string{"acme-1:task:1", "acme-1:task:2"}, ids(TaskFilter{Assignees: []string{"m1", "sup"}, Limit: 2}))
	require.Equal(t, []string{"acme-1:task:2"}, ids(TaskFilter{Kind: "ack"}))
	require.Equal(t, []string{}, ids(TaskFilter{State: TaskDone}))

	for _, level := range []int{2, 1, 2} { // a late level-1 retry never lowers it
		require.NoError(t, s.EscalateTask(ctx, "acme-1:task:1", level))
	}
	tk, err := s.Task(ctx, "acme-1:task:1")
	require.NoError(t, err)
	require.Equal(t, 2, tk.EscalationLevel)
}

// TestScheduleVisitNeverDoubleBooks: eight accounts ask for the same
// manager at once, all from the same candidate list; each gets its own slot.
func TestScheduleVisitNeverDoubleBooks(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	// Hourly candidates from 09:00, a page of three at a time: a caller whose
	// first page is taken must ask for the next one.
	slots := func(after time.Time) []time.Time {
		first := t0.Add(-time.Hour)
		var out []time.Time
		for c := first; len(out) < 3; c = c.Add(time.Hour) {
			if !c.Before(after) {
				out = append(out, c)
			}
		}
		return out
	}
	const callers = 8
	for i := range callers {
		_, err := s.UpsertAccount(ctx, Account{ID: fmt.Sprintf("acc-%d", i), Name: "Account", ManagerID: "m1"})
		require.NoError(t, err)
	}
	req := func(i int) VisitRequest {
		return VisitRequest{Key: fmt.Sprintf("acc-%d:visit:1", i), AccountID: fmt.Sprintf("acc-%d", i), ManagerID: "m1",
			Purpose: "review", Earliest: t0.Add(-time.Hour), Slots: slots, Length: 90 * time.Minute, Due: 48 * time.Hour}
	}
	visits := make([]Visit, callers)
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			var tk Task
			visits[i], tk, errs[i] = s.ScheduleVisit(ctx, req(i))
			if errs[i] == nil && (tk.ID != visits[i].TaskID || !tk.DueAt.Equal(visits[i].EndsAt.Add(48*time.Hour)) || tk.Kind != "visit") {
				errs[i] = fmt.Errorf("task %+v does not match visit %+v", tk, visits[i])
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	booked, err := s.Visits(ctx, "m1", t0.Add(-24*time.Hour), t0.Add(72*time.Hour))
	require.NoError(t, err)
	require.Len(t, booked, callers)
	for i := 1; i < len(booked); i++ {
		require.False(t, booked[i].StartsAt.Before(booked[i-1].EndsAt), "%v overlaps %v", booked[i], booked[i-1])
	}
	// 90-minute visits on an hourly grid: every other hour.
	require.True(t, booked[0].StartsAt.Equal(t0.Add(-time.Hour)))
	require.True(t, booked[callers-1].StartsAt.Equal(t0.Add(time.Duration(2*callers-3)*time.Hour)))

	// A retry of any of them returns its visit and task unchanged.
	again, task, err := s.ScheduleVisit(ctx, req(3))
	require.NoError(t, err)
	require.Equal(t, visits[3], again)
	require.Equal(t, visits[3].TaskID, task.ID)
	n, err := s.Visits(ctx, "", t0.Add(-24*time.Hour), t0.Add(72*time.Hour))
	require.NoError(t, err)
	require.Len(t, n, callers)

	// Another manager's calendar is independent.
	other := req(0)
	other.Key, other.ManagerID = "acc-0:visit:2", "m2"
	v, _, err := s.ScheduleVisit(ctx, other)
	require.NoError(t, err)
	require.True(t, v.StartsAt.Equal(t0.Add(-time.Hour)))

	// Completing the visit's task completes the visit.
	_, err = s.CompleteTask(ctx, visits[0].TaskID, "m1", "met", "", t0)
	require.NoError(t, err)
	done, err := s.Visit(ctx, visits[0].ID)
	require.NoError(t, err)
	require.Equal(t, "done", done.State)

	// No slot at all.
	none := req(1)
	none.Key, none.Slots = "acc-1:visit:9", func(time.Time) []time.Time { return nil }
	_, _, err = s.ScheduleVisit(ctx, none)
	require.ErrorIs(t, err, ErrNoSlot)
}

func TestSurveyLinkIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	in := Survey{ID: "acme-1:survey:1", AccountID: "acme-1", Kind: "nps", TokenHash: []byte{0, 1, 2, '\\', 255},
		SentAt: t0, DueAt: t0.Add(14 * 24 * time.Hour), Recipient: "buyer@acme.example"}
	first, err := s.CreateSurvey(ctx, in)
	require.NoError(t, err)
	retry := in
	retry.TokenHash = []byte("another token")
	second, err := s.CreateSurvey(ctx, retry)
	require.NoError(t, err)
	require.Equal(t, first, second, "a retry keeps the link already sent")

	_, err = s.CreateSurvey(ctx, Survey{ID: "acme-1:survey:2", AccountID: "acme-1", Kind: "nps", TokenHash: in.TokenHash, SentAt: t0, DueAt: t0})
	require.Error(t, err, "token hashes are unique")

	got, err := s.SurveyByTokenHash(ctx, in.TokenHash)
	require.NoError(t, err)
	require.Equal(t, first, got)
	require.Nil(t, got.Response)

	// Concurrent answers through the same link: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.AnswerSurvey(ctx, in.TokenHash, Response{NPS: ptr(i + 6), Comment: "fine"}, t0.Add(time.Hour))
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, ErrSurveyAnswered)
		}
	}
	require.Equal(t, 1, wins)
	answered, err := s.SurveyByTokenHash(ctx, in.TokenHash)
	require.NoError(t, err)
	require.NotNil(t, answered.Response)
	require.Equal(t, "fine", answered.Response.Comment)
	require.True(t, answered.AnsweredAt.Equal(t0.Add(time.Hour)))

	expiring := Survey{ID: "acme-1:survey:3", AccountID: "acme-1", Kind: "csat", TokenHash: []byte("late"), SentAt: t0, DueAt: t0.Add(time.Hour)}
	_, err = s.CreateSurvey(ctx, expiring)
	require.NoError(t, err)
	_, err = s.AnswerSurvey(ctx, expiring.TokenHash, Response{CSAT: ptr(5)}, t0.Add(time.Hour))
	require.ErrorIs(t, err, ErrSurveyExpired, "due means no longer answerable")
	ok, err := s.AnswerSurvey(ctx, expiring.TokenHash, Response{CSAT: ptr(5)}, t0.Add(time.Hour-time.Second))
	require.NoError(t, err, "just in time")
	require.Equal(t, ptr(5), ok.Response.CSAT)

	_, err = s.AnswerSurvey(ctx, []byte("unknown"), Response{}, t0)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestEscalations(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	_, err := s.CreateTask(ctx, Task{ID: "acme-1:follow_up:1", AccountID: "acme-1", Kind: "follow_up", AssigneeID: "m1", DueAt: t0})
	require.NoError(t, err)
	_, err = s.CreateTask(ctx, Task{ID: "acme-1:esc:1:ack", AccountID: "acme-1", Kind: "ack", AssigneeID: "sup", DueAt: t0})
	require.NoError(t, err)
	esc := Escalation{ID: "acme-1:esc:1", AccountID: "acme-1", Level: 1, Reason: "follow-up overdue", RecipientID: "sup",
		TaskID: "acme-1:esc:1:ack", SourceTaskID: "acme-1:follow_up:1", CreatedAt: t0}
	created, err := s.CreateEscalation(ctx, esc)
	require.NoError(t, err)
	require.True(t, created)
	retry := esc
	retry.Reason = "changed"
	created, err = s.CreateEscalation(ctx, retry)
	require.NoError(t, err)
	require.False(t, created)
	got, err := s.Escalation(ctx, esc.ID)
	require.NoError(t, err)
	require.Equal(t, "follow-up overdue", got.Reason)
	require.Equal(t, "acme-1:follow_up:1", got.SourceTaskID)
	require.Nil(t, got.AcknowledgedAt)

	open, err := s.ListEscalations(ctx, EscalationFilter{RecipientID: "sup", Open: true})
	require.NoError(t, err)
	require.Len(t, open, 1)

	// Completing the ack task acknowledges the escalation.
	_, err = s.CompleteTask(ctx, "acme-1:esc:1:ack", "sup", "seen", "", t0.Add(time.Hour))
	require.NoError(t, err)
	got, err = s.Escalation(ctx, esc.ID)
	require.NoError(t, err)
	require.NotNil(t, got.AcknowledgedAt)
	require.True(t, got.AcknowledgedAt.Equal(t0.Add(time.Hour)))
	open, err = s.ListEscalations(ctx, EscalationFilter{RecipientID: "sup", Open: true})
	require.NoError(t, err)
	require.Empty(t, open)
	all, err := s.ListEscalations(ctx, EscalationFilter{AccountID: "acme-1"})
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	m := Mail{ID: "acme-1:esc:1:mail", Recipient: "sup@example.com", Subject: "Escalation", Body: "Please look", CreatedAt: t0}
	first, err := s.EnqueueMail(ctx, m)
	require.NoError(t, err)
	require.Equal(t, ChannelMail, first.Channel)
	m.Subject = "changed"
	second, err := s.EnqueueMail(ctx, m)
	require.NoError(t, err)
	require.Equal(t, first, second)
	_, err = s.EnqueueMail(ctx, Mail{ID: "acme-1:esc:1:webhook", Channel: ChannelWebhook, Body: `{}`, CreatedAt: t0.Add(time.Second)})
	require.NoError(t, err)

	onlyHooks, err := s.PendingMail(ctx, 10, ChannelWebhook)
	require.NoError(t, err)
	require.Len(t, onlyHooks, 1, "a sender claims only the channels it delivers")
	require.NoError(t, s.MarkMailSent(ctx, onlyHooks[0].ID, errors.New("retry me")))
	_, err = s.db.ExecContext(ctx, `UPDATE outbox SET claimed_until = NULL`)
	require.NoError(t, err)

	claimed, err := s.PendingMail(ctx, 10, ChannelMail, ChannelWebhook)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.Equal(t, first.ID, claimed[0].ID, "oldest first")
	require.Equal(t, ChannelWebhook, claimed[1].Channel)
	again, err := s.PendingMail(ctx, 10, ChannelMail, ChannelWebhook)
	require.NoError(t, err)
	require.Empty(t, again, "claimed messages are leased to their sender")

	require.NoError(t, s.MarkMailSent(ctx, first.ID, nil))
	require.NoError(t, s.MarkMailSent(ctx, first.ID, nil), "idempotent")
	require.NoError(t, s.MarkMailSent(ctx, first.ID, errors.New("late failure")), "moot once sent")
	require.NoError(t, s.MarkMailSent(ctx, claimed[1].ID, errors.New("connection refused")))

	var rows []Mail
	require.NoError(t, s.db.SelectContext(ctx, &rows, `SELECT `+mailCols+` FROM outbox ORDER BY created_at`))
	require.NotNil(t, rows[0].SentAt)
	require.Empty(t, rows[0].Error)
	require.Nil(t, rows[1].SentAt)
	require.Equal(t, "connection refused", rows[1].Error)
	require.Equal(t, 2, rows[1].Attempts)
}
