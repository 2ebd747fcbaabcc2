package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kamflow/kamflow/internal/scoring"
)

func TestDefaultValidates(t *testing.T) {
	require.NoError(t, Default().Validate())
}

func TestDefaultReturnsFreshMaps(t *testing.T) {
	a := Default()
	a.Maintain.Review[scoring.TierVIP] = Days(1)
	a.Visits.Workdays[0] = "sun"
	require.Equal(t, Days(30), Default().Maintain.Review[scoring.TierVIP])
	require.Equal(t, "mon", Default().Visits.Workdays[0])
}

func TestLoad(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string // the whole message
		check   func(t *testing.T, p Policy)
	}{
		{
			file: "valid.yaml",
			check: func(t *testing.T, p Policy) {
				want := Default()
				want.Engage.Window = Days(30)
				want.Maintain.Review[scoring.TierVIP] = Days(10)
				want.Tasks.EscalateAfter = Duration(36 * time.Hour)
				want.Visits.TimeZone = "Europe/Berlin"
				want.Visits.DayStart = "08:30"
				want.Visits.Workdays = []string{"mon", "wed", "fri"}
				want.Scoring.Value.Amount = scoring.Band{High: 2_000_000, Medium: 500_000}
				require.Equal(t, want, p)
			},
		},
		{
			file:    "unknown_field.yaml",
			wantErr: "policy testdata/unknown_field.yaml: line 4: field windw not found",
		},
		{
			file: "bad_duration.yaml",
			wantErr: `policy testdata/bad_duration.yaml: line 4: invalid duration "ninety days": ` +
				`want days and/or hours, minutes, seconds like "90d", "36h", "1d12h" or "15m"`,
		},
		{
			file:    "negative_duration.yaml",
			wantErr: `policy testdata/negative_duration.yaml: line 2: duration "-5d" must not be negative`,
		},
		{
			file:    "bad_zone.yaml",
			wantErr: `policy testdata/bad_zone.yaml: visits.time_zone "Mars/Base": unknown time zone`,
		},
		{
			file: "invalid_values.yaml",
			wantErr: "policy testdata/invalid_values.yaml: " + strings.Join([]string{
				"maintain.review.vip must be positive",
				"maintain.review.gold: unknown tier, want one of prospect, ordinary, core, vip",
				"churn.risk_above must be within 0 and 1",
				"visits.day_start must be before visits.day_end",
				`visits.workdays "funday": unknown day, want mon, tue, wed, thu, fri, sat or sun`,
				"scoring.signals.risk_above (0.6) must equal churn.risk_above (1.5)",
			}, "; "),
		},
		{
			file:    "syntax.yaml",
			wantErr: "policy testdata/syntax.yaml: line 2: did not find expected key",
		},
		{
			file:    "missing.yaml",
			wantErr: "read policy: open testdata/missing.yaml: no such file or directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Load(filepath.Join("testdata", tc.file))
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, p)
		})
	}
}

