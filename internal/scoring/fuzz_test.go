package scoring

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzScore builds facts from a handful of knobs and checks the invariants
// every caller relies on: ranges, known names, no NaN, fixed reason order,
// and a result that JSON (and so a Temporal payload) accepts.
func FuzzScore(f *testing.F) {
	// now, since (days ago), orders, first order (days ago), spacing (days),
	// amount, complaints, severity, surveys, answered, nps, csat, renewals,
	// missed, overdue, visits, cost, revenue, growth, share, previous tier.
	f.Add(now.Unix(), 1096.0, 24, 5.0, 15.0, 100_000.0, 0, 0, 1, true, 9, -1, 2, 0, 0, 0, 20_000.0, 80e6, 0.2, 0.25, "core")
	f.Add(now.Unix(), 1096.0, 4, 200.0, 50.0, 50_000.0, 2, 4, 0, false, 0, 0, 0, 1, 3, 0, 0.0, 0.0, 0.0, 0.0, "vip")
	f.Add(now.Unix(), 10.0, 0, 0.0, 0.0, 0.0, 0, 0, 1, false, 0, 0, 0, 0, 0, 0, 0.0, 2e7, 0.2, 0.0, "")
	f.Add(int64(0), -5.0, 3, -2.0, -1.0, math.NaN(), 9, 99, 3, true, 42, 7, -3, -4, -5, 2, math.Inf(1), math.Inf(-1), math.NaN(), 7.0, "gold")
	f.Add(now.Unix(), 0.0, 200, 0.0, 0.0, math.MaxFloat64, 1, 5, 2, true, 10, 5, 1_000_000, 1_000_000, 1_000_000, 1_000_000, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, -1.0, "prospect")
	f.Add(now.Unix(), 400.0, 12, 1.0, 0.0, -5e5, 1, 1, 2, false, 0, 0, 0, 0, 0, 0, -1.0, -1.0, -0.5, 0.5, "ordinary")

	f.Fuzz(func(t *testing.T, nowUnix int64, sinceDays float64, nOrders int, firstDays, stepDays, amount float64,
		nComplaints, severity, nSurveys int, isAnswered bool, nps, csat, renewals, missed, overdue, visits int,
		cost, revenue, growth, share float64, prev string) {
		at := time.Unix(nowUnix%(1<<40), 0).UTC() // keep within years time.Time handles cleanly
		days := func(d float64) time.Duration {
			if math.IsNaN(d) {
				return 0
			}
			return time.Duration(math.Max(-1e5, math.Min(1e5, d)) * float64(24*time.Hour))
		}
		facts := Facts{
			Now: at, DeclaredRevenue: revenue, GrowthRate: growth, MarketShare: share,
			Renewals: renewals, MissedRenewals: missed, OverdueTasks: overdue, CompletedVisits: visits,
			CostToServe: cost, PrevTier: prev,
		}
		if sinceDays != 0 {
			facts.Since = at.Add(-days(sinceDays))
		}
		for i := range min(max(nOrders, 0), 300) {
			facts.Orders = append(facts.Orders, Order{At: at.Add(-days(firstDays + float64(i)*stepDays)), Amount: amount})
		}
		for i := range min(max(nComplaints, 0), 50) {
			facts.Complaints = append(facts.Complaints, Complaint{At: at.Add(-days(float64(i) * 10)), Severity: severity})
		}
		for i := range min(max(nSurveys, 0), 20) {
			s := Survey{SentAt: at.Add(-days(float64(i) * 30)), Kind: "nps", Answered: isAnswered}
			s.DueAt = s.SentAt.Add(days(14))
			if isAnswered {
				s.NPS = &nps
				if csat >= 0 {
					s.CSAT = &csat
				}
			}
			facts.Surveys = append(facts.Surveys, s)
		}

		checkInvariants(t, Score(DefaultModel(), facts))
		// A zero model is invalid, but Score must still keep its promises.
		checkInvariants(t, Score(Model{}, facts))
	})
}

func checkInvariants(t *testing.T, r Result) {
	t.Helper()
	if !(r.Health >= 0 && r.Health <= 100) {
		t.Fatalf("health %v outside 0-100", r.Health)
	}
	if !(r.ChurnRisk >= 0 && r.ChurnRisk <= 1) {
		t.Fatalf("churn risk %v outside 0-1", r.ChurnRisk)
	}
	if math.IsNaN(r.CLV) || math.IsInf(r.CLV, 0) {
		t.Fatalf("clv %v not finite", r.CLV)
	}
	for _, l := range []Level{r.Value, r.Potential, r.Loyalty} {
		if !l.Valid() {
			t.Fatalf("invalid level %q", l)
		}
	}
	oneOf := func(what, got string, allowed ...string) {
		if !slices.Contains(allowed, got) {
			t.Fatalf("%s %q not one of %v", what, got, allowed)
		}
	}
	oneOf("abc", r.ABC, "A", "B", "C")
	oneOf("segment", r.Segment, SegmentHighValue, SegmentPotential, SegmentOneTime, SegmentLapsed)
	oneOf("strategy", r.Strategy, StrategyKey, StrategyGeneral1, StrategyGeneral2, StrategyProspect)
	oneOf("tier", r.Tier, Tiers()...)
	oneOf("lifecycle", r.Lifecycle, LifecycleNew, LifecycleGrowth, LifecycleMature)

	order := []string{SignalHealthLow, SignalRiskHigh, SignalSevereComplaint, SignalMissedRenewal,
		SignalOverdueFollowUps, SignalFallingOrders, SignalSurveyUnanswered}
	last := -1
	for _, s := range r.Signals {
		i := slices.Index(order, s)
		if i <= last {
			t.Fatalf("signals %v unknown, repeated or out of order", r.Signals)
		}
		last = i
	}
	if len(r.Reasons) != 11 {
		t.Fatalf("want 11 reasons, got %d", len(r.Reasons))
	}
	for _, x := range r.Reasons {
		if x.Text == "" {
			t.Fatalf("empty reason for %s", x.Field)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("result does not marshal: %v", err)
	}
}
