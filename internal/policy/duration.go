package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads and writes as "90d", "36h",
// "1d12h" or "15m" in YAML and JSON. Policies speak in days, which Go's
// duration syntax lacks, and the policy travels as JSON in Temporal payloads,
// where a nanosecond count would be unreadable in the UI.
type Duration time.Duration

const day = 24 * time.Hour

// maxDuration caps policy durations at 100 years: longer is a typo, and the
// cap keeps day arithmetic clear of int64 overflow.
const maxDuration = Duration(36500 * day)

// Days makes a Duration of n days, for Default and tests.
func Days(n int) Duration { return Duration(time.Duration(n) * day) }

// Std returns d as a time.Duration for timers and time arithmetic.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String writes d with whole days first: 90d, 1d12h, 36m, 1m30s, 0s.
func (d Duration) String() string {
	x := time.Duration(d)
	switch {
	case x == 0:
		return "0s"
	case x == math.MinInt64:
		return x.String()
	case x < 0:
		return "-" + Duration(-x).String()
	}
	var b strings.Builder
	unit := func(n time.Duration, suffix string) {
		if n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(suffix)
		}
	}
	unit(x/day, "d")
	x %= day
	unit(x/time.Hour, "h")
	x %= time.Hour
	unit(x/time.Minute, "m")
	x %= time.Minute
	unit(x/time.Second, "s")
	if x %= time.Second; x > 0 {
		b.WriteString(x.String()) // sub-second rest: 500ms, 1.5µs
	}
	return b.String()
}

// ParseDuration reads an optional whole number of days ("90d") followed by
// an optional Go duration ("12h", "15m30s"). It rejects negative and
// unreadable values with a message that shows the accepted forms.
func ParseDuration(s string) (Duration, error) {
	text := strings.TrimSpace(s)
	switch {
	case text == "":
		return 0, fmt.Errorf("empty duration: %s", durationHint)
	case strings.Contains(text, "-"):
		return 0, fmt.Errorf("duration %q must not be negative", s)
	case strings.Contains(text, "+"):
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
	}
	var total Duration
	if i := strings.IndexByte(text, 'd'); i >= 0 {
		n, err := strconv.ParseUint(text[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		if n > uint64(maxDuration/Days(1)) {
			return 0, fmt.Errorf("duration %q is too long: at most %s", s, maxDuration)
		}
		total = Days(int(n))
		text = text[i+1:]
	}
	if text != "" {
		rest, err := time.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		total += Duration(rest)
	}
	if total > maxDuration || total < 0 {
		return 0, fmt.Errorf("duration %q is too long: at most %s", s, maxDuration)
	}
	return total, nil
}

const durationHint = `want days and/or hours, minutes, seconds like "90d", "36h", "1d12h" or "15m"`

// MarshalYAML writes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration scalar and reports a bad one with its line,
// the way yaml reports its own type errors, so Parse shows "line N: ...".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration: %s", n.Line, durationHint)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalJSON writes d as a JSON string in its String form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string duration.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want a duration string: %s", durationHint)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
