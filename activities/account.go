package activities

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Event kinds the lifecycle understands.
const (
	EventOrder           = "order"
	EventComplaint       = "complaint"
	EventSurveyResponse  = "survey_response"
	EventContractRenewed = "contract_renewed"
	EventContractLost    = "contract_lost"
	EventRenewalMissed   = "renewal_missed"
	EventNote            = "note"
)

// EventKinds lists every kind, for validation and help texts.
var EventKinds = []string{EventOrder, EventComplaint, EventSurveyResponse, EventContractRenewed, EventContractLost, EventRenewalMissed, EventNote}

// Task kinds: the work a person is asked to do.
const (
	TaskVisit        = "visit"
	TaskRecoveryPlan = "recovery_plan"
	TaskAck          = "ack"
)

// Roles of the people who act on tasks.
const (
	RoleManager    = "manager"
	RoleSupervisor = "supervisor"
	RoleSenior     = "senior"
	RoleOps        = "ops"
)

// Roles lists every role.
var Roles = []string{RoleManager, RoleSupervisor, RoleSenior, RoleOps}

// ErrInvalidInput is the application error type of input no retry can fix.
const ErrInvalidInput = "InvalidInput"

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID reports whether id can name an account or a manager: it ends up in
// workflow IDs, URLs and task keys, so it is kept to a safe alphabet.
func ValidID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%q is not a valid id: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// Profile is what operations know about an account when onboarding it.
type Profile struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Manager      string  `json:"manager"`
	Industry     string  `json:"industry,omitempty"`
	Region       string  `json:"region,omitempty"`
	Revenue      float64 `json:"revenue,omitempty"`
	GrowthRate   float64 `json:"growth_rate,omitempty"`
	MarketShare  float64 `json:"market_share,omitempty"`
	ContactName  string  `json:"contact_name,omitempty"`
	ContactEmail string  `json:"contact_email,omitempty"`
}

// Validate names every field at fault.
func (p Profile) Validate() error {
	var errs []string
	if err := ValidID(p.ID); err != nil {
		errs = append(errs, "id: "+err.Error())
	}
	if strings.TrimSpace(p.Name) == "" {
		errs = append(errs, "name: required")
	}
	if err := ValidID(p.Manager); err != nil {
		errs = append(errs, "manager: "+err.Error())
	}
	if p.Revenue < 0 {
		errs = append(errs, "revenue: must not be negative")
	}
	if p.GrowthRate < -1 || p.GrowthRate > 10 {
		errs = append(errs, "growth_rate: want a fraction such as 0.15 for 15%")
	}
	if p.MarketShare < 0 || p.MarketShare > 1 {
		errs = append(errs, "market_share: want a fraction from 0 to 1")
	}
	if p.ContactEmail != "" && !strings.Contains(p.ContactEmail, "@") {
		errs = append(errs, "contact_email: not an e-mail address")
	}
	return joinErrors(errs)
}

// Event is a business fact about an account. ExternalID makes it idempotent:
// the same ExternalID sent twice is applied once.
type Event struct {
	ExternalID string    `json:"external_id"`
	Kind       string    `json:"kind"`
	At         time.Time `json:"at"`
	Amount     float64   `json:"amount,omitempty"`
	// Severity of a complaint, 1 (minor) to 5 (critical).
	Severity int `json:"severity,omitempty"`
	// NPS (0-10) or CSAT (1-5) of a survey_response.
	NPS  *int   `json:"nps,omitempty"`
	CSAT *int   `json:"csat,omitempty"`
	Note string `json:"note,omitempty"`
	// SurveyID links a survey_response to the survey it answers.
	SurveyID string `json:"survey_id,omitempty"`
}

// Validate checks what a retry could never fix; the workflow records an
// invalid event as rejected with this reason instead of applying it.
func (e Event) Validate() error {
	var errs []string
	if strings.TrimSpace(e.ExternalID) == "" {
		errs = append(errs, "external_id: required")
	} else if len(e.ExternalID) > 200 {
		errs = append(errs, "external_id: at most 200 characters")
	}
	if !slices.Contains(EventKinds, e.Kind) {
		errs = append(errs, fmt.Sprintf("kind %q: want one of %s", e.Kind, strings.Join(EventKinds, ", ")))
	}
	if e.At.IsZero() {
		errs = append(errs, "at: required")
	}
	if !(e.Amount >= 0 && e.Amount <= 1e12) { // NaN fails too
		errs = append(errs, "amount: want 0 to 1e12")
	}
	// PostgreSQL text cannot hold NUL: such an event could never be
	// recorded, and its retries would block the account.
	// A slice, not a map: the workflow validates events, so the message
	// must come out the same on every replay.
	for _, f := range [][2]string{{"external_id", e.ExternalID}, {"note", e.Note}, {"survey_id", e.SurveyID}} {
		if strings.ContainsRune(f[1], 0) {
			errs = append(errs, f[0]+": must not contain a NUL character")
		}
	}
	if e.Severity < 0 || e.Severity > 5 {
		errs = append(errs, "severity: want 1 to 5")
	}
	if e.NPS != nil && (*e.NPS < 0 || *e.NPS > 10) {
		errs = append(errs, "nps: want 0 to 10")
	}
	if e.CSAT != nil && (*e.CSAT < 1 || *e.CSAT > 5) {
		errs = append(errs, "csat: want 1 to 5")
	}
	if e.Kind == EventSurveyResponse && e.NPS == nil && e.CSAT == nil {
		errs = append(errs, "survey_response: needs nps or csat")
	}
	if len(e.Note) > 4000 {
		errs = append(errs, "note: at most 4000 characters")
	}
	return joinErrors(errs)
}

// Storable makes text fit a PostgreSQL text column: invalid UTF-8 and NUL
// characters become U+FFFD. Activities apply it to what they write, so text
// that slipped past validation is recorded (and visible) instead of failing
// the write on every retry.
func Storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func joinErrors(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
