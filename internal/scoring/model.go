package scoring

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Model holds every threshold, weight and window the scoring uses, so a
// business tunes classification in the policy file instead of in code. It is
// plain data (YAML and JSON) because it travels inside the policy into
// Temporal payloads. Windows are in days (fractions allowed) rather than in
// a duration type: scoring is pure arithmetic and must not depend on the
// policy package that embeds it.
type Model struct {
	Value     ValueModel     `yaml:"value" json:"value"`
	Potential PotentialModel `yaml:"potential" json:"potential"`
	Loyalty   LoyaltyModel   `yaml:"loyalty" json:"loyalty"`
	ABC       ABCModel       `yaml:"abc" json:"abc"`
	Segment   SegmentModel   `yaml:"segment" json:"segment"`
	Strategy  StrategyModel  `yaml:"strategy" json:"strategy"`
	Tier      TierModel      `yaml:"tier" json:"tier"`
	Health    HealthModel    `yaml:"health" json:"health"`
	Churn     ChurnModel     `yaml:"churn" json:"churn"`
	Signals   SignalModel    `yaml:"signals" json:"signals"`
	CLV       CLVModel       `yaml:"clv" json:"clv"`
	Lifecycle LifecycleModel `yaml:"lifecycle" json:"lifecycle"`
}

// Band splits one measure into 2, 1 or 0 points (high, medium, low). Most
// bands are "at least" cut-offs (more is better); the few "at most" bands
// (recency, complaint rate, market share) say so on their field, and there
// High is the smaller number.
type Band struct {
	High   float64 `yaml:"high" json:"high"`
	Medium float64 `yaml:"medium" json:"medium"`
}

// atLeast scores a measure where more is better.
func (b Band) atLeast(x float64) int {
	switch {
	case x >= b.High:
		return 2
	case x >= b.Medium:
		return 1
	}
	return 0
}

// atMost scores a measure where less is better.
func (b Band) atMost(x float64) int {
	switch {
	case x <= b.High:
		return 2
	case x <= b.Medium:
		return 1
	}
	return 0
}

// level turns a 0-6 points total into a Level with b as the cut-offs.
func (b Band) level(points float64) Level {
	return [...]Level{LevelLow, LevelMedium, LevelHigh}[b.atLeast(points)]
}

// ValueModel scores value by RFM over one window: recency, frequency and
// amount of orders each give 0-2 points [001 strategic method].
type ValueModel struct {
	// WindowDays is the look-back for frequency and amount, and the base of
	// the halves compared for falling orders and observed growth.
	WindowDays float64 `yaml:"window_days" json:"window_days"`
	// RecencyDays is an "at most" band: days since the last order.
	RecencyDays Band `yaml:"recency_days" json:"recency_days"`
	// Orders is the count of orders in the window.
	Orders Band `yaml:"orders" json:"orders"`
	// Amount is the sum of orders in the window.
	Amount Band `yaml:"amount" json:"amount"`
	// Levels maps the 0-6 points total to high, medium, low.
	Levels Band `yaml:"levels" json:"levels"`
}

// PotentialModel scores development potential from onboarding data:
// declared revenue, growth expectation and market share [001].
type PotentialModel struct {
	// Revenue is the declared annual revenue of the account.
	Revenue Band `yaml:"revenue" json:"revenue"`
	// GrowthRate is the expected growth (0.15 = 15%).
	GrowthRate Band `yaml:"growth_rate" json:"growth_rate"`
	// MarketShare is an "at most" band on the share of wallet we already
	// hold (0-1): the less we hold, the more room to grow. 0 means unknown
	// and scores nothing.
	MarketShare Band `yaml:"market_share" json:"market_share"`
	// Levels maps the 0-6 points total to high, medium, low.
	Levels Band `yaml:"levels" json:"levels"`
}

