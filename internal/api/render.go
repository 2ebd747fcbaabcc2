package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// The console's HTML and assets are compiled into the binary: no front-end
// build, nothing to deploy beside the worker.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assetVersion changes whenever a static file does, so browsers may cache
// the assets for a long time and still never run a stale script.
var assetVersion = func() string {
	h := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		panic(fmt.Sprintf("embedded static files: %v", err)) // a build without its assets is broken
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}()

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("embedded static files: %v", err))
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		if r.URL.Query().Get("v") == assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(w, r)
	})
}

// pageTemplate is one page parsed together with the layout it fills.
type pageTemplate struct {
	t      *template.Template
	layout string
}

// Pages and the layout each fills: the console's layout has the navigation,
// the public one (sign-in, survey) has none.
var pageLayouts = map[string]string{
	"signin":      "public",
	"survey":      "public",
	"survey_done": "public",
	"inbox":       "console",
	"account":     "console",
	"accounts":    "console",
	"escalations": "console",
	"outbox":      "console",
	"error":       "console",
}

func mustParsePages() map[string]*pageTemplate {
	pages := map[string]*pageTemplate{}
	for name, layout := range pageLayouts {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/"+layout+".html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			panic(fmt.Sprintf("console template %s: %v", name, err)) // caught by every test that renders
		}
		pages[name] = &pageTemplate{t: t, layout: layout}
	}
	return pages
}

// page is what every template receives.
type page struct {
	Title string
	Me    *principal
	Nav   []navItem
	// CSRF is the token forms post back: the session's, or on the sign-in
	// page the double-submit cookie's.
	CSRF  string
	Flash *flash
	// Path is this page's URL, where a form sends the person back to.
	Path    string
	Data    any
	Version string

	loc *time.Location
	now time.Time
}

// flash is a one-time message shown after a redirect.
type flash struct {
	Kind string `json:"kind"` // ok | bad | info
	Text string `json:"text"`
}

// When formats t for people, in the console's time zone.
func (p *page) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(p.loc)
	if t.Year() != p.now.In(p.loc).Year() {
		return t.Format("2 Jan 2006 15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// Day formats the date of t.
func (p *page) Day(t time.Time) string {
	return t.In(p.loc).Format("Mon 2 Jan 2006")
}

// Zone names the console's time zone, for a hint under times.
func (p *page) Zone() string { return p.loc.String() }

// ISO is the machine-readable time of a <time> element.
func (p *page) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Due says how t relates to now as a deadline; scripts keep it fresh.
func (p *page) Due(t time.Time) string {
	d := t.Sub(p.now)
	if d >= 0 {
		return "due in " + span(d)
	}
	return "overdue by " + span(-d)
}

// Ago says how long ago (or in how long) t is.
func (p *page) Ago(t time.Time) string {
	d := t.Sub(p.now)
	if d >= 0 {
		return "in " + span(d)
	}
	return span(-d) + " ago"
}

func span(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	default:
		return "moments"
	}
}

var funcs = template.FuncMap{
	// dict passes several values to a partial template.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	"label":    label,
	"initials": initials,
	"pct":      func(f float64) int { return int(math.Round(f * 100)) },
	"round":    func(f float64) int { return int(math.Round(f)) },
	"money":    money,
	"short":    short,
	"healthClass": func(h float64) string {
		switch {
		case h < 45:
			return "bad"
		case h < 65:
			return "warn"
		}
		return ""
	},
	"riskClass": func(r float64) string {
		switch {
		case r >= 0.6:
			return "bad"
		case r >= 0.35:
			return "warn"
		}
		return ""
	},
	"linkify": linkify,
	"seq": func(from, to int) []int {
		var out []int
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	},
	"deref": func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	},
	"add": func(a, b int) int { return a + b },
}

