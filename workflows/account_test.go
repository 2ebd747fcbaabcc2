package workflows

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/scoring"
)

// world stands in for PostgreSQL and the people behind the activities: it
// records every side effect the workflow asks for, and the test sets the
// scores the model would return. The workflow itself runs for real in the
// SDK's test environment, with time skipping.
type world struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	pol policy.Policy

	mu          sync.Mutex
	score       scoring.Result
	transitions []string
	reasons     []string
	events      []activities.EventRecord
	recordCalls int // RecordEvents activities run
	scoreCalls  int
	tasks       []activities.TaskResult
	completed   []string
	escalations []activities.EscalateInput
	surveys     []string
}

var testProfile = Profile{ID: "acme", Name: "Acme 精密机械", Manager: "mia", ContactEmail: "buyer@acme.example"}

func newWorld(t *testing.T) *world {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	w := &world{t: t, env: suite.NewTestWorkflowEnvironment(), pol: policy.Default()}
	w.score = result("high", "high", "ordinary", 80, 0.1)
	env := w.env
	env.RegisterWorkflowWithOptions(AccountLifecycle, workflow.RegisterOptions{Name: WorkflowType})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.LoadPolicy, mock.Anything).Return(func(context.Context) (policy.Policy, error) { return w.pol, nil })
	env.OnActivity(a.RegisterAccount, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.RecordTransition, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TransitionInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.transitions = append(w.transitions, in.To)
		w.reasons = append(w.reasons, in.Reason)
		return nil
	})
	env.OnActivity(a.RecordEvents, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordEventsInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.events = append(w.events, in.Events...)
		w.recordCalls++
		return nil
	})
	env.OnActivity(a.ScoreAccount, mock.Anything, mock.Anything).Return(func(context.Context, activities.ScoreInput) (scoring.Result, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.scoreCalls++
		return w.score, nil
	})
	env.OnActivity(a.ScheduleVisit, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ScheduleVisitInput) (activities.ScheduleVisitResult, error) {
		start := in.After.Add(w.pol.Visits.LeadTime.Std())
		end := start.Add(w.pol.Visits.Length.Std())
		t := w.addTask(activities.TaskResult{ID: in.Key, Kind: activities.TaskVisit, Title: in.Purpose, Assignee: in.Manager, Supervisor: "sam", Due: end.Add(in.DueAfter)})
		return activities.ScheduleVisitResult{VisitID: in.Key, Start: start, End: end, Task: t}, nil
	})
	env.OnActivity(a.CreateTask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CreateTaskInput) (activities.TaskResult, error) {
		return w.addTask(activities.TaskResult{ID: in.Key, Kind: in.Kind, Title: in.Title, Assignee: in.Assignee, Supervisor: "sam", Due: in.Due}), nil
	})
	env.OnActivity(a.CompleteTask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CompleteTaskInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.completed = append(w.completed, in.TaskID)
		return nil
	})
	env.OnActivity(a.SendSurvey, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SendSurveyInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.surveys = append(w.surveys, in.Kind)
		return nil
	})
	env.OnActivity(a.Escalate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EscalateInput) (activities.EscalateResult, error) {
		w.mu.Lock()
		w.escalations = append(w.escalations, in)
		w.mu.Unlock()
		recipient := map[int]string{1: "sam", 2: "sue"}[in.Level]
		t := w.addTask(activities.TaskResult{ID: in.Key + ":ack", Kind: activities.TaskAck, Title: in.Reason, Assignee: recipient, Due: in.AckDue})
		return activities.EscalateResult{EscalationID: in.Key, Recipient: recipient, Task: &t}, nil
	})
	env.OnActivity(a.Reassign, mock.Anything, mock.Anything).Return(activities.ReassignResult{Supervisor: "sam"}, nil)
	return w
}

func result(value, potential, tier string, health, risk float64) scoring.Result {
	return scoring.Result{
		Value: scoring.Level(value), Potential: scoring.Level(potential), Loyalty: scoring.LevelMedium,
		Tier: tier, Health: health, ChurnRisk: risk, ABC: "A", Segment: "high_value", Strategy: "key",
	}
}

func (w *world) addTask(t activities.TaskResult) activities.TaskResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tasks = append(w.tasks, t)
	return t
}

func (w *world) setScore(r scoring.Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.score = r
}

// at runs f at offset d from the workflow's start, in workflow time.
func (w *world) at(d time.Duration, f func()) { w.env.RegisterDelayedCallback(f, d) }