// LoyaltyModel scores loyalty from satisfaction answers, complaint rate and
// renewal rate [001]. Silence counts too: a survey unanswered past its due
// time is taken as an answer of UnansweredSatisfaction.
type LoyaltyModel struct {
	// WindowDays is the look-back for surveys (by sent time) and complaints.
	WindowDays float64 `yaml:"window_days" json:"window_days"`
	// Satisfaction is the mean answer on a 0-1 scale (NPS/10, (CSAT-1)/4).
	Satisfaction Band `yaml:"satisfaction" json:"satisfaction"`
	// UnansweredSatisfaction is what an overdue unanswered survey counts as.
	UnansweredSatisfaction float64 `yaml:"unanswered_satisfaction" json:"unanswered_satisfaction"`
	// NoSurveyPoints is given when no survey was sent in the window, so a new
	// account is neither rewarded nor punished.
	NoSurveyPoints int `yaml:"no_survey_points" json:"no_survey_points"`
	// ComplaintRate is an "at most" band on complaints per order in the window.
	ComplaintRate Band `yaml:"complaint_rate" json:"complaint_rate"`
	// RenewalRate is renewals / (renewals + missed renewals).
	RenewalRate Band `yaml:"renewal_rate" json:"renewal_rate"`
	// NoRenewalPoints is given when no contract came up for renewal yet.
	NoRenewalPoints int `yaml:"no_renewal_points" json:"no_renewal_points"`
	// Levels maps the 0-6 points total to high, medium, low.
	Levels Band `yaml:"levels" json:"levels"`
}

// ABCModel grades purchase history in the value window by amount [000]. The
// grade is absolute, not a Pareto cut across all accounts, because scoring
// sees one account at a time.
type ABCModel struct {
	A float64 `yaml:"a" json:"a"`
	B float64 `yaml:"b" json:"b"`
}

// SegmentModel splits accounts by amount x frequency in the value window
// [001 客户分类及管理方法]: at or above both cut-offs is high_value.
type SegmentModel struct {
	Amount float64 `yaml:"amount" json:"amount"`
	Orders int     `yaml:"orders" json:"orders"`
}

// StrategyModel splits accounts by benefit x growth [001 bank deck]. Benefit
// is annualised revenue minus cost to serve; growth is the observed amount
// growth between the two halves of the value window, or the declared growth
// rate when there is no earlier half to compare with.
type StrategyModel struct {
	Benefit float64 `yaml:"benefit" json:"benefit"`
	Growth  float64 `yaml:"growth" json:"growth"`
}

// TierRule is what earns a tier: enough tier points and enough orders in
// the value window (repeat business [004]).
type TierRule struct {
	Points float64 `yaml:"points" json:"points"`
	Orders int     `yaml:"orders" json:"orders"`
}

// TierModel places an account in prospect, ordinary, core or VIP [004].
// Tier points = ValueWeight x value points + LoyaltyWeight x loyalty points.
// A tier once reached is kept while points stay within HoldMargin below its
// rule, so an account at a boundary does not flap; low loyalty (poor
// cooperation) forfeits that grace and demotes at once.
type TierModel struct {
	ValueWeight   float64  `yaml:"value_weight" json:"value_weight"`
	LoyaltyWeight float64  `yaml:"loyalty_weight" json:"loyalty_weight"`
	Ordinary      TierRule `yaml:"ordinary" json:"ordinary"`
	Core          TierRule `yaml:"core" json:"core"`
	VIP           TierRule `yaml:"vip" json:"vip"`
	HoldMargin    float64  `yaml:"hold_margin" json:"hold_margin"`
}

// HealthModel blends value and loyalty points into 0-100 and takes off
// points for overdue work, because neglected follow-ups are the first thing
// a manager can fix.
type HealthModel struct {
	ValueWeight        float64 `yaml:"value_weight" json:"value_weight"`
	LoyaltyWeight      float64 `yaml:"loyalty_weight" json:"loyalty_weight"`
	OverdueTaskPenalty float64 `yaml:"overdue_task_penalty" json:"overdue_task_penalty"`
}

