// Package workflows holds kamflow's account lifecycle workflow: deterministic
// code only. Every side effect is an activity; every number comes from the
// policy, which the workflow receives as an activity result.
package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/scoring"
)

// a is only used to name activity methods; the worker registers a real one.
var a *activities.Activities

// AccountInput starts an account, or carries its state across continue-as-new.
type AccountInput struct {
	Profile Profile       `json:"profile"`
	State   *AccountState `json:"state,omitempty"`
}

// AccountResult is how an account ended.
type AccountResult struct {
	AccountID string `json:"account_id"`
	Stage     string `json:"stage"`
	Outcome   string `json:"outcome"`
}

// AccountState is everything the workflow knows, carried whole across
// continue-as-new. Fields are exported so that they serialize.
type AccountState struct {
	Profile    Profile        `json:"profile"`
	Policy     policy.Policy  `json:"policy"`
	Stage      string         `json:"stage"`
	StageSince time.Time      `json:"stage_since"`
	Seq        int            `json:"seq"`
	Onboards   int            `json:"onboards"`
	Score      scoring.Result `json:"score"`
	ScoredAt   time.Time      `json:"scored_at"`
	Tasks      []*Task        `json:"tasks"`
	// DoneTasks remembers recently completed task IDs so a second completion
	// is told "already done" rather than "unknown".
	DoneTasks []string `json:"done_tasks"`
	// Seen is the dedup window of event external IDs.
	Seen  []string   `json:"seen"`
	Inbox []Incoming `json:"inbox"`

	FailedScreens int       `json:"failed_screens"`
	NextScreen    time.Time `json:"next_screen"`
	// FirstOrder and IntroVisitDone are engage's exit conditions.
	FirstOrder     bool        `json:"first_order"`
	IntroVisitDone bool        `json:"intro_visit_done"`
	Orders         []time.Time `json:"orders"`
	NextFollowUp   time.Time   `json:"next_follow_up"`
	LastVisit      time.Time   `json:"last_visit"`
	NextReview     time.Time   `json:"next_review"`
	NextVisit      time.Time   `json:"next_visit"`
	NextSurvey     time.Time   `json:"next_survey"`
	RecoveredSince time.Time   `json:"recovered_since"`
	// Signals raised by events since the last churn check.
	SevereComplaint bool     `json:"severe_complaint"`
	MissedRenewal   bool     `json:"missed_renewal"`
	ContractLost    bool     `json:"contract_lost"`
	ChurnReasons    []string `json:"churn_reasons"`
	CloseReason     string   `json:"close_reason"`
	Outcome         string   `json:"outcome"`
}

// Incoming is a signalled event not yet recorded. Error is set when the
// payload could not even be decoded; it is recorded as the rejection reason.
type Incoming struct {
	Event Event  `json:"event"`
	Error string `json:"error,omitempty"`
}

// Task is an open piece of human work with its SLA state.
type Task struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Title      string    `json:"title"`
	Assignee   string    `json:"assignee"`
	Supervisor string    `json:"supervisor"`
	Due        time.Time `json:"due"`
	// Level is how far the task has been escalated: 0 none, 1 supervisor, 2 senior.
	Level       int       `json:"level"`
	EscalatedAt time.Time `json:"escalated_at"`
	// completing is set while its completion is being written, so the SLA
	// check does not escalate a task that is being closed. It is transient:
	// handlers finish before continue-as-new.
	completing bool
}

// Activity options, by what the activity touches.
var (
	// dbActivity writes PostgreSQL: retried with backoff for as long as the
	// database is away, never for input no retry can fix.
	dbActivity = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         dbRetry,
	}
	// dbLocalActivity is the same for a local activity. Its retries are
	// bounded by ScheduleToCloseTimeout (a remote activity's are not), so
	// that is set beyond any outage worth riding out: the account waits
	// for PostgreSQL rather than failing.
	dbLocalActivity = workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 365 * 24 * time.Hour,
		StartToCloseTimeout:    30 * time.Second,
		RetryPolicy:            dbRetry,
	}
	dbRetry = &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{activities.ErrInvalidInput},
	}
)