func (w *world) event(id, kind string, mod ...func(*Event)) {
	e := Event{ExternalID: id, Kind: kind, At: w.env.Now(), Amount: 50000}
	for _, m := range mod {
		m(&e)
	}
	w.env.SignalWorkflow(SignalEvent, e)
}

// taskOf returns the newest task of kind, failing the test when none exists.
func (w *world) taskOf(kind string) activities.TaskResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.tasks) - 1; i >= 0; i-- {
		if w.tasks[i].Kind == kind {
			return w.tasks[i]
		}
	}
	w.t.Fatalf("no %s task was created", kind)
	return activities.TaskResult{}
}

// complete sends complete_task and fails the test unless it is accepted.
func (w *world) complete(taskID, actor, role string) {
	w.env.UpdateWorkflow(UpdateCompleteTask, "complete-"+taskID+"-"+actor, &testsuite.TestUpdateCallback{
		OnReject:   func(err error) { w.t.Errorf("complete %s by %s rejected: %v", taskID, actor, err) },
		OnComplete: func(_ any, err error) { require.NoError(w.t, err) },
	}, CompleteTaskRequest{TaskID: taskID, Actor: actor, ActorRole: role, Outcome: "done"})
}

// expectRejected sends an update and asserts the validator rejects it with errType.
func (w *world) expectRejected(name string, errType string, arg any) {
	w.env.UpdateWorkflow(name, "reject-"+errType+"-"+name, &testsuite.TestUpdateCallback{
		OnAccept: func() { w.t.Errorf("%s %+v was accepted, want %s", name, arg, errType) },
		OnReject: func(err error) {
			var appErr *temporal.ApplicationError
			require.True(w.t, errors.As(err, &appErr), "rejection is an application error: %v", err)
			require.Equal(w.t, errType, appErr.Type(), "rejection type of %s: %v", name, err)
		},
		OnComplete: func(any, error) {},
	}, arg)
}

func (w *world) closeAccount(reason string) {
	w.env.UpdateWorkflow(UpdateClose, "close", &testsuite.TestUpdateCallback{
		OnReject:   func(err error) { w.t.Errorf("close rejected: %v", err) },
		OnComplete: func(any, error) {},
	}, CloseRequest{Reason: reason, Actor: "olga", ActorRole: activities.RoleOps})
}

func (w *world) status() Status {
	v, err := w.env.QueryWorkflow(QueryStatus)
	require.NoError(w.t, err)
	var st Status
	require.NoError(w.t, v.Get(&st))
	return st
}

func (w *world) run(in AccountInput) {
	w.env.ExecuteWorkflow(WorkflowType, in)
	require.True(w.t, w.env.IsWorkflowCompleted(), "workflow did not complete")
}

// walkToMaintain scripts identify -> engage -> deepen -> maintain: a first
// order, the intro visit done, then a repeat order as the account turns core.
func (w *world) walkToMaintain() {
	w.at(time.Hour, func() { w.event("o-1", activities.EventOrder) })
	w.at(2*time.Hour, func() { w.complete(w.taskOf(activities.TaskVisit).ID, "mia", activities.RoleManager) })
	w.at(3*time.Hour, func() {
		w.setScore(result("high", "high", "core", 82, 0.1))
		w.event("o-2", activities.EventOrder)
	})
	w.at(4*time.Hour, func() { require.Equal(w.t, StageMaintain, w.status().Stage) })
}

func TestGoldenPathThroughAllStages(t *testing.T) {
	w := newWorld(t)
	w.walkToMaintain()
	w.at(5*time.Hour, func() { w.event("c-1", activities.EventComplaint, func(e *Event) { e.Severity = 5; e.Amount = 0 }) })
	w.at(6*time.Hour, func() {
		st := w.status()
		require.Equal(t, StageChurnRecovery, st.Stage)
		require.Contains(t, st.ChurnReasons, "severe complaint")
	})
	// Health stays above the recovered threshold for the stable period.
	w.at(w.pol.Churn.StableFor.Std()+7*time.Hour, func() { require.Equal(t, StageMaintain, w.status().Stage) })
	w.at(w.pol.Churn.StableFor.Std()+8*time.Hour, func() { w.closeAccount("merged into group account") })
	w.run(AccountInput{Profile: testProfile})

	var res AccountResult
	require.NoError(t, w.env.GetWorkflowResult(&res))
	require.Equal(t, StageClosed, res.Stage)
	require.Equal(t, []string{StageIdentify, StageEngage, StageDeepen, StageMaintain, StageChurnRecovery, StageMaintain, StageClosed}, w.transitions)
	require.Contains(t, w.surveys, "csat", "deepen sends the onboarding survey")
	// A core account's churn warning goes straight to senior management.
	require.Equal(t, 2, w.escalations[0].Level)
	require.Contains(t, w.escalations[0].Reason, "severe complaint")
	require.Equal(t, activities.TaskRecoveryPlan, w.taskOf(activities.TaskRecoveryPlan).Kind)
}

