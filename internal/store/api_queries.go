package store

// Reads and writes of the managers' console and JSON API (internal/api):
// console sessions, inbox pages, the account timeline, escalations and the
// outbox. Every list is keyset-paged and served by an index (see
// migrations/0002_sessions.sql), so an inbox of ten thousand open tasks or
// an account with thousands of timeline entries answers in milliseconds.

import (
	"context"
	"fmt"
	"time"
)

// Session is a signed-in console session, with its manager as they are now.
type Session struct {
	// IDHash is the SHA-256 of the cookie's session id: the row key.
	IDHash []byte
	// Manager is who signed in. On creation only ID and TokenHash are read.
	Manager   Manager
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

const apiCreateSessionSQL = `
INSERT INTO sessions (id_hash, manager_id, token_hash, csrf, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)`

// CreateSession stores a new console session.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	if len(sess.IDHash) == 0 || len(sess.Manager.TokenHash) == 0 || sess.CSRF == "" {
		return fmt.Errorf("create session of %s: id hash, token hash and csrf token are required", sess.Manager.ID)
	}
	_, err := s.db.ExecContext(ctx, apiCreateSessionSQL, sess.IDHash, sess.Manager.ID, sess.Manager.TokenHash,
		sess.CSRF, sess.CreatedAt, sess.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session of %s: %w", sess.Manager.ID, err)
	}
	return nil
}

// The join on token_hash is what makes a rotated or revoked token end the
// sessions opened with it.
const apiSessionByHashSQL = `
SELECT s.id_hash, s.csrf, s.created_at, s.expires_at,
    m.id, m.name, m.email, m.role, COALESCE(m.supervisor_id, '') AS supervisor_id, m.token_hash,
    m.created_at AS manager_created_at
FROM sessions s
JOIN managers m ON m.id = s.manager_id AND m.token_hash = s.token_hash
WHERE s.id_hash = $1 AND s.expires_at > $2`

// SessionByHash returns the live session keyed by idHash at now, or
// ErrNotFound when there is none: unknown, expired, signed out, or its
// manager's token changed since sign-in.
func (s *Store) SessionByHash(ctx context.Context, idHash []byte, now time.Time) (Session, error) {
	var row struct {
		IDHash           []byte    `db:"id_hash"`
		CSRF             string    `db:"csrf"`
		CreatedAt        time.Time `db:"created_at"`
		ExpiresAt        time.Time `db:"expires_at"`
		ID               string    `db:"id"`
		Name             string    `db:"name"`
		Email            string    `db:"email"`
		Role             string    `db:"role"`
		SupervisorID     string    `db:"supervisor_id"`
		TokenHash        []byte    `db:"token_hash"`
		ManagerCreatedAt time.Time `db:"manager_created_at"`
	}
	if err := s.db.GetContext(ctx, &row, apiSessionByHashSQL, idHash, now); err != nil {
		return Session{}, notFound(err, "session")
	}
	return Session{
		IDHash: row.IDHash, CSRF: row.CSRF, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
		Manager: Manager{ID: row.ID, Name: row.Name, Email: row.Email, Role: row.Role, SupervisorID: row.SupervisorID,
			TokenHash: row.TokenHash, CreatedAt: row.ManagerCreatedAt},
	}, nil
}

// DeleteSession ends a session (sign out). An unknown session is not an
// error: signing out twice is harmless.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions expired by now and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// TeamMember is one person in a supervisor's reporting tree.
type TeamMember struct {
	ID           string `db:"id" json:"id"`
	Name         string `db:"name" json:"name"`
	Role         string `db:"role" json:"role"`
	SupervisorID string `db:"supervisor_id" json:"supervisor_id"`
}

