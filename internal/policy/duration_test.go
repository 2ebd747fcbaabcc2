package policy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90d", want: 90 * day},
		{in: "36h", want: 36 * time.Hour},
		{in: "15m", want: 15 * time.Minute},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1d12h30m15s", want: day + 12*time.Hour + 30*time.Minute + 15*time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: " 2d ", want: 2 * day},
		{in: "36500d", want: 36500 * day},
		{in: "", wantErr: "empty duration"},
		{in: "-5m", wantErr: `duration "-5m" must not be negative`},
		{in: "1d-2h", wantErr: "must not be negative"},
		{in: "+5m", wantErr: `invalid duration "+5m"`},
		{in: "90", wantErr: `invalid duration "90": want days and/or hours`},
		{in: "d", wantErr: `invalid duration "d"`},
		{in: "1.5d", wantErr: `invalid duration "1.5d"`},
		{in: "2h1d", wantErr: `invalid duration "2h1d"`},
		{in: "1d2d", wantErr: `invalid duration "1d2d"`},
		{in: "ninety days", wantErr: `invalid duration "ninety days"`},
		{in: "90D", wantErr: `invalid duration "90D"`},
		{in: "36501d", wantErr: "too long: at most 36500d"},
		{in: "36500d1h", wantErr: "too long"},
		{in: "4294967296d", wantErr: "invalid duration"},
		{in: "2562047h", wantErr: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Std())
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{90 * day, "90d"},
		{36 * time.Hour, "1d12h"},
		{15 * time.Minute, "15m"},
		{90 * time.Second, "1m30s"},
		{time.Hour + time.Second, "1h1s"},
		{1500 * time.Millisecond, "1s500ms"},
		{1500 * time.Nanosecond, "1.5µs"},
		{-5 * time.Minute, "-5m"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			d := Duration(tc.in)
			require.Equal(t, tc.want, d.String())
			if tc.in < 0 {
				return
			}
			back, err := ParseDuration(d.String())
			require.NoError(t, err)
			require.Equal(t, d, back)
		})
	}
}

// TestDurationCodecs round-trips durations through YAML and JSON, the two
// ways a policy travels (file and Temporal payload).
func TestDurationCodecs(t *testing.T) {
	type doc struct {
		D Duration            `yaml:"d" json:"d"`
		M map[string]Duration `yaml:"m" json:"m"`
	}
	in := doc{D: Duration(36 * time.Hour), M: map[string]Duration{"vip": Days(30)}}

	y, err := yaml.Marshal(in)
	require.NoError(t, err)
	require.Equal(t, "d: 1d12h\nm:\n    vip: 30d\n", string(y))
	var fromYAML doc
	require.NoError(t, yaml.Unmarshal(y, &fromYAML))
	require.Equal(t, in, fromYAML)

	j, err := json.Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"d":"1d12h","m":{"vip":"30d"}}`, string(j))
	var fromJSON doc
	require.NoError(t, json.Unmarshal(j, &fromJSON))
	require.Equal(t, in, fromJSON)

	var bad doc
	require.ErrorContains(t, json.Unmarshal([]byte(`{"d":"-1d"}`), &bad), "must not be negative")
	require.ErrorContains(t, json.Unmarshal([]byte(`{"d":5}`), &bad), "want a duration string")
	err = yaml.Unmarshal([]byte("d: [1, 2]\n"), &bad)
	require.ErrorContains(t, err, "line 1: want a duration")
	err = yaml.Unmarshal([]byte("m:\n  vip: soon\n"), &bad)
	require.ErrorContains(t, err, `line 2: invalid duration "soon"`)
}
