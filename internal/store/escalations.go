package store

import (
	"context"
	"fmt"
	"time"
)

// Escalation is a warning raised to a supervisor (level 1) or senior
// management (level 2) about an overdue task or an account at risk.
type Escalation struct {
	ID             string     `db:"id" json:"id"`
	AccountID      string     `db:"account_id" json:"account_id"`
	Level          int        `db:"level" json:"level"`
	Reason         string     `db:"reason" json:"reason"`
	RecipientID    string     `db:"recipient_id" json:"recipient_id"`
	TaskID         string     `db:"task_id" json:"task_id,omitempty"`               // the ack task, when one was created
	SourceTaskID   string     `db:"source_task_id" json:"source_task_id,omitempty"` // the overdue task escalated, if any
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	AcknowledgedAt *time.Time `db:"acknowledged_at" json:"acknowledged_at,omitempty"`
}

const escalationRowCols = `id, account_id, level, reason, recipient_id, COALESCE(task_id, '') AS task_id,
    COALESCE(source_task_id, '') AS source_task_id, created_at, acknowledged_at`

const createEscalationSQL = `
INSERT INTO escalations (id, account_id, level, reason, recipient_id, task_id, source_task_id, created_at)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), COALESCE($8, now()))
ON CONFLICT (id) DO NOTHING`

// CreateEscalation stores an escalation once per id and reports whether
// this call created it, so the caller counts and notifies once. A zero
// CreatedAt means now. Completing its ack task acknowledges it.
func (s *Store) CreateEscalation(ctx context.Context, e Escalation) (created bool, err error) {
	res, err := s.db.ExecContext(ctx, createEscalationSQL, e.ID, e.AccountID, e.Level, e.Reason, e.RecipientID,
		e.TaskID, e.SourceTaskID, nullTime(e.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("create escalation %s: %w", e.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create escalation %s: %w", e.ID, err)
	}
	return n == 1, nil
}

const escalationSQL = `SELECT ` + escalationRowCols + ` FROM escalations WHERE id = $1`

// Escalation returns one escalation, or ErrNotFound.
func (s *Store) Escalation(ctx context.Context, id string) (Escalation, error) {
	var e Escalation
	if err := s.db.GetContext(ctx, &e, escalationSQL, id); err != nil {
		return Escalation{}, notFound(err, "escalation "+id)
	}
	return e, nil
}

// EscalationFilter selects escalations; empty fields do not filter.
type EscalationFilter struct {
	AccountID   string
	RecipientID string
	// Open keeps only unacknowledged escalations.
	Open bool
	// Limit 0 means all.
	Limit int
}

const listEscalationsSQL = `SELECT ` + escalationRowCols + ` FROM escalations
WHERE ($1 = '' OR account_id = $1)
  AND ($2 = '' OR recipient_id = $2)
  AND (NOT $3 OR acknowledged_at IS NULL)
ORDER BY created_at DESC, id
LIMIT $4`

// ListEscalations returns the escalations matching f, newest first.
func (s *Store) ListEscalations(ctx context.Context, f EscalationFilter) ([]Escalation, error) {
	es := []Escalation{}
	if err := s.db.SelectContext(ctx, &es, listEscalationsSQL, f.AccountID, f.RecipientID, f.Open, limit(f.Limit)); err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	return es, nil
}
