package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/store"
)

// CreateTaskInput asks a person to do something by a due time.
type CreateTaskInput struct {
	Key       string    `json:"key"`
	AccountID string    `json:"account_id"`
	Kind      string    `json:"kind"`
	Assignee  string    `json:"assignee"`
	Title     string    `json:"title"`
	Due       time.Time `json:"due"`
	At        time.Time `json:"at"`
}

// TaskResult is a stored task and who may act on it besides its assignee.
type TaskResult struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Title      string    `json:"title"`
	Assignee   string    `json:"assignee"`
	Supervisor string    `json:"supervisor"`
	Due        time.Time `json:"due"`
}

// CreateTask writes the task keyed by Key; a retry returns the stored one.
func (a *Activities) CreateTask(ctx context.Context, in CreateTaskInput) (TaskResult, error) {
	t, err := a.Store.CreateTask(ctx, store.Task{
		ID: in.Key, AccountID: in.AccountID, Kind: in.Kind, AssigneeID: in.Assignee, Title: in.Title,
		DueAt: in.Due, State: store.TaskOpen, CreatedAt: in.At,
	})
	if err != nil {
		return TaskResult{}, fmt.Errorf("create task %s: %w", in.Key, err)
	}
	return a.taskResult(ctx, t)
}

func (a *Activities) taskResult(ctx context.Context, t store.Task) (TaskResult, error) {
	out := TaskResult{ID: t.ID, Kind: t.Kind, Title: t.Title, Assignee: t.AssigneeID, Due: t.DueAt}
	m, err := a.Store.Manager(ctx, t.AssigneeID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// An assignee unknown to the record has no supervisor; ops can still act.
	case err != nil:
		return out, fmt.Errorf("assignee %s of task %s: %w", t.AssigneeID, t.ID, err)
	default:
		out.Supervisor = m.SupervisorID
	}
	return out, nil
}

// CompleteTaskInput is a person's completion of a task.
type CompleteTaskInput struct {
	TaskID  string    `json:"task_id"`
	Actor   string    `json:"actor"`
	Outcome string    `json:"outcome"`
	Notes   string    `json:"notes,omitempty"`
	At      time.Time `json:"at"`
}

// CompleteTask records the completion once; a retry finds it done and
// returns without a second completion.
func (a *Activities) CompleteTask(ctx context.Context, in CompleteTaskInput) error {
	t, err := a.Store.CompleteTask(ctx, in.TaskID, in.Actor, Storable(in.Outcome), Storable(in.Notes), in.At)
	if err != nil {
		return notFoundIsInvalid(fmt.Errorf("complete task %s: %w", in.TaskID, err))
	}
	if a.Metrics != nil && t.CompletedAt != nil {
		a.Metrics.TaskCompleted(t.Kind, t.CompletedAt.Sub(t.CreatedAt))
	}
	return nil
}
