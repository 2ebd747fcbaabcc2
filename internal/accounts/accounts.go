// Package accounts is the one client-side way to act on account workflows:
// onboard, send events, ask for status, complete tasks, close, reassign and
// list. The starter, the HTTP API and the demo loader all call it, so a
// message is always sent with the same options and its errors always read
// the same, whoever sends it. It also reads the accounts and events CSV
// files that operations import.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/workflows"
)

// ErrNotFound matches (errors.Is) every "account X does not exist" error.
var ErrNotFound = errors.New("account does not exist")

// ErrEnded matches every "account X has ended" error: the account's
// workflow is closed, so it takes no more events or updates.
var ErrEnded = errors.New("account has ended")

// NotFoundError says which account does not exist.
type NotFoundError struct{ AccountID string }

// Error reads "account X does not exist", the message every client shows.
func (e *NotFoundError) Error() string { return "account " + e.AccountID + " does not exist" }

// Is lets callers test for ErrNotFound without knowing the id.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// EndedError says which account has ended.
type EndedError struct{ AccountID string }

// Error says the account has ended, so a person stops retrying.
func (e *EndedError) Error() string {
	return "account " + e.AccountID + " has ended: it takes no more events or changes"
}

// Is lets callers test for ErrEnded without knowing the id.
func (e *EndedError) Is(target error) bool { return target == ErrEnded }

// Rejected is an update the account's workflow refused (its validator, or
// an account that does not exist). Code is the HTTP status the API answers
// with, so every client maps a refusal the same way.
type Rejected struct {
	Code    int
	Message string
}

// Error is the workflow's own reason, already written for a person.
func (e *Rejected) Error() string { return e.Message }

// rejectedCodes maps the workflow's error types to HTTP statuses.
var rejectedCodes = map[string]int{
	workflows.ErrTypeInvalid:     http.StatusBadRequest,
	workflows.ErrTypeForbidden:   http.StatusForbidden,
	workflows.ErrTypeNotFound:    http.StatusNotFound,
	workflows.ErrTypeConflict:    http.StatusConflict,
	workflows.ErrTypeAccountDone: http.StatusConflict,
}

// StaticSummary renders the one-line description the Temporal UI shows for
// an account's workflow.
func StaticSummary(p activities.Profile) string {
	return fmt.Sprintf("%s (%s), managed by %s", p.Name, p.ID, p.Manager)
}

// memoName is the memo key holding the account's name, so that List shows
// names without a query per account.
const memoName = "name"

// Onboard starts the account's workflow, or finds it running, in one round
// trip (update-with-start). existing is true when the account was already
// onboarded, including an account that has since ended: an ended account is
// never restarted by a re-import. A run that failed may be started again.
func Onboard(ctx context.Context, c client.Client, taskQueue string, p activities.Profile) (existing bool, err error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("onboard account %s: %w", p.ID, err)
	}
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.AccountWorkflowID(p.ID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:            StaticSummary(p),
		Memo:                     map[string]any{memoName: p.Name},
	}, workflows.WorkflowType, workflows.AccountInput{Profile: p})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateOnboard,
			Args:         []any{p},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return true, nil // closed and not failed: the account has run its course
	}
	if err != nil {
		return false, fmt.Errorf("onboard account %s: %w", p.ID, err)
	}
	var res workflows.OnboardResult
	if err := h.Get(ctx, &res); err != nil {
		return false, fmt.Errorf("onboard account %s: %w", p.ID, rejection(err))
	}
	return res.Existing, nil
}

// SendEvent delivers a business event to the account. The workflow applies
// an ExternalID once, so sending the same event again is harmless.
func SendEvent(ctx context.Context, c client.Client, accountID string, e activities.Event) error {
	if err := activities.ValidID(accountID); err != nil {
		return fmt.Errorf("send event to account: %w", err)
	}
	err := c.SignalWorkflow(ctx, workflows.AccountWorkflowID(accountID), "", workflows.SignalEvent, e)
	if err != nil {
		return fmt.Errorf("send event %s: %w", e.ExternalID, missing(ctx, c, accountID, err))
	}
	return nil
}

// Limits of one batch of events (SendEvents): well inside the Temporal
// server's payload limits (a warning at 512 KiB, refused at 2 MiB), however
// long the notes.
const (
	MaxBatchEvents = 100
	MaxBatchBytes  = 256 << 10
)

// SendEvents delivers events of one account in one signal, applied in order
// and recorded in one write, as if sent one by one: bulk feeds cost the
// Temporal server a signal and a workflow task per batch instead of per
// event. Use Batches to cut a feed into batches within the limits.
func SendEvents(ctx context.Context, c client.Client, accountID string, events []activities.Event) error {
	if err := activities.ValidID(accountID); err != nil {
		return fmt.Errorf("send events to account: %w", err)
	}
	if len(events) == 0 || len(events) > MaxBatchEvents {
		return fmt.Errorf("send events to account %s: %d events in one batch, want 1 to %d", accountID, len(events), MaxBatchEvents)
	}
	err := c.SignalWorkflow(ctx, workflows.AccountWorkflowID(accountID), "", workflows.SignalEvent, events)
	if err != nil {
		return fmt.Errorf("send %d events (%s to %s): %w", len(events), events[0].ExternalID, events[len(events)-1].ExternalID, missing(ctx, c, accountID, err))
	}
	return nil
}