func TestParseErrorsKeepTheirCause(t *testing.T) {
	_, err := Parse([]byte("engage:\n  windw: 1d\n"), "p.yaml")
	var te *yaml.TypeError
	require.ErrorAs(t, err, &te)

	_, err = Parse([]byte("engage:\n  window: 0s\n"), "p.yaml")
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []string{"engage.window must be positive"}, ve.Problems)
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "empty file is the default", data: ""},
		{name: "comments only is the default", data: "# nothing to change\n"},
		{name: "second document", data: "engage:\n  window: 1d\n---\nengage:\n  window: 2d\n", wantErr: "policy p.yaml: line 3: only one YAML document is allowed"},
		{name: "not a mapping", data: "- 1\n", wantErr: "policy p.yaml: line 1: cannot unmarshal !!seq into policy.Policy"},
		{name: "null map loses every tier", data: "tasks:\n  due:\n", wantErr: "tasks.due.visit is missing; tasks.due.recovery_plan is missing; tasks.due.ack is missing; tasks.due.follow_up is missing"},
		{name: "two unknown fields", data: "engage:\n  a: 1\n  b: 2\n", wantErr: "policy p.yaml: line 2: field a not found; line 3: field b not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.data), "p.yaml")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, Default(), p)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Policy)
		want   []string
	}{
		{
			name:   "non-positive cadence",
			change: func(p *Policy) { p.Maintain.Review[scoring.TierVIP] = 0 },
			want:   []string{"maintain.review.vip must be positive"},
		},
		{
			name:   "missing tier",
			change: func(p *Policy) { delete(p.Maintain.Survey, scoring.TierProspect) },
			want:   []string{"maintain.survey.prospect is missing"},
		},
		{
			name:   "unknown task kind",
			change: func(p *Policy) { p.Tasks.Due["lunch"] = Days(1) },
			want:   []string{"tasks.due.lunch: unknown task kind, want one of visit, recovery_plan, ack, follow_up"},
		},
		{
			name:   "unknown time zone",
			change: func(p *Policy) { p.Visits.TimeZone = "Mars/Base" },
			want:   []string{`visits.time_zone "Mars/Base": unknown time zone`},
		},
		{
			name:   "host time zone",
			change: func(p *Policy) { p.Visits.TimeZone = "Local" },
			want:   []string{`visits.time_zone "Local": want an IANA time zone like "Asia/Shanghai"`},
		},
		{
			name:   "day upside down",
			change: func(p *Policy) { p.Visits.DayStart, p.Visits.DayEnd = "18:00", "09:00" },
			want:   []string{"visits.day_start must be before visits.day_end"},
		},
		{
			name:   "bad clock",
			change: func(p *Policy) { p.Visits.DayStart, p.Visits.DayEnd = "9am", "24:01" },
			want: []string{
				`visits.day_start "9am": want a time of day like "09:00"`,
				`visits.day_end "24:01": want a time of day like "18:00" (up to "24:00")`,
			},
		},
		{
			name:   "visits do not fit the day",
			change: func(p *Policy) { p.Visits.PerDay = 10 },
			want:   []string{"visits.per_day 10 visits of 1h do not fit between 09:00 and 18:00"},
		},
		{
			name:   "workdays",
			change: func(p *Policy) { p.Visits.Workdays = []string{"mon", "mon"} },
			want:   []string{`visits.workdays "mon": listed twice`},
		},
		{
			name:   "no workdays",
			change: func(p *Policy) { p.Visits.Workdays = nil },
			want:   []string{"visits.workdays must name at least one day"},
		},
		{
			name:   "negative lead time",
			change: func(p *Policy) { p.Visits.LeadTime = -1 },
			want:   []string{"visits.lead_time must not be negative"},
		},
		{
			name: "churn out of range",
			change: func(p *Policy) {
				p.Churn.RiskAbove, p.Scoring.Signals.RiskAbove = 2, 2
				p.Churn.RecoveredHealth = 40
				p.Churn.RecoveryWindow = p.Churn.StableFor
			},
			want: []string{
				"churn.risk_above must be within 0 and 1",
				"churn.recovered_health must be at least churn.health_below",
				"churn.recovery_window must be longer than churn.stable_for",
				"scoring.signals.risk_above must be within 0 and 1",
			},
		},
		{
			name:   "signals disagree with churn",
			change: func(p *Policy) { p.Churn.HealthBelow = 50 },
			want:   []string{"scoring.signals.health_below (45) must equal churn.health_below (50)"},
		},
		{
			name:   "scoring problems are prefixed",
			change: func(p *Policy) { p.Scoring.Value.WindowDays = -1 },
			want:   []string{"scoring.value.window_days must be positive"},
		},
		{
			name: "counts",
			change: func(p *Policy) {
				p.Identify.MaxFailedScreens = 0
				p.Deepen.RepeatOrders = 0
				p.History.EventBudget = 10
			},
			want: []string{
				"identify.max_failed_screens must be at least 1",
				"deepen.repeat_orders must be at least 1",
				"history.event_budget must be at least 100",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Default()
			tc.change(&p)
			err := p.Validate()
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.want, ve.Problems)
		})
	}
}

func TestVisitsHelpers(t *testing.T) {
	v := Default().Visits
	loc, err := v.Location()
	require.NoError(t, err)
	require.Equal(t, "Asia/Shanghai", loc.String())
	start, end, err := v.Hours()
	require.NoError(t, err)
	require.Equal(t, 9*time.Hour, start)
	require.Equal(t, 18*time.Hour, end)
	require.True(t, v.Workday(time.Monday))
	require.False(t, v.Workday(time.Sunday))

	v.DayEnd = "24:00"
	_, end, err = v.Hours()
	require.NoError(t, err)
	require.Equal(t, 24*time.Hour, end)
}