// Versions of the workflow code, for workflow.GetVersion: a run keeps the
// behaviour it started with, so recorded histories replay unchanged.
const (
	// versionLeanHistory writes less history per account, which is what
	// bounds accounts per second on one Temporal server:
	//   - every activity runs as a local activity. They are all short
	//     PostgreSQL writes (mail and webhooks leave through the outbox), and
	//     a local activity costs the server only a marker in the workflow
	//     task that records its result, where a remote one adds a task
	//     dispatch, three history events and a workflow task of its own;
	//   - search attributes are upserted only when one of them changed.
	// The golden path went from 228 history events to 89.
	versionLeanHistory = 1
	// versionInlineSignals takes events off the signal channel in the main
	// loop instead of in a coroutine of their own: each coroutine is a
	// goroutine whose stack (about 10 KiB) stays with every cached account.
	// It also records every event delivered before the account ends: those
	// waiting when a close is handled, and those that arrive while it ends.
	versionInlineSignals = 2
	changeLeanHistory    = "lean-history"
)

// withActivityOptions sets the options of both kinds of activity, for the
// main loop and the update handlers alike.
func withActivityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(workflow.WithActivityOptions(ctx, dbActivity), dbLocalActivity)
}

// AccountLifecycle runs one key account from identification to its end.
func AccountLifecycle(ctx workflow.Context, in AccountInput) (AccountResult, error) {
	acc, err := newAccount(ctx, in)
	if err != nil {
		return AccountResult{}, err
	}
	return acc.run(ctx)
}

type account struct {
	s      *AccountState
	logger log.Logger
	// poke wakes the main loop after a handler changed something it acts on.
	poke       bool
	closeAsked bool
	// lean is set in runs from versionLeanHistory on, inlineSignals from
	// versionInlineSignals on.
	lean, inlineSignals bool
	// events is the signal channel of business events.
	events workflow.ReceiveChannel
	// published is what the search attributes were last set to in this
	// run (lean runs skip an upsert that would change nothing).
	published searchAttrs
}

func newAccount(ctx workflow.Context, in AccountInput) (*account, error) {
	s := in.State
	if s == nil {
		if err := in.Profile.Validate(); err != nil {
			return nil, temporal.NewNonRetryableApplicationError("profile: "+err.Error(), activities.ErrInvalidInput, err)
		}
		s = &AccountState{Profile: in.Profile}
	}
	acc := &account{s: s, logger: log.With(workflow.GetLogger(ctx), "account_id", s.Profile.ID)}
	// Asked once, before anything can run an activity or take a signal
	// (handlers only run when the main coroutine blocks).
	v := workflow.GetVersion(ctx, changeLeanHistory, workflow.DefaultVersion, versionInlineSignals)
	acc.lean, acc.inlineSignals = v >= versionLeanHistory, v >= versionInlineSignals
	if err := acc.registerHandlers(ctx); err != nil {
		return nil, err
	}
	return acc, nil
}

func (acc *account) run(ctx workflow.Context) (AccountResult, error) {
	ctx = withActivityOptions(ctx)
	s := acc.s
	if s.Stage == "" {
		if err := acc.start(ctx); err != nil {
			return AccountResult{}, err
		}
	}
	for !ended(s.Stage) {
		before := s.Stage
		if err := acc.step(ctx); err != nil {
			return AccountResult{}, err
		}
		if ended(s.Stage) {
			break
		}
		if s.Stage != before {
			// A new stage may already meet its own rules (an account
			// that re-qualifies at once); judge it before waiting.
			continue
		}
		if acc.historyFull(ctx) {
			// A close that arrives meanwhile is served first: its handler
			// waits for the account to end, which a new run would never do.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || acc.closeAsked }); err != nil {
				return AccountResult{}, err
			}
			if !acc.closeAsked {
				return AccountResult{}, acc.continueAsNew(ctx)
			}
			continue
		}
		wait := acc.nextWake().Sub(workflow.Now(ctx))
		if wait > 0 {
			if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
				return len(s.Inbox) > 0 || (acc.inlineSignals && acc.events.Len() > 0) || acc.poke || acc.closeAsked
			}); err != nil {
				return AccountResult{}, err
			}
		}
		acc.poke = false
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return AccountResult{}, err
	}
	if acc.inlineSignals {
		// Signals delivered while the account ended are facts too.
		if err := acc.processInbox(ctx); err != nil {
			return AccountResult{}, err
		}
	}
	return AccountResult{AccountID: s.Profile.ID, Stage: s.Stage, Outcome: s.Outcome}, nil
}

