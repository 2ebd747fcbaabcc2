package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// The portfolio: the programme's KPIs for a period, as JSON
// (GET /api/v1/kpis), as CSV (GET /api/v1/kpis.csv) and as the console page
// /portfolio. All three read one store.KPIReport under the console's access
// rules: ops and senior management see every account, a supervisor their
// reporting tree, a manager their own accounts (principal.managers).

// The console's page list lives in render.go; the portfolio page fills the
// console layout like the others.
func init() { pageLayouts["portfolio"] = "console" }

// Periods people pick from; the default is the first.
var periodPresets = []struct {
	Key  string
	Days int
}{{"90d", 90}, {"30d", 30}, {"365d", 365}}

// maxPeriod bounds a custom period: the statements read from its start on,
// and ten years is more history than any programme review looks at.
const maxPeriod = 3660 * 24 * time.Hour

// period is the half-open interval [From, To) the figures count, in UTC.
type period struct {
	From, To time.Time
	// Preset is "30d", "90d" or "365d" for a period ending now; empty for
	// one given by from and to.
	Preset string
}

// parsePeriod reads ?period= (30d, 90d, 365d; ending now) or ?from=&to=
// (RFC 3339 times or dates, a date meaning its midnight UTC; a missing to
// means now, a missing from 90 days before to).
func parsePeriod(q url.Values, now time.Time) (period, error) {
	now = now.UTC().Truncate(time.Second)
	preset, fromS, toS := q.Get("period"), strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if preset != "" && (fromS != "" || toS != "") {
		return period{}, errBadRequest("give either period or from and to, not both")
	}
	if fromS == "" && toS == "" {
		if preset == "" {
			preset = periodPresets[0].Key
		}
		for _, p := range periodPresets {
			if p.Key == preset {
				return period{From: now.AddDate(0, 0, -p.Days), To: now, Preset: p.Key}, nil
			}
		}
		return period{}, errBadRequest("period %q: want 30d, 90d or 365d, or from and to", preset)
	}
	p := period{To: now}
	var err error
	if toS != "" {
		if p.To, err = parseInstant(toS); err != nil {
			return period{}, errBadRequest("to %q: %v", toS, err)
		}
	}
	p.From = p.To.AddDate(0, 0, -90)
	if fromS != "" {
		if p.From, err = parseInstant(fromS); err != nil {
			return period{}, errBadRequest("from %q: %v", fromS, err)
		}
	}
	switch {
	case !p.From.Before(p.To):
		return period{}, errBadRequest("from %s must be before to %s (to is not included)",
			p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	case p.To.Sub(p.From) > maxPeriod:
		return period{}, errBadRequest("the period is longer than ten years: shorten it")
	}
	return p, nil
}

// parseInstant reads an RFC 3339 time or a date (midnight UTC).
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}, fmt.Errorf("want a date (2026-01-31) or an RFC 3339 time (2026-01-31T08:00:00Z)")
		}
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return time.Time{}, fmt.Errorf("year %d is out of range", t.Year())
	}
	return t.UTC(), nil
}

// describe says the period in words, e.g. "Last 90 days" or "1 Jan 2026 to
// 31 Mar 2026".
func (p period) describe() string {
	if p.Preset != "" {
		return "Last " + strings.TrimSuffix(p.Preset, "d") + " days"
	}
	day := func(t time.Time) string { return t.Format("2 Jan 2006") }
	last := p.To.Add(-time.Nanosecond)
	if p.From.Equal(p.From.Truncate(24*time.Hour)) && p.To.Equal(p.To.Truncate(24*time.Hour)) {
		if day(p.From) == day(last) {
			return day(p.From)
		}
		return day(p.From) + " to " + day(last)
	}
	return p.From.Format("2 Jan 2006 15:04") + " to " + p.To.Format("2 Jan 2006 15:04") + " UTC"
}

// exactQuery pins the instants, so an export taken from the page counts
// the same rows the page showed.
func (p period) exactQuery() url.Values {
	return url.Values{"from": {p.From.Format(time.RFC3339Nano)}, "to": {p.To.Format(time.RFC3339Nano)}}
}

