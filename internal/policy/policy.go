// Package policy holds the thresholds, cadences and SLAs of the account
// lifecycle (when to screen, visit, survey, escalate, give up) as plain data
// loaded from a YAML file, so a business tunes them without a release. It
// does no I/O beyond reading that file and imports nothing from Temporal:
// the workflow receives a Policy as an activity result, which is why every
// type here round-trips through JSON.
package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// Time zones must resolve in a minimal container without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/kamflow/kamflow/internal/scoring"
)

// Policy is everything a business can tune, one section per lifecycle stage
// plus the cross-cutting tasks, visits, surveys, history and scoring model.
type Policy struct {
	Identify Identify      `yaml:"identify" json:"identify"`
	Engage   Engage        `yaml:"engage" json:"engage"`
	Deepen   Deepen        `yaml:"deepen" json:"deepen"`
	Maintain Maintain      `yaml:"maintain" json:"maintain"`
	Churn    Churn         `yaml:"churn" json:"churn"`
	Tasks    Tasks         `yaml:"tasks" json:"tasks"`
	Visits   Visits        `yaml:"visits" json:"visits"`
	Surveys  Surveys       `yaml:"surveys" json:"surveys"`
	History  History       `yaml:"history" json:"history"`
	Scoring  scoring.Model `yaml:"scoring" json:"scoring"`
}

// Identify governs screening a candidate before first contact.
type Identify struct {
	// ScreenEvery is how often a candidate is re-screened.
	ScreenEvery Duration `yaml:"screen_every" json:"screen_every"`
	// MaxFailedScreens disqualifies a candidate that failed this many screens.
	MaxFailedScreens int `yaml:"max_failed_screens" json:"max_failed_screens"`
}

// Engage bounds first contact: without a first deal and a completed visit
// within Window the account goes back to identify.
type Engage struct {
	Window Duration `yaml:"window" json:"window"`
}

// Deepen defines the stable relationship that moves an account to maintain:
// RepeatOrders orders within RepeatWindow (and tier core or vip), with a
// follow-up visit every FollowUpEvery meanwhile.
type Deepen struct {
	RepeatOrders  int      `yaml:"repeat_orders" json:"repeat_orders"`
	RepeatWindow  Duration `yaml:"repeat_window" json:"repeat_window"`
	FollowUpEvery Duration `yaml:"follow_up_every" json:"follow_up_every"`
}

// Maintain sets the cadences of the maintain stage by tier (prospect,
// ordinary, core, vip): re-scoring, visits and NPS surveys. VIP accounts get
// the closest attention [004].
type Maintain struct {
	Review map[string]Duration `yaml:"review" json:"review"`
	Visit  map[string]Duration `yaml:"visit" json:"visit"`
	Survey map[string]Duration `yaml:"survey" json:"survey"`
}

// Churn decides when a maintained account enters churn recovery and when it
// has recovered or is lost.
type Churn struct {
	// HealthBelow and RiskAbove trigger recovery from a score.
	HealthBelow float64 `yaml:"health_below" json:"health_below"`
	RiskAbove   float64 `yaml:"risk_above" json:"risk_above"`
	// SevereComplaint is the complaint severity (1-5) that triggers at once.
	SevereComplaint int `yaml:"severe_complaint" json:"severe_complaint"`
	// OverdueTasks open past their due time trigger too.
	OverdueTasks int `yaml:"overdue_tasks" json:"overdue_tasks"`
	// RecoveredHealth held for StableFor returns the account to maintain.
	RecoveredHealth float64  `yaml:"recovered_health" json:"recovered_health"`
	StableFor       Duration `yaml:"stable_for" json:"stable_for"`
	// RecoveryWindow without recovery marks the account lost.
	RecoveryWindow Duration `yaml:"recovery_window" json:"recovery_window"`
}

// Tasks sets the SLA of human tasks. Due is by task kind (visit,
// recovery_plan, ack, follow_up); a visit task is due that long after the
// visit itself, the others after creation. An overdue task escalates to the
// manager's supervisor, and EscalateAfter later to senior management.
type Tasks struct {
	Due           map[string]Duration `yaml:"due" json:"due"`
	EscalateAfter Duration            `yaml:"escalate_after" json:"escalate_after"`
}

// Visits describes when visits can be placed: PerDay slots of Length per
// manager on Workdays between DayStart and DayEnd ("09:00", "24:00" allowed
// as end) in TimeZone, no sooner than LeadTime from now.
type Visits struct {
	TimeZone string   `yaml:"time_zone" json:"time_zone"`
	DayStart string   `yaml:"day_start" json:"day_start"`
	DayEnd   string   `yaml:"day_end" json:"day_end"`
	Length   Duration `yaml:"length" json:"length"`
	PerDay   int      `yaml:"per_day" json:"per_day"`
	Workdays []string `yaml:"workdays" json:"workdays"`
	LeadTime Duration `yaml:"lead_time" json:"lead_time"`
}