// execute starts an activity, locally in lean runs (versionLeanHistory).
func (acc *account) execute(ctx workflow.Context, activity any, args ...any) workflow.Future {
	if acc.lean {
		return workflow.ExecuteLocalActivity(ctx, activity, args...)
	}
	return workflow.ExecuteActivity(ctx, activity, args...)
}

// start records the account and enters identify.
func (acc *account) start(ctx workflow.Context) error {
	s := acc.s
	if err := acc.execute(ctx, a.LoadPolicy).Get(ctx, &s.Policy); err != nil {
		return err
	}
	in := activities.RegisterAccountInput{Profile: s.Profile, At: workflow.Now(ctx)}
	if err := acc.execute(ctx, a.RegisterAccount, in).Get(ctx, nil); err != nil {
		return err
	}
	return acc.enter(ctx, StageIdentify, "onboarded")
}

// step does everything that is due now: events, SLA escalations, stage timers
// and the stage's exit rules.
func (acc *account) step(ctx workflow.Context) error {
	s := acc.s
	if acc.closeAsked {
		if acc.inlineSignals {
			// What was sent before the close is recorded before it.
			if err := acc.processInbox(ctx); err != nil {
				return err
			}
		}
		s.Outcome = "closed: " + s.CloseReason
		return acc.enter(ctx, StageClosed, s.CloseReason)
	}
	if err := acc.processInbox(ctx); err != nil {
		return err
	}
	if err := acc.escalateOverdue(ctx); err != nil {
		return err
	}
	now := workflow.Now(ctx)
	switch s.Stage {
	case StageIdentify:
		if !now.Before(s.NextScreen) {
			return acc.screen(ctx)
		}
	case StageEngage:
		if s.FirstOrder && s.IntroVisitDone {
			return acc.enter(ctx, StageDeepen, "first order and a completed visit")
		}
		if !now.Before(s.StageSince.Add(s.Policy.Engage.Window.Std())) {
			return acc.enter(ctx, StageIdentify, fmt.Sprintf("no first business within %s", s.Policy.Engage.Window))
		}
	case StageDeepen:
		if s.ContractLost {
			return acc.lose(ctx, "contract lost")
		}
		if acc.repeatOrders(now) >= s.Policy.Deepen.RepeatOrders && (s.Score.Tier == scoring.TierCore || s.Score.Tier == scoring.TierVIP) {
			return acc.enter(ctx, StageMaintain, fmt.Sprintf("%d orders within %s and tier %s", acc.repeatOrders(now), s.Policy.Deepen.RepeatWindow, s.Score.Tier))
		}
		if !now.Before(s.NextFollowUp) {
			s.NextFollowUp = now.Add(s.Policy.Deepen.FollowUpEvery.Std())
			if !acc.hasOpen(activities.TaskVisit) {
				return acc.scheduleVisit(ctx, "follow-up visit")
			}
		}
	case StageMaintain:
		if !now.Before(s.NextReview) {
			if err := acc.review(ctx); err != nil {
				return err
			}
		}
		if reasons := acc.churnSignals(now); len(reasons) > 0 {
			s.ChurnReasons = reasons
			return acc.enter(ctx, StageChurnRecovery, strings.Join(reasons, "; "))
		}
	case StageChurnRecovery:
		if s.ContractLost {
			return acc.lose(ctx, "contract lost")
		}
		if !now.Before(s.StageSince.Add(s.Policy.Churn.RecoveryWindow.Std())) {
			return acc.lose(ctx, fmt.Sprintf("recovery window of %s closed", s.Policy.Churn.RecoveryWindow))
		}
		if !now.Before(s.NextReview) {
			s.NextReview = now.Add(acc.cadence(s.Policy.Maintain.Review))
			if err := acc.score(ctx); err != nil {
				return err
			}
		}
		if s.Score.Health >= s.Policy.Churn.RecoveredHealth {
			if s.RecoveredSince.IsZero() {
				s.RecoveredSince = now
			}
			if !now.Before(s.RecoveredSince.Add(s.Policy.Churn.StableFor.Std())) {
				return acc.enter(ctx, StageMaintain, fmt.Sprintf("health %.0f at or above %.0f for %s", s.Score.Health, s.Policy.Churn.RecoveredHealth, s.Policy.Churn.StableFor))
			}
		} else {
			s.RecoveredSince = time.Time{}
		}
	}
	return nil
}