// KPIResponse is GET /api/v1/kpis: every figure with its definition.
type KPIResponse struct {
	Period      KPIPeriod  `json:"period"`
	Scope       KPIScope   `json:"scope"`
	GeneratedAt time.Time  `json:"generated_at"`
	Figures     KPIFigures `json:"figures"`
}

// KPIPeriod is the period the figures count.
type KPIPeriod struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Preset string    `json:"preset,omitempty"`
	Label  string    `json:"label"`
	Rule   string    `json:"rule"`
}

// periodRule is how every figure treats the period's ends.
const periodRule = "from <= t < to, UTC: an instant at from counts, one at to does not (it belongs to the next period)"

// KPIScope is whose accounts the figures cover.
type KPIScope struct {
	Role string `json:"role"`
	// Managers are the managers whose accounts count; null means every
	// account.
	Managers []string `json:"managers"`
	Label    string   `json:"label"`
}

// Figure is one figure with its definition.
type Figure[T any] struct {
	Title      string `json:"title"`
	Definition string `json:"definition"`
	Data       T      `json:"data"`
}

// KPIFigures are the portfolio's figures, in the page's order.
type KPIFigures struct {
	Funnel         Figure[[]store.FunnelStage]     `json:"funnel"`
	Acquisition    Figure[store.Acquisition]       `json:"acquisition"`
	Retention      Figure[store.Retention]         `json:"retention"`
	WinBack        Figure[store.WinBack]           `json:"win_back"`
	NPS            Figure[NPSData]                 `json:"nps"`
	CSAT           Figure[CSATData]                `json:"csat"`
	SurveyResponse Figure[store.SurveyResponse]    `json:"survey_response"`
	TierMoves      Figure[store.TierMoves]         `json:"tier_moves"`
	RiskBands      Figure[[]store.RiskCell]        `json:"risk_bands"`
	TopRisk        Figure[[]RiskAccount]           `json:"top_risk"`
	TasksByManager Figure[[]store.ManagerTasks]    `json:"tasks_by_manager"`
	Escalations    Figure[[]store.EscalationLevel] `json:"escalations"`
	SLA            Figure[store.SLA]               `json:"sla"`
}

// NPSData is the net promoter score over the period and by week.
type NPSData struct {
	Responses  int       `json:"responses"`
	Promoters  int       `json:"promoters"`
	Passives   int       `json:"passives"`
	Detractors int       `json:"detractors"`
	Score      *float64  `json:"score"`
	Weeks      []NPSWeek `json:"weeks"`
}

// NPSWeek is one week's NPS (weeks start on Monday, UTC).
type NPSWeek struct {
	Week       string   `json:"week"`
	Responses  int      `json:"responses"`
	Promoters  int      `json:"promoters"`
	Passives   int      `json:"passives"`
	Detractors int      `json:"detractors"`
	Score      *float64 `json:"score"`
}

// CSATData is the average CSAT over the period and by week.
type CSATData struct {
	Responses int        `json:"responses"`
	Average   *float64   `json:"average"`
	Weeks     []CSATWeek `json:"weeks"`
}

// CSATWeek is one week's CSAT.
type CSATWeek struct {
	Week      string   `json:"week"`
	Responses int      `json:"responses"`
	Average   *float64 `json:"average"`
}

// RiskAccount is one of the riskiest accounts with the link to its page.
type RiskAccount struct {
	store.RiskAccount
	URL string `json:"url"`
}

func figure[T any](key string, data T) Figure[T] {
	d := store.KPIDefinitionOf(key)
	return Figure[T]{Title: d.Title, Definition: d.Text, Data: data}
}

// kpis computes the report for the caller's scope and the period the
// query asks for.
func (s *server) kpis(ctx context.Context, p *principal, q url.Values) (KPIResponse, period, error) {
	per, err := parsePeriod(q, s.Now())
	if err != nil {
		return KPIResponse{}, period{}, err
	}
	start := time.Now()
	r, err := s.Store.KPIs(ctx, store.KPIQuery{From: per.From, To: per.To, Managers: p.managers()})
	if err != nil {
		return KPIResponse{}, period{}, err
	}
	if took := time.Since(start); took > time.Second {
		s.Logger.Warn("slow kpis", "manager_id", p.ID, "from", per.From, "to", per.To, "took", took)
	}
	return newKPIResponse(p, per, r, s.Now()), per, nil
}