func TestChurnThenLostOnContractLost(t *testing.T) {
	w := newWorld(t)
	w.walkToMaintain()
	w.at(5*time.Hour, func() {
		w.setScore(result("medium", "low", "core", 30, 0.8))
		w.event("o-3", activities.EventOrder, func(e *Event) { e.Amount = 10 })
	})
	w.at(6*time.Hour, func() { w.event("lost-1", activities.EventContractLost) })
	w.run(AccountInput{Profile: testProfile})

	var res AccountResult
	require.NoError(t, w.env.GetWorkflowResult(&res))
	require.Equal(t, StageLost, res.Stage)
	require.Equal(t, "lost: contract lost", res.Outcome)
	require.Equal(t, []string{StageIdentify, StageEngage, StageDeepen, StageMaintain, StageChurnRecovery, StageLost}, w.transitions)
	require.Contains(t, w.reasons[4], "health 30 below")
}

func TestChurnThenLostWhenRecoveryWindowCloses(t *testing.T) {
	w := newWorld(t)
	w.walkToMaintain()
	w.at(5*time.Hour, func() {
		w.setScore(result("low", "low", "ordinary", 20, 0.9))
		w.event("c-2", activities.EventComplaint, func(e *Event) { e.Severity = 2; e.Amount = 0 })
	})
	w.run(AccountInput{Profile: testProfile})

	var res AccountResult
	require.NoError(t, w.env.GetWorkflowResult(&res))
	require.Equal(t, StageLost, res.Stage)
	require.Contains(t, res.Outcome, "recovery window")
	// An ordinary account's warning goes to the supervisor first.
	require.Equal(t, 1, w.escalations[0].Level)
}

func TestDisqualifiedAfterFailedScreens(t *testing.T) {
	w := newWorld(t)
	w.score = result("low", "low", "prospect", 40, 0.3)
	w.run(AccountInput{Profile: testProfile})

	var res AccountResult
	require.NoError(t, w.env.GetWorkflowResult(&res))
	require.Equal(t, StageDisqualified, res.Stage)
	require.Equal(t, []string{StageIdentify, StageDisqualified}, w.transitions)
	require.Contains(t, w.reasons[1], "3 screens")
}

func TestEngageTimesOutBackToIdentify(t *testing.T) {
	w := newWorld(t)
	w.at(w.pol.Engage.Window.Std()+time.Hour, func() { w.closeAccount("test over") })
	w.run(AccountInput{Profile: testProfile})
	// Back to identify, re-screened at once, engaged again with a new visit.
	require.Equal(t, []string{StageIdentify, StageEngage, StageIdentify, StageEngage, StageClosed}, w.transitions)
	require.Contains(t, w.reasons[2], "no first business within 90d")
	var visits []string
	for _, task := range w.tasks {
		if task.Kind == activities.TaskVisit {
			visits = append(visits, task.ID)
		}
	}
	require.Len(t, visits, 2, "each engagement books its own introduction visit")
}

func TestOverdueTaskEscalatesThroughBothLevels(t *testing.T) {
	w := newWorld(t)
	var visit activities.TaskResult
	w.at(time.Minute, func() { visit = w.taskOf(activities.TaskVisit) })
	// Nobody completes the intro visit: it escalates to the supervisor when
	// due, and to senior management a further SLA later.
	w.at(w.pol.Engage.Window.Std()-time.Hour, func() { w.closeAccount("test over") })
	w.run(AccountInput{Profile: testProfile})

	var levels []int
	for _, e := range w.escalations {
		if e.TaskID == visit.ID {
			levels = append(levels, e.Level)
			if e.Level == 1 {
				require.Equal(t, visit.Due, e.At, "escalates the moment the task is due")
			}
		}
	}
	require.Equal(t, []int{1, 2}, levels)
	require.Equal(t, w.escalations[0].At.Add(w.pol.Tasks.EscalateAfter.Std()), w.escalations[1].At)
	require.Equal(t, "sue", w.taskOf(activities.TaskAck).Assignee, "senior management gets an acknowledgement task")
}

