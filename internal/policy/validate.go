package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kamflow/kamflow/internal/scoring"
)

// ValidationError lists every problem in a policy by field path, so one
// check shows a business everything to fix instead of one error per run.
type ValidationError struct {
	Problems []string
}

// Error joins the problems on one line for logs and CLI output.
func (e *ValidationError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// Validate checks every field against what the workflow needs (positive
// cadences, known tiers and task kinds, a loadable time zone, a working day
// that fits its visits, scores in range) and returns one *ValidationError
// naming each bad field and what is expected, or nil.
func (p Policy) Validate() error {
	var c checks

	c.positive("identify.screen_every", p.Identify.ScreenEvery)
	c.atLeast("identify.max_failed_screens", p.Identify.MaxFailedScreens, 1)

	c.positive("engage.window", p.Engage.Window)

	c.atLeast("deepen.repeat_orders", p.Deepen.RepeatOrders, 1)
	c.positive("deepen.repeat_window", p.Deepen.RepeatWindow)
	c.positive("deepen.follow_up_every", p.Deepen.FollowUpEvery)

	c.keyed("maintain.review", p.Maintain.Review, scoring.Tiers(), "tier")
	c.keyed("maintain.visit", p.Maintain.Visit, scoring.Tiers(), "tier")
	c.keyed("maintain.survey", p.Maintain.Survey, scoring.Tiers(), "tier")

	ch := p.Churn
	c.within("churn.health_below", ch.HealthBelow, 0, 100)
	c.within("churn.risk_above", ch.RiskAbove, 0, 1)
	c.within("churn.severe_complaint", float64(ch.SevereComplaint), 1, 5)
	c.atLeast("churn.overdue_tasks", ch.OverdueTasks, 1)
	c.within("churn.recovered_health", ch.RecoveredHealth, 0, 100)
	if ch.RecoveredHealth < ch.HealthBelow {
		// Recovering below the warning line would bounce an account
		// straight back into recovery.
		c.add("churn.recovered_health must be at least churn.health_below")
	}
	c.positive("churn.stable_for", ch.StableFor)
	c.positive("churn.recovery_window", ch.RecoveryWindow)
	if ch.StableFor > 0 && ch.RecoveryWindow <= ch.StableFor {
		c.add("churn.recovery_window must be longer than churn.stable_for")
	}

	c.keyed("tasks.due", p.Tasks.Due, TaskKinds(), "task kind")
	c.positive("tasks.escalate_after", p.Tasks.EscalateAfter)

	c.visits(p.Visits)

	c.positive("surveys.answer_within", p.Surveys.AnswerWithin)

	c.atLeast("history.event_budget", p.History.EventBudget, 100)
	c.atLeast("history.dedup_window", p.History.DedupWindow, 1)

	if err := p.Scoring.Validate(); err != nil {
		if ve, ok := scoring.AsValidationError(err); ok {
			for _, problem := range ve.Problems {
				c.add("scoring." + problem)
			}
		} else {
			c.add("scoring: " + err.Error())
		}
	}
	// The score's signals and the workflow's triggers must agree, or an
	// account would show a signal the workflow ignores (or the reverse).
	s := p.Scoring.Signals
	c.same("scoring.signals.health_below", s.HealthBelow, "churn.health_below", ch.HealthBelow)
	c.same("scoring.signals.risk_above", s.RiskAbove, "churn.risk_above", ch.RiskAbove)
	c.same("scoring.signals.severe_complaint", float64(s.SevereComplaint), "churn.severe_complaint", float64(ch.SevereComplaint))
	c.same("scoring.signals.overdue_tasks", float64(s.OverdueTasks), "churn.overdue_tasks", float64(ch.OverdueTasks))

	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems}
}

// checks collects problems in file order.
type checks struct {
	problems []string
}

func (c *checks) add(p string) { c.problems = append(c.problems, p) }

func (c *checks) positive(name string, d Duration) {
	switch {
	case d <= 0:
		c.add(name + " must be positive")
	case d > maxDuration:
		c.add(fmt.Sprintf("%s must be at most %s", name, maxDuration))
	}
}

func (c *checks) atLeast(name string, n, lo int) {
	if n < lo {
		c.add(fmt.Sprintf("%s must be at least %d", name, lo))
	}
}

// within rejects x outside [lo, hi], NaN included.
func (c *checks) within(name string, x, lo, hi float64) {
	if !(x >= lo && x <= hi) {
		c.add(fmt.Sprintf("%s must be within %g and %g", name, lo, hi))
	}
}

func (c *checks) same(a string, x float64, b string, y float64) {
	if x != y && !math.IsNaN(x) && !math.IsNaN(y) {
		c.add(fmt.Sprintf("%s (%g) must equal %s (%g)", a, x, b, y))
	}
}

// keyed checks a map of durations that must have exactly the given keys,
// each positive; problems come in the order of keys, then unknown keys sorted.
func (c *checks) keyed(name string, m map[string]Duration, keys []string, what string) {
	for _, k := range keys {
		d, ok := m[k]
		if !ok {
			c.add(fmt.Sprintf("%s.%s is missing", name, k))
			continue
		}
		c.positive(name+"."+k, d)
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		c.add(fmt.Sprintf("%s.%s: unknown %s, want one of %s", name, k, what, strings.Join(keys, ", ")))
	}
}

func (c *checks) visits(v Visits) {
	if _, err := v.Location(); err != nil {
		c.add(err.Error())
	}
	start, errStart := clock(v.DayStart)
	if errStart != nil {
		c.add(fmt.Sprintf("visits.day_start %q: want a time of day like \"09:00\"", v.DayStart))
	}
	end, errEnd := clock(v.DayEnd)
	if errEnd != nil {
		c.add(fmt.Sprintf("visits.day_end %q: want a time of day like \"18:00\" (up to \"24:00\")", v.DayEnd))
	}
	dayOK := errStart == nil && errEnd == nil
	if dayOK && start >= end {
		c.add("visits.day_start must be before visits.day_end")
		dayOK = false
	}
	c.positive("visits.length", v.Length)
	c.atLeast("visits.per_day", v.PerDay, 1)
	if dayOK && v.Length > 0 && v.PerDay >= 1 {
		if need := time.Duration(v.Length) * time.Duration(v.PerDay); need/time.Duration(v.PerDay) != time.Duration(v.Length) || need > end-start {
			c.add(fmt.Sprintf("visits.per_day %d visits of %s do not fit between %s and %s", v.PerDay, v.Length, v.DayStart, v.DayEnd))
		}
	}
	if len(v.Workdays) == 0 {
		c.add("visits.workdays must name at least one day")
	}
	seen := map[string]bool{}
	for _, d := range v.Workdays {
		switch {
		case !known(d):
			c.add(fmt.Sprintf("visits.workdays %q: unknown day, want mon, tue, wed, thu, fri, sat or sun", d))
		case seen[d]:
			c.add(fmt.Sprintf("visits.workdays %q: listed twice", d))
		}
		seen[d] = true
	}
	if v.LeadTime < 0 {
		c.add("visits.lead_time must not be negative")
	} else if v.LeadTime > maxDuration {
		c.add(fmt.Sprintf("visits.lead_time must be at most %s", maxDuration))
	}
}

func known(day string) bool {
	_, ok := weekdays[day]
	return ok
}