func TestDiff(t *testing.T) {
	old := Default()
	changed := Default()
	changed.Engage.Window = Days(30)
	changed.Maintain.Review[scoring.TierVIP] = Days(10)
	changed.Maintain.Review[scoring.TierCore] = Days(45)
	changed.Tasks.Due["extra"] = Days(1)
	changed.Visits.TimeZone = "UTC"
	changed.Visits.Workdays = []string{"mon", "tue"}
	changed.Scoring.Value.Amount.High = 2e6
	changed.Scoring.Tier.VIP.Orders = 8
	changed.Churn.RiskAbove = 0.55

	require.Equal(t, []string{
		"engage.window: 90d -> 30d",
		"maintain.review.core: 60d -> 45d",
		"maintain.review.vip: 30d -> 10d",
		"churn.risk_above: 0.6 -> 0.55",
		"tasks.due.extra: (none) -> 1d",
		`visits.time_zone: "Asia/Shanghai" -> "UTC"`,
		`visits.workdays: ["mon", "tue", "wed", "thu", "fri"] -> ["mon", "tue"]`,
		"scoring.value.amount.high: 1000000 -> 2000000",
		"scoring.tier.vip.orders: 6 -> 8",
	}, Diff(old, changed))
	require.Empty(t, Diff(old, Default()))
	require.Contains(t, Diff(changed, old), "tasks.due.extra: 1d -> (none)")
}

// TestPolicyJSON round-trips the policy the way a Temporal payload carries it.
func TestPolicyJSON(t *testing.T) {
	data, err := json.Marshal(Default())
	require.NoError(t, err)
	require.Contains(t, string(data), `"engage":{"window":"90d"}`)
	var back Policy
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, Default(), back)
}

// TestTags keeps every field's YAML and JSON names equal and snake_case, the
// contract with the policy file and with Diff.
func TestTags(t *testing.T) {
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			y := f.Tag.Get("yaml")
			require.NotEmpty(t, y, "%s.%s", typ.Name(), f.Name)
			require.Equal(t, y, f.Tag.Get("json"), "%s.%s", typ.Name(), f.Name)
			require.Equal(t, strings.ToLower(y), y, "%s.%s", typ.Name(), f.Name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Policy{}))
}

// TestDeployPolicy keeps deploy/policy.yaml equal to Default and complete:
// decoded onto an empty Policy (no defaults to fall back on) it must still
// give Default, so the file shows a business every value in force.
func TestDeployPolicy(t *testing.T) {
	const path = "../../deploy/policy.yaml"
	p, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, Default(), p)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var bare Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&bare))
	require.Equal(t, Default(), bare, "deploy/policy.yaml must spell out every field")
}

// TestDemoPolicy checks the demo file validates and is really compressed:
// every lifecycle duration is a few minutes at most, visits can be placed at
// any time, and the values the demo script relies on are as documented.
func TestDemoPolicy(t *testing.T) {
	p, err := Load("../../deploy/demo/policy.yaml")
	require.NoError(t, err)

	require.Equal(t, Duration(20*time.Second), p.Identify.ScreenEvery)
	require.Equal(t, Duration(3*time.Minute), p.Engage.Window)
	require.Equal(t, Duration(2*time.Minute), p.Deepen.RepeatWindow)
	require.Equal(t, Duration(30*time.Second), p.Maintain.Review[scoring.TierVIP])
	require.Equal(t, Duration(45*time.Second), p.Maintain.Review[scoring.TierProspect])
	require.Equal(t, Duration(time.Minute), p.Tasks.EscalateAfter)
	require.Equal(t, Duration(4*time.Minute), p.Churn.RecoveryWindow)
	require.Equal(t, Duration(40*time.Second), p.Churn.StableFor)
	require.Equal(t, Duration(2*time.Minute), p.Surveys.AnswerWithin)
	require.Equal(t, Duration(0), p.Visits.LeadTime)
	require.Len(t, p.Visits.Workdays, 7)
	start, end, err := p.Visits.Hours()
	require.NoError(t, err)
	require.Equal(t, time.Duration(0), start)
	require.Equal(t, 24*time.Hour, end)
	for kind, due := range p.Tasks.Due {
		require.Equal(t, Duration(time.Minute), due, "tasks.due.%s", kind)
	}

	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		switch {
		case v.Type() == reflect.TypeOf(Duration(0)):
			require.LessOrEqual(t, v.Interface().(Duration), Duration(4*time.Minute), path)
		case v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(scoring.Model{}):
			for i := range v.NumField() {
				check(path+"."+v.Type().Field(i).Tag.Get("yaml"), v.Field(i))
			}
		case v.Kind() == reflect.Map:
			for _, k := range v.MapKeys() {
				check(path+"."+k.String(), v.MapIndex(k))
			}
		}
	}
	check("policy", reflect.ValueOf(p))
}
