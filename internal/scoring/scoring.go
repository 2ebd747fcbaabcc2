// Package scoring classifies one key account from the facts an activity
// loads: value, potential and loyalty levels, ABC class, segment, strategy,
// tier, health, churn risk, lifetime value and lifecycle, each with the
// reason for it. It is a pure function of (Model, Facts), with no I/O and no
// clock, so the same facts always give the same result and a business can
// read why an account moved.
package scoring

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Level is the three-way grade used for value, potential and loyalty.
type Level string

// The levels, as the seeds grade customers [001].
const (
	LevelHigh   Level = "high"
	LevelMedium Level = "medium"
	LevelLow    Level = "low"
)

// Valid reports whether l is one of the three levels, for callers that read
// a level back from storage.
func (l Level) Valid() bool {
	return l == LevelHigh || l == LevelMedium || l == LevelLow
}

// Tiers, lowest first [004].
const (
	TierProspect = "prospect"
	TierOrdinary = "ordinary"
	TierCore     = "core"
	TierVIP      = "vip"
)

// Tiers returns the tier names lowest first, for validating per-tier policy
// maps and ordering reports.
func Tiers() []string {
	return []string{TierProspect, TierOrdinary, TierCore, TierVIP}
}

// tierRank orders tiers; -1 for an unknown or empty tier.
func tierRank(t string) int {
	for i, n := range Tiers() {
		if n == t {
			return i
		}
	}
	return -1
}

// Segments: amount x frequency [001 客户分类及管理方法].
const (
	SegmentHighValue = "high_value" // high amount, high frequency
	SegmentPotential = "potential"  // low amount, high frequency
	SegmentOneTime   = "one_time"   // high amount, low frequency
	SegmentLapsed    = "lapsed"     // low amount, low frequency
)

// Strategies: benefit x growth [001 bank deck].
const (
	StrategyKey      = "key"       // high benefit, high growth
	StrategyGeneral1 = "general_1" // high benefit, low growth
	StrategyGeneral2 = "general_2" // low benefit, high growth
	StrategyProspect = "prospect"  // low benefit, low growth
)

// Lifecycle phases [003].
const (
	LifecycleNew    = "new"
	LifecycleGrowth = "growth"
	LifecycleMature = "mature"
)

// Churn signals, reported in this order.
const (
	SignalHealthLow        = "health_low"
	SignalRiskHigh         = "risk_high"
	SignalSevereComplaint  = "severe_complaint"
	SignalMissedRenewal    = "missed_renewal"
	SignalOverdueFollowUps = "overdue_followups"
	SignalFallingOrders    = "falling_orders"
	SignalSurveyUnanswered = "survey_unanswered"
)

// Order is one purchase. A negative amount is a credit: it lowers the
// amount but is not counted as an order.
type Order struct {
	At     time.Time
	Amount float64
}

// Complaint is one complaint with severity 1 (minor) to 5 (critical).
type Complaint struct {
	At       time.Time
	Severity int
}

// Survey is one NPS (0-10) or CSAT (1-5) survey sent to the account.
type Survey struct {
	SentAt, DueAt time.Time
	Kind          string // nps | csat
	Answered      bool
	NPS, CSAT     *int
}

// Facts is what the store knows about one account at Now. Events after Now
// are ignored, so replaying a score at an earlier time gives the earlier
// answer.
type Facts struct {
	Now             time.Time
	Since           time.Time // onboarded; zero means unknown (the first order is used)
	DeclaredRevenue float64   // annual revenue declared at onboarding
	GrowthRate      float64   // expected growth, 0.15 = 15%
	MarketShare     float64   // share of wallet 0-1; 0 = unknown
	Orders          []Order
	Complaints      []Complaint
	Surveys         []Survey
	Renewals        int
	MissedRenewals  int
	OverdueTasks    int
	CompletedVisits int
	// CostToServe is the service cost over the value window, usually
	// Model.CostToServe(visits, escalations). When it is 0, completed
	// visits at the model's visit cost stand in for it.
	CostToServe float64
	PrevTier    string
}