func TestDuplicateAndPoisonEvents(t *testing.T) {
	w := newWorld(t)
	w.at(time.Hour, func() {
		w.event("dup-1", activities.EventNote)
		w.event("dup-1", activities.EventNote)
		w.env.SignalWorkflow(SignalEvent, "not an event")
		w.event("bad-kind", "telepathy")
		w.event("ok-2", activities.EventNote)
	})
	w.at(2*time.Hour, func() { w.event("dup-1", activities.EventNote) })
	w.at(3*time.Hour, func() { w.closeAccount("test over") })
	w.run(AccountInput{Profile: testProfile})

	byID := map[string][]activities.EventRecord{}
	for _, r := range w.events {
		byID[r.ExternalID] = append(byID[r.ExternalID], r)
	}
	require.Len(t, byID["dup-1"], 1, "an external id seen before is ignored")
	require.Equal(t, activities.EventApplied, byID["ok-2"][0].Status, "a bad event does not block the next one")
	require.Equal(t, activities.EventRejected, byID["bad-kind"][0].Status)
	require.Contains(t, byID["bad-kind"][0].Reason, "kind \"telepathy\"")
	var undecodable []activities.EventRecord
	for id, rs := range byID {
		if len(id) > 12 && id[:12] == "undecodable:" {
			undecodable = append(undecodable, rs...)
		}
	}
	require.Len(t, undecodable, 1)
	require.Contains(t, undecodable[0].Reason, "payload is not an event")
}

// A batch (what `starter events` sends) is recorded in one write, applied
// in order with the same dedup and rejection rules as single events, and
// re-scores the account once.
func TestEventBatchIsOneWriteAndOneScore(t *testing.T) {
	w := newWorld(t)
	var before int
	w.at(time.Hour, func() {
		w.mu.Lock()
		before = w.scoreCalls
		w.mu.Unlock()
		at := w.env.Now()
		w.env.SignalWorkflow(SignalEvent, []any{
			Event{ExternalID: "o-1", Kind: activities.EventOrder, At: at, Amount: 100},
			42,
			Event{ExternalID: "bad-kind", Kind: "telepathy", At: at},
			Event{ExternalID: "o-1", Kind: activities.EventOrder, At: at, Amount: 999},
			Event{ExternalID: "c-1", Kind: activities.EventComplaint, At: at, Severity: 2},
		})
	})
	w.at(2*time.Hour, func() { w.closeAccount("test over") })
	w.run(AccountInput{Profile: testProfile})

	require.Equal(t, 1, w.recordCalls, "one write for the whole batch")
	var got []string
	for _, r := range w.events {
		got = append(got, r.Status+" "+strings.SplitN(r.ExternalID, ":", 2)[0])
	}
	require.Equal(t, []string{"applied o-1", "rejected undecodable", "rejected bad-kind", "applied c-1"}, got)
	require.Equal(t, 100.0, w.events[0].Amount, "the first o-1 in the batch wins")
	require.Contains(t, w.events[1].Reason, "payload is not an event")
	require.Equal(t, before+1, w.scoreCalls, "the batch re-scores once")
}

// An event sent just before a close, or while the account is ending, is
// still recorded (as a fact of the closed account, without a re-score).
func TestEventsAroundCloseAreRecorded(t *testing.T) {
	w := newWorld(t)
	w.at(time.Hour, func() {
		w.event("before-close", activities.EventOrder)
		w.closeAccount("customer asked")
		w.event("while-closing", activities.EventNote)
	})
	w.run(AccountInput{Profile: testProfile})

	var ids []string
	for _, r := range w.events {
		ids = append(ids, r.ExternalID)
	}
	require.ElementsMatch(t, []string{"before-close", "while-closing"}, ids)
	require.Equal(t, StageClosed, w.transitions[len(w.transitions)-1])
}

