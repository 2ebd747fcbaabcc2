package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must never panic, and
// whatever it accepts must validate, survive a JSON round trip (the
// Temporal payload) and diff cleanly against the default.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, "../../deploy/policy.yaml", "../../deploy/demo/policy.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("engage: {window: 1d}\nvisits: {day_start: \"00:00\", day_end: \"24:00\"}\n"))
	f.Add([]byte("maintain:\n  review: &r {vip: 1d}\n  visit: *r\n"))
	f.Add([]byte("churn:\n  risk_above: .nan\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy that does not validate: %v", err)
		}
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("accepted policy does not marshal: %v", err)
		}
		var back Policy
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatalf("accepted policy does not unmarshal: %v", err)
		}
		if d := Diff(p, back); len(d) > 0 {
			t.Fatalf("JSON round trip changed %v", d)
		}
		_ = Diff(Default(), p) // must not panic; the lines themselves are not checked here
	})
}