// Reason explains one field of a Result with the figures behind it.
type Reason struct {
	Field string `json:"field"`
	Text  string `json:"text"`
}

// Result is the full classification of one account. Health is rounded to
// 0.1, churn risk to 0.001 and CLV to 0.01, and signals compare the rounded
// values, so what is stored, shown and acted on agree.
type Result struct {
	Value     Level    `json:"value"`
	Potential Level    `json:"potential"`
	Loyalty   Level    `json:"loyalty"`
	ABC       string   `json:"abc"`
	Segment   string   `json:"segment"`
	Strategy  string   `json:"strategy"`
	Tier      string   `json:"tier"`
	Health    float64  `json:"health"`
	ChurnRisk float64  `json:"churn_risk"`
	CLV       float64  `json:"clv"`
	Lifecycle string   `json:"lifecycle"`
	Reasons   []Reason `json:"reasons"`
	Signals   []string `json:"signals"`
}

// Score classifies the account described by f under model m. It never
// panics: non-finite amounts are ignored and out-of-range inputs are clamped,
// so a bad event cannot stop an account's workflow.
func Score(m Model, f Facts) Result {
	d := digest(m, f)
	var r Result
	reason := func(field, format string, args ...any) {
		r.Reasons = append(r.Reasons, Reason{Field: field, Text: fmt.Sprintf(format, args...)})
	}

	// Value: RFM.
	rec := 0
	recText := "no orders"
	if d.lastOrderDays >= 0 {
		rec = m.Value.RecencyDays.atMost(d.lastOrderDays)
		recText = "last " + days(d.lastOrderDays) + " ago"
	}
	freq := m.Value.Orders.atLeast(float64(d.orders))
	amt := m.Value.Amount.atLeast(d.amount)
	valuePoints := rec + freq + amt
	r.Value = m.Value.Levels.level(float64(valuePoints))
	reason("value", "%s worth %s in the last %s, %s: recency %d + frequency %d + amount %d = %s: %s",
		plural(d.orders, "order"), money(d.amount), days(m.Value.WindowDays), recText, rec, freq, amt, plural(valuePoints, "point"), r.Value)

	// Potential.
	revenue := nonNeg(f.DeclaredRevenue)
	growth := finiteOr(f.GrowthRate, 0)
	share := clamp(finiteOr(f.MarketShare, 0), 0, 1)
	revP := m.Potential.Revenue.atLeast(revenue)
	growP := m.Potential.GrowthRate.atLeast(growth)
	shareP, shareText := 0, "market share unknown (0)"
	if share > 0 {
		shareP = m.Potential.MarketShare.atMost(share)
		shareText = fmt.Sprintf("market share %s (%d)", pct(share), shareP)
	}
	potentialPoints := revP + growP + shareP
	r.Potential = m.Potential.Levels.level(float64(potentialPoints))
	reason("potential", "declared revenue %s (%d), growth %s (%d), %s = %s: %s",
		money(revenue), revP, pct(growth), growP, shareText, plural(potentialPoints, "point"), r.Potential)

	// Loyalty.
	satP := m.Loyalty.NoSurveyPoints
	satText := "no surveys"
	if d.samples > 0 {
		satP = m.Loyalty.Satisfaction.atLeast(d.satisfaction)
		satText = fmt.Sprintf("satisfaction %.2f from %s", d.satisfaction, plural(d.answered, "answer"))
		if d.unanswered > 0 {
			satText += fmt.Sprintf(" and %d unanswered past due", d.unanswered)
		}
	}
	rate := float64(d.complaints) / float64(max(d.orders, 1))
	compP := m.Loyalty.ComplaintRate.atMost(rate)
	renewals, missed := max(f.Renewals, 0), max(f.MissedRenewals, 0)
	renP := m.Loyalty.NoRenewalPoints
	renText := "no renewals due"
	if renewals+missed > 0 {
		renP = m.Loyalty.RenewalRate.atLeast(float64(renewals) / float64(renewals+missed))
		renText = fmt.Sprintf("%d of %d renewals", renewals, renewals+missed)
	}
	loyaltyPoints := satP + compP + renP
	r.Loyalty = m.Loyalty.Levels.level(float64(loyaltyPoints))
	reason("loyalty", "%s (%d), %s per %s in %s (%d), %s (%d) = %s: %s",
		satText, satP, plural(d.complaints, "complaint"), plural(d.orders, "order"), days(m.Loyalty.WindowDays),
		compP, renText, renP, plural(loyaltyPoints, "point"), r.Loyalty)

	// ABC.
	switch {
	case d.amount >= m.ABC.A:
		r.ABC = "A"
	case d.amount >= m.ABC.B:
		r.ABC = "B"
	default:
		r.ABC = "C"
	}
	reason("abc", "%s in the last %s (A from %s, B from %s): %s",
		money(d.amount), days(m.Value.WindowDays), money(m.ABC.A), money(m.ABC.B), r.ABC)

	// Segment: amount x frequency.
	highAmount := d.amount >= m.Segment.Amount
	highFreq := d.orders >= m.Segment.Orders
	switch {
	case highAmount && highFreq:
		r.Segment = SegmentHighValue
	case highFreq:
		r.Segment = SegmentPotential
	case highAmount:
		r.Segment = SegmentOneTime
	default:
		r.Segment = SegmentLapsed
	}
	reason("segment", "%s and %s in the last %s (high from %s and %s): %s",
		money(d.amount), plural(d.orders, "order"), days(m.Value.WindowDays),
		money(m.Segment.Amount), plural(m.Segment.Orders, "order"), r.Segment)

	// Strategy: benefit x growth.
	annualRevenue := finiteOr(d.amount*d.annualise, 0)
	cost, costText := nonNeg(f.CostToServe), ""
	if cost == 0 && f.CompletedVisits > 0 {
		cost = nonNeg(m.CostToServe(f.CompletedVisits, 0))
		costText = fmt.Sprintf(" (estimated from %s)", plural(f.CompletedVisits, "visit"))
	}
	annualCost := finiteOr(cost*d.annualise, 0)
	benefit := finiteOr(annualRevenue-annualCost, 0)
	growthSeen, growthText := growth, "declared"
	if d.priorAmount > 0 {
		growthSeen = finiteOr(d.recentAmount/d.priorAmount-1, 0)
		growthText = "observed"
	}
	highBenefit := benefit >= m.Strategy.Benefit
	highGrowth := growthSeen >= m.Strategy.Growth
	switch {
	case highBenefit && highGrowth:
		r.Strategy = StrategyKey
	case highBenefit:
		r.Strategy = StrategyGeneral1
	case highGrowth:
		r.Strategy = StrategyGeneral2
	default:
		r.Strategy = StrategyProspect
	}
	reason("strategy", "benefit %s a year (high from %s), growth %s %s (high from %s): %s",
		money(benefit), money(m.Strategy.Benefit), pct(growthSeen), growthText, pct(m.Strategy.Growth), r.Strategy)

	// Tier with hysteresis.
	r.Tier = tier(m.Tier, float64(valuePoints), float64(loyaltyPoints), d.orders, r.Loyalty, f.PrevTier, reason)

	// Health.
	overdue := max(f.OverdueTasks, 0)
	wsum := m.Health.ValueWeight + m.Health.LoyaltyWeight
	health := 0.0
	if wsum > 0 {
		health = 100 * (m.Health.ValueWeight*float64(valuePoints)/6 + m.Health.LoyaltyWeight*float64(loyaltyPoints)/6) / wsum
	}
	health -= m.Health.OverdueTaskPenalty * float64(overdue)
	r.Health = round(clamp(finiteOr(health, 0), 0, 100), 1)
	reason("health", "value %d/6 and loyalty %d/6 weighted %s/%s, %s at -%s each: %s",
		valuePoints, loyaltyPoints, num(m.Health.ValueWeight), num(m.Health.LoyaltyWeight),
		plural(overdue, "overdue task"), num(m.Health.OverdueTaskPenalty), num(r.Health))

	// Churn risk.
	c := m.Churn
	var risk float64
	var parts []string
	addRisk := func(x float64, text string) {
		x = finiteOr(x, 0)
		risk += x
		parts = append(parts, fmt.Sprintf("%s +%.2f", text, x))
	}
	falling := d.priorOrders >= c.FallingMinOrders && float64(d.recentOrders) < c.FallingRatio*float64(d.priorOrders)
	half := days(m.Value.WindowDays / 2)
	if falling {
		addRisk(c.FallingOrders, fmt.Sprintf("orders falling (%d in the last %s vs %d before)", d.recentOrders, half, d.priorOrders))
	}
	if d.lastOrderDays > m.Value.RecencyDays.Medium {
		addRisk(c.Inactive, "no order for "+days(d.lastOrderDays))
	}
	if d.samples > 0 && d.satisfaction < m.Loyalty.Satisfaction.Medium {
		addRisk(c.LowSatisfaction, fmt.Sprintf("satisfaction %.2f", d.satisfaction))
	}
	if d.recentSeverity > 0 {
		addRisk(math.Min(c.ComplaintPerSeverity*float64(d.recentSeverity), c.ComplaintCap),
			fmt.Sprintf("%s of total severity %d in %s", plural(d.recentComplaints, "complaint"), d.recentSeverity, days(c.RecentDays)))
	}
	if missed > 0 {
		addRisk(c.MissedRenewal*float64(missed), plural(missed, "missed renewal"))
	}
	if overdue > 0 {
		addRisk(math.Min(c.OverdueTask*float64(overdue), c.OverdueCap), plural(overdue, "overdue task"))
	}
	r.ChurnRisk = round(clamp(finiteOr(risk, 0), 0, 1), 3)
	if len(parts) == 0 {
		reason("churn_risk", "no warning signs: %.2f", r.ChurnRisk)
	} else {
		capped := ""
		if risk > 1 {
			capped = " (capped)"
		}
		reason("churn_risk", "%s: %.2f%s", strings.Join(parts, ", "), r.ChurnRisk, capped)
	}

	// Lifetime value.
	horizon := finiteOr(m.CLV.HorizonYears, 0)
	r.CLV = round(finite64(benefit*horizon*(1-r.ChurnRisk)), 2)
	reason("clv", "annual revenue %s - cost to serve %s%s = %s x %s years x retention %.2f: %s",
		money(annualRevenue), money(annualCost), costText, money(benefit), num(horizon), 1-r.ChurnRisk, money(r.CLV))

	// Lifecycle.
	switch {
	case d.ageDays < m.Lifecycle.NewDays || d.totalOrders < m.Lifecycle.NewOrders:
		r.Lifecycle = LifecycleNew
	case d.ageDays >= m.Lifecycle.MatureDays:
		r.Lifecycle = LifecycleMature
	default:
		r.Lifecycle = LifecycleGrowth
	}
	reason("lifecycle", "%s old with %s (new below %s or %s, mature from %s): %s",
		days(d.ageDays), plural(d.totalOrders, "order"), days(m.Lifecycle.NewDays),
		plural(m.Lifecycle.NewOrders, "order"), days(m.Lifecycle.MatureDays), r.Lifecycle)

	// Signals in the contract's order.
	r.Signals = []string{}
	sig := func(on bool, name string) {
		if on {
			r.Signals = append(r.Signals, name)
		}
	}
	sig(r.Health < m.Signals.HealthBelow, SignalHealthLow)
	sig(r.ChurnRisk > m.Signals.RiskAbove, SignalRiskHigh)
	sig(d.maxRecentSeverity >= m.Signals.SevereComplaint && d.recentComplaints > 0, SignalSevereComplaint)
	sig(missed > 0, SignalMissedRenewal)
	sig(overdue >= m.Signals.OverdueTasks, SignalOverdueFollowUps)
	sig(falling, SignalFallingOrders)
	sig(d.unanswered > 0, SignalSurveyUnanswered)
	return r
}