// labels turns the record's identifiers into words people read.
var labels = map[string]string{
	"identify": "Identify", "engage": "Engage", "deepen": "Deepen", "maintain": "Maintain",
	"churn_recovery": "Churn recovery", "lost": "Lost", "disqualified": "Disqualified", "closed": "Closed",
	"prospect": "Prospect", "ordinary": "Ordinary", "core": "Core", "vip": "VIP",
	"visit": "Visit", "recovery_plan": "Recovery plan", "ack": "Acknowledge", "follow_up": "Follow-up",
	"order": "Order", "complaint": "Complaint", "survey_response": "Survey answer",
	"contract_renewed": "Contract renewed", "contract_lost": "Contract lost", "renewal_missed": "Renewal missed",
	"note": "Note", "manager": "Manager", "supervisor": "Supervisor", "senior": "Senior management", "ops": "Operations",
	"high": "High", "medium": "Medium", "low": "Low", "nps": "NPS", "csat": "CSAT",
	"high_value": "High value", "potential": "Potential", "one_time": "One-time", "lapsed": "Lapsed",
	"key": "Key account", "general_1": "General I", "general_2": "General II",
	"new": "New", "growth": "Growth", "mature": "Mature",
	"health_low": "Low health", "risk_high": "High churn risk", "severe_complaint": "Severe complaint",
	"missed_renewal": "Missed renewal", "overdue_followups": "Overdue follow-ups", "falling_orders": "Falling orders",
	"survey_unanswered": "Survey unanswered", "scheduled": "Scheduled", "done": "Done", "cancelled": "Cancelled",
	"open": "Open", "value": "Value", "loyalty": "Loyalty", "abc": "ABC grade", "clv": "CLV", "tier": "Tier",
	"health": "Health", "churn_risk": "Churn risk", "segment": "Segment", "strategy": "Strategy", "lifecycle": "Lifecycle",
}

func label(s string) string {
	if l, ok := labels[s]; ok {
		return l
	}
	return strings.ReplaceAll(s, "_", " ")
}

// initials of a name for the avatar: the first letters of the first two
// words of a Latin name, or the first character of a CJK one.
func initials(name string) string {
	fields := strings.Fields(name)
	if len(fields) == 0 {
		return "?"
	}
	r, _ := utf8.DecodeRuneInString(fields[0])
	if r > 0x2E80 { // CJK and beyond: one character reads as a name
		return string(r)
	}
	out := string(r)
	if len(fields) > 1 {
		r2, _ := utf8.DecodeRuneInString(fields[len(fields)-1])
		out += string(r2)
	}
	return strings.ToUpper(out)
}

// money formats an amount with thousands separators, no currency (the
// record does not keep one).
func money(f float64) string {
	neg := f < 0
	n := int64(math.Round(math.Abs(f)))
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// short writes a large amount compactly: 12.4M, 850K.
func short(f float64) string {
	a := math.Abs(f)
	switch {
	case a >= 1e9:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", f/1e9), ".0") + "B"
	case a >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", f/1e6), ".0") + "M"
	case a >= 1e4:
		return fmt.Sprintf("%.0fK", f/1e3)
	}
	return money(f)
}

var urlPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// linkify escapes text and turns its http(s) URLs into links: the outbox
// shows mail bodies whose survey links a developer clicks.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlPattern.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		u := strings.TrimRight(text[m[0]:m[1]], ".,;:)")
		esc := template.HTMLEscapeString(u)
		b.WriteString(`<a href="` + esc + `" rel="noreferrer">` + esc + `</a>`)
		b.WriteString(template.HTMLEscapeString(text[m[0]+len(u) : m[1]]))
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String()) // every piece above is escaped
}

// render writes a page. It renders into a buffer first, so a template error
// becomes a clean 500 rather than half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	pt, ok := s.pages[name]
	if !ok {
		s.writeError(w, r, fmt.Errorf("no page template %q", name))
		return
	}
	p.Version = assetVersion
	if p.loc == nil {
		p.loc = s.location()
	}
	if p.now.IsZero() {
		p.now = s.Now()
	}
	if p.Path == "" {
		p.Path = r.URL.RequestURI()
	}
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, pt.layout, p); err != nil {
		s.writeError(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show one person's data (or a survey token): never cache them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status line is already sent; a failed write means the client left.
	_, _ = buf.WriteTo(w)
}

const flashCookie = "kam_flash"

// setFlash leaves a message for the next page this browser renders.
func (s *server) setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	b, err := json.Marshal(flash{Kind: kind, Text: text})
	if err != nil {
		s.Logger.Warn("encode flash", "error", err)
		return
	}
	s.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(b), time.Minute)
}

// takeFlash reads and clears the pending message, if any.
func (s *server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	s.setCookie(w, r, flashCookie, "", 0)
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || (f.Kind != "ok" && f.Kind != "bad" && f.Kind != "info") {
		return nil
	}
	return &f
}