// enter records a stage change and starts the new stage's work.
func (acc *account) enter(ctx workflow.Context, stage, reason string) error {
	s := acc.s
	now := workflow.Now(ctx)
	from := s.Stage
	moot := acc.mootTasks(stage)
	tr := activities.TransitionInput{
		Key: acc.key("stage"), AccountID: s.Profile.ID, From: from, To: stage, Reason: reason, At: now, Outcome: s.Outcome,
		CancelTasks: taskIDs(moot),
	}
	if err := acc.execute(ctx, a.RecordTransition, tr).Get(ctx, nil); err != nil {
		return err
	}
	s.Tasks = slices.DeleteFunc(s.Tasks, func(t *Task) bool { return slices.Contains(moot, t) })
	acc.logger.Info("stage changed", "from", from, "to", stage, "reason", reason)
	s.Stage, s.StageSince = stage, now
	s.RecoveredSince = time.Time{}
	switch stage {
	case StageIdentify:
		s.FailedScreens = 0
		s.NextScreen = now
	case StageEngage:
		s.IntroVisitDone = false
		if err := acc.scheduleVisit(ctx, "introduction visit"); err != nil {
			return err
		}
	case StageDeepen:
		s.NextFollowUp = now.Add(s.Policy.Deepen.FollowUpEvery.Std())
		if err := acc.sendSurvey(ctx, "csat"); err != nil {
			return err
		}
	case StageMaintain:
		s.ChurnReasons = nil
		s.SevereComplaint, s.MissedRenewal = false, false
		s.NextReview = now.Add(acc.cadence(s.Policy.Maintain.Review))
		s.NextVisit = now.Add(acc.cadence(s.Policy.Maintain.Visit))
		s.NextSurvey = now.Add(acc.cadence(s.Policy.Maintain.Survey))
	case StageChurnRecovery:
		s.NextReview = now.Add(acc.cadence(s.Policy.Maintain.Review))
		if err := acc.churnWarning(ctx, reason); err != nil {
			return err
		}
	}
	acc.publish(ctx)
	return nil
}

// mootTasks is the open work that entering stage ends: everything when the
// account ends; a visit nobody made when engage gives up; the recovery plan
// when the account has recovered. Acknowledgements of escalations stay, and
// so does any task a person is completing right now.
func (acc *account) mootTasks(stage string) []*Task {
	var moot []*Task
	for _, t := range acc.s.Tasks {
		if t.completing {
			continue
		}
		switch {
		case ended(stage),
			stage == StageIdentify && t.Kind == activities.TaskVisit,
			stage == StageMaintain && t.Kind == activities.TaskRecoveryPlan:
			moot = append(moot, t)
		}
	}
	return moot
}

func taskIDs(ts []*Task) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

func (acc *account) lose(ctx workflow.Context, reason string) error {
	acc.s.Outcome = "lost: " + reason
	return acc.enter(ctx, StageLost, reason)
}

// screen scores a candidate and qualifies or fails it.
func (acc *account) screen(ctx workflow.Context) error {
	s := acc.s
	if err := acc.score(ctx); err != nil {
		return err
	}
	now := workflow.Now(ctx)
	if s.Score.Value != scoring.LevelLow || s.Score.Potential != scoring.LevelLow {
		return acc.enter(ctx, StageEngage, fmt.Sprintf("qualified: value %s, potential %s", s.Score.Value, s.Score.Potential))
	}
	s.FailedScreens++
	if s.FailedScreens >= s.Policy.Identify.MaxFailedScreens {
		s.Outcome = "disqualified"
		return acc.enter(ctx, StageDisqualified, fmt.Sprintf("value and potential low in %d screens", s.FailedScreens))
	}
	s.NextScreen = now.Add(s.Policy.Identify.ScreenEvery.Std())
	acc.publish(ctx)
	return nil
}