// tier earns the highest tier whose rule the points and orders meet, then
// keeps a higher previous tier while points stay within the hold margin of
// its rule, unless loyalty is low.
func tier(m TierModel, valuePoints, loyaltyPoints float64, orders int, loyalty Level, prevTier string, reason func(string, string, ...any)) string {
	rules := [...]TierRule{{}, m.Ordinary, m.Core, m.VIP}
	names := Tiers()
	points := finiteOr(m.ValueWeight*valuePoints+m.LoyaltyWeight*loyaltyPoints, 0)
	earned := 0
	for k := 1; k < len(rules); k++ {
		if points >= rules[k].Points && orders >= rules[k].Orders {
			earned = k
		}
	}
	got := earned
	prev := tierRank(prevTier)
	note := ""
	switch {
	case prev > earned && loyalty == LevelLow:
		note = fmt.Sprintf(", demoted from %s: loyalty low", prevTier)
	case prev > earned:
		for k := prev; k > earned; k-- {
			if points >= rules[k].Points-m.HoldMargin {
				got = k
				break
			}
		}
		if got == prev {
			note = fmt.Sprintf(", %s held (kept from %s points)", prevTier, num(rules[prev].Points-m.HoldMargin))
		} else {
			note = fmt.Sprintf(", demoted from %s", prevTier)
		}
	case prev >= 0 && earned > prev:
		note = fmt.Sprintf(", promoted from %s", prevTier)
	}
	next := ""
	if earned+1 < len(rules) {
		next = fmt.Sprintf(" (%s from %s points and %s)", names[earned+1], num(rules[earned+1].Points), plural(rules[earned+1].Orders, "order"))
	}
	reason("tier", "%s points (%s x %s value + %s x %s loyalty) with %s: %s earned%s%s",
		num(points), num(m.ValueWeight), num(valuePoints), num(m.LoyaltyWeight), num(loyaltyPoints),
		plural(orders, "order"), names[earned], next, note)
	return names[got]
}

