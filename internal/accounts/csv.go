package accounts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kamflow/kamflow/activities"
)

// AccountRow is one good row of an accounts file. Line is where its record
// starts in the file, so later failures (an unknown manager, a start that
// failed) are reported against the same line as parse errors.
type AccountRow struct {
	Line    int                `json:"line"`
	Profile activities.Profile `json:"profile"`
}

// EventRow is one good row of an events file.
type EventRow struct {
	Line      int              `json:"line"`
	AccountID string           `json:"account_id"`
	Event     activities.Event `json:"event"`
}

// RowError is a row that was skipped, and why. Line 1 with no rows at all
// means the header itself was unusable.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	// Fatal is set on an error that stopped the read (no usable header, a
	// failing reader): it is the last error and not a row of its own.
	Fatal bool `json:"fatal,omitempty"`
}

// Error reads "line N: reason", the form people grep for in an import log.
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Column names a CSV column and the other header spellings accepted for it.
// Headers are compared case-insensitively after trimming, with spaces and
// hyphens read as underscores ("Contact Name" is contact_name).
type Column struct {
	Name     string
	Aliases  []string
	Required bool
	// Help says what a value looks like; `starter import --help` prints it.
	Help string
}

// AccountColumns are the columns of an accounts file. Columns not listed
// here are ignored, so an export from another system can be used as it is.
var AccountColumns = []Column{
	{Name: "id", Aliases: []string{"account", "account_id"}, Required: true, Help: "account id: 1-64 letters, digits, '.', '_' or '-'"},
	{Name: "name", Aliases: []string{"account_name", "company"}, Required: true, Help: "account name, any language"},
	{Name: "manager", Aliases: []string{"manager_id", "account_manager", "owner"}, Required: true, Help: "id of a manager added with `starter managers add`"},
	{Name: "industry", Help: "free text"},
	{Name: "region", Help: "free text"},
	{Name: "revenue", Aliases: []string{"annual_revenue"}, Help: "declared annual revenue: 1200000, 1,200,000 or 1.2e6"},
	{Name: "growth_rate", Aliases: []string{"growth"}, Help: "expected growth: 0.15 or 15%"},
	{Name: "market_share", Aliases: []string{"share", "share_of_wallet"}, Help: "share of wallet: 0.3 or 30%"},
	{Name: "contact_name", Aliases: []string{"contact"}, Help: "the customer's contact person"},
	{Name: "contact_email", Aliases: []string{"email"}, Help: "where surveys are sent"},
}

// EventColumns are the columns of an events file.
var EventColumns = []Column{
	{Name: "account", Aliases: []string{"account_id"}, Required: true, Help: "id of an onboarded account"},
	{Name: "external_id", Aliases: []string{"event_id", "ext_id"}, Required: true, Help: "the event's id in the source system: an id sent twice is applied once"},
	{Name: "kind", Aliases: []string{"type", "event"}, Required: true, Help: strings.Join(activities.EventKinds, ", ")},
	{Name: "at", Aliases: []string{"date", "time", "timestamp"}, Required: true, Help: "RFC 3339 (2026-03-01T10:00:00+08:00) or a date (2026-03-01, midnight UTC)"},
	{Name: "amount", Help: "order amount: 1200, 1,200.50"},
	{Name: "severity", Help: "complaint severity, 1 (minor) to 5 (critical)"},
	{Name: "nps", Help: "survey answer, 0 to 10"},
	{Name: "csat", Help: "survey answer, 1 to 5"},
	{Name: "note", Aliases: []string{"notes", "comment"}, Help: "free text, up to 4000 characters"},
}

// ReadAccountsCSV reads an accounts file. Every record becomes either a row
// or a RowError, so one bad row never hides the good ones around it; an
// unusable header is the only error that stops the read.
func ReadAccountsCSV(r io.Reader) ([]AccountRow, []RowError) {
	var rows []AccountRow
	first := map[string]int{} // id -> line of its first row
	errs := readCSV(r, AccountColumns, func(line int, get func(string) string) error {
		p, err := parseProfile(get)
		if err != nil {
			return err
		}
		if prev, dup := first[p.ID]; dup {
			return fmt.Errorf("duplicate id %s (first on line %d)", p.ID, prev)
		}
		first[p.ID] = line
		rows = append(rows, AccountRow{Line: line, Profile: p})
		return nil
	})
	return rows, errs
}