// Batches cuts one account's events, in order, into runs for SendEvents of
// at most max events (MaxBatchEvents when max is 0 or above it) and
// MaxBatchBytes of JSON. It returns the index ranges [from, to).
func Batches(events []activities.Event, max int) [][2]int {
	if max <= 0 || max > MaxBatchEvents {
		max = MaxBatchEvents
	}
	var out [][2]int
	from, bytes := 0, 0
	for i, e := range events {
		size := jsonSize(e)
		if i > from && (i-from == max || bytes+size > MaxBatchBytes) {
			out = append(out, [2]int{from, i})
			from, bytes = i, 0
		}
		bytes += size
	}
	if from < len(events) {
		out = append(out, [2]int{from, len(events)})
	}
	return out
}

// jsonSize is the length of e as a signal encodes it.
func jsonSize(e activities.Event) int {
	b, err := json.Marshal(e)
	if err != nil {
		return MaxBatchBytes // cannot happen for an Event; sent alone if it did
	}
	return len(b) + 1
}

// Status asks the account's workflow for its status query.
func Status(ctx context.Context, c client.Client, accountID string) (workflows.Status, error) {
	var st workflows.Status
	if err := activities.ValidID(accountID); err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	v, err := c.QueryWorkflow(ctx, workflows.AccountWorkflowID(accountID), "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("status of account %s: %w", accountID, missing(ctx, c, accountID, err))
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of account %s: %w", accountID, err)
	}
	return st, nil
}

// TaskAccount returns the account a task belongs to: task ids are
// "<account>:<kind>:<n>", so an id alone finds its workflow.
func TaskAccount(taskID string) (string, error) {
	account, _, ok := strings.Cut(taskID, ":")
	if !ok {
		return "", fmt.Errorf("task id %q: want <account>:<kind>:<n>, e.g. acme-1:visit:3", taskID)
	}
	if err := activities.ValidID(account); err != nil {
		return "", fmt.Errorf("task id %q: account part: %w", taskID, err)
	}
	return account, nil
}

// CompleteTask completes a person's task through the account's update. A
// refusal (unknown task, done already, someone else's, no outcome, ended
// account) is a *Rejected carrying its HTTP status.
func CompleteTask(ctx context.Context, c client.Client, req workflows.CompleteTaskRequest) (workflows.CompleteTaskResult, error) {
	var res workflows.CompleteTaskResult
	account, err := TaskAccount(req.TaskID)
	if err != nil {
		return res, &Rejected{Code: http.StatusBadRequest, Message: err.Error()}
	}
	if err := update(ctx, c, account, workflows.UpdateCompleteTask, req, &res); err != nil {
		return res, fmt.Errorf("complete task %s: %w", req.TaskID, err)
	}
	return res, nil
}

// Close ends the account; the workflow accepts it from ops only. It returns
// once the account has ended, with its final status.
func Close(ctx context.Context, c client.Client, accountID string, req workflows.CloseRequest) (workflows.Status, error) {
	var st workflows.Status
	if err := update(ctx, c, accountID, workflows.UpdateClose, req, &st); err != nil {
		return st, fmt.Errorf("close account %s: %w", accountID, err)
	}
	return st, nil
}

// Reassign hands the account and its manager's open tasks to another manager.
func Reassign(ctx context.Context, c client.Client, accountID string, req workflows.ReassignRequest) (workflows.Status, error) {
	var st workflows.Status
	if err := update(ctx, c, accountID, workflows.UpdateReassign, req, &st); err != nil {
		return st, fmt.Errorf("reassign account %s: %w", accountID, err)
	}
	return st, nil
}

// update sends a validated update and waits for its result. Refusals come
// back as *Rejected.
func update(ctx context.Context, c client.Client, accountID, name string, arg, result any) error {
	if err := activities.ValidID(accountID); err != nil {
		return &Rejected{Code: http.StatusBadRequest, Message: "account: " + err.Error()}
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.AccountWorkflowID(accountID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	if err == nil {
		return nil
	}
	err = missing(ctx, c, accountID, err)
	switch {
	case errors.Is(err, ErrNotFound):
		return &Rejected{Code: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, ErrEnded):
		return &Rejected{Code: http.StatusConflict, Message: err.Error()}
	}
	return rejection(err)
}

// rejection turns an application error of a known type into *Rejected.
func rejection(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		if code, ok := rejectedCodes[app.Type()]; ok {
			return &Rejected{Code: code, Message: app.Message()}
		}
	}
	return err
}

// missing explains a NotFound from the server: Temporal answers NotFound
// both for an id it never saw and for a workflow that has completed, and a
// person needs to know which.
func missing(ctx context.Context, c client.Client, accountID string, err error) error {
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		return err
	}
	d, derr := c.DescribeWorkflowExecution(ctx, workflows.AccountWorkflowID(accountID), "")
	switch {
	case derr == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return &EndedError{AccountID: accountID}
	case derr != nil && !errors.As(derr, &nf):
		// Only a clear answer may turn "not found" into something else.
		return fmt.Errorf("%w (and describing it failed: %v)", &NotFoundError{AccountID: accountID}, derr)
	}
	return &NotFoundError{AccountID: accountID}
}