// ChurnModel adds up churn risk from the warning signs in [003, 004]; each
// weight is the risk one sign adds, the total is capped at 1.
type ChurnModel struct {
	// RecentDays is the look-back for complaints that raise risk and for the
	// severe complaint signal: old complaints weigh on loyalty only.
	RecentDays float64 `yaml:"recent_days" json:"recent_days"`
	// FallingRatio: orders are falling when the later half of the value
	// window has fewer than FallingRatio x the orders of the earlier half,
	// and the earlier half had at least FallingMinOrders.
	FallingRatio     float64 `yaml:"falling_ratio" json:"falling_ratio"`
	FallingMinOrders int     `yaml:"falling_min_orders" json:"falling_min_orders"`
	FallingOrders    float64 `yaml:"falling_orders" json:"falling_orders"`
	// Inactive applies when the last order is older than the medium recency
	// cut-off of the value model.
	Inactive float64 `yaml:"inactive" json:"inactive"`
	// LowSatisfaction applies when mean satisfaction is below the medium
	// satisfaction cut-off of the loyalty model.
	LowSatisfaction float64 `yaml:"low_satisfaction" json:"low_satisfaction"`
	// ComplaintPerSeverity is added per severity point of recent complaints,
	// up to ComplaintCap.
	ComplaintPerSeverity float64 `yaml:"complaint_per_severity" json:"complaint_per_severity"`
	ComplaintCap         float64 `yaml:"complaint_cap" json:"complaint_cap"`
	MissedRenewal        float64 `yaml:"missed_renewal" json:"missed_renewal"`
	// OverdueTask is added per overdue task, up to OverdueCap.
	OverdueTask float64 `yaml:"overdue_task" json:"overdue_task"`
	OverdueCap  float64 `yaml:"overdue_cap" json:"overdue_cap"`
}

// SignalModel holds the thresholds that raise churn signals. They mirror the
// policy's churn section (the policy rejects a mismatch) so that the signals
// a score reports are the ones the workflow acts on.
type SignalModel struct {
	HealthBelow     float64 `yaml:"health_below" json:"health_below"`
	RiskAbove       float64 `yaml:"risk_above" json:"risk_above"`
	SevereComplaint int     `yaml:"severe_complaint" json:"severe_complaint"`
	OverdueTasks    int     `yaml:"overdue_tasks" json:"overdue_tasks"`
}

// CLVModel projects lifetime value: (annual revenue - annual cost to serve)
// x HorizonYears x (1 - churn risk) [000]. Revenue and cost are annualised
// from the value window, or from the account's age when it is younger (but
// at least MinHistoryDays, so a first big order is not multiplied wildly).
// VisitCost and EscalationCost are the unit costs the store uses to compute
// Facts.CostToServe (see Model.CostToServe).
type CLVModel struct {
	HorizonYears   float64 `yaml:"horizon_years" json:"horizon_years"`
	MinHistoryDays float64 `yaml:"min_history_days" json:"min_history_days"`
	VisitCost      float64 `yaml:"visit_cost" json:"visit_cost"`
	EscalationCost float64 `yaml:"escalation_cost" json:"escalation_cost"`
}

// LifecycleModel places an account as new, growth or mature [003]: new
// until it is NewDays old and has NewOrders orders, mature from MatureDays.
type LifecycleModel struct {
	NewDays    float64 `yaml:"new_days" json:"new_days"`
	NewOrders  int     `yaml:"new_orders" json:"new_orders"`
	MatureDays float64 `yaml:"mature_days" json:"mature_days"`
}