func newKPIResponse(p *principal, per period, r store.KPIReport, now time.Time) KPIResponse {
	sat := r.Satisfaction
	nps := NPSData{Responses: sat.NPSResponses, Promoters: sat.Promoters, Passives: sat.Passives,
		Detractors: sat.Detractors, Score: sat.NPS, Weeks: []NPSWeek{}}
	csat := CSATData{Responses: sat.CSATResponses, Average: sat.CSAT, Weeks: []CSATWeek{}}
	for _, w := range sat.Weeks {
		week := w.Week.Format(time.DateOnly)
		if w.NPSResponses > 0 {
			nps.Weeks = append(nps.Weeks, NPSWeek{Week: week, Responses: w.NPSResponses, Promoters: w.Promoters,
				Passives: w.Passives, Detractors: w.Detractors, Score: w.NPS})
		}
		if w.CSATResponses > 0 {
			csat.Weeks = append(csat.Weeks, CSATWeek{Week: week, Responses: w.CSATResponses, Average: w.CSAT})
		}
	}
	top := make([]RiskAccount, 0, len(r.TopRisk))
	for _, a := range r.TopRisk {
		top = append(top, RiskAccount{RiskAccount: a, URL: "/accounts/" + url.PathEscape(a.ID)})
	}
	return KPIResponse{
		Period:      KPIPeriod{From: per.From, To: per.To, Preset: per.Preset, Label: per.describe(), Rule: periodRule},
		Scope:       KPIScope{Role: p.Role, Managers: p.managers(), Label: scopeLabel(p)},
		GeneratedAt: now.UTC(),
		Figures: KPIFigures{
			Funnel:         figure("funnel", r.Funnel),
			Acquisition:    figure("acquisition", r.Acquisition),
			Retention:      figure("retention", r.Retention),
			WinBack:        figure("win_back", r.WinBack),
			NPS:            figure("nps", nps),
			CSAT:           figure("csat", csat),
			SurveyResponse: figure("survey_response", r.SurveyResponse),
			TierMoves:      figure("tier_moves", r.TierMoves),
			RiskBands:      figure("risk_bands", r.RiskBands),
			TopRisk:        figure("top_risk", top),
			TasksByManager: figure("tasks_by_manager", r.TasksByManager),
			Escalations:    figure("escalations", r.Escalations),
			SLA:            figure("sla", r.SLA),
		},
	}
}

// scopeLabel says whose accounts the figures cover.
func scopeLabel(p *principal) string {
	switch {
	case p.managers() == nil:
		return "All accounts"
	case p.Role == activities.RoleSupervisor && len(p.Team) > 0:
		n := len(p.Team)
		if n == 1 {
			return "Your team's accounts (you and 1 person)"
		}
		return fmt.Sprintf("Your team's accounts (you and %d people)", n)
	default:
		return "Your accounts"
	}
}

