package store

import (
	"context"
	"fmt"
	"time"
)

// TimelineEntry is one line of an account's history as the console shows
// it. Kind says where it came from: event, stage, score, task, task_done,
// visit, survey, survey_answer or escalation; Ref is that row's key (the
// external id for events).
type TimelineEntry struct {
	At     time.Time `db:"at" json:"at"`
	Kind   string    `db:"kind" json:"kind"`
	Title  string    `db:"title" json:"title"`
	Detail string    `db:"detail" json:"detail"`
	Ref    string    `db:"ref" json:"ref"`
}

// One query over every table that records the account, merged by time.
// Each branch is cut to the limit first (by its (account, time) index), so
// the merge never sorts an account's whole history.
const timelineMergedSQL = `
SELECT at, kind, title, detail, ref FROM (
    (SELECT e.at, 'event' AS kind, e.kind AS title,
        concat_ws(', ',
            CASE WHEN e.amount <> 0 THEN 'amount ' || e.amount END,
            CASE WHEN e.severity <> 0 THEN 'severity ' || e.severity END,
            'NPS ' || e.nps, 'CSAT ' || e.csat, NULLIF(e.note, ''),
            CASE WHEN e.status = 'rejected' THEN 'rejected: ' || e.reason END) AS detail,
        e.external_id AS ref
     FROM account_events e WHERE e.account_id = $1 ORDER BY e.at DESC LIMIT $2)
    UNION ALL
    (SELECT t.at, 'stage', concat_ws(' -> ', NULLIF(t.from_stage, ''), t.to_stage), t.reason, t.key
     FROM stage_transitions t WHERE t.account_id = $1 ORDER BY t.at DESC LIMIT $2)
    UNION ALL
    (SELECT s.at, 'score', 'tier ' || s.tier,
        format('health %s, churn risk %s, value %s, potential %s, loyalty %s',
            s.health, s.churn_risk, s.value, s.potential, s.loyalty), s.key
     FROM scores s WHERE s.account_id = $1 ORDER BY s.at DESC LIMIT $2)
    UNION ALL
    (SELECT t.created_at, 'task', t.title,
        format('%s for %s, due %s', t.kind, t.assignee_id, to_char(t.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')), t.id
     FROM tasks t WHERE t.account_id = $1 ORDER BY t.created_at DESC LIMIT $2)
    UNION ALL
    (SELECT t.completed_at, 'task_done', t.title, concat_ws(': ', 'by ' || t.completed_by, NULLIF(t.outcome, '')), t.id
     FROM tasks t WHERE t.account_id = $1 AND t.completed_at IS NOT NULL ORDER BY t.completed_at DESC LIMIT $2)
    UNION ALL
    (SELECT v.starts_at, 'visit', COALESCE(NULLIF(v.purpose, ''), 'visit'), format('with %s, %s', v.manager_id, v.state), v.id
     FROM visits v WHERE v.account_id = $1 ORDER BY v.starts_at DESC LIMIT $2)
    UNION ALL
    (SELECT s.sent_at, 'survey', s.kind || ' survey sent', 'to ' || s.recipient, s.id
     FROM surveys s WHERE s.account_id = $1 ORDER BY s.sent_at DESC LIMIT $2)
    UNION ALL
    (SELECT r.answered_at, 'survey_answer', s.kind || ' survey answered',
        concat_ws(', ', 'NPS ' || r.nps, 'CSAT ' || r.csat, NULLIF(r.comment, '')), s.id
     FROM surveys s JOIN survey_responses r ON r.survey_id = s.id
     WHERE s.account_id = $1 ORDER BY r.answered_at DESC LIMIT $2)
    UNION ALL
    (SELECT e.created_at, 'escalation', format('level %s escalation to %s', e.level, e.recipient_id), e.reason, e.id
     FROM escalations e WHERE e.account_id = $1 ORDER BY e.created_at DESC LIMIT $2)
) entries
ORDER BY at DESC, kind, ref
LIMIT $2`

// Timeline returns an account's history, newest first: events, stage
// changes, scores, tasks and their completion, visits, surveys and their
// answers, escalations. Limit 0 means all.
func (s *Store) Timeline(ctx context.Context, accountID string, n int) ([]TimelineEntry, error) {
	es := []TimelineEntry{}
	if err := s.db.SelectContext(ctx, &es, timelineMergedSQL, accountID, limit(n)); err != nil {
		return nil, fmt.Errorf("timeline of account %s: %w", accountID, err)
	}
	return es, nil
}