// DefaultModel returns the production model. Amounts are in the account's
// currency; the cut-offs suit key accounts buying around a million a year.
func DefaultModel() Model {
	return Model{
		Value: ValueModel{
			WindowDays:  365,
			RecencyDays: Band{High: 30, Medium: 90},
			Orders:      Band{High: 12, Medium: 4},
			Amount:      Band{High: 1_000_000, Medium: 200_000},
			Levels:      Band{High: 5, Medium: 3},
		},
		Potential: PotentialModel{
			Revenue:     Band{High: 50_000_000, Medium: 10_000_000},
			GrowthRate:  Band{High: 0.15, Medium: 0.05},
			MarketShare: Band{High: 0.3, Medium: 0.6},
			Levels:      Band{High: 4, Medium: 2},
		},
		Loyalty: LoyaltyModel{
			WindowDays:             365,
			Satisfaction:           Band{High: 0.85, Medium: 0.65},
			UnansweredSatisfaction: 0.2,
			NoSurveyPoints:         1,
			ComplaintRate:          Band{High: 0.05, Medium: 0.2},
			RenewalRate:            Band{High: 0.9, Medium: 0.6},
			NoRenewalPoints:        1,
			Levels:                 Band{High: 5, Medium: 3},
		},
		ABC:      ABCModel{A: 1_000_000, B: 100_000},
		Segment:  SegmentModel{Amount: 500_000, Orders: 6},
		Strategy: StrategyModel{Benefit: 500_000, Growth: 0.1},
		Tier: TierModel{
			ValueWeight:   2,
			LoyaltyWeight: 1,
			Ordinary:      TierRule{Points: 3, Orders: 1},
			Core:          TierRule{Points: 10, Orders: 2},
			VIP:           TierRule{Points: 15, Orders: 6},
			HoldMargin:    2,
		},
		Health: HealthModel{ValueWeight: 0.5, LoyaltyWeight: 0.5, OverdueTaskPenalty: 5},
		Churn: ChurnModel{
			RecentDays:           90,
			FallingRatio:         0.5,
			FallingMinOrders:     2,
			FallingOrders:        0.25,
			Inactive:             0.2,
			LowSatisfaction:      0.2,
			ComplaintPerSeverity: 0.05,
			ComplaintCap:         0.4,
			MissedRenewal:        0.25,
			OverdueTask:          0.1,
			OverdueCap:           0.3,
		},
		Signals:   SignalModel{HealthBelow: 45, RiskAbove: 0.6, SevereComplaint: 4, OverdueTasks: 2},
		CLV:       CLVModel{HorizonYears: 3, MinHistoryDays: 30, VisitCost: 500, EscalationCost: 2000},
		Lifecycle: LifecycleModel{NewDays: 180, NewOrders: 2, MatureDays: 730},
	}
}

// CostToServe prices the service effort the store counted over the value
// window with the model's unit costs, so Facts.CostToServe and the CLV use
// the same prices.
func (m Model) CostToServe(visits, escalations int) float64 {
	return float64(max(visits, 0))*m.CLV.VisitCost + float64(max(escalations, 0))*m.CLV.EscalationCost
}

// maxDays bounds every window so that day counts convert to time.Duration
// without overflow.
const maxDays = 36500

// ValidationError lists every problem in a model, each naming its field by
// its YAML path, so one run of a policy check shows all there is to fix.
type ValidationError struct {
	Problems []string
}

