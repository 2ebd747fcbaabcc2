package scoring

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultModelValidates(t *testing.T) {
	require.NoError(t, DefaultModel().Validate())
}

func TestModelValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Model)
		want   []string
	}{
		{
			name:   "non-positive window",
			change: func(m *Model) { m.Value.WindowDays = 0 },
			want:   []string{"value.window_days must be positive"},
		},
		{
			name:   "window too long for a duration",
			change: func(m *Model) { m.Loyalty.WindowDays = 1e9 },
			want:   []string{"loyalty.window_days must be at most 36500"},
		},
		{
			name:   "band upside down",
			change: func(m *Model) { m.Value.Amount = Band{High: 1, Medium: 2} },
			want:   []string{"value.amount.high must be at least value.amount.medium"},
		},
		{
			name:   "at-most band upside down",
			change: func(m *Model) { m.Value.RecencyDays = Band{High: 90, Medium: 30} },
			want:   []string{"value.recency_days.high must be at most value.recency_days.medium"},
		},
		{
			name:   "rate out of range",
			change: func(m *Model) { m.Signals.RiskAbove = 1.5 },
			want:   []string{"signals.risk_above must be within 0 and 1"},
		},
		{
			name:   "weights sum to zero",
			change: func(m *Model) { m.Health.ValueWeight, m.Health.LoyaltyWeight = 0, 0 },
			want:   []string{"health.value_weight + health.loyalty_weight must be positive"},
		},
		{
			name:   "tier rules out of order",
			change: func(m *Model) { m.Tier.Core.Points = 20 },
			want:   []string{"tier.vip.points must be at least tier.core.points"},
		},
		{
			name: "every problem is reported",
			change: func(m *Model) {
				m.ABC.A = -1
				m.Churn.Inactive = math.Inf(1)
				m.Lifecycle.MatureDays = 10
			},
			want: []string{
				"abc.a must not be negative",
				"abc.a must be at least abc.b",
				"churn.inactive must be a finite number",
				"lifecycle.mature_days must be at least lifecycle.new_days",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultModel()
			tc.change(&m)
			err := m.Validate()
			require.Error(t, err)
			ve, ok := AsValidationError(err)
			require.True(t, ok)
			require.Equal(t, tc.want, ve.Problems)
		})
	}
}

// TestModelValidateCoversEveryNumber sets each number in the model to NaN
// in turn and expects Validate to name that field, so a field added later
// cannot slip past validation.
func TestModelValidateCoversEveryNumber(t *testing.T) {
	for _, path := range numberPaths(reflect.TypeOf(Model{}), "") {
		t.Run(path, func(t *testing.T) {
			m := DefaultModel()
			f := fieldByPath(reflect.ValueOf(&m).Elem(), path)
			switch f.Kind() {
			case reflect.Float64:
				f.SetFloat(math.NaN())
			case reflect.Int:
				f.SetInt(-1_000_000)
			}
			err := m.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), path)
		})
	}
}

// TestModelTags keeps the tags the policy file relies on: snake_case YAML
// and JSON names that agree.
func TestModelTags(t *testing.T) {
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			y, j := f.Tag.Get("yaml"), f.Tag.Get("json")
			require.NotEmpty(t, y, "%s.%s has no yaml tag", typ.Name(), f.Name)
			require.Equal(t, y, j, "%s.%s", typ.Name(), f.Name)
			require.Equal(t, strings.ToLower(y), y, "%s.%s", typ.Name(), f.Name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Model{}))

	data, err := json.Marshal(DefaultModel())
	require.NoError(t, err)
	var back Model
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, DefaultModel(), back)
}

func numberPaths(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		path := prefix + f.Tag.Get("yaml")
		switch f.Type.Kind() {
		case reflect.Struct:
			out = append(out, numberPaths(f.Type, path+".")...)
		case reflect.Float64, reflect.Int:
			out = append(out, path)
		}
	}
	return out
}

func fieldByPath(v reflect.Value, path string) reflect.Value {
	for _, name := range strings.Split(path, ".") {
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("yaml") == name {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}