func TestInvalidUpdatesAreRejected(t *testing.T) {
	w := newWorld(t)
	w.at(time.Hour, func() {
		visit := w.taskOf(activities.TaskVisit)
		w.expectRejected(UpdateCompleteTask, ErrTypeNotFound, CompleteTaskRequest{TaskID: "acme:visit:999", Actor: "mia", Outcome: "done"})
		w.expectRejected(UpdateCompleteTask, ErrTypeForbidden, CompleteTaskRequest{TaskID: visit.ID, Actor: "max", ActorRole: activities.RoleManager, Outcome: "done"})
		w.expectRejected(UpdateCompleteTask, ErrTypeInvalid, CompleteTaskRequest{TaskID: visit.ID, Actor: "mia"})
		w.expectRejected(UpdateClose, ErrTypeForbidden, CloseRequest{Reason: "no", Actor: "mia", ActorRole: activities.RoleManager})
		w.expectRejected(UpdateReassign, ErrTypeConflict, ReassignRequest{Manager: "mia", Actor: "olga"})
		w.expectRejected(UpdateReassign, ErrTypeInvalid, ReassignRequest{Manager: "not a valid id!", Actor: "olga"})
	})
	w.at(2*time.Hour, func() {
		visit := w.taskOf(activities.TaskVisit)
		// The supervisor may complete the manager's task; a second try is a conflict.
		w.complete(visit.ID, "sam", activities.RoleSupervisor)
	})
	w.at(3*time.Hour, func() {
		visit := w.taskOf(activities.TaskVisit)
		w.expectRejected(UpdateCompleteTask, ErrTypeConflict, CompleteTaskRequest{TaskID: visit.ID, Actor: "mia", Outcome: "again"})
		w.closeAccount("test over")
	})
	w.at(4*time.Hour, func() {
		w.expectRejected(UpdateClose, ErrTypeAccountDone, CloseRequest{Reason: "twice", Actor: "olga", ActorRole: activities.RoleOps})
	})
	w.run(AccountInput{Profile: testProfile})
	require.Len(t, w.completed, 1, "only the accepted completion reached the activity")
}

func TestReassignMovesOpenWork(t *testing.T) {
	w := newWorld(t)
	w.at(time.Hour, func() {
		w.env.UpdateWorkflow(UpdateReassign, "reassign", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { t.Errorf("reassign rejected: %v", err) },
			OnComplete: func(any, error) {},
		}, ReassignRequest{Manager: "max", Actor: "olga"})
	})
	w.at(2*time.Hour, func() {
		st := w.status()
		require.Equal(t, "max", st.Manager)
		require.Equal(t, "max", st.OpenTasks[0].Assignee)
		w.closeAccount("test over")
	})
	w.run(AccountInput{Profile: testProfile})
}

// TestContinueAsNewCarriesEverything runs an account until its history
// passes a small budget, then runs the next run from the carried state: no
// event sent around the boundary is lost or recorded twice.
func TestContinueAsNewCarriesEverything(t *testing.T) {
	w := newWorld(t)
	for i := range 40 {
		w.at(time.Duration(i+1)*time.Minute, func() { w.event(eventID(i), activities.EventNote) })
	}
	// The history passes the budget while events keep arriving.
	w.at(20*time.Minute+30*time.Second, func() { w.env.SetCurrentHistoryLength(w.pol.History.EventBudget + 1) })
	w.env.ExecuteWorkflow(WorkflowType, AccountInput{Profile: testProfile})
	require.True(t, w.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(w.env.GetWorkflowError(), &can), "want continue-as-new, got %v", w.env.GetWorkflowError())
	var next AccountInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.State)
	require.Equal(t, StageEngage, next.State.Stage)
	require.NotEmpty(t, next.State.Tasks, "open work is carried")
	firstRun := len(w.events) + len(next.State.Inbox)

	// The second run gets the carried state and the rest of the events,
	// including ones already seen.
	w2 := newWorld(t)
	for i := range 45 {
		w2.at(time.Duration(i+1)*time.Second, func() { w2.event(eventID(i), activities.EventNote) })
	}
	w2.at(time.Hour, func() { w2.closeAccount("test over") })
	w2.run(next)
	var ids []string
	for _, r := range append(slices.Clone(w.events), w2.events...) {
		ids = append(ids, r.ExternalID)
	}
	slices.Sort(ids)
	require.Len(t, slices.Compact(slices.Clone(ids)), 45, "every event recorded")
	require.Len(t, ids, 45, "no event recorded twice")
	require.Less(t, 0, firstRun)
	require.Equal(t, []string{StageClosed}, w2.transitions, "the new run does not start over")
}

func eventID(i int) string { return "n-" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
