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
// differ from the workers'). A row's entered_at is the at of the account's
// transition before it in (at, key) order, the start of the stay it ends;
// a transition recorded late also becomes the start of the stay that the
// next one ends. The account's workflow records one transition at a time,
// so no other insert for the account runs between the lookup and the
// insert.
const recordTransitionSQL = `
WITH prev AS (
    SELECT at FROM stage_transitions
    WHERE account_id = $2 AND (at, key) < ($6, $1)
    ORDER BY at DESC, key DESC LIMIT 1
), t AS (
    INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, reason, at, entered_at)
    VALUES ($1, $2, $3, $4, $5, $6, (SELECT at FROM prev))
    ON CONFLICT (key) DO NOTHING
    RETURNING key, account_id, to_stage, reason, at
), relinked AS (
    UPDATE stage_transitions n SET entered_at = t.at
    FROM t
    WHERE n.key = (SELECT s.key FROM stage_transitions s
                   WHERE s.account_id = t.account_id AND (s.at, s.key) > (t.at, t.key)
                   ORDER BY s.at, s.key LIMIT 1)
), moved AS (
    UPDATE accounts a SET stage = t.to_stage, stage_since = t.at, updated_at = now(),
        outcome = CASE WHEN t.to_stage IN ('lost', 'disqualified', 'closed') THEN $7 ELSE a.outcome END,
        closed_reason = CASE WHEN t.to_stage IN ('lost', 'disqualified', 'closed') THEN t.reason ELSE a.closed_reason END
    FROM t WHERE a.id = t.account_id
      AND NOT EXISTS (SELECT 1 FROM stage_transitions s WHERE s.account_id = t.account_id AND (s.at, s.key) > (t.at, t.key))
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