func (s *server) apiKPIs(w http.ResponseWriter, r *http.Request, p *principal) error {
	resp, _, err := s.kpis(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "private, no-store")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// apiKPIsCSV is the same figures as one long table (section, key, label,
// measure, value, unit) that filters and pivots well in a spreadsheet. It
// starts with a UTF-8 byte order mark so Excel reads Chinese names right,
// and ends its lines in CRLF.
func (s *server) apiKPIsCSV(w http.ResponseWriter, r *http.Request, p *principal) error {
	resp, per, err := s.kpis(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	writeKPICSV(cw, resp)
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write kpi csv: %w", err)
	}
	name := fmt.Sprintf("kamflow-kpis-%s-to-%s.csv", per.From.Format("20060102T1504"), per.To.Format("20060102T1504"))
	writeFile(w, "text/csv; charset=utf-8", "attachment", name, "private, no-store", &buf)
	return nil
}

// csvHeader is the KPI export's columns.
var csvHeader = []string{"section", "key", "label", "measure", "value", "unit"}

// writeKPICSV writes the figures row by row; a figure with no data (a rate
// over nothing) has an empty value, not 0.
func writeKPICSV(cw *csv.Writer, k KPIResponse) {
	row := func(section, key, label, measure, value, unit string) {
		// Write errors stick in the writer; the caller checks cw.Error.
		_ = cw.Write([]string{section, cell(key), cell(label), measure, value, unit})
	}
	num := func(n int) string { return strconv.Itoa(n) }
	f := k.Figures
	_ = cw.Write(csvHeader) // errors stick in the writer, as in row
	row("period", "from", k.Period.Label, "start (included)", k.Period.From.Format(time.RFC3339), "time")
	row("period", "to", k.Period.Label, "end (not included)", k.Period.To.Format(time.RFC3339), "time")
	row("scope", k.Scope.Role, k.Scope.Label, "managers", strings.Join(k.Scope.Managers, " "), "")
	for _, st := range f.Funnel.Data {
		row("funnel", st.Stage, label(st.Stage), "entered", num(st.Entered), "accounts")
		if st.Next != "" {
			row("funnel", st.Stage, label(st.Stage), "converted_to_"+st.Next, num(st.Converted), "accounts")
			row("funnel", st.Stage, label(st.Stage), "conversion_to_"+st.Next, share(st.Conversion), "share")
		}
		row("funnel", st.Stage, label(st.Stage), "stays_ended", num(st.StaysEnded), "stays")
		row("funnel", st.Stage, label(st.Stage), "median_days_in_stage", decimal(st.MedianDays, 2), "days")
	}
	a := f.Acquisition.Data
	row("acquisition", "", f.Acquisition.Title, "identified", num(a.Identified), "accounts")
	row("acquisition", "", f.Acquisition.Title, "reached_deepen", num(a.Deepened), "accounts")
	row("acquisition", "", f.Acquisition.Title, "rate", share(a.Rate), "share")
	rt := f.Retention.Data
	row("retention", "", f.Retention.Title, "customers_at_start", num(rt.ActiveAtStart), "accounts")
	row("retention", "", f.Retention.Title, "retained", num(rt.Retained), "accounts")
	row("retention", "", f.Retention.Title, "lost", num(rt.Lost), "accounts")
	row("retention", "", f.Retention.Title, "closed", num(rt.Closed), "accounts")
	row("retention", "", f.Retention.Title, "rate", share(rt.Rate), "share")
	wb := f.WinBack.Data
	row("win_back", "", f.WinBack.Title, "recovered", num(wb.Recovered), "stays")
	row("win_back", "", f.WinBack.Title, "lost", num(wb.Lost), "stays")
	row("win_back", "", f.WinBack.Title, "closed", num(wb.Closed), "stays")
	row("win_back", "", f.WinBack.Title, "rate", share(wb.Rate), "share")
	n := f.NPS.Data
	row("nps", "", f.NPS.Title, "responses", num(n.Responses), "answers")
	row("nps", "", f.NPS.Title, "promoters", num(n.Promoters), "answers")
	row("nps", "", f.NPS.Title, "passives", num(n.Passives), "answers")
	row("nps", "", f.NPS.Title, "detractors", num(n.Detractors), "answers")
	row("nps", "", f.NPS.Title, "score", decimal(n.Score, 1), "score")
	for _, wk := range n.Weeks {
		row("nps_by_week", wk.Week, "week of "+wk.Week, "responses", num(wk.Responses), "answers")
		row("nps_by_week", wk.Week, "week of "+wk.Week, "score", decimal(wk.Score, 1), "score")
	}
	c := f.CSAT.Data
	row("csat", "", f.CSAT.Title, "responses", num(c.Responses), "answers")
	row("csat", "", f.CSAT.Title, "average", decimal(c.Average, 2), "1-5")
	for _, wk := range c.Weeks {
		row("csat_by_week", wk.Week, "week of "+wk.Week, "responses", num(wk.Responses), "answers")
		row("csat_by_week", wk.Week, "week of "+wk.Week, "average", decimal(wk.Average, 2), "1-5")
	}
	sr := f.SurveyResponse.Data
	row("survey_response", "", f.SurveyResponse.Title, "sent", num(sr.Sent), "surveys")
	row("survey_response", "", f.SurveyResponse.Title, "answered", num(sr.Answered), "surveys")
	row("survey_response", "", f.SurveyResponse.Title, "pending", num(sr.Pending), "surveys")
	row("survey_response", "", f.SurveyResponse.Title, "rate", share(sr.Rate), "share")
	for _, m := range f.TierMoves.Data.Cells {
		from := m.From
		if from == "" {
			from = "new"
		}
		row("tier_moves", from+">"+m.To, label(from)+" → "+label(m.To), "accounts", num(m.Accounts), "accounts")
	}
	tm := f.TierMoves.Data
	row("tier_moves", "promoted", "Promoted", "accounts", num(tm.Promoted), "accounts")
	row("tier_moves", "demoted", "Demoted", "accounts", num(tm.Demoted), "accounts")
	row("tier_moves", "unchanged", "Unchanged", "accounts", num(tm.Unchanged), "accounts")
	row("tier_moves", "new", "First scored", "accounts", num(tm.New), "accounts")
	for _, rc := range f.RiskBands.Data {
		row("risk_bands", rc.Band+":"+rc.Tier, label(rc.Band)+" risk, "+label(rc.Tier), "accounts", num(rc.Accounts), "accounts")
	}
	for i, ra := range f.TopRisk.Data {
		why := make([]string, 0, len(ra.Reasons))
		for _, rs := range ra.Reasons {
			why = append(why, rs.Field+": "+rs.Text)
		}
		row("top_risk", ra.ID, ra.Name, "rank", num(i+1), "")
		row("top_risk", ra.ID, ra.Name, "churn_risk", strconv.FormatFloat(ra.ChurnRisk, 'f', 3, 64), "0-1")
		row("top_risk", ra.ID, ra.Name, "health", strconv.FormatFloat(ra.Health, 'f', 1, 64), "0-100")
		row("top_risk", ra.ID, ra.Name, "manager", cell(orDefault(ra.ManagerName, ra.ManagerID)), "")
		row("top_risk", ra.ID, ra.Name, "reasons", cell(strings.Join(why, "; ")), "")
	}
	for _, mt := range f.TasksByManager.Data {
		row("tasks_by_manager", mt.ManagerID, orDefault(mt.Name, mt.ManagerID), "open", num(mt.Open), "tasks")
		row("tasks_by_manager", mt.ManagerID, orDefault(mt.Name, mt.ManagerID), "overdue", num(mt.Overdue), "tasks")
	}
	for _, e := range f.Escalations.Data {
		l := strconv.Itoa(e.Level)
		row("escalations", l, "Level "+l, "raised", num(e.Raised), "escalations")
		row("escalations", l, "Level "+l, "acknowledged", num(e.Acknowledged), "escalations")
	}
	sla := f.SLA.Data
	row("sla", "", f.SLA.Title, "completed", num(sla.Completed), "tasks")
	row("sla", "", f.SLA.Title, "within_sla", num(sla.Within), "tasks")
	row("sla", "", f.SLA.Title, "rate", share(sla.Rate), "share")
	for _, sk := range sla.ByKind {
		row("sla_by_kind", sk.Kind, label(sk.Kind), "completed", num(sk.Completed), "tasks")
		row("sla_by_kind", sk.Kind, label(sk.Kind), "within_sla", num(sk.Within), "tasks")
		row("sla_by_kind", sk.Kind, label(sk.Kind), "rate", share(sk.Rate), "share")
	}
	for _, d := range store.KPIDefinitions {
		row("definition", d.Key, d.Title, "definition", cell(d.Text), "")
	}
}

// share writes a rate as a fraction with four decimals; no data is empty.
func share(v *float64) string { return decimal(v, 4) }

func decimal(v *float64, places int) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', places, 64)
}

// cell keeps text a spreadsheet would run as a formula (an account named
// "=HYPERLINK(...)") as text, by a leading apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