// digested holds the figures every classification reads, computed once so
// that all of them see the same windows.
type digested struct {
	orders        int     // orders in the value window
	amount        float64 // their amount, never negative
	totalOrders   int     // orders up to now
	lastOrderDays float64 // days since the last order; -1 without orders

	recentOrders, priorOrders int     // later and earlier half of the window
	recentAmount, priorAmount float64 // same halves, amounts

	ageDays   float64
	annualise float64 // factor from the observed history to a year

	samples      int // satisfaction samples (answers and overdue silences)
	answered     int
	unanswered   int
	satisfaction float64 // mean of the samples
	complaints   int     // complaints in the loyalty window

	recentComplaints  int // complaints in the churn window
	recentSeverity    int
	maxRecentSeverity int
}

func digest(m Model, f Facts) digested {
	d := digested{lastOrderDays: -1}
	now := f.Now
	windowStart := now.Add(-dur(m.Value.WindowDays))
	mid := now.Add(-dur(m.Value.WindowDays / 2))
	var first time.Time
	var recentAmount, priorAmount float64
	for _, o := range f.Orders {
		if o.At.After(now) || !finite(o.Amount) {
			continue
		}
		if first.IsZero() || o.At.Before(first) {
			first = o.At
		}
		isOrder := o.Amount >= 0
		if isOrder {
			d.totalOrders++
			if ago := daysBetween(o.At, now); d.lastOrderDays < 0 || ago < d.lastOrderDays {
				d.lastOrderDays = ago
			}
		}
		if !o.At.After(windowStart) {
			continue
		}
		d.amount += o.Amount
		recent := o.At.After(mid)
		if recent {
			recentAmount += o.Amount
		} else {
			priorAmount += o.Amount
		}
		if !isOrder {
			continue
		}
		d.orders++
		if recent {
			d.recentOrders++
		} else {
			d.priorOrders++
		}
	}
	d.amount = nonNeg(d.amount)
	d.recentAmount, d.priorAmount = nonNeg(recentAmount), nonNeg(priorAmount)

	since := f.Since
	if since.IsZero() {
		since = first
	}
	if !since.IsZero() {
		d.ageDays = max(daysBetween(since, now), 0)
	}
	history := m.Value.WindowDays
	if !f.Since.IsZero() {
		history = math.Min(history, math.Max(d.ageDays, m.CLV.MinHistoryDays))
	}
	if history > 0 {
		d.annualise = 365 / history
	}

	loyaltyStart := now.Add(-dur(m.Loyalty.WindowDays))
	var sum float64
	for _, s := range f.Surveys {
		if !s.SentAt.After(loyaltyStart) || s.SentAt.After(now) {
			continue
		}
		if s.Answered {
			x, ok := satisfaction(s)
			if !ok {
				continue
			}
			sum += x
			d.answered++
		} else if !s.DueAt.IsZero() && now.After(s.DueAt) {
			sum += clamp(finiteOr(m.Loyalty.UnansweredSatisfaction, 0), 0, 1)
			d.unanswered++
		} else {
			continue
		}
		d.samples++
	}
	if d.samples > 0 {
		d.satisfaction = sum / float64(d.samples)
	}

	recentStart := now.Add(-dur(m.Churn.RecentDays))
	for _, c := range f.Complaints {
		if c.At.After(now) {
			continue
		}
		if c.At.After(loyaltyStart) {
			d.complaints++
		}
		if c.At.After(recentStart) {
			sev := min(max(c.Severity, 1), 5)
			d.recentComplaints++
			d.recentSeverity += sev
			d.maxRecentSeverity = max(d.maxRecentSeverity, sev)
		}
	}
	return d
}