// review is maintain's periodic cycle: re-score, and visit and survey at the
// tier's cadence. The visit and the survey run in parallel to keep the
// history of a cycle short.
func (acc *account) review(ctx workflow.Context) error {
	s := acc.s
	now := workflow.Now(ctx)
	s.NextReview = now.Add(acc.cadence(s.Policy.Maintain.Review))
	if err := acc.score(ctx); err != nil {
		return err
	}
	var pending []func() error
	if !now.Before(s.NextVisit) {
		s.NextVisit = now.Add(acc.cadence(s.Policy.Maintain.Visit))
		if !acc.hasOpen(activities.TaskVisit) {
			pending = append(pending, acc.startVisit(ctx, "periodic visit"))
		}
	}
	if !now.Before(s.NextSurvey) {
		s.NextSurvey = now.Add(acc.cadence(s.Policy.Maintain.Survey))
		pending = append(pending, acc.startSurvey(ctx, "nps"))
	}
	for _, wait := range pending {
		if err := wait(); err != nil {
			return err
		}
	}
	acc.publish(ctx)
	return nil
}

// churnSignals lists why a maintained account is at risk, or nothing.
func (acc *account) churnSignals(now time.Time) []string {
	s := acc.s
	c := s.Policy.Churn
	var reasons []string
	if !s.ScoredAt.IsZero() && s.Score.Health < c.HealthBelow {
		reasons = append(reasons, fmt.Sprintf("health %.0f below %.0f", s.Score.Health, c.HealthBelow))
	}
	if s.Score.ChurnRisk > c.RiskAbove {
		reasons = append(reasons, fmt.Sprintf("churn risk %.2f above %.2f", s.Score.ChurnRisk, c.RiskAbove))
	}
	if s.SevereComplaint {
		reasons = append(reasons, "severe complaint")
	}
	if s.MissedRenewal {
		reasons = append(reasons, "missed renewal")
	}
	if s.ContractLost {
		reasons = append(reasons, "contract lost")
	}
	if n := acc.overdue(now); c.OverdueTasks > 0 && n >= c.OverdueTasks {
		reasons = append(reasons, fmt.Sprintf("%d overdue follow-ups", n))
	}
	if slices.Contains(s.Score.Signals, scoring.SignalFallingOrders) {
		reasons = append(reasons, "falling order frequency")
	}
	return reasons
}

// churnWarning escalates at once (core and VIP accounts straight to senior
// management, as the playbook asks) and gives the manager a recovery plan.
func (acc *account) churnWarning(ctx workflow.Context, reason string) error {
	s := acc.s
	level := 1
	if s.Score.Tier == scoring.TierCore || s.Score.Tier == scoring.TierVIP {
		level = 2
	}
	if err := acc.escalate(ctx, level, "churn warning: "+reason, ""); err != nil {
		return err
	}
	_, err := acc.createTask(ctx, activities.TaskRecoveryPlan, s.Profile.Manager,
		"Recovery plan for "+s.Profile.Name+": "+reason, workflow.Now(ctx).Add(s.Policy.Tasks.Due[activities.TaskRecoveryPlan].Std()))
	return err
}

// escalateOverdue walks the SLA ladder of every open task: overdue goes to
// the manager's supervisor, still open after a further SLA to senior
// management. Acknowledgement tasks do not escalate again.
func (acc *account) escalateOverdue(ctx workflow.Context) error {
	s := acc.s
	now := workflow.Now(ctx)
	for _, t := range slices.Clone(s.Tasks) {
		if t.Kind == activities.TaskAck || t.completing {
			continue
		}
		switch {
		case t.Level == 0 && !now.Before(t.Due):
			if err := acc.escalate(ctx, 1, fmt.Sprintf("%s overdue since %s", t.Title, t.Due.Format(time.RFC3339)), t.ID); err != nil {
				return err
			}
			t.Level, t.EscalatedAt = 1, now
		case t.Level == 1 && !now.Before(t.EscalatedAt.Add(s.Policy.Tasks.EscalateAfter.Std())):
			if err := acc.escalate(ctx, 2, fmt.Sprintf("%s still open after escalation to the supervisor", t.Title), t.ID); err != nil {
				return err
			}
			t.Level, t.EscalatedAt = 2, now
		}
	}
	return nil
}

func (acc *account) escalate(ctx workflow.Context, level int, reason, taskID string) error {
	s := acc.s
	now := workflow.Now(ctx)
	in := activities.EscalateInput{
		Key: acc.key("esc"), AccountID: s.Profile.ID, AccountName: s.Profile.Name, Level: level, Reason: reason,
		Manager: s.Profile.Manager, TaskID: taskID, At: now, AckDue: now.Add(s.Policy.Tasks.Due[activities.TaskAck].Std()),
	}
	var out activities.EscalateResult
	if err := acc.execute(ctx, a.Escalate, in).Get(ctx, &out); err != nil {
		return err
	}
	if out.Task != nil {
		acc.addTask(*out.Task)
	}
	acc.logger.Info("escalated", "level", level, "recipient", out.Recipient, "reason", reason)
	return nil
}

