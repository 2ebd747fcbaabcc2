package scoring

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// now is the fixed clock of every worked example.
var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ago(days float64) time.Time {
	return now.Add(-time.Duration(days * float64(24*time.Hour)))
}

// every returns n orders of amount, the first first days ago and each next
// one step days earlier.
func every(n int, first, step, amount float64) []Order {
	out := make([]Order, n)
	for i := range out {
		out[i] = Order{At: ago(first + float64(i)*step), Amount: amount}
	}
	return out
}

func intp(v int) *int { return &v }

func answered(sentDaysAgo float64, nps, csat *int) Survey {
	return Survey{SentAt: ago(sentDaysAgo), DueAt: ago(sentDaysAgo - 14), Kind: "nps", Answered: true, NPS: nps, CSAT: csat}
}

func unanswered(sentDaysAgo float64) Survey {
	return Survey{SentAt: ago(sentDaysAgo), DueAt: ago(sentDaysAgo - 14), Kind: "nps"}
}

// want lists the parts of a Result a case checks; zero fields are not checked
// except Signals, which is always compared (nil means none).
type want struct {
	value, potential, loyalty Level
	abc, segment, strategy    string
	tier, lifecycle           string
	health, risk, clv         *float64
	signals                   []string
	reasons                   map[string][]string // field -> substrings its text must contain
}

func fp(v float64) *float64 { return &v }