// Error joins the problems on one line, as logs want it.
func (e *ValidationError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// Validate reports every field that would make scoring meaningless: NaN or
// infinite numbers, negative cut-offs, bands in the wrong order, weights that
// sum to nothing. A nil error means Score's outputs stay within their ranges.
func (m Model) Validate() error {
	var c checker
	v := m.Value
	c.days("value.window_days", v.WindowDays)
	c.days("value.recency_days.high", v.RecencyDays.High)
	c.days("value.recency_days.medium", v.RecencyDays.Medium)
	c.atMostBand("value.recency_days", v.RecencyDays)
	c.atLeastBand("value.orders", v.Orders, 0, math.MaxFloat64)
	c.atLeastBand("value.amount", v.Amount, 0, math.MaxFloat64)
	c.atLeastBand("value.levels", v.Levels, 0, 6)

	p := m.Potential
	c.atLeastBand("potential.revenue", p.Revenue, 0, math.MaxFloat64)
	c.atLeastBand("potential.growth_rate", p.GrowthRate, -math.MaxFloat64, math.MaxFloat64)
	c.within("potential.market_share.high", p.MarketShare.High, 0, 1)
	c.within("potential.market_share.medium", p.MarketShare.Medium, 0, 1)
	c.atMostBand("potential.market_share", p.MarketShare)
	c.atLeastBand("potential.levels", p.Levels, 0, 6)

	l := m.Loyalty
	c.days("loyalty.window_days", l.WindowDays)
	c.atLeastBand("loyalty.satisfaction", l.Satisfaction, 0, 1)
	c.within("loyalty.unanswered_satisfaction", l.UnansweredSatisfaction, 0, 1)
	c.within("loyalty.no_survey_points", float64(l.NoSurveyPoints), 0, 2)
	c.within("loyalty.complaint_rate.high", l.ComplaintRate.High, 0, math.MaxFloat64)
	c.within("loyalty.complaint_rate.medium", l.ComplaintRate.Medium, 0, math.MaxFloat64)
	c.atMostBand("loyalty.complaint_rate", l.ComplaintRate)
	c.atLeastBand("loyalty.renewal_rate", l.RenewalRate, 0, 1)
	c.within("loyalty.no_renewal_points", float64(l.NoRenewalPoints), 0, 2)
	c.atLeastBand("loyalty.levels", l.Levels, 0, 6)

	c.within("abc.a", m.ABC.A, 0, math.MaxFloat64)
	c.within("abc.b", m.ABC.B, 0, math.MaxFloat64)
	if finite(m.ABC.A) && finite(m.ABC.B) && m.ABC.A < m.ABC.B {
		c.add("abc.a must be at least abc.b")
	}
	c.within("segment.amount", m.Segment.Amount, 0, math.MaxFloat64)
	c.within("segment.orders", float64(m.Segment.Orders), 0, math.MaxFloat64)
	c.within("strategy.benefit", m.Strategy.Benefit, -math.MaxFloat64, math.MaxFloat64)
	c.within("strategy.growth", m.Strategy.Growth, -math.MaxFloat64, math.MaxFloat64)

	t := m.Tier
	c.weights("tier.value_weight", t.ValueWeight, "tier.loyalty_weight", t.LoyaltyWeight)
	rules := []struct {
		name string
		rule TierRule
	}{{"tier.ordinary", t.Ordinary}, {"tier.core", t.Core}, {"tier.vip", t.VIP}}
	for i, r := range rules {
		c.within(r.name+".points", r.rule.Points, 0, math.MaxFloat64)
		c.within(r.name+".orders", float64(r.rule.Orders), 0, math.MaxFloat64)
		if i == 0 {
			continue
		}
		prev := rules[i-1]
		if finite(r.rule.Points) && finite(prev.rule.Points) && r.rule.Points < prev.rule.Points {
			c.add(fmt.Sprintf("%s.points must be at least %s.points", r.name, prev.name))
		}
		if r.rule.Orders < prev.rule.Orders {
			c.add(fmt.Sprintf("%s.orders must be at least %s.orders", r.name, prev.name))
		}
	}
	c.within("tier.hold_margin", t.HoldMargin, 0, math.MaxFloat64)

	h := m.Health
	c.weights("health.value_weight", h.ValueWeight, "health.loyalty_weight", h.LoyaltyWeight)
	c.within("health.overdue_task_penalty", h.OverdueTaskPenalty, 0, 100)

	ch := m.Churn
	c.days("churn.recent_days", ch.RecentDays)
	c.within("churn.falling_ratio", ch.FallingRatio, 0, 1)
	c.within("churn.falling_min_orders", float64(ch.FallingMinOrders), 1, math.MaxFloat64)
	for _, w := range []struct {
		name string
		x    float64
	}{
		{"churn.falling_orders", ch.FallingOrders},
		{"churn.inactive", ch.Inactive},
		{"churn.low_satisfaction", ch.LowSatisfaction},
		{"churn.complaint_per_severity", ch.ComplaintPerSeverity},
		{"churn.complaint_cap", ch.ComplaintCap},
		{"churn.missed_renewal", ch.MissedRenewal},
		{"churn.overdue_task", ch.OverdueTask},
		{"churn.overdue_cap", ch.OverdueCap},
	} {
		c.within(w.name, w.x, 0, 1)
	}

	s := m.Signals
	c.within("signals.health_below", s.HealthBelow, 0, 100)
	c.within("signals.risk_above", s.RiskAbove, 0, 1)
	c.within("signals.severe_complaint", float64(s.SevereComplaint), 1, 5)
	c.within("signals.overdue_tasks", float64(s.OverdueTasks), 1, math.MaxFloat64)

	v2 := m.CLV
	c.positive("clv.horizon_years", v2.HorizonYears)
	if finite(v2.HorizonYears) && v2.HorizonYears > 100 {
		c.add("clv.horizon_years must be at most 100")
	}
	c.days("clv.min_history_days", v2.MinHistoryDays)
	c.within("clv.visit_cost", v2.VisitCost, 0, math.MaxFloat64)
	c.within("clv.escalation_cost", v2.EscalationCost, 0, math.MaxFloat64)

	lc := m.Lifecycle
	c.within("lifecycle.new_days", lc.NewDays, 0, maxDays)
	c.within("lifecycle.new_orders", float64(lc.NewOrders), 0, math.MaxFloat64)
	c.days("lifecycle.mature_days", lc.MatureDays)
	if finite(lc.NewDays) && finite(lc.MatureDays) && lc.MatureDays < lc.NewDays {
		c.add("lifecycle.mature_days must be at least lifecycle.new_days")
	}

	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems}
}