// ReadEventsCSV reads an events file as ReadAccountsCSV reads accounts. The
// same (account, external_id) twice in one file is reported: it is almost
// always a copy-paste mistake, and the workflow would drop the second anyway.
func ReadEventsCSV(r io.Reader) ([]EventRow, []RowError) {
	var rows []EventRow
	type key struct{ account, ext string }
	first := map[key]int{}
	errs := readCSV(r, EventColumns, func(line int, get func(string) string) error {
		row, err := parseEvent(get)
		if err != nil {
			return err
		}
		k := key{row.AccountID, row.Event.ExternalID}
		if prev, dup := first[k]; dup {
			return fmt.Errorf("duplicate external_id %s for account %s (first on line %d)", k.ext, k.account, prev)
		}
		first[k] = line
		row.Line = line
		rows = append(rows, row)
		return nil
	})
	return rows, errs
}

var bom = []byte("\uFEFF")

// readCSV finds the header, then hands each data record to row through a
// getter by column name. It returns the errors of every rejected record, in
// file order.
func readCSV(r io.Reader, cols []Column, row func(line int, get func(string) string) error) []RowError {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(len(bom)) // Peek has buffered these bytes: Discard cannot fail
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // short and long rows are handled by name below

	var errs []RowError
	var index map[string]int // column name -> field index
	lastLine := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if index == nil { // without a header there is nothing to read rows by
				return []RowError{{Line: pe.StartLine, Reason: "header: malformed CSV: " + csvReason(pe), Fatal: true}}
			}
			errs = append(errs, RowError{Line: pe.StartLine, Reason: "malformed CSV: " + csvReason(pe)})
			continue
		}
		if err != nil {
			return append(errs, RowError{Line: lastLine + 1, Reason: "read: " + err.Error(), Fatal: true})
		}
		line, _ := cr.FieldPos(0)
		lastLine = line
		if blank(rec) {
			continue
		}
		if index == nil {
			var herr error
			if index, herr = headerIndex(rec, cols); herr != nil {
				return []RowError{{Line: line, Reason: herr.Error(), Fatal: true}}
			}
			continue
		}
		get := func(name string) string {
			i, ok := index[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		if bad := invalidUTF8(rec, index, cols); bad != "" {
			errs = append(errs, RowError{Line: line, Reason: bad + ": not valid UTF-8 (save the file as UTF-8)"})
			continue
		}
		if err := row(line, get); err != nil {
			errs = append(errs, RowError{Line: line, Reason: err.Error()})
		}
	}
	if index == nil && len(errs) == 0 {
		errs = append(errs, RowError{Line: 1, Reason: "empty file: want a header row naming the columns " + columnNames(cols), Fatal: true})
	}
	return errs
}

// csvReason drops the position csv.ParseError repeats, since RowError
// already names the line.
func csvReason(pe *csv.ParseError) string {
	reason := pe.Err.Error()
	if pe.Line != pe.StartLine {
		reason += fmt.Sprintf(" (the quoted field runs to line %d)", pe.Line)
	}
	return reason
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// normalizeHeader makes "Contact Name", " contact-name" and "CONTACT_NAME" equal.
func normalizeHeader(h string) string {
	h = strings.TrimPrefix(h, "\uFEFF")
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(h)
}

func headerIndex(rec []string, cols []Column) (map[string]int, error) {
	byName := map[string]string{}
	for _, c := range cols {
		byName[c.Name] = c.Name
		for _, a := range c.Aliases {
			byName[a] = c.Name
		}
	}
	index := map[string]int{}
	var problems []string
	for i, h := range rec {
		name, known := byName[normalizeHeader(h)]
		if !known {
			continue // extra columns are allowed and ignored
		}
		if prev, dup := index[name]; dup {
			problems = append(problems, fmt.Sprintf("columns %d (%q) and %d (%q) both mean %s", prev+1, rec[prev], i+1, h, name))
			continue
		}
		index[name] = i
	}
	var missing []string
	for _, c := range cols {
		if _, ok := index[c.Name]; c.Required && !ok {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("header: missing column %s (want %s; found %s)",
			strings.Join(missing, ", "), columnNames(cols), strings.Join(trimAll(rec), ", ")))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return index, nil
}

func trimAll(rec []string) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = fmt.Sprintf("%q", strings.TrimSpace(f))
	}
	return out
}

// columnNames lists the column names, the required ones first.
func columnNames(cols []Column) string {
	var req, opt []string
	for _, c := range cols {
		if c.Required {
			req = append(req, c.Name)
		} else {
			opt = append(opt, c.Name)
		}
	}
	s := strings.Join(req, ", ")
	if len(opt) > 0 {
		s += " and optionally " + strings.Join(opt, ", ")
	}
	return s
}

