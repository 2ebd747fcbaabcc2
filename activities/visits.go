package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
)

// ScheduleVisitInput asks for a visit of the account's manager.
type ScheduleVisitInput struct {
	Key         string        `json:"key"`
	AccountID   string        `json:"account_id"`
	AccountName string        `json:"account_name"`
	Manager     string        `json:"manager"`
	Purpose     string        `json:"purpose"`
	After       time.Time     `json:"after"`
	DueAfter    time.Duration `json:"due_after"`
}

// ScheduleVisitResult is the booked visit and the task to complete it.
type ScheduleVisitResult struct {
	VisitID string     `json:"visit_id"`
	Start   time.Time  `json:"start"`
	End     time.Time  `json:"end"`
	Task    TaskResult `json:"task"`
}

// ScheduleVisit books the manager's earliest free slot inside working hours,
// never on top of another of their visits, and the task to report on it.
// The store takes a per-manager lock and is keyed, so concurrent accounts
// never double-book and a retry returns the visit already booked.
func (a *Activities) ScheduleVisit(ctx context.Context, in ScheduleVisitInput) (ScheduleVisitResult, error) {
	p := a.Policy().Visits
	loc, err := p.Location()
	if err != nil {
		return ScheduleVisitResult{}, invalid(err)
	}
	open, closing, err := p.Hours()
	if err != nil {
		return ScheduleVisitResult{}, invalid(err)
	}
	v, t, err := a.Store.ScheduleVisit(ctx, store.VisitRequest{
		Key: in.Key, AccountID: in.AccountID, ManagerID: in.Manager,
		Purpose: in.Purpose, Title: fmt.Sprintf("%s: %s", in.Purpose, in.AccountName),
		Earliest: in.After.Add(p.LeadTime.Std()), Length: p.Length.Std(), Due: in.DueAfter, At: in.After,
		Slots: func(after time.Time) []time.Time { return Slots(p, loc, open, closing, after, 64) },
	})
	if err != nil {
		return ScheduleVisitResult{}, fmt.Errorf("schedule visit %s: %w", in.Key, err)
	}
	tr, err := a.taskResult(ctx, t)
	if err != nil {
		return ScheduleVisitResult{}, err
	}
	if a.Metrics != nil {
		a.Metrics.VisitScheduled()
	}
	return ScheduleVisitResult{VisitID: v.ID, Start: v.StartsAt, End: v.EndsAt, Task: tr}, nil
}

// Slots lists up to n candidate visit starts at or after from, on working
// days between open and closing (offsets from local midnight), PerDay slots a
// day spread evenly from the opening, in loc. Pure, so it is tested without
// a database; the store picks the first one free of the manager's visits.
func Slots(p policy.Visits, loc *time.Location, open, closing time.Duration, from time.Time, n int) []time.Time {
	length := p.Length.Std()
	step := length
	if p.PerDay > 0 {
		if spread := (closing - open) / time.Duration(p.PerDay); spread > step {
			step = spread
		}
	}
	var out []time.Time
	local := from.In(loc)
	first := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for days := 0; len(out) < n && days < 366; days++ {
		midnight := first.AddDate(0, 0, days)
		if !p.Workday(midnight.Weekday()) {
			continue
		}
		for off := open; off+length <= closing && len(out) < n; off += step {
			if t := midnight.Add(off); !t.Before(from) {
				out = append(out, t.UTC())
			}
		}
	}
	return out
}
