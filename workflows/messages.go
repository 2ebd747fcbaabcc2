package workflows

import (
	"time"

	"github.com/kamflow/kamflow/activities"
)

// The contract every client (starter, console, API, tests) relies on.
const (
	// TaskQueue is the queue kamflow workers poll.
	TaskQueue = "kamflow"
	// WorkflowType is the registered name of AccountLifecycle.
	WorkflowType = "AccountLifecycle"
	// SignalEvent delivers a business Event, or a JSON array of them (one
	// account's batch, applied in order and recorded in one write).
	SignalEvent = "event"
	// UpdateOnboard registers (or re-registers) the account; clients send it
	// with update-with-start so onboarding is one round trip.
	UpdateOnboard = "onboard"
	// UpdateCompleteTask completes a human task: CompleteTaskRequest.
	UpdateCompleteTask = "complete_task"
	// UpdateReassign hands the account to another manager: ReassignRequest.
	UpdateReassign = "reassign"
	// UpdateClose ends the account: CloseRequest.
	UpdateClose = "close"
	// QueryStatus returns Status.
	QueryStatus = "status"
)

// Stages of the lifecycle, in the order an account normally walks them, and
// the end stages.
const (
	StageIdentify      = "identify"
	StageEngage        = "engage"
	StageDeepen        = "deepen"
	StageMaintain      = "maintain"
	StageChurnRecovery = "churn_recovery"
	StageLost          = "lost"
	StageDisqualified  = "disqualified"
	StageClosed        = "closed"
)

// Error types carried by rejected updates; the API maps them to HTTP codes.
const (
	ErrTypeNotFound    = "NotFound"
	ErrTypeConflict    = "Conflict"
	ErrTypeForbidden   = "Forbidden"
	ErrTypeInvalid     = "InvalidInput"
	ErrTypeAccountDone = "AccountEnded"
)

// AccountWorkflowID is the workflow ID of an account.
func AccountWorkflowID(accountID string) string { return "account-" + accountID }

// Profile and Event are defined beside the activities that persist them, so
// one struct travels from the client through the workflow into PostgreSQL.
type (
	Profile = activities.Profile
	Event   = activities.Event
)

// OnboardResult tells the client whether the account was new.
type OnboardResult struct {
	AccountID string `json:"account_id"`
	Existing  bool   `json:"existing"`
	Stage     string `json:"stage"`
}

// CompleteTaskRequest is sent by the console, the API or `starter tasks complete`.
// ActorRole is set by the authenticated caller (the API), not by the person.
type CompleteTaskRequest struct {
	TaskID    string `json:"task_id"`
	Actor     string `json:"actor"`
	ActorRole string `json:"actor_role"`
	Outcome   string `json:"outcome"`
	Notes     string `json:"notes,omitempty"`
}

// CompleteTaskResult confirms the completion.
type CompleteTaskResult struct {
	TaskID      string    `json:"task_id"`
	CompletedAt time.Time `json:"completed_at"`
}

// ReassignRequest hands the account and its open work to another manager.
type ReassignRequest struct {
	Manager string `json:"manager"`
	Actor   string `json:"actor"`
}

// CloseRequest ends the account; only ops may send it.
type CloseRequest struct {
	Reason    string `json:"reason"`
	Actor     string `json:"actor"`
	ActorRole string `json:"actor_role"`
}

// Scores is the latest scoring, as the status query shows it.
type Scores struct {
	Value     string   `json:"value"`
	Potential string   `json:"potential"`
	Loyalty   string   `json:"loyalty"`
	Health    float64  `json:"health"`
	ChurnRisk float64  `json:"churn_risk"`
	ABC       string   `json:"abc"`
	Segment   string   `json:"segment"`
	Strategy  string   `json:"strategy"`
	CLV       float64  `json:"clv"`
	Reasons   []Reason `json:"reasons,omitempty"`
}

// Reason explains one score.
type Reason struct {
	Field string `json:"field"`
	Text  string `json:"text"`
}

// OpenTask is a task waiting for a person.
type OpenTask struct {
	ID              string    `json:"id"`
	Kind            string    `json:"kind"`
	Title           string    `json:"title"`
	Assignee        string    `json:"assignee"`
	Due             time.Time `json:"due"`
	Overdue         bool      `json:"overdue"`
	EscalationLevel int       `json:"escalation_level"`
}

// Status is the answer of the status query.
type Status struct {
	AccountID    string     `json:"account_id"`
	Name         string     `json:"name"`
	Stage        string     `json:"stage"`
	StageSince   time.Time  `json:"stage_since"`
	Tier         string     `json:"tier"`
	Manager      string     `json:"manager"`
	Scores       Scores     `json:"scores"`
	ChurnReasons []string   `json:"churn_reasons,omitempty"`
	OpenTasks    []OpenTask `json:"open_tasks"`
	LastVisit    *time.Time `json:"last_visit"`
	NextReview   *time.Time `json:"next_review"`
	Outcome      string     `json:"outcome"`
}