func (acc *account) scheduleVisit(ctx workflow.Context, purpose string) error {
	return acc.startVisit(ctx, purpose)()
}

// startVisit schedules a visit and returns a func that waits for it, so a
// caller can run it beside other activities.
func (acc *account) startVisit(ctx workflow.Context, purpose string) func() error {
	s := acc.s
	in := activities.ScheduleVisitInput{
		Key: acc.key("visit"), AccountID: s.Profile.ID, AccountName: s.Profile.Name, Manager: s.Profile.Manager,
		Purpose: purpose, After: workflow.Now(ctx), DueAfter: s.Policy.Tasks.Due[activities.TaskVisit].Std(),
	}
	f := acc.execute(ctx, a.ScheduleVisit, in)
	return func() error {
		var out activities.ScheduleVisitResult
		if err := f.Get(ctx, &out); err != nil {
			return err
		}
		acc.addTask(out.Task)
		return nil
	}
}

func (acc *account) sendSurvey(ctx workflow.Context, kind string) error {
	return acc.startSurvey(ctx, kind)()
}

func (acc *account) startSurvey(ctx workflow.Context, kind string) func() error {
	s := acc.s
	now := workflow.Now(ctx)
	in := activities.SendSurveyInput{
		Key: acc.key("survey"), AccountID: s.Profile.ID, Kind: kind, At: now, Due: now.Add(s.Policy.Surveys.AnswerWithin.Std()),
	}
	f := acc.execute(ctx, a.SendSurvey, in)
	return func() error { return f.Get(ctx, nil) }
}

func (acc *account) createTask(ctx workflow.Context, kind, assignee, title string, due time.Time) (activities.TaskResult, error) {
	in := activities.CreateTaskInput{
		Key: acc.key(kind), AccountID: acc.s.Profile.ID, Kind: kind, Assignee: assignee, Title: title, Due: due, At: workflow.Now(ctx),
	}
	var out activities.TaskResult
	if err := acc.execute(ctx, a.CreateTask, in).Get(ctx, &out); err != nil {
		return out, err
	}
	acc.addTask(out)
	return out, nil
}

func (acc *account) addTask(t activities.TaskResult) {
	for _, open := range acc.s.Tasks {
		if open.ID == t.ID {
			return
		}
	}
	acc.s.Tasks = append(acc.s.Tasks, &Task{ID: t.ID, Kind: t.Kind, Title: t.Title, Assignee: t.Assignee, Supervisor: t.Supervisor, Due: t.Due})
}

// score re-scores the account from the facts in PostgreSQL.
func (acc *account) score(ctx workflow.Context) error {
	s := acc.s
	now := workflow.Now(ctx)
	in := activities.ScoreInput{Key: acc.key("score"), AccountID: s.Profile.ID, At: now}
	var out scoring.Result
	if err := acc.execute(ctx, a.ScoreAccount, in).Get(ctx, &out); err != nil {
		return err
	}
	s.Score, s.ScoredAt = out, now
	acc.publish(ctx)
	return nil
}

// processInbox records the events that arrived since the last turn in one
// activity, then applies them. Invalid events are recorded as rejected with
// their reason and change nothing else.
func (acc *account) processInbox(ctx workflow.Context) error {
	s := acc.s
	if acc.inlineSignals {
		acc.drainSignals()
	}
	if len(s.Inbox) == 0 {
		return nil
	}
	batch := s.Inbox
	s.Inbox = nil
	var records []activities.EventRecord
	for _, in := range batch {
		e := in.Event
		if slices.Contains(s.Seen, e.ExternalID) {
			continue
		}
		acc.remember(e.ExternalID)
		r := activities.EventRecord{Event: e, Status: activities.EventApplied}
		if in.Error != "" {
			r.Status, r.Reason = activities.EventRejected, in.Error
		} else if err := e.Validate(); err != nil {
			r.Status, r.Reason = activities.EventRejected, err.Error()
		}
		records = append(records, r)
	}
	if len(records) == 0 {
		return nil
	}
	in := activities.RecordEventsInput{AccountID: s.Profile.ID, Events: records}
	if err := acc.execute(ctx, a.RecordEvents, in).Get(ctx, nil); err != nil {
		return err
	}
	rescore := false
	for _, r := range records {
		if r.Status != activities.EventApplied {
			acc.logger.Warn("event rejected", "external_id", r.ExternalID, "reason", r.Reason)
			continue
		}
		rescore = acc.apply(r.Event) || rescore
	}
	if rescore && s.Stage != StageIdentify && !ended(s.Stage) {
		return acc.score(ctx)
	}
	return nil
}

