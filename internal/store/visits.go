package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Visit is a scheduled meeting of a manager with an account. Its task (same
// id) is what the manager completes afterwards.
type Visit struct {
	ID        string    `db:"id" json:"id"`
	AccountID string    `db:"account_id" json:"account_id"`
	ManagerID string    `db:"manager_id" json:"manager_id"`
	TaskID    string    `db:"task_id" json:"task_id"`
	StartsAt  time.Time `db:"starts_at" json:"starts_at"`
	EndsAt    time.Time `db:"ends_at" json:"ends_at"`
	Purpose   string    `db:"purpose" json:"purpose"`
	State     string    `db:"state" json:"state"` // scheduled | done | cancelled
}

// VisitRequest asks for a visit in the first free slot of a manager's
// calendar.
type VisitRequest struct {
	Key       string // the workflow's key; also the task's id
	AccountID string
	ManagerID string
	Purpose   string
	// Title is the task's title; empty means "Visit: <purpose>".
	Title string
	// At is when the request was made (the task's creation time); zero
	// means now.
	At time.Time
	// Earliest is the first moment the visit may start.
	Earliest time.Time
	// Slots returns candidate slot starts at or after `after`, ascending,
	// from the caller's policy (working days and hours, per-day limits). It
	// is called again just past the last candidate while none is free; an
	// empty result ends the search with ErrNoSlot.
	Slots func(after time.Time) []time.Time
	// Length is how long the visit lasts.
	Length time.Duration
	// Due is how long after the visit ends its task is due.
	Due time.Duration
}

// maxSlotPages bounds the search when every candidate is taken.
const maxSlotPages = 100

// visitLockClass namespaces ScheduleVisit's advisory locks (the two-key
// form), so they never collide with goose's migration lock or others.
const visitLockClass = 0x6b616d01

const visitCols = `id, account_id, manager_id, task_id, starts_at, ends_at, purpose, state`

const (
	lockManagerSQL = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	visitSQL       = `SELECT ` + visitCols + ` FROM visits WHERE id = $1`
	busySQL        = `SELECT starts_at, ends_at FROM visits
WHERE manager_id = $1 AND state <> 'cancelled' AND ends_at > $2 ORDER BY starts_at`
	insertVisitTaskSQL = `
INSERT INTO tasks (id, account_id, kind, assignee_id, title, due_at, created_at)
VALUES ($1, $2, 'visit', $3, $4, $5, COALESCE($6, now()))
RETURNING ` + taskCols
	insertVisitSQL = `
INSERT INTO visits (id, account_id, manager_id, task_id, starts_at, ends_at, purpose)
VALUES ($1, $2, $3, $1, $4, $5, $6)
RETURNING ` + visitCols
)

// ScheduleVisit books the first candidate slot that does not overlap the
// manager's other visits and creates the visit's task (due Due after the
// visit ends). Scheduling for one manager is serialised by a transaction
// advisory lock, so concurrent callers never double-book; repeating a key
// returns the visit booked the first time.
func (s *Store) ScheduleVisit(ctx context.Context, r VisitRequest) (Visit, Task, error) {
	if r.Key == "" || r.AccountID == "" || r.ManagerID == "" || r.Slots == nil || r.Length <= 0 {
		return Visit{}, Task{}, fmt.Errorf("schedule visit %q: key, account, manager, slots and a positive length are required", r.Key)
	}
	var (
		v Visit
		t Task
	)
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, lockManagerSQL, visitLockClass, r.ManagerID); err != nil {
			return fmt.Errorf("lock calendar of %s: %w", r.ManagerID, err)
		}
		err := tx.GetContext(ctx, &v, visitSQL, r.Key)
		if err == nil {
			return tx.GetContext(ctx, &t, taskSQL, v.TaskID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var busy []struct {
			Start time.Time `db:"starts_at"`
			End   time.Time `db:"ends_at"`
		}
		if err := tx.SelectContext(ctx, &busy, busySQL, r.ManagerID, r.Earliest); err != nil {
			return fmt.Errorf("calendar of %s: %w", r.ManagerID, err)
		}
		overlaps := func(start time.Time) bool {
			end := start.Add(r.Length)
			for _, b := range busy {
				if start.Before(b.End) && b.Start.Before(end) {
					return true
				}
			}
			return false
		}
		start, err := firstSlot(r, overlaps)
		if err != nil {
			return err
		}
		end := start.Add(r.Length)
		title := r.Title
		if title == "" {
			title = "Visit"
			if r.Purpose != "" {
				title += ": " + r.Purpose
			}
		}
		if err := tx.GetContext(ctx, &t, insertVisitTaskSQL, r.Key, r.AccountID, r.ManagerID, title, end.Add(r.Due), nullTime(r.At)); err != nil {
			return fmt.Errorf("create task: %w", err)
		}
		return tx.GetContext(ctx, &v, insertVisitSQL, r.Key, r.AccountID, r.ManagerID, start, end, r.Purpose)
	})
	if err != nil {
		return Visit{}, Task{}, fmt.Errorf("schedule visit %s with %s: %w", r.Key, r.ManagerID, err)
	}
	return v, t, nil
}

// firstSlot walks the caller's candidates page by page.
func firstSlot(r VisitRequest, taken func(time.Time) bool) (time.Time, error) {
	after := r.Earliest
	for range maxSlotPages {
		candidates := r.Slots(after)
		if len(candidates) == 0 {
			break
		}
		for _, c := range candidates {
			if !c.Before(r.Earliest) && !taken(c) {
				return c, nil
			}
		}
		last := candidates[len(candidates)-1]
		if last.Before(after) {
			break // the policy went backwards: stop rather than loop
		}
		after = last.Add(time.Nanosecond)
	}
	return time.Time{}, ErrNoSlot
}

const visitsSQL = `SELECT ` + visitCols + ` FROM visits
WHERE ($1 = '' OR manager_id = $1) AND starts_at < $3 AND ends_at > $2
ORDER BY starts_at, id`

// Visits returns the visits overlapping [from, to) of one manager (all
// managers when managerID is empty), in time order: a calendar view.
func (s *Store) Visits(ctx context.Context, managerID string, from, to time.Time) ([]Visit, error) {
	vs := []Visit{}
	if err := s.db.SelectContext(ctx, &vs, visitsSQL, managerID, from, to); err != nil {
		return nil, fmt.Errorf("visits of %q: %w", managerID, err)
	}
	return vs, nil
}

// Visit returns one visit, or ErrNotFound.
func (s *Store) Visit(ctx context.Context, id string) (Visit, error) {
	var v Visit
	if err := s.db.GetContext(ctx, &v, visitSQL, id); err != nil {
		return Visit{}, notFound(err, "visit "+id)
	}
	return v, nil
}