// Surveys sets how long a recipient has to answer; after that silence counts
// against loyalty.
type Surveys struct {
	AnswerWithin Duration `yaml:"answer_within" json:"answer_within"`
}

// History bounds a workflow run: after EventBudget history events it
// continues as new, carrying the last DedupWindow event IDs to stay
// idempotent across runs.
type History struct {
	EventBudget int `yaml:"event_budget" json:"event_budget"`
	DedupWindow int `yaml:"dedup_window" json:"dedup_window"`
}

// Task kinds that Tasks.Due must price.
const (
	TaskVisit        = "visit"
	TaskRecoveryPlan = "recovery_plan"
	TaskAck          = "ack"
	TaskFollowUp     = "follow_up"
)

// TaskKinds returns the task kinds in a fixed order.
func TaskKinds() []string {
	return []string{TaskVisit, TaskRecoveryPlan, TaskAck, TaskFollowUp}
}

// Default returns the production policy. deploy/policy.yaml writes the same
// values out in full (a test keeps them equal). Every call returns fresh
// maps, so a caller that decodes onto it cannot change the next one.
func Default() Policy {
	return Policy{
		Identify: Identify{ScreenEvery: Days(30), MaxFailedScreens: 3},
		Engage:   Engage{Window: Days(90)},
		Deepen:   Deepen{RepeatOrders: 2, RepeatWindow: Days(180), FollowUpEvery: Days(30)},
		Maintain: Maintain{
			Review: byTier(Days(90), Days(90), Days(60), Days(30)),
			Visit:  byTier(Days(90), Days(90), Days(60), Days(30)),
			Survey: byTier(Days(365), Days(365), Days(180), Days(90)),
		},
		Churn: Churn{
			HealthBelow:     45,
			RiskAbove:       0.6,
			SevereComplaint: 4,
			OverdueTasks:    2,
			RecoveredHealth: 60,
			StableFor:       Days(30),
			RecoveryWindow:  Days(180),
		},
		Tasks: Tasks{
			Due: map[string]Duration{
				TaskVisit:        Days(2),
				TaskRecoveryPlan: Days(7),
				TaskAck:          Days(2),
				TaskFollowUp:     Days(5),
			},
			EscalateAfter: Days(3),
		},
		Visits: Visits{
			TimeZone: "Asia/Shanghai",
			DayStart: "09:00",
			DayEnd:   "18:00",
			Length:   Duration(time.Hour),
			PerDay:   4,
			Workdays: []string{"mon", "tue", "wed", "thu", "fri"},
			LeadTime: Days(1),
		},
		Surveys: Surveys{AnswerWithin: Days(14)},
		History: History{EventBudget: 2000, DedupWindow: 500},
		Scoring: scoring.DefaultModel(),
	}
}

func byTier(prospect, ordinary, core, vip Duration) map[string]Duration {
	return map[string]Duration{
		scoring.TierProspect: prospect,
		scoring.TierOrdinary: ordinary,
		scoring.TierCore:     core,
		scoring.TierVIP:      vip,
	}
}

// Location loads the visits time zone; Validate has checked it. The empty
// name and "Local" are refused: they mean UTC or whatever the host says,
// and visits must land at the same hour on every worker.
func (v Visits) Location() (*time.Location, error) {
	if v.TimeZone == "" || v.TimeZone == "Local" {
		return nil, fmt.Errorf("visits.time_zone %q: want an IANA time zone like \"Asia/Shanghai\"", v.TimeZone)
	}
	loc, err := time.LoadLocation(v.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("visits.time_zone %q: unknown time zone", v.TimeZone)
	}
	return loc, nil
}

// Hours returns the working day as offsets from local midnight.
func (v Visits) Hours() (start, end time.Duration, err error) {
	if start, err = clock(v.DayStart); err != nil {
		return 0, 0, fmt.Errorf("visits.day_start: %w", err)
	}
	if end, err = clock(v.DayEnd); err != nil {
		return 0, 0, fmt.Errorf("visits.day_end: %w", err)
	}
	return start, end, nil
}

// Workday reports whether visits may be placed on wd.
func (v Visits) Workday(wd time.Weekday) bool {
	for _, name := range v.Workdays {
		if w, ok := weekdays[name]; ok && w == wd {
			return true
		}
	}
	return false
}

var weekdays = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// clock reads "HH:MM" on a 24-hour clock, with "24:00" as the end of day.
func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && twoDigits(h) && twoDigits(m) {
		hh, _ := strconv.Atoi(h) // two digits always parse
		mm, _ := strconv.Atoi(m)
		if mm < 60 && (hh < 24 || hh == 24 && mm == 0) {
			return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
		}
	}
	return 0, fmt.Errorf("%q is not a time of day like \"09:00\"", s)
}

func twoDigits(s string) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}