// satisfaction maps an answered survey to 0-1: NPS/10 or (CSAT-1)/4, the
// mean of both when both were given. Kind is informational: what was
// answered counts.
func satisfaction(s Survey) (float64, bool) {
	var sum float64
	n := 0
	if s.NPS != nil {
		sum += float64(min(max(*s.NPS, 0), 10)) / 10
		n++
	}
	if s.CSAT != nil {
		sum += float64(min(max(*s.CSAT, 1), 5)-1) / 4
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// dur converts days to a duration, clamped so that the conversion cannot
// overflow whatever the model says.
func dur(days float64) time.Duration {
	return time.Duration(clamp(finiteOr(days, 0), 0, maxDays) * float64(24*time.Hour))
}

func daysBetween(from, to time.Time) float64 {
	return to.Sub(from).Hours() / 24
}

func clamp(x, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, x))
}

func finiteOr(x, fallback float64) float64 {
	if finite(x) {
		return x
	}
	return fallback
}

// finite64 keeps a result finite: NaN becomes 0, infinities the largest
// float, so JSON and numeric columns accept it.
func finite64(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

func nonNeg(x float64) float64 {
	if !finite(x) || x < 0 {
		return 0
	}
	return x
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	y := math.Round(x*p) / p
	if !finite(y) {
		return x
	}
	return y
}

// num prints a number without trailing zeros: 2, 0.5, 182.5.
func num(x float64) string {
	return strconv.FormatFloat(round(x, 2), 'f', -1, 64)
}

func days(x float64) string {
	return num(round(x, 1)) + "d"
}

func pct(x float64) string {
	return num(round(x*100, 1)) + "%"
}

// money prints an amount the way managers say it: 2.4M, 450k, 980.
func money(x float64) string {
	a := math.Abs(x)
	switch {
	case a >= 1e9:
		return num(round(x/1e9, 2)) + "B"
	case a >= 1e6:
		return num(round(x/1e6, 2)) + "M"
	case a >= 1e3:
		return num(round(x/1e3, 1)) + "k"
	}
	return num(round(x, 0))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
