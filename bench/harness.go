package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is what a line must reach. Ratio targets compare the kamflow
// figure with its ceiling; value targets compare the figure itself with a
// fixed bound (latencies, bytes, history events), which is only fair
// because those do not scale with the machine the way throughput does.
type Target struct {
	// Op is ">=" (at least) or "<=" / "<" (at most).
	Op string `json:"op"`
	// Bound is the number compared against.
	Bound float64 `json:"bound"`
	// OnRatio compares Ratio, not Value.
	OnRatio bool `json:"on_ratio"`
}

func (t Target) String() string {
	if t.Op == "" {
		return ""
	}
	if t.OnRatio {
		return fmt.Sprintf("ratio %s %g", t.Op, t.Bound)
	}
	return fmt.Sprintf("%s %g", t.Op, t.Bound)
}

// met reports whether x meets the target.
func (t Target) met(x float64) bool {
	switch t.Op {
	case ">=":
		return x >= t.Bound
	case "<=":
		return x <= t.Bound
	case "<":
		return x < t.Bound
	}
	return false
}

// Line is one row of the table: a figure measured reps times, summarised
// by its median, and, for kamflow lines, the ceiling it is held against.
type Line struct {
	Step string `json:"step"`
	What string `json:"what"`
	Unit string `json:"unit"`
	// Reps are the repetitions' figures; Value is their median and Spread
	// (max-min)/median, so a noisy machine shows as a wide spread.
	Reps   []float64 `json:"reps"`
	Value  float64   `json:"value"`
	Spread float64   `json:"spread"`
	// Ceiling names the line this one is held against; CeilingValue is
	// that line's median and Ratio is Value/CeilingValue.
	Ceiling      string  `json:"ceiling,omitempty"`
	CeilingValue float64 `json:"ceiling_value,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	// CPU is the CPU milliseconds one unit (workflow, account, event)
	// cost every process involved, per repetition; CPUms is their median.
	// CPURatio is the ceiling's CPUms over this line's: the throughput ratio
	// a quiet machine would show when the servers are CPU-bound, which
	// is what they are on two cores. It barely moves with the load of
	// other people's compiles, where Ratio swings.
	CPU      []float64 `json:"cpu_ms_reps,omitempty"`
	CPUms    float64   `json:"cpu_ms,omitempty"`
	CPURatio float64   `json:"cpu_ratio,omitempty"`
	Target   *Target   `json:"target,omitempty"`
	Met      *bool     `json:"met,omitempty"`
	// Pending marks a line whose code under test does not exist yet.
	Pending bool   `json:"pending,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Table is the whole run: what ran where, and every line.
type Table struct {
	Date    time.Time `json:"date"`
	Machine string    `json:"machine"`
	// Load is the 1-minute load average before and after the run: other
	// people compiling on the machine show up here, not in the figures.
	LoadBefore float64        `json:"load_before"`
	LoadAfter  float64        `json:"load_after"`
	Size       string         `json:"size"`
	Reps       int            `json:"reps"`
	Settings   map[string]any `json:"settings"`
	Lines      []*Line        `json:"lines"`
	Took       string         `json:"took"`
}

// add records a measured line.
func (t *Table) add(l *Line) *Line {
	l.Value, l.Spread = median(l.Reps), spread(l.Reps)
	l.CPUms = median(l.CPU)
	t.Lines = append(t.Lines, l)
	return l
}

// line returns the line of step, or nil.
func (t *Table) line(step string) *Line {
	for _, l := range t.Lines {
		if l.Step == step {
			return l
		}
	}
	return nil
}

// judge fills in ratios and verdicts once every line is in, so a kamflow
// line may be measured before its ceiling.
func (t *Table) judge() {
	for _, l := range t.Lines {
		if l.Ceiling != "" {
			if c := t.line(l.Ceiling); c != nil && c.Value > 0 {
				l.CeilingValue = c.Value
				l.Ratio = l.Value / c.Value
				if c.CPUms > 0 && l.CPUms > 0 {
					l.CPURatio = c.CPUms / l.CPUms
				}
			}
		}
		if l.Target == nil || l.Pending || len(l.Reps) == 0 {
			continue
		}
		x := l.Value
		if l.Target.OnRatio {
			x = l.Ratio
		}
		ok := l.Target.met(x)
		l.Met = &ok
	}
}

// Print writes the table for people.
func (t *Table) Print(w io.Writer) error {
	fmt.Fprintf(w, "kamflow bench, %s, %s\n", t.Date.Format("2006-01-02 15:04 MST"), t.Machine)
	fmt.Fprintf(w, "size %s, medians of %d, load average %.1f before, %.1f after, took %s\n\n",
		t.Size, t.Reps, t.LoadBefore, t.LoadAfter, t.Took)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "step\twhat\tmedian\tunit\tspread\tceiling\tratio\ttarget\tmet\tcpu ms/unit\tcpu ratio")
	for _, l := range t.Lines {
		val, spr, ratio, ceil, met := fmtNum(l.Value), fmt.Sprintf("±%.0f%%", 50*l.Spread), "", "", ""
		if l.Pending {
			val, spr = "pending", ""
		}
		if l.Ceiling != "" {
			ceil = fmt.Sprintf("%s %s", l.Ceiling, fmtNum(l.CeilingValue))
			if l.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", l.Ratio)
			}
		}
		if l.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*l.Met]
		}
		target := ""
		if l.Target != nil {
			target = l.Target.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Step, l.What, val, l.Unit, spr, ceil, ratio, target, met, cpuCell(l.CPUms), ratioCell(l.CPURatio))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print table: %w", err)
	}
	var notes []string
	for _, l := range t.Lines {
		if l.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s: %s", l.Step, l.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n%s\n", strings.Join(notes, "\n"))
	}
	return nil
}

