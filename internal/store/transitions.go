package store

import (
	"context"
	"fmt"
	"time"
)

// Transition is one stage change of an account, keyed by the workflow.
type Transition struct {
	Key       string    `db:"key" json:"key"`
	AccountID string    `db:"account_id" json:"account_id"`
	From      string    `db:"from_stage" json:"from"`
	To        string    `db:"to_stage" json:"to"`
	Reason    string    `db:"reason" json:"reason"`
	At        time.Time `db:"at" json:"at"`
	// Outcome is how the account ended, for a move to an end stage (lost,
	// disqualified, closed); it and Reason become the account's outcome and
	// closed reason. Not kept on the transition row.
	Outcome string `db:"-" json:"outcome,omitempty"`
}

// One statement: the history row and the account's current stage cannot
// disagree. Only a new row moves the account, so a retried transition never
// rewinds stage_since; nor does an older transition recorded late (judged
// against the other transitions' times, not the server clock, which may
// differ from the workers').
const recordTransitionSQL = `
WITH t AS (
    INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, reason, at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (key) DO NOTHING
    RETURNING account_id, to_stage, reason, at
), moved AS (
    UPDATE accounts a SET stage = t.to_stage, stage_since = t.at, updated_at = now(),
        outcome = CASE WHEN t.to_stage IN ('lost', 'disqualified', 'closed') THEN $7 ELSE a.outcome END,
        closed_reason = CASE WHEN t.to_stage IN ('lost', 'disqualified', 'closed') THEN t.reason ELSE a.closed_reason END
    FROM t WHERE a.id = t.account_id
      AND NOT EXISTS (SELECT 1 FROM stage_transitions s WHERE s.account_id = t.account_id AND s.at > t.at)
)
SELECT count(*) > 0 FROM t`

// RecordTransition stores a stage transition and moves the account to its
// stage, once per key, and reports whether this call recorded it (so the
// caller counts each transition once).
func (s *Store) RecordTransition(ctx context.Context, t Transition) (created bool, err error) {
	err = s.db.GetContext(ctx, &created, recordTransitionSQL, t.Key, t.AccountID, t.From, t.To, t.Reason, t.At, t.Outcome)
	if err != nil {
		return false, fmt.Errorf("record transition %s: %w", t.Key, err)
	}
	return created, nil
}

const transitionsSQL = `SELECT key, account_id, from_stage, to_stage, reason, at FROM stage_transitions
WHERE account_id = $1 ORDER BY at, key`

// Transitions returns an account's stage history, oldest first.
func (s *Store) Transitions(ctx context.Context, accountID string) ([]Transition, error) {
	ts := []Transition{}
	if err := s.db.SelectContext(ctx, &ts, transitionsSQL, accountID); err != nil {
		return nil, fmt.Errorf("transitions of account %s: %w", accountID, err)
	}
	return ts, nil
}