// apply updates the workflow's own view of an event and reports whether the
// scores may have changed.
func (acc *account) apply(e Event) bool {
	s := acc.s
	switch e.Kind {
	case activities.EventOrder:
		s.FirstOrder = true
		s.Orders = append(s.Orders, e.At)
		if len(s.Orders) > 50 {
			s.Orders = s.Orders[len(s.Orders)-50:]
		}
	case activities.EventComplaint:
		if e.Severity >= s.Policy.Churn.SevereComplaint {
			s.SevereComplaint = true
		}
	case activities.EventRenewalMissed:
		s.MissedRenewal = true
	case activities.EventContractLost:
		s.ContractLost = true
	case activities.EventNote:
		return false
	}
	return true
}

func (acc *account) repeatOrders(now time.Time) int {
	n := 0
	from := now.Add(-acc.s.Policy.Deepen.RepeatWindow.Std())
	for _, at := range acc.s.Orders {
		if !at.Before(from) {
			n++
		}
	}
	return n
}

func (acc *account) remember(externalID string) {
	s := acc.s
	s.Seen = append(s.Seen, externalID)
	if w := s.Policy.History.DedupWindow; w > 0 && len(s.Seen) > w {
		s.Seen = slices.Clone(s.Seen[len(s.Seen)-w:])
	}
}

// key derives the idempotency key of the next side effect. Keys are stable
// across retries and replays because Seq lives in the workflow state.
func (acc *account) key(kind string) string {
	acc.s.Seq++
	return fmt.Sprintf("%s:%s:%d", acc.s.Profile.ID, kind, acc.s.Seq)
}

func (acc *account) cadence(byTier map[string]policy.Duration) time.Duration {
	if d, ok := byTier[acc.s.Score.Tier]; ok && d > 0 {
		return d.Std()
	}
	return byTier[scoring.TierOrdinary].Std()
}

func (acc *account) hasOpen(kind string) bool {
	return slices.ContainsFunc(acc.s.Tasks, func(t *Task) bool { return t.Kind == kind })
}

// overdue counts the manager's own open work past due.
func (acc *account) overdue(now time.Time) int {
	n := 0
	for _, t := range acc.s.Tasks {
		if t.Kind != activities.TaskAck && now.After(t.Due) {
			n++
		}
	}
	return n
}

// nextWake is the earliest moment something becomes due.
func (acc *account) nextWake() time.Time {
	s := acc.s
	var times []time.Time
	for _, t := range s.Tasks {
		switch {
		case t.Kind == activities.TaskAck:
		case t.Level == 0:
			times = append(times, t.Due)
		case t.Level == 1:
			times = append(times, t.EscalatedAt.Add(s.Policy.Tasks.EscalateAfter.Std()))
		}
	}
	switch s.Stage {
	case StageIdentify:
		times = append(times, s.NextScreen)
	case StageEngage:
		times = append(times, s.StageSince.Add(s.Policy.Engage.Window.Std()))
	case StageDeepen:
		times = append(times, s.NextFollowUp)
	case StageMaintain:
		times = append(times, s.NextReview)
	case StageChurnRecovery:
		times = append(times, s.NextReview, s.StageSince.Add(s.Policy.Churn.RecoveryWindow.Std()))
		if !s.RecoveredSince.IsZero() {
			times = append(times, s.RecoveredSince.Add(s.Policy.Churn.StableFor.Std()))
		}
	}
	next := times[0]
	for _, t := range times[1:] {
		if t.Before(next) {
			next = t
		}
	}
	return next
}

// historyFull reports when the history should be cut: the server suggests
// it, or it passed the policy's event budget.
func (acc *account) historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	budget := acc.s.Policy.History.EventBudget
	return info.GetContinueAsNewSuggested() || (budget > 0 && info.GetCurrentHistoryLength() >= budget)
}

