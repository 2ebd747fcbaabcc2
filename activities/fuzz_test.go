package activities

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzEventDecode feeds arbitrary bytes to the event decoder the account
// workflow runs on every signal (JSON into Event, then Validate). It must
// never panic; Validate must accept exactly the events an independent
// reading of the rules accepts, so invalid input always yields an error;
// and an accepted event must survive a JSON round trip unchanged, as it
// does between the workflow, its history and PostgreSQL.
func FuzzEventDecode(f *testing.F) {
	for _, s := range []string{
		`{"external_id":"SO-1","kind":"order","at":"2026-03-01T10:00:00+08:00","amount":12500.5}`,
		`{"external_id":"C-1","kind":"complaint","at":"2026-03-02T00:00:00Z","severity":4,"note":"交货延迟"}`,
		`{"external_id":"S-1","kind":"survey_response","at":"2026-03-03T00:00:00Z","nps":9,"survey_id":"a:survey:3"}`,
		`{"external_id":"S-2","kind":"survey_response","at":"2026-03-03T00:00:00Z"}`,
		`{"external_id":" ","kind":"note","at":"2026-03-03T00:00:00Z"}`,
		`{"external_id":"x","kind":"ORDER","at":"0001-01-01T00:00:00Z","amount":-1}`,
		`{"external_id":"x","kind":"order","at":"2026-03-01T10:00:00Z","amount":1e13,"severity":6,"nps":11,"csat":0}`,
		`{"external_id":1,"kind":["order"]}`,
		`{"at":"not a time"}`,
		`[]`, `null`, `"order"`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return // the workflow records such a payload as rejected, with this error
		}
		err := e.Validate()
		broken := violations(e)
		if len(broken) > 0 {
			require.Error(t, err, "Validate accepted an event that breaks %v: %s", broken, data)
			require.NotEmpty(t, err.Error())
			return
		}
		require.NoError(t, err, "Validate refused an event that breaks no rule: %s", data)
		out, err := json.Marshal(e)
		require.NoError(t, err)
		var back Event
		require.NoError(t, json.Unmarshal(out, &back), "%s", out)
		require.NoError(t, back.Validate())
		require.True(t, back.At.Equal(e.At), "at: %s became %s", e.At, back.At)
		back.At = e.At // same instant; the location pointer may differ
		require.Equal(t, e, back, "the round trip changed the event")
	})
}

// violations restates Event's rules independently of Validate, plus the one
// rule the record imposes: PostgreSQL text holds no NUL character, so an
// event carrying one could never be written and would block its account.
func violations(e Event) []string {
	var v []string
	if strings.TrimSpace(e.ExternalID) == "" || len(e.ExternalID) > 200 {
		v = append(v, "external_id")
	}
	for name, text := range map[string]string{"external_id": e.ExternalID, "note": e.Note, "survey_id": e.SurveyID} {
		if strings.ContainsRune(text, 0) {
			v = append(v, name+" holds a NUL character")
		}
	}
	if !slices.Contains([]string{"order", "complaint", "survey_response", "contract_renewed", "contract_lost", "renewal_missed", "note"}, e.Kind) {
		v = append(v, "kind")
	}
	if e.At.IsZero() {
		v = append(v, "at")
	}
	if !(e.Amount >= 0 && e.Amount <= 1e12) {
		v = append(v, "amount")
	}
	if e.Severity < 0 || e.Severity > 5 {
		v = append(v, "severity")
	}
	if e.NPS != nil && (*e.NPS < 0 || *e.NPS > 10) {
		v = append(v, "nps")
	}
	if e.CSAT != nil && (*e.CSAT < 1 || *e.CSAT > 5) {
		v = append(v, "csat")
	}
	if e.Kind == "survey_response" && e.NPS == nil && e.CSAT == nil {
		v = append(v, "survey_response without a score")
	}
	if len(e.Note) > 4000 {
		v = append(v, "note")
	}
	return v
}