// AsValidationError returns the problems of a Validate error, for callers
// (the policy) that merge them into their own list under a prefix.
func AsValidationError(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}

// checker collects problems in the order fields are checked, so messages
// come out in file order.
type checker struct {
	problems []string
}

func (c *checker) add(p string) { c.problems = append(c.problems, p) }

// within reports x outside [lo, hi]; NaN and infinities fail too.
func (c *checker) within(name string, x, lo, hi float64) {
	switch {
	case !finite(x):
		c.add(name + " must be a finite number")
	case x < lo || x > hi:
		switch {
		case hi == math.MaxFloat64 && lo == 0:
			c.add(name + " must not be negative")
		case hi == math.MaxFloat64:
			c.add(fmt.Sprintf("%s must be at least %s", name, num(lo)))
		default:
			c.add(fmt.Sprintf("%s must be within %s and %s", name, num(lo), num(hi)))
		}
	}
}

func (c *checker) positive(name string, x float64) {
	switch {
	case !finite(x):
		c.add(name + " must be a finite number")
	case x <= 0:
		c.add(name + " must be positive")
	}
}

// days checks a window: positive and small enough to be a time.Duration.
func (c *checker) days(name string, x float64) {
	c.positive(name, x)
	if finite(x) && x > maxDays {
		c.add(fmt.Sprintf("%s must be at most %d", name, maxDays))
	}
}

// atLeastBand checks a band where more is better: both cut-offs in range and
// high not below medium.
func (c *checker) atLeastBand(name string, b Band, lo, hi float64) {
	c.within(name+".high", b.High, lo, hi)
	c.within(name+".medium", b.Medium, lo, hi)
	if finite(b.High) && finite(b.Medium) && b.High < b.Medium {
		c.add(fmt.Sprintf("%s.high must be at least %s.medium", name, name))
	}
}

// atMostBand checks the order of a band where less is better; the caller
// checks the range.
func (c *checker) atMostBand(name string, b Band) {
	if finite(b.High) && finite(b.Medium) && b.High > b.Medium {
		c.add(fmt.Sprintf("%s.high must be at most %s.medium", name, name))
	}
}

// weights checks a pair of blend weights: neither negative, not both zero.
func (c *checker) weights(a string, x float64, b string, y float64) {
	c.within(a, x, 0, math.MaxFloat64)
	c.within(b, y, 0, math.MaxFloat64)
	if finite(x) && finite(y) && x+y <= 0 {
		c.add(fmt.Sprintf("%s + %s must be positive", a, b))
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