func invalidUTF8(rec []string, index map[string]int, cols []Column) string {
	for _, c := range cols {
		if i, ok := index[c.Name]; ok && i < len(rec) && !utf8.ValidString(rec[i]) {
			return c.Name
		}
	}
	return ""
}

// fieldErrs collects every problem of one row, so a person fixes a row once.
type fieldErrs []string

func (f *fieldErrs) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

func (f fieldErrs) err() error {
	if len(f) == 0 {
		return nil
	}
	return errors.New(strings.Join(f, "; "))
}

func parseProfile(get func(string) string) (activities.Profile, error) {
	var fe fieldErrs
	p := activities.Profile{
		ID:           strings.TrimSpace(get("id")),
		Name:         strings.TrimSpace(get("name")),
		Manager:      strings.TrimSpace(get("manager")),
		Industry:     strings.TrimSpace(get("industry")),
		Region:       strings.TrimSpace(get("region")),
		ContactName:  strings.TrimSpace(get("contact_name")),
		ContactEmail: strings.TrimSpace(get("contact_email")),
	}
	if p.ID == "" {
		fe.add("id: missing")
	}
	if p.Name == "" {
		fe.add("name: missing")
	}
	if p.Manager == "" {
		fe.add("manager: missing")
	}
	p.Revenue = number(&fe, "revenue", get("revenue"), false)
	p.GrowthRate = number(&fe, "growth_rate", get("growth_rate"), true)
	p.MarketShare = number(&fe, "market_share", get("market_share"), true)
	if err := fe.err(); err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

func parseEvent(get func(string) string) (EventRow, error) {
	var fe fieldErrs
	row := EventRow{AccountID: strings.TrimSpace(get("account"))}
	e := &row.Event
	e.ExternalID = strings.TrimSpace(get("external_id"))
	e.Kind = strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(get("kind"))))
	e.Note = get("note")
	if row.AccountID == "" {
		fe.add("account: missing")
	} else if err := activities.ValidID(row.AccountID); err != nil {
		fe.add("account: %v", err)
	}
	if e.ExternalID == "" {
		fe.add("external_id: missing (it is what makes sending a file twice safe)")
	}
	switch {
	case e.Kind == "":
		fe.add("kind: missing (want one of %s)", strings.Join(activities.EventKinds, ", "))
	case !slices.Contains(activities.EventKinds, e.Kind):
		fe.add("kind %q: want one of %s", strings.TrimSpace(get("kind")), strings.Join(activities.EventKinds, ", "))
	}
	if at := strings.TrimSpace(get("at")); at == "" {
		fe.add("at: missing (want 2026-03-01 or 2026-03-01T10:00:00+08:00)")
	} else if t, err := ParseTime(at); err != nil {
		fe.add("at: %v", err)
	} else {
		e.At = t
	}
	e.Amount = number(&fe, "amount", get("amount"), false)
	e.Severity = integer(&fe, "severity", get("severity"))
	if s := strings.TrimSpace(get("nps")); s != "" {
		n := integer(&fe, "nps", s)
		e.NPS = &n
	}
	if s := strings.TrimSpace(get("csat")); s != "" {
		n := integer(&fe, "csat", s)
		e.CSAT = &n
	}
	if err := fe.err(); err != nil {
		return row, err
	}
	if err := e.Validate(); err != nil {
		return row, err
	}
	return row, nil
}

// ParseTime reads an event time: RFC 3339, or a bare date taken as
// midnight UTC (sources that export dates only mean the day, not a zone).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want 2026-03-01 or 2026-03-01T10:00:00+08:00", s)
}

// grouped is a number written with thousands separators, 1,200,000.50.
var grouped = regexp.MustCompile(`^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$`)

// number reads an optional decimal; percent allows "15%" for 0.15. Empty is 0.
func number(fe *fieldErrs, name, raw string, percent bool) float64 {
	s := strings.TrimSpace(raw)
	if s == "" {
		return 0
	}
	div := 1.0
	if percent && strings.HasSuffix(s, "%") {
		s, div = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
	}
	if grouped.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		want := "a number such as 1200000 or 1.2e6"
		if percent {
			want = "a fraction such as 0.15, or 15%"
		}
		fe.add("%s %q: not a number (want %s)", name, strings.TrimSpace(raw), want)
		return 0
	}
	return f / div
}

// integer reads an optional whole number. Empty is 0.
func integer(fe *fieldErrs, name, raw string) int {
	s := strings.TrimSpace(raw)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		fe.add("%s %q: not a whole number", name, s)
		return 0
	}
	return n
}