// continueAsNew carries the state into a fresh run. Signals that arrived but
// were not yet taken from the channel are moved into the inbox first (the
// caller has let running handlers finish), so nothing sent around the
// boundary is lost.
func (acc *account) continueAsNew(ctx workflow.Context) error {
	acc.drainSignals()
	acc.logger.Info("continuing as new", "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, AccountLifecycle, AccountInput{Profile: acc.s.Profile, State: acc.s})
}

// publish makes the account's state visible to the Temporal UI and to
// `starter list`: typed search attributes and a one-line current detail.
func (acc *account) publish(ctx workflow.Context) {
	s := acc.s
	attrs := searchAttrs{
		stage: s.Stage, tier: orDefault(s.Score.Tier, scoring.TierProspect), manager: s.Profile.Manager,
		health: s.Score.Health, churnRisk: s.Score.ChurnRisk,
	}
	if !acc.lean || attrs != acc.published {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			AccountStageKey.ValueSet(attrs.stage),
			AccountTierKey.ValueSet(attrs.tier),
			AccountManagerKey.ValueSet(attrs.manager),
			HealthScoreKey.ValueSet(attrs.health),
			ChurnRiskKey.ValueSet(attrs.churnRisk),
		)
		if err != nil {
			acc.logger.Error("upsert search attributes", "error", err)
		}
		acc.published = attrs
	}
	workflow.SetCurrentDetails(ctx, acc.details())
}

// searchAttrs are the values of the account's search attributes.
type searchAttrs struct {
	stage, tier, manager string
	health, churnRisk    float64
}

// details says in a few lines what the account is doing and waiting for.
func (acc *account) details() string {
	s := acc.s
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s** (%s) — stage **%s** since %s, tier **%s**, manager %s\n\n",
		s.Profile.Name, s.Profile.ID, s.Stage, s.StageSince.Format(time.DateTime), orDefault(s.Score.Tier, scoring.TierProspect), s.Profile.Manager))
	if !s.ScoredAt.IsZero() {
		b.WriteString(fmt.Sprintf("health %.0f, churn risk %.2f, value %s, potential %s, loyalty %s\n\n",
			s.Score.Health, s.Score.ChurnRisk, s.Score.Value, s.Score.Potential, s.Score.Loyalty))
	}
	if len(s.Tasks) > 0 {
		b.WriteString("waiting for:\n")
		for _, t := range s.Tasks {
			b.WriteString(fmt.Sprintf("- %s (%s, due %s)\n", t.Title, t.Assignee, t.Due.Format(time.DateTime)))
		}
	}
	if !ended(s.Stage) {
		b.WriteString(fmt.Sprintf("\nnext check %s", acc.nextWake().Format(time.DateTime)))
	}
	return b.String()
}

func (acc *account) status(now time.Time) Status {
	s := acc.s
	st := Status{
		AccountID: s.Profile.ID, Name: s.Profile.Name, Stage: s.Stage, StageSince: s.StageSince,
		Tier: orDefault(s.Score.Tier, scoring.TierProspect), Manager: s.Profile.Manager, Outcome: s.Outcome,
		ChurnReasons: s.ChurnReasons, OpenTasks: []OpenTask{},
		Scores: Scores{
			Value: string(s.Score.Value), Potential: string(s.Score.Potential), Loyalty: string(s.Score.Loyalty),
			Health: s.Score.Health, ChurnRisk: s.Score.ChurnRisk, ABC: s.Score.ABC, Segment: s.Score.Segment,
			Strategy: s.Score.Strategy, CLV: s.Score.CLV,
		},
	}
	for _, r := range s.Score.Reasons {
		st.Scores.Reasons = append(st.Scores.Reasons, Reason{Field: r.Field, Text: r.Text})
	}
	for _, t := range s.Tasks {
		st.OpenTasks = append(st.OpenTasks, OpenTask{ID: t.ID, Kind: t.Kind, Title: t.Title, Assignee: t.Assignee, Due: t.Due, Overdue: now.After(t.Due), EscalationLevel: t.Level})
	}
	if !s.LastVisit.IsZero() {
		lv := s.LastVisit
		st.LastVisit = &lv
	}
	if s.Stage == StageMaintain || s.Stage == StageChurnRecovery {
		nr := s.NextReview
		st.NextReview = &nr
	}
	return st
}

func ended(stage string) bool {
	return stage == StageLost || stage == StageDisqualified || stage == StageClosed
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