const apiTeamMembersSQL = `
WITH RECURSIVE team(id) AS (
    SELECT id FROM managers WHERE supervisor_id = $1
    UNION
    SELECT m.id FROM managers m JOIN team t ON m.supervisor_id = t.id
)
SELECT m.id, m.name, m.role, COALESCE(m.supervisor_id, '') AS supervisor_id
FROM managers m JOIN team t ON t.id = m.id
WHERE m.id <> $1 ORDER BY m.name, m.id`

// TeamMembers returns the reporting tree below supervisorID (the same people
// as Team) with their names and direct supervisors, by name.
func (s *Store) TeamMembers(ctx context.Context, supervisorID string) ([]TeamMember, error) {
	ms := []TeamMember{}
	if err := s.db.SelectContext(ctx, &ms, apiTeamMembersSQL, supervisorID); err != nil {
		return nil, fmt.Errorf("team members of %s: %w", supervisorID, err)
	}
	return ms, nil
}

// InboxTask is a task with what an inbox shows beside it.
type InboxTask struct {
	Task
	AccountName    string `db:"account_name" json:"account_name"`
	AccountManager string `db:"account_manager" json:"account_manager"`
	AssigneeName   string `db:"assignee_name" json:"assignee_name"`
}

// InboxQuery selects one page of an inbox.
type InboxQuery struct {
	// Assignees keeps the tasks of these managers; nil means everyone's.
	// An empty, non-nil slice matches nothing.
	Assignees []string
	// AccountID keeps the tasks of one account; empty means any.
	AccountID string
	// State is open (soonest due first) or done (latest completed first).
	State string
	// After continues from the last task of the previous page.
	After *InboxCursor
	// Limit is the page size; 0 means 100.
	Limit int
}

// InboxCursor is the position after a task in its inbox's order: due time
// for open tasks, completion time for done ones.
type InboxCursor struct {
	At time.Time
	ID string
}

const apiInboxCols = `t.id, t.account_id, t.kind, t.assignee_id, t.title, t.due_at, t.state, t.escalation_level,
    t.created_at, t.completed_at, t.completed_by, t.outcome, t.notes,
    a.name AS account_name, COALESCE(a.manager_id, '') AS account_manager, COALESCE(m.name, '') AS assignee_name`

// Two statement shapes per state (everyone, or some assignees), so each
// uses its index rather than a plan that must serve both.
const (
	apiInboxOpenAllSQL = `SELECT ` + apiInboxCols + `
FROM tasks t JOIN accounts a ON a.id = t.account_id LEFT JOIN managers m ON m.id = t.assignee_id
WHERE t.state = 'open' AND ($1 = '' OR t.account_id = $1) AND (t.due_at, t.id) > ($2, $3)
ORDER BY t.due_at, t.id LIMIT $4`
	apiInboxOpenSQL = `SELECT ` + apiInboxCols + `
FROM tasks t JOIN accounts a ON a.id = t.account_id LEFT JOIN managers m ON m.id = t.assignee_id
WHERE t.assignee_id = ANY ($5) AND t.state = 'open' AND ($1 = '' OR t.account_id = $1)
  AND t.due_at >= $2 AND (t.due_at, t.id) > ($2, $3)
ORDER BY t.due_at, t.id LIMIT $4`
	apiInboxDoneAllSQL = `SELECT ` + apiInboxCols + `
FROM tasks t JOIN accounts a ON a.id = t.account_id LEFT JOIN managers m ON m.id = t.assignee_id
WHERE t.state = 'done' AND ($1 = '' OR t.account_id = $1) AND (t.completed_at, t.id) < ($2, $3)
ORDER BY t.completed_at DESC, t.id DESC LIMIT $4`
	apiInboxDoneSQL = `SELECT ` + apiInboxCols + `
FROM tasks t JOIN accounts a ON a.id = t.account_id LEFT JOIN managers m ON m.id = t.assignee_id
WHERE t.assignee_id = ANY ($5) AND t.state = 'done' AND ($1 = '' OR t.account_id = $1)
  AND t.completed_at <= $2 AND (t.completed_at, t.id) < ($2, $3)
ORDER BY t.completed_at DESC, t.id DESC LIMIT $4`
)

