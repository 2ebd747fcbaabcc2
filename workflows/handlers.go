package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
)

// registerHandlers installs every query, update and signal handler before
// the workflow first blocks, so no message finds the account deaf.
func (acc *account) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		return acc.status(workflow.Now(ctx)), nil
	}); err != nil {
		return err
	}
	updates := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateOnboard, acc.onboard, acc.validateOnboard},
		{UpdateCompleteTask, acc.completeTask, acc.validateCompleteTask},
		{UpdateReassign, acc.reassign, acc.validateReassign},
		{UpdateClose, acc.close, acc.validateClose},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return err
		}
	}
	acc.events = workflow.GetSignalChannel(ctx, SignalEvent)
	if !acc.inlineSignals {
		// Runs before versionInlineSignals keep their receiving coroutine.
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var raw json.RawMessage
				acc.events.Receive(ctx, &raw)
				acc.receive(raw)
			}
		})
	}
	return nil
}

// receive takes a signal's payload into the inbox: one event, or a batch of
// them as a JSON array (accounts.SendEvents), each element on its own.
func (acc *account) receive(raw json.RawMessage) {
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		// As in receiveOne: decoding bytes is deterministic.
		//workflowcheck:ignore
		if err := json.Unmarshal(raw, &batch); err == nil {
			for _, e := range batch {
				acc.receiveOne(e)
			}
			return
		}
		// Not even an array of values: one rejection says so.
	}
	acc.receiveOne(raw)
}

// receiveOne decodes an event by hand: a payload that is not an event is
// recorded as rejected instead of failing the workflow task.
func (acc *account) receiveOne(raw json.RawMessage) {
	var e Event
	in := Incoming{}
	// Decoding bytes into a struct is deterministic; workflowcheck sees
	// reflection and goroutines deep in the runtime and cannot tell.
	//workflowcheck:ignore
	err := json.Unmarshal(raw, &e)
	if err != nil {
		acc.s.Seq++
		e = Event{ExternalID: fmt.Sprintf("undecodable:%d", acc.s.Seq), Note: truncate(string(raw), 500)}
		in.Error = "payload is not an event: " + err.Error()
	}
	in.Event = e
	acc.s.Inbox = append(acc.s.Inbox, in)
}

// drainSignals moves signals delivered but not yet received into the
// inbox: before each turn's events are processed (versionInlineSignals),
// and before continue-as-new.
func (acc *account) drainSignals() {
	for {
		var raw json.RawMessage
		if !acc.events.ReceiveAsync(&raw) {
			return
		}
		acc.receive(raw)
	}
}

func (acc *account) validateOnboard(p Profile) error {
	if p.ID != acc.s.Profile.ID {
		return rejected(ErrTypeInvalid, "onboard: profile id %q does not match account %q", p.ID, acc.s.Profile.ID)
	}
	return nil
}

// onboard answers update-with-start: the first call is the start itself,
// later ones find the account existing and change nothing.
func (acc *account) onboard(ctx workflow.Context, p Profile) (OnboardResult, error) {
	acc.s.Onboards++
	return OnboardResult{AccountID: acc.s.Profile.ID, Existing: acc.s.Onboards > 1, Stage: orDefault(acc.s.Stage, StageIdentify)}, nil
}