// Markdown renders the table for the README.
func (t *Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Measured %s on %s; size %s, medians of %d repetitions; load average %.1f before and %.1f after the run; the whole run took %s.\n\n",
		t.Date.Format("2006-01-02 15:04 MST"), t.Machine, t.Size, t.Reps, t.LoadBefore, t.LoadAfter, t.Took)
	fmt.Fprintln(w, "| step | what | median | unit | spread | ceiling | ratio | target | met | cpu ms/unit | cpu ratio |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---|---:|---|---|---:|---:|")
	for _, l := range t.Lines {
		val, spr := fmtNum(l.Value), fmt.Sprintf("±%.0f%%", 50*l.Spread)
		if l.Pending {
			val, spr = "pending", ""
		}
		ceil, ratio, met, target := "", "", "", ""
		if l.Ceiling != "" {
			ceil = fmt.Sprintf("%s %s", l.Ceiling, fmtNum(l.CeilingValue))
			if l.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", l.Ratio)
			}
		}
		if l.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*l.Met]
		}
		if l.Target != nil {
			target = strings.ReplaceAll(l.Target.String(), "<", "&lt;")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", l.Step, l.What, val, l.Unit, spr, ceil, ratio, target, met, cpuCell(l.CPUms), ratioCell(l.CPURatio))
	}
	for _, l := range t.Lines {
		if l.Note != "" {
			fmt.Fprintf(w, "\n- %s: %s", l.Step, l.Note)
		}
	}
	fmt.Fprintln(w)
}

// Save writes the table as JSON to dir/<date>.json (a second run on the
// same day gets the time too, so no run overwrites another).
func (t *Table) Save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create results folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, t.Date.Format("2006-01-02")+".json")
	if _, err := os.Stat(path); err == nil {
		path = filepath.Join(dir, t.Date.Format("2006-01-02T150405")+".json")
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write results: %w", err)
	}
	return path, nil
}

func cpuCell(ms float64) string {
	if ms == 0 {
		return ""
	}
	return fmtNum(ms)
}

func ratioCell(r float64) string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", r)
}

func fmtNum(x float64) string {
	switch a := math.Abs(x); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", x)
	case a >= 100:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3g", x)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(xs []float64) float64 {
	m := median(xs)
	if len(xs) < 2 || m == 0 {
		return 0
	}
	return (slices.Max(xs) - slices.Min(xs)) / math.Abs(m)
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}