// The ends of time for keyset paging: every real task sorts inside them.
var (
	apiTimeMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	apiTimeMax = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// InboxPage returns one page of tasks in inbox order.
func (s *Store) InboxPage(ctx context.Context, q InboxQuery) ([]InboxTask, error) {
	if q.Assignees != nil && len(q.Assignees) == 0 {
		return []InboxTask{}, nil
	}
	n := q.Limit
	if n <= 0 {
		n = 100
	}
	var query string
	at, id := apiTimeMin, ""
	switch q.State {
	case TaskOpen:
		query = apiInboxOpenSQL
		if q.Assignees == nil {
			query = apiInboxOpenAllSQL
		}
	case TaskDone:
		query, at, id = apiInboxDoneSQL, apiTimeMax, "\U0010FFFF"
		if q.Assignees == nil {
			query = apiInboxDoneAllSQL
		}
	default:
		return nil, fmt.Errorf("inbox: state %q: want open or done", q.State)
	}
	if q.After != nil {
		at, id = q.After.At, q.After.ID
	}
	args := []any{q.AccountID, at, id, n}
	if q.Assignees != nil {
		args = append(args, textArray(q.Assignees))
	}
	ts := []InboxTask{}
	if err := s.db.SelectContext(ctx, &ts, query, args...); err != nil {
		return nil, fmt.Errorf("inbox page: %w", err)
	}
	return ts, nil
}

// InboxCounts summarises open work for an inbox header.
type InboxCounts struct {
	Open    int `db:"open" json:"open"`
	Overdue int `db:"overdue" json:"overdue"`
	// DueSoon is open and due within the next day, not yet overdue.
	DueSoon int `db:"due_soon" json:"due_soon"`
}

const (
	apiInboxCountsAllSQL = `SELECT count(*) AS open, count(*) FILTER (WHERE due_at < $1) AS overdue,
    count(*) FILTER (WHERE due_at >= $1 AND due_at < $2) AS due_soon
FROM tasks WHERE state = 'open'`
	apiInboxCountsSQL = apiInboxCountsAllSQL + ` AND assignee_id = ANY ($3)`
)

// CountInbox counts the open tasks of assignees (nil: everyone's) at now.
func (s *Store) CountInbox(ctx context.Context, assignees []string, now time.Time) (InboxCounts, error) {
	var c InboxCounts
	if assignees != nil && len(assignees) == 0 {
		return c, nil
	}
	query, args := apiInboxCountsAllSQL, []any{now, now.Add(24 * time.Hour)}
	if assignees != nil {
		query, args = apiInboxCountsSQL, append(args, textArray(assignees))
	}
	if err := s.db.GetContext(ctx, &c, query, args...); err != nil {
		return c, fmt.Errorf("count inbox: %w", err)
	}
	return c, nil
}

// InboxTaskByID returns one task with its account's name and manager, or
// ErrNotFound.
func (s *Store) InboxTaskByID(ctx context.Context, id string) (InboxTask, error) {
	var t InboxTask
	err := s.db.GetContext(ctx, &t, `SELECT `+apiInboxCols+`
FROM tasks t JOIN accounts a ON a.id = t.account_id LEFT JOIN managers m ON m.id = t.assignee_id
WHERE t.id = $1`, id)
	if err != nil {
		return InboxTask{}, notFound(err, "task "+id)
	}
	return t, nil
}

// TimelineItem is one line of an account's history, from whichever table
// recorded it. Timeline (timeline.go) gives the same history as ready-made
// text; the console pages through it with a cursor (an account may have
// thousands of entries) and renders each type its own way, so it reads
// typed columns instead. Type says which: event, stage, task, task_done, visit,
// survey, escalation or score; the other fields mean what that type needs
// (see the timeline query).
type TimelineItem struct {
	At     time.Time  `db:"at" json:"at"`
	Type   string     `db:"type" json:"type"`
	Ref    string     `db:"ref" json:"ref"`
	Kind   string     `db:"kind" json:"kind,omitempty"`
	Title  string     `db:"title" json:"title,omitempty"`
	Detail string     `db:"detail" json:"detail,omitempty"`
	Actor  string     `db:"actor" json:"actor,omitempty"`
	Extra  string     `db:"extra" json:"extra,omitempty"`
	Num1   float64    `db:"num1" json:"num1,omitempty"`
	Num2   float64    `db:"num2" json:"num2,omitempty"`
	Level  int        `db:"level" json:"level,omitempty"`
	NPS    *int       `db:"nps" json:"nps,omitempty"`
	CSAT   *int       `db:"csat" json:"csat,omitempty"`
	Until  *time.Time `db:"until" json:"until,omitempty"`
}

// TimelineCursor is the position after an item, in (at, type, ref)
// descending order.
type TimelineCursor struct {
	At   time.Time
	Type string
	Ref  string
}

// Each branch reads newest first through its (account_id, time) index and
// stops after $5 rows, so a page costs the same for an account with ten
// entries or ten thousand. The explicit "<= $2" lets the index bound the
// scan; the row comparison breaks ties.
//
// Columns by type:
//
//	event       kind, title=rejection reason, detail=note, extra=status, num1=amount, level=severity, nps, csat
//	stage       kind=to stage, title=from stage, detail=reason
//	task        kind, title, actor=assignee, extra=state, level=escalation level, until=due
//	task_done   kind, title, detail=notes, actor=completed by, extra=outcome
//	visit       kind=state, title=purpose, actor=manager, until=end
//	survey      kind, detail=recipient, extra=answered|waiting|expired, until=due
//	escalation  title=reason, actor=recipient, level, until=acknowledged at
//	score       kind=tier, title=value/potential/loyalty, detail=segment, num1=health, num2=churn risk
const apiTimelineSQL = `
SELECT * FROM (
  (SELECT at, 'event' AS type, id::text AS ref, kind, reason AS title, note AS detail, '' AS actor, status AS extra,
          amount::float8 AS num1, 0::float8 AS num2, severity AS level, nps, csat, NULL::timestamptz AS until
   FROM account_events WHERE account_id = $1 AND at <= $2 AND (at, 'event', id::text) < ($2, $3::text, $4::text)
   ORDER BY at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT at, 'stage', key, to_stage, from_stage, reason, '', '', 0, 0, 0, NULL, NULL, NULL
   FROM stage_transitions WHERE account_id = $1 AND at <= $2 AND (at, 'stage', key) < ($2, $3::text, $4::text)
   ORDER BY at DESC, key DESC LIMIT $5)
  UNION ALL
  (SELECT created_at, 'task', id, kind, title, '', assignee_id, state, 0, 0, escalation_level, NULL, NULL, due_at
   FROM tasks WHERE account_id = $1 AND created_at <= $2 AND (created_at, 'task', id) < ($2, $3::text, $4::text)
   ORDER BY created_at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT completed_at, 'task_done', id, kind, title, notes, completed_by, outcome, 0, 0, 0, NULL, NULL, NULL
   FROM tasks WHERE account_id = $1 AND completed_at IS NOT NULL AND completed_at <= $2
     AND (completed_at, 'task_done', id) < ($2, $3::text, $4::text)
   ORDER BY completed_at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT starts_at, 'visit', id, state, purpose, '', manager_id, '', 0, 0, 0, NULL, NULL, ends_at
   FROM visits WHERE account_id = $1 AND starts_at <= $2 AND (starts_at, 'visit', id) < ($2, $3::text, $4::text)
   ORDER BY starts_at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT sent_at, 'survey', id, kind, '', recipient, '',
          CASE WHEN answered_at IS NOT NULL THEN 'answered' WHEN due_at <= $6 THEN 'expired' ELSE 'waiting' END,
          0, 0, 0, NULL, NULL, due_at
   FROM surveys WHERE account_id = $1 AND sent_at <= $2 AND (sent_at, 'survey', id) < ($2, $3::text, $4::text)
   ORDER BY sent_at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT created_at, 'escalation', id, '', reason, '', recipient_id, '', 0, 0, level, NULL, NULL, acknowledged_at
   FROM escalations WHERE account_id = $1 AND created_at <= $2 AND (created_at, 'escalation', id) < ($2, $3::text, $4::text)
   ORDER BY created_at DESC, id DESC LIMIT $5)
  UNION ALL
  (SELECT at, 'score', key, tier, concat_ws('/', value, potential, loyalty), segment, '', '', health, churn_risk, 0, NULL, NULL, NULL
   FROM scores WHERE account_id = $1 AND at <= $2 AND (at, 'score', key) < ($2, $3::text, $4::text)
   ORDER BY at DESC, key DESC LIMIT $5)
) x
ORDER BY at DESC, type DESC, ref DESC
LIMIT $5`

// TimelinePage returns up to limit items of an account's history, newest
// first, after the cursor (nil: from the newest). now decides whether an
// unanswered survey has expired.
func (s *Store) TimelinePage(ctx context.Context, accountID string, after *TimelineCursor, limit int, now time.Time) ([]TimelineItem, error) {
	if limit <= 0 {
		limit = 50
	}
	// Past every real entry: a type and ref that sort after every name.
	c := TimelineCursor{At: apiTimeMax, Type: "\U0010FFFF", Ref: "\U0010FFFF"}
	if after != nil {
		c = *after
	}
	items := []TimelineItem{}
	if err := s.db.SelectContext(ctx, &items, apiTimelineSQL, accountID, c.At, c.Type, c.Ref, limit, now); err != nil {
		return nil, fmt.Errorf("timeline of account %s: %w", accountID, err)
	}
	return items, nil
}

// EscalationItem is an escalation with its account and acknowledgement task.
type EscalationItem struct {
	ID             string     `db:"id" json:"id"`
	AccountID      string     `db:"account_id" json:"account_id"`
	AccountName    string     `db:"account_name" json:"account_name"`
	AccountManager string     `db:"account_manager" json:"account_manager"`
	Level          int        `db:"level" json:"level"`
	Reason         string     `db:"reason" json:"reason"`
	RecipientID    string     `db:"recipient_id" json:"recipient_id"`
	RecipientName  string     `db:"recipient_name" json:"recipient_name"`
	TaskID         string     `db:"task_id" json:"task_id,omitempty"`
	TaskState      string     `db:"task_state" json:"task_state,omitempty"`
	TaskDueAt      *time.Time `db:"task_due_at" json:"task_due_at,omitempty"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	AcknowledgedAt *time.Time `db:"acknowledged_at" json:"acknowledged_at,omitempty"`
}

const apiEscalationCols = `e.id, e.account_id, a.name AS account_name, COALESCE(a.manager_id, '') AS account_manager,
    e.level, e.reason, e.recipient_id, COALESCE(m.name, '') AS recipient_name, COALESCE(e.task_id, '') AS task_id,
    COALESCE(t.state, '') AS task_state, t.due_at AS task_due_at, e.created_at, e.acknowledged_at`

const (
	apiEscalationsFrom = `
FROM escalations e
JOIN accounts a ON a.id = e.account_id
LEFT JOIN managers m ON m.id = e.recipient_id
LEFT JOIN tasks t ON t.id = e.task_id`
	apiEscalationsOrder = `
ORDER BY (e.acknowledged_at IS NULL) DESC, e.created_at DESC, e.id DESC
LIMIT $1`
	apiEscalationsAllSQL = `SELECT ` + apiEscalationCols + apiEscalationsFrom + apiEscalationsOrder
	// The recipient's own escalations, and those on accounts of the managers
	// they may read (a supervisor's team).
	apiEscalationsSQL = `SELECT ` + apiEscalationCols + apiEscalationsFrom + `
WHERE e.recipient_id = $2 OR a.manager_id = ANY ($3)` + apiEscalationsOrder
)

// EscalationsFor lists escalations, unacknowledged first, then newest: all of
// them when managers is nil, else those sent to recipient or raised on an
// account of one of managers.
func (s *Store) EscalationsFor(ctx context.Context, recipient string, managers []string, limit int) ([]EscalationItem, error) {
	if limit <= 0 {
		limit = 200
	}
	es := []EscalationItem{}
	var err error
	if managers == nil {
		err = s.db.SelectContext(ctx, &es, apiEscalationsAllSQL, limit)
	} else {
		err = s.db.SelectContext(ctx, &es, apiEscalationsSQL, limit, recipient, textArray(managers))
	}
	if err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	return es, nil
}

// OutboxItem is a message the system queued for sending.
type OutboxItem struct {
	ID        string     `db:"id" json:"id"`
	Recipient string     `db:"recipient" json:"recipient"`
	Subject   string     `db:"subject" json:"subject"`
	Body      string     `db:"body" json:"body"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	SentAt    *time.Time `db:"sent_at" json:"sent_at,omitempty"`
	Error     string     `db:"error" json:"error,omitempty"`
}

const apiOutboxSQL = `SELECT id, recipient, subject, body, created_at, sent_at, error FROM outbox
WHERE ($2 = '' OR recipient ILIKE $2 OR subject ILIKE $2 OR id ILIKE $2)
ORDER BY created_at DESC, id DESC LIMIT $1`

// OutboxPage lists the newest queued messages, optionally those whose
// recipient, subject or id contains query.
func (s *Store) OutboxPage(ctx context.Context, query string, limit int) ([]OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	q := ""
	if query != "" {
		q = likePattern(query)
	}
	items := []OutboxItem{}
	if err := s.db.SelectContext(ctx, &items, apiOutboxSQL, limit, q); err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return items, nil
}

// ManagerNames maps every manager's id to their name, for lists that show
// people by name. The table is small (people, not accounts).
func (s *Store) ManagerNames(ctx context.Context) (map[string]string, error) {
	var rows []struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, name FROM managers`); err != nil {
		return nil, fmt.Errorf("manager names: %w", err)
	}
	names := make(map[string]string, len(rows))
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	return names, nil
}

const apiAccountMatrixSQL = `SELECT stage, tier, count(*) AS n FROM accounts` + accountWhere + `
GROUP BY stage, tier`

// AccountMatrix counts the accounts matching f by stage and tier together,
// ignoring f's own Stage and Tier (and paging): the grid of an accounts page
// keeps showing every cell while one is selected.
func (s *Store) AccountMatrix(ctx context.Context, f AccountFilter) (map[string]map[string]int, error) {
	f.Stage, f.Tier = "", ""
	var rows []struct {
		Stage string `db:"stage"`
		Tier  string `db:"tier"`
		N     int    `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, apiAccountMatrixSQL, f.args()...); err != nil {
		return nil, fmt.Errorf("count accounts by stage and tier: %w", err)
	}
	m := map[string]map[string]int{}
	for _, r := range rows {
		if m[r.Stage] == nil {
			m[r.Stage] = map[string]int{}
		}
		m[r.Stage][r.Tier] = r.N
	}
	return m, nil
}

// AccountNames maps the given account ids to their names, for lists (a
// calendar feed) that hold ids only.
func (s *Store) AccountNames(ctx context.Context, ids []string) (map[string]string, error) {
	var rows []struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, name FROM accounts WHERE id = ANY ($1)`, textArray(ids)); err != nil {
		return nil, fmt.Errorf("account names: %w", err)
	}
	names := make(map[string]string, len(rows))
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	return names, nil
}