func (acc *account) openTask(id string) *Task {
	for _, t := range acc.s.Tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// validateCompleteTask reads state only: a rejected update never reaches history.
func (acc *account) validateCompleteTask(req CompleteTaskRequest) error {
	if req.Outcome == "" {
		return rejected(ErrTypeInvalid, "outcome is required: say what happened")
	}
	if strings.ContainsRune(req.Outcome, 0) || strings.ContainsRune(req.Notes, 0) {
		return rejected(ErrTypeInvalid, "outcome and notes must not contain NUL characters")
	}
	t := acc.openTask(req.TaskID)
	if t == nil {
		if slices.Contains(acc.s.DoneTasks, req.TaskID) {
			return rejected(ErrTypeConflict, "task %s is already done", req.TaskID)
		}
		return rejected(ErrTypeNotFound, "task %s is not an open task of account %s", req.TaskID, acc.s.Profile.ID)
	}
	if t.completing {
		return rejected(ErrTypeConflict, "task %s is being completed", req.TaskID)
	}
	if req.Actor != t.Assignee && req.Actor != t.Supervisor && req.ActorRole != activities.RoleOps {
		return rejected(ErrTypeForbidden, "task %s belongs to %s: only they, their supervisor or ops may complete it", req.TaskID, t.Assignee)
	}
	return nil
}

func (acc *account) completeTask(ctx workflow.Context, req CompleteTaskRequest) (CompleteTaskResult, error) {
	ctx = withActivityOptions(ctx)
	t := acc.openTask(req.TaskID)
	t.completing = true
	now := workflow.Now(ctx)
	in := activities.CompleteTaskInput{TaskID: t.ID, Actor: req.Actor, Outcome: req.Outcome, Notes: req.Notes, At: now}
	if err := acc.execute(ctx, a.CompleteTask, in).Get(ctx, nil); err != nil {
		t.completing = false
		return CompleteTaskResult{}, err
	}
	s := acc.s
	s.Tasks = slices.DeleteFunc(s.Tasks, func(o *Task) bool { return o.ID == t.ID })
	s.DoneTasks = append(s.DoneTasks, t.ID)
	if len(s.DoneTasks) > 200 {
		s.DoneTasks = slices.Clone(s.DoneTasks[len(s.DoneTasks)-200:])
	}
	if t.Kind == activities.TaskVisit {
		s.LastVisit = now
		if s.Stage == StageEngage {
			s.IntroVisitDone = true
		}
	}
	acc.poke = true
	acc.publish(ctx)
	return CompleteTaskResult{TaskID: t.ID, CompletedAt: now}, nil
}

func (acc *account) validateReassign(req ReassignRequest) error {
	if ended(acc.s.Stage) {
		return rejected(ErrTypeAccountDone, "account %s has ended (%s)", acc.s.Profile.ID, acc.s.Stage)
	}
	if err := activities.ValidID(req.Manager); err != nil {
		return rejected(ErrTypeInvalid, "manager: %v", err)
	}
	if req.Manager == acc.s.Profile.Manager {
		return rejected(ErrTypeConflict, "account %s is already managed by %s", acc.s.Profile.ID, req.Manager)
	}
	return nil
}

func (acc *account) reassign(ctx workflow.Context, req ReassignRequest) (Status, error) {
	ctx = withActivityOptions(ctx)
	s := acc.s
	in := activities.ReassignInput{AccountID: s.Profile.ID, From: s.Profile.Manager, Manager: req.Manager, At: workflow.Now(ctx)}
	var out activities.ReassignResult
	if err := acc.execute(ctx, a.Reassign, in).Get(ctx, &out); err != nil {
		return Status{}, err
	}
	for _, t := range s.Tasks {
		if t.Assignee == s.Profile.Manager && t.Kind != activities.TaskAck {
			t.Assignee, t.Supervisor = req.Manager, out.Supervisor
		}
	}
	acc.logger.Info("reassigned", "from", s.Profile.Manager, "to", req.Manager, "actor", req.Actor)
	s.Profile.Manager = req.Manager
	acc.publish(ctx)
	return acc.status(workflow.Now(ctx)), nil
}

func (acc *account) validateClose(req CloseRequest) error {
	if req.ActorRole != activities.RoleOps {
		return rejected(ErrTypeForbidden, "only ops may close an account")
	}
	if req.Reason == "" {
		return rejected(ErrTypeInvalid, "reason is required: say why the account is closed")
	}
	if ended(acc.s.Stage) || acc.closeAsked {
		return rejected(ErrTypeAccountDone, "account %s has already ended (%s)", acc.s.Profile.ID, acc.s.Stage)
	}
	return nil
}

// close asks the main loop to end the account and waits until it has.
func (acc *account) close(ctx workflow.Context, req CloseRequest) (Status, error) {
	acc.s.CloseReason = req.Reason
	acc.closeAsked = true
	if err := workflow.Await(ctx, func() bool { return ended(acc.s.Stage) }); err != nil {
		return Status{}, err
	}
	return acc.status(workflow.Now(ctx)), nil
}

func rejected(errType, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), errType)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
