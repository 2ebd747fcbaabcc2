package store

import (
	"context"
	"fmt"
	"time"
)

// Task is a piece of human work with a deadline: a visit to complete, a
// recovery plan to write, an escalation to acknowledge, a follow-up.
type Task struct {
	ID              string     `db:"id" json:"id"` // the workflow's key
	AccountID       string     `db:"account_id" json:"account_id"`
	Kind            string     `db:"kind" json:"kind"` // visit | recovery_plan | ack | follow_up
	AssigneeID      string     `db:"assignee_id" json:"assignee_id"`
	Title           string     `db:"title" json:"title"`
	DueAt           time.Time  `db:"due_at" json:"due_at"`
	State           string     `db:"state" json:"state"` // open | done | cancelled
	EscalationLevel int        `db:"escalation_level" json:"escalation_level"`
	CreatedAt       time.Time  `db:"created_at" json:"created_at"`
	CompletedAt     *time.Time `db:"completed_at" json:"completed_at,omitempty"`
	CompletedBy     string     `db:"completed_by" json:"completed_by,omitempty"`
	Outcome         string     `db:"outcome" json:"outcome,omitempty"`
	Notes           string     `db:"notes" json:"notes,omitempty"`
}

// Task states.
const (
	TaskOpen      = "open"
	TaskDone      = "done"
	TaskCancelled = "cancelled"
)

const taskCols = `id, account_id, kind, assignee_id, title, due_at, state, escalation_level, created_at,
    completed_at, completed_by, outcome, notes`

const createTaskSQL = `
INSERT INTO tasks (id, account_id, kind, assignee_id, title, due_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()))
ON CONFLICT (id) DO NOTHING
RETURNING ` + taskCols

const taskSQL = `SELECT ` + taskCols + ` FROM tasks WHERE id = $1`

// CreateTask creates an open task, once per id, and returns the stored row:
// a retry gets the task as first created (possibly completed since). A zero
// CreatedAt means now.
func (s *Store) CreateTask(ctx context.Context, t Task) (Task, error) {
	var out Task
	err := insertOrGet(ctx, s.db, &out, createTaskSQL,
		[]any{t.ID, t.AccountID, t.Kind, t.AssigneeID, t.Title, t.DueAt, nullTime(t.CreatedAt)}, taskSQL, t.ID)
	if err != nil {
		return Task{}, fmt.Errorf("create task %s: %w", t.ID, err)
	}
	return out, nil
}

// Task returns one task, or ErrNotFound.
func (s *Store) Task(ctx context.Context, id string) (Task, error) {
	var t Task
	if err := s.db.GetContext(ctx, &t, taskSQL, id); err != nil {
		return Task{}, notFound(err, "task "+id)
	}
	return t, nil
}

// Only an open task completes, so two completions cannot both win. A visit
// task completes its visit and an ack task acknowledges its escalation in
// the same statement.
const completeTaskSQL = `
WITH t AS (
    UPDATE tasks SET state = 'done', completed_at = $5, completed_by = $2, outcome = $3, notes = $4
    WHERE id = $1 AND state = 'open'
    RETURNING ` + taskCols + `
), v AS (
    UPDATE visits SET state = 'done' WHERE task_id IN (SELECT id FROM t WHERE kind = 'visit') AND state = 'scheduled'
), e AS (
    UPDATE escalations SET acknowledged_at = $5
    WHERE task_id IN (SELECT id FROM t WHERE kind = 'ack') AND acknowledged_at IS NULL
)
SELECT * FROM t`

// CompleteTask marks an open task done by the given manager. Repeating the
// completion (same actor: a retried update or a double click) returns the
// task as completed the first time; completing a task that someone else
// completed, or that was cancelled, is ErrTaskClosed; a missing task is
// ErrNotFound.
func (s *Store) CompleteTask(ctx context.Context, id, by, outcome, notes string, at time.Time) (Task, error) {
	var t Task
	err := insertOrGet(ctx, s.db, &t, completeTaskSQL, []any{id, by, outcome, notes, at}, taskSQL, id)
	if err != nil {
		return Task{}, notFound(err, "complete task "+id)
	}
	if t.State == TaskDone && t.CompletedBy == by {
		return t, nil
	}
	return Task{}, fmt.Errorf("complete task %s: %w (state %s, completed by %q)", id, ErrTaskClosed, t.State, t.CompletedBy)
}

// TaskFilter selects tasks; empty fields do not filter.
type TaskFilter struct {
	// Assignees keeps tasks of any of these managers (one manager's inbox,
	// or a team's). Empty means everyone's.
	Assignees []string
	AccountID string
	State     string
	Kind      string
	// Limit 0 means all.
	Limit int
}

const tasksSQL = `SELECT ` + taskCols + ` FROM tasks
WHERE (cardinality($1::text[]) = 0 OR assignee_id = ANY ($1))
  AND ($2 = '' OR account_id = $2)
  AND ($3 = '' OR state = $3)
  AND ($4 = '' OR kind = $4)
ORDER BY due_at, id
LIMIT $5`

// Tasks returns the tasks matching f, soonest due first.
func (s *Store) Tasks(ctx context.Context, f TaskFilter) ([]Task, error) {
	ts := []Task{}
	err := s.db.SelectContext(ctx, &ts, tasksSQL, textArray(f.Assignees), f.AccountID, f.State, f.Kind, limit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return ts, nil
}

// The level only rises: a retried level-1 escalation after level 2 must not
// lower it.
const escalateTaskSQL = `UPDATE tasks SET escalation_level = GREATEST(escalation_level, $2) WHERE id = $1`

// EscalateTask records that an overdue task was escalated to level.
func (s *Store) EscalateTask(ctx context.Context, id string, level int) error {
	res, err := s.db.ExecContext(ctx, escalateTaskSQL, id, level)
	if err != nil {
		return fmt.Errorf("escalate task %s to level %d: %w", id, level, err)
	}
	return mustAffect(res, "task "+id)
}