// The worked examples below are computed by hand from DOMAIN.md with
// DefaultModel(); each comment shows the arithmetic.
func TestScoreWorkedExamples(t *testing.T) {
	tests := []struct {
		name  string
		facts Facts
		want  want
	}{
		{
			// 24 orders x 100k every 15d from 5d ago: R2 F2 M2 = 6 high.
			// Potential: 80M (2) + 20% (2) + share 25% (2) = 6 high.
			// Loyalty: NPS 9 = 0.9 (2) + no complaints (2) + 2/2 renewals (2) = 6 high.
			// Halves: 12 orders in each, growth 0% observed -> general_1.
			// Tier: 2x6 + 6 = 18 >= 15 with 24 >= 6 orders -> vip.
			// Health 100, risk 0, CLV (2.4M - 20k) x 3 x 1 = 7.14M.
			name: "big frequent buyer",
			facts: Facts{
				Now: now, Since: ago(1096),
				DeclaredRevenue: 80_000_000, GrowthRate: 0.2, MarketShare: 0.25,
				Orders:   every(24, 5, 15, 100_000),
				Surveys:  []Survey{answered(30, intp(9), nil)},
				Renewals: 2, CostToServe: 20_000, PrevTier: TierCore,
			},
			want: want{
				value: LevelHigh, potential: LevelHigh, loyalty: LevelHigh,
				abc: "A", segment: SegmentHighValue, strategy: StrategyGeneral1,
				tier: TierVIP, lifecycle: LifecycleMature,
				health: fp(100), risk: fp(0), clv: fp(7_140_000),
				reasons: map[string][]string{
					"value":    {"24 orders worth 2.4M in the last 365d", "last 5d ago", "= 6 points: high"},
					"loyalty":  {"satisfaction 0.90 from 1 answer (2)", "2 of 2 renewals (2)"},
					"tier":     {"18 points", "vip earned", "promoted from core"},
					"strategy": {"benefit 2.38M a year", "growth 0% observed", "general_1"},
					"clv":      {"annual revenue 2.4M - cost to serve 20k", "7.14M"},
				},
			},
		},
		{
			// Earlier half 3 x 100k, later half 6 x 150k: 1.2M from 9 orders.
			// R2 (10d) F1 (9) M2 = 5 high; growth 900k/300k - 1 = 200% -> key.
			// Loyalty: no surveys (1) + no complaints (2) + no renewals (1) = 4 medium.
			// Tier: 2x5 + 4 = 14 < 15 -> core. Health 100 x (5/12 + 4/12) = 75.
			name: "growing buyer is a key account",
			facts: Facts{
				Now: now, Since: ago(500),
				Orders: append(every(3, 200, 50, 100_000), every(6, 10, 28, 150_000)...),
			},
			want: want{
				value: LevelHigh, loyalty: LevelMedium, abc: "A",
				segment: SegmentHighValue, strategy: StrategyKey,
				tier: TierCore, lifecycle: LifecycleGrowth,
				health: fp(75), risk: fp(0), clv: fp(3_600_000),
				reasons: map[string][]string{
					"strategy": {"growth 200% observed", "key"},
					"tier":     {"14 points", "core earned (vip from 15 points and 6 orders)"},
				},
			},
		},
		{
			// 4 x 50k at 200-350d: R0 F1 M1 = 2 low; segment lapsed.
			// Loyalty: no surveys (1) + 2 complaints per 4 orders = 0.5 (0) + 0/1 renewals (0) = 1 low.
			// Tier: 2x2 + 1 = 5 -> ordinary; prev core is not held, loyalty is low.
			// Health 100 x (2/12 + 1/12) - 3 x 5 = 10.
			// Risk: falling 0.25 + inactive 0.20 + severity 6 x 0.05 = 0.30 + missed 0.25
			// + overdue min(0.3, 0.3) = 1.30, capped at 1. CLV 200k x 3 x 0 = 0.
			name: "lapsed account with complaints",
			facts: Facts{
				Now: now, Since: ago(1096),
				Orders:         every(4, 200, 50, 50_000),
				Complaints:     []Complaint{{At: ago(20), Severity: 4}, {At: ago(60), Severity: 2}},
				MissedRenewals: 1, OverdueTasks: 3, PrevTier: TierCore,
			},
			want: want{
				value: LevelLow, loyalty: LevelLow, abc: "B",
				segment: SegmentLapsed, strategy: StrategyProspect,
				tier: TierOrdinary, lifecycle: LifecycleMature,
				health: fp(10), risk: fp(1), clv: fp(0),
				signals: []string{SignalHealthLow, SignalRiskHigh, SignalSevereComplaint,
					SignalMissedRenewal, SignalOverdueFollowUps, SignalFallingOrders},
				reasons: map[string][]string{
					"churn_risk": {"orders falling (0 in the last 182.5d vs 4 before) +0.25",
						"no order for 200d +0.20", "2 complaints of total severity 6 in 90d +0.30",
						"1 missed renewal +0.25", "3 overdue tasks +0.30", "1.00 (capped)"},
					"tier":   {"demoted from core: loyalty low"},
					"health": {"3 overdue tasks at -5 each: 10"},
				},
			},
		},
		{
			// 6 x 100k at 10-260d: R2 F1 M1 = 4 medium. Loyalty: NPS 9 (2) +
			// no complaints (2) + 1/1 renewal (2) = 6 high.
			name: "answered survey keeps loyalty high",
			facts: Facts{
				Now: now, Since: ago(1096), Orders: every(6, 10, 50, 100_000),
				Surveys: []Survey{answered(100, intp(9), nil)}, Renewals: 1,
			},
			want: want{value: LevelMedium, loyalty: LevelHigh, risk: fp(0)},
		},
		{
			// Same, plus a survey sent 40d ago and due 26d ago, unanswered:
			// satisfaction (0.9 + 0.2) / 2 = 0.55 < 0.65 (0) -> 4 medium;
			// risk 0.2 for low satisfaction.
			name: "unanswered survey past due lowers loyalty",
			facts: Facts{
				Now: now, Since: ago(1096), Orders: every(6, 10, 50, 100_000),
				Surveys: []Survey{answered(100, intp(9), nil), unanswered(40)}, Renewals: 1,
			},
			want: want{
				value: LevelMedium, loyalty: LevelMedium, risk: fp(0.2),
				signals: []string{SignalSurveyUnanswered},
				reasons: map[string][]string{
					"loyalty":    {"satisfaction 0.55 from 1 answer and 1 unanswered past due (0)"},
					"churn_risk": {"satisfaction 0.55 +0.20"},
				},
			},
		},
		{
			// A survey sent 5d ago is not due for 9 more days: not counted.
			name: "unanswered survey not yet due does not count",
			facts: Facts{
				Now: now, Since: ago(1096), Orders: every(6, 10, 50, 100_000),
				Surveys: []Survey{answered(100, intp(9), nil), unanswered(5)}, Renewals: 1,
			},
			want: want{value: LevelMedium, loyalty: LevelHigh, risk: fp(0)},
		},
		{
			// One 5M order 3d ago: R2 F0 M2 = 4 medium; loyalty 4.
			// 2x4 + 4 = 12 points, but core needs 2 orders: ordinary.
			// Age 20d < 30d minimum history: revenue x 365/30.
			name: "one big order is one_time and waits for repeat business",
			facts: Facts{
				Now: now, Since: ago(20), Orders: []Order{{At: ago(3), Amount: 5_000_000}},
			},
			want: want{
				value: LevelMedium, abc: "A", segment: SegmentOneTime, strategy: StrategyGeneral1,
				tier: TierOrdinary, lifecycle: LifecycleNew, clv: fp(182_500_000),
				reasons: map[string][]string{"tier": {"12 points", "ordinary earned (core from 10 points and 2 orders)"}},
			},
		},
		{
			// 10 x 10k every 10d: R2 F1 M0 = 3 medium; 100k < 500k with 10 >= 6 orders.
			name:  "small frequent buyer is potential",
			facts: Facts{Now: now, Since: ago(400), Orders: every(10, 5, 10, 10_000)},
			want:  want{value: LevelMedium, abc: "B", segment: SegmentPotential, lifecycle: LifecycleGrowth},
		},
		{
			// No orders: value low, prospect tier, lapsed segment.
			// Potential: 20M (1) + 20% (2) + unknown share (0) = 3 medium.
			// Benefit 0 but declared growth 20% -> general_2.
			// Health 100 x (0 + 4/12) = 33.3 < 45 -> health_low.
			name: "new prospect without orders",
			facts: Facts{
				Now: now, Since: ago(10), DeclaredRevenue: 20_000_000, GrowthRate: 0.2,
				PrevTier: TierProspect,
			},
			want: want{
				value: LevelLow, potential: LevelMedium, loyalty: LevelMedium, abc: "C",
				segment: SegmentLapsed, strategy: StrategyGeneral2, tier: TierProspect,
				lifecycle: LifecycleNew, health: fp(33.3), risk: fp(0), clv: fp(0),
				signals: []string{SignalHealthLow},
				reasons: map[string][]string{
					"value":     {"0 orders worth 0 in the last 365d, no orders"},
					"potential": {"declared revenue 20M (1), growth 20% (2), market share unknown (0) = 3 points: medium"},
				},
			},
		},
		{
			// Cost to serve 0 with 4 completed visits: 4 x 500 = 2k a year.
			// 6 x 100k: benefit 600k - 2k = 598k x 3 x 1.
			name: "completed visits stand in for missing cost to serve",
			facts: Facts{
				Now: now, Since: ago(1096), Orders: every(6, 10, 50, 100_000), CompletedVisits: 4,
			},
			want: want{
				clv:     fp(1_794_000),
				reasons: map[string][]string{"clv": {"cost to serve 2k (estimated from 4 visits)"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Score(DefaultModel(), tc.facts)
			checkResult(t, tc.want, got)
		})
	}
}

// TestTierHysteresis pins the boundary behaviour: 12 orders x 50k every 20d
// from 10d ago score R2 F2 M1 = 5; CSAT 4 = 0.75 (1) + 1 complaint per 12
// orders (1) + no renewals (1) = 3 medium loyalty; 2x5 + 3 = 13 points, which
// earns core (vip from 15) and keeps vip (vip held from 15 - 2 = 13).
func TestTierHysteresis(t *testing.T) {
	atBoundary := Facts{
		Now: now, Since: ago(1096), Orders: every(12, 10, 20, 50_000),
		Surveys:    []Survey{answered(60, nil, intp(4))},
		Complaints: []Complaint{{At: ago(100), Severity: 2}},
	}
	// Moving every order 30 days back makes recency 1: 2x4 + 3 = 11 points.
	below := atBoundary
	below.Orders = every(12, 40, 20, 50_000)
	// NPS 5 = 0.5 (0) + 1 complaint per 12 (1) + no renewals (1) = 2, low
	// loyalty; 12 x 100k gives R2 F2 M2 = 6: 2x6 + 2 = 14 points.
	poor := atBoundary
	poor.Orders = every(12, 10, 20, 100_000)
	poor.Surveys = []Survey{answered(60, intp(5), nil)}

	tests := []struct {
		name   string
		facts  Facts
		prev   string
		want   string
		reason string
	}{
		{"vip held at the boundary", atBoundary, TierVIP, TierVIP, "vip held (kept from 13 points)"},
		{"core stays core below the vip rule", atBoundary, TierCore, TierCore, "core earned"},
		{"no previous tier earns core", atBoundary, "", TierCore, "13 points"},
		{"prospect is promoted", atBoundary, TierProspect, TierCore, "promoted from prospect"},
		{"unknown previous tier is ignored", atBoundary, "gold", TierCore, "core earned"},
		{"vip below the hold margin is demoted", below, TierVIP, TierCore, "demoted from vip"},
		{"poor cooperation forfeits the hold", poor, TierVIP, TierCore, "demoted from vip: loyalty low"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.facts
			f.PrevTier = tc.prev
			got := Score(DefaultModel(), f)
			require.Equal(t, tc.want, got.Tier)
			require.Contains(t, reasonText(t, got, "tier"), tc.reason)
		})
	}
}

// TestScoreDeterministic checks that input order does not matter and that
// reasons come in the fixed field order.
func TestScoreDeterministic(t *testing.T) {
	f := Facts{
		Now: now, Since: ago(900),
		Orders:     append(every(5, 3, 30, 80_000), Order{At: ago(1), Amount: -10_000}),
		Complaints: []Complaint{{At: ago(5), Severity: 5}, {At: ago(200), Severity: 1}},
		Surveys:    []Survey{answered(30, intp(7), intp(4)), unanswered(50)},
	}
	first := Score(DefaultModel(), f)
	rev := f
	rev.Orders = slices.Clone(f.Orders)
	slices.Reverse(rev.Orders)
	rev.Complaints = slices.Clone(f.Complaints)
	slices.Reverse(rev.Complaints)
	rev.Surveys = slices.Clone(f.Surveys)
	slices.Reverse(rev.Surveys)
	require.Equal(t, first, Score(DefaultModel(), rev))

	var fields []string
	for _, r := range first.Reasons {
		fields = append(fields, r.Field)
	}
	require.Equal(t, []string{"value", "potential", "loyalty", "abc", "segment", "strategy",
		"tier", "health", "churn_risk", "clv", "lifecycle"}, fields)
}

// TestScoreIgnoresTheFuture: events after Now do not count.
func TestScoreIgnoresTheFuture(t *testing.T) {
	base := Facts{Now: now, Since: ago(400), Orders: every(4, 10, 30, 100_000)}
	future := base
	future.Orders = append(slices.Clone(base.Orders), Order{At: now.Add(time.Hour), Amount: 9_000_000})
	future.Complaints = []Complaint{{At: now.Add(time.Hour), Severity: 5}}
	require.Equal(t, Score(DefaultModel(), base), Score(DefaultModel(), future))
}

// TestModelCostToServe prices visits and escalations with the model's unit costs.
func TestModelCostToServe(t *testing.T) {
	m := DefaultModel()
	require.Equal(t, 3*500.0+2*2000.0, m.CostToServe(3, 2))
	require.Equal(t, 0.0, m.CostToServe(-1, -1))
}

func checkResult(t *testing.T, w want, got Result) {
	t.Helper()
	check := func(name, want, got string) {
		t.Helper()
		if want != "" {
			require.Equal(t, want, got, name)
		}
	}
	check("value", string(w.value), string(got.Value))
	check("potential", string(w.potential), string(got.Potential))
	check("loyalty", string(w.loyalty), string(got.Loyalty))
	check("abc", w.abc, got.ABC)
	check("segment", w.segment, got.Segment)
	check("strategy", w.strategy, got.Strategy)
	check("tier", w.tier, got.Tier)
	check("lifecycle", w.lifecycle, got.Lifecycle)
	if w.health != nil {
		require.InDelta(t, *w.health, got.Health, 1e-9, "health")
	}
	if w.risk != nil {
		require.InDelta(t, *w.risk, got.ChurnRisk, 1e-9, "churn risk")
	}
	if w.clv != nil {
		require.InDelta(t, *w.clv, got.CLV, 0.01, "clv")
	}
	want := w.signals
	if want == nil {
		want = []string{}
	}
	require.Equal(t, want, got.Signals, "signals")
	for field, subs := range w.reasons {
		text := reasonText(t, got, field)
		for _, s := range subs {
			require.Contains(t, text, s, "reason %s", field)
		}
	}
}

func reasonText(t *testing.T, r Result, field string) string {
	t.Helper()
	for _, x := range r.Reasons {
		if x.Field == field {
			return x.Text
		}
	}
	t.Fatalf("no reason for %s in %+v", field, r.Reasons)
	return ""
}
