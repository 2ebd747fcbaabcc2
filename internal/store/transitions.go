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
// differ from the workers'). The account's workflow records one transition
// at a time, so no other insert for the account runs between the lookups
// and the insert.
//
// A row also carries what the KPI statements would otherwise pair rows for
// (migrations/0005 and 0006), from the account's other rows: entered_at,
// the at of the row before it in (at, key) order (the start of the stay it
// ends); prev_entry_at, the at of its previous move into the same stage;
// for a move up the ladder, next_up_at, the earliest at, at or after its
// own, of a move into the next stage; and for an onboarding (from no
// stage), deepen_at, the same for a move into deepen. A row recorded late
// is also what these facts point to for the rows around it, so relinked
// updates those, in one UPDATE since a statement changes a row only once.
const recordTransitionSQL = `
WITH ladder (stage, up) AS (VALUES ('identify', 'engage'), ('engage', 'deepen'), ('deepen', 'maintain')
), t AS (
    INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, reason, at,
        entered_at, prev_entry_at, next_up_at, deepen_at)
    VALUES ($1, $2, $3, $4, $5, $6,
        (SELECT at FROM stage_transitions WHERE account_id = $2 AND (at, key) < ($6, $1)
         ORDER BY at DESC, key DESC LIMIT 1),
        (SELECT at FROM stage_transitions WHERE account_id = $2 AND to_stage = $4 AND (at, key) < ($6, $1)
         ORDER BY at DESC, key DESC LIMIT 1),
        (SELECT min(at) FROM stage_transitions WHERE account_id = $2 AND at >= $6
           AND to_stage = (SELECT up FROM ladder WHERE stage = $4)),
        CASE WHEN $3 = '' THEN (SELECT least(min(at), CASE WHEN $4 = 'deepen' THEN $6::timestamptz END)
            FROM stage_transitions WHERE account_id = $2 AND to_stage = 'deepen' AND at >= $6) END)
    ON CONFLICT (key) DO NOTHING
    RETURNING key, account_id, to_stage, reason, at
), after AS (
    SELECT (SELECT s.key FROM stage_transitions s
            WHERE s.account_id = t.account_id AND (s.at, s.key) > (t.at, t.key)
            ORDER BY s.at, s.key LIMIT 1) AS next_key,
        (SELECT s.key FROM stage_transitions s
         WHERE s.account_id = t.account_id AND s.to_stage = t.to_stage AND (s.at, s.key) > (t.at, t.key)
         ORDER BY s.at, s.key LIMIT 1) AS next_entry_key,
        (SELECT stage FROM ladder WHERE up = t.to_stage) AS down
    FROM t
), relinked AS (
    UPDATE stage_transitions n SET
        entered_at = CASE WHEN n.key = a.next_key THEN t.at ELSE n.entered_at END,
        prev_entry_at = CASE WHEN n.key = a.next_entry_key THEN t.at ELSE n.prev_entry_at END,
        next_up_at = CASE WHEN n.to_stage = a.down AND n.at <= t.at THEN least(n.next_up_at, t.at) ELSE n.next_up_at END,
        deepen_at = CASE WHEN n.from_stage = '' AND t.to_stage = 'deepen' AND n.at <= t.at
            THEN least(n.deepen_at, t.at) ELSE n.deepen_at END
    FROM t, after a
    WHERE n.account_id = t.account_id
      AND (n.key IN (a.next_key, a.next_entry_key)
           OR (n.to_stage = a.down AND n.at <= t.at AND (n.next_up_at IS NULL OR n.next_up_at > t.at))
           OR (n.from_stage = '' AND t.to_stage = 'deepen' AND n.at <= t.at AND (n.deepen_at IS NULL OR n.deepen_at > t.at)))
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
