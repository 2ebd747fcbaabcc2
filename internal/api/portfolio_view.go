package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kamflow/kamflow/internal/store"
)

// The portfolio page draws its charts as SVG on the server: no charting
// library, nothing to build, the same picture with scripts off and on
// paper. This file turns a KPIResponse into ready-to-draw shapes and
// ready-to-read strings, so the template only places them. Shapes are
// styled by class, so the console's light and dark themes colour them.

// portfolioView is the portfolio page's data.
type portfolioView struct {
	Label    string
	Scope    string
	Presets  []presetLink
	Custom   bool
	FromDate string
	ToDate   string
	CSVHref  string
	JSONHref string
	Tiles    []kpiTile
	Funnel   funnelChart
	Sat      satisfactionView
	Tiers    tierMatrix
	Risk     riskChart
	TopRisk  []topRiskRow
	Work     workView
	Defs     map[string]store.KPIDefinition
	DefList  []store.KPIDefinition
}

type presetLink struct {
	Label  string
	Href   string
	Active bool
}

// kpiTile is one headline figure.
type kpiTile struct {
	Key   string // definition key, also the element id
	Title string
	Value string
	Sub   string
	Tone  string // ok | warn | bad | "" (no judgement)
	// Ring is the share drawn as a ring (0-100), or -1 for none.
	Ring float64
	// Split is a stacked bar of percentages (NPS answers, CSAT scale).
	Split []splitPart
}

type splitPart struct {
	Class string
	X, W  float64 // in percent of the bar
	Label string
}

// The charts' arithmetic in templates: positions are float64.
func init() {
	funcs["add1"] = func(a, b float64) float64 { return a + b }
	funcs["sub1"] = func(a, b float64) float64 { return a - b }
	funcs["half"] = func(a float64) float64 { return a / 2 }
}

func (s *server) portfolioPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	resp, per, err := s.kpis(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	v := newPortfolioView(resp, per)
	s.render(w, r, http.StatusOK, "portfolio", s.consolePage(w, r, p, "portfolio", "Portfolio", v))
	return nil
}

func newPortfolioView(k KPIResponse, per period) portfolioView {
	v := portfolioView{
		Label:    k.Period.Label,
		Scope:    k.Scope.Label,
		Custom:   per.Preset == "",
		FromDate: per.From.Format(time.DateOnly),
		ToDate:   per.To.Format(time.DateOnly),
		CSVHref:  "/api/v1/kpis.csv?" + per.exactQuery().Encode(),
		JSONHref: "/api/v1/kpis?" + per.exactQuery().Encode(),
		Defs:     map[string]store.KPIDefinition{},
		DefList:  store.KPIDefinitions,
	}
	if !per.To.Equal(per.To.Truncate(24 * time.Hour)) {
		// The form sends a date's midnight, and to is not included: a
		// period ending within a day (now, for a preset) shows the next
		// day, so submitting the form keeps that day in.
		v.ToDate = per.To.Truncate(24*time.Hour).AddDate(0, 0, 1).Format(time.DateOnly)
	}
	for _, d := range store.KPIDefinitions {
		v.Defs[d.Key] = d
	}
	for _, pr := range []struct{ key, label string }{{"30d", "30 days"}, {"90d", "90 days"}, {"365d", "365 days"}} {
		v.Presets = append(v.Presets, presetLink{Label: pr.label, Href: "/portfolio?period=" + pr.key, Active: per.Preset == pr.key})
	}
	f := k.Figures
	v.Tiles = []kpiTile{
		rateTile("acquisition", f.Acquisition.Data.Rate, fmt.Sprintf("%s of %s onboarded reached deepen",
			count(f.Acquisition.Data.Deepened), count(f.Acquisition.Data.Identified)), 0.3, 0.15),
		rateTile("retention", f.Retention.Data.Rate, fmt.Sprintf("%s of %s customers kept",
			count(f.Retention.Data.Retained), count(f.Retention.Data.ActiveAtStart)), 0.9, 0.8),
		rateTile("win_back", f.WinBack.Data.Rate, fmt.Sprintf("%s recovered, %s lost",
			count(f.WinBack.Data.Recovered), count(f.WinBack.Data.Lost)), 0.5, 0.3),
		npsTile(f.NPS.Data),
		csatTile(f.CSAT.Data),
		rateTile("survey_response", f.SurveyResponse.Data.Rate, fmt.Sprintf("%s of %s answered",
			count(f.SurveyResponse.Data.Answered), count(f.SurveyResponse.Data.Sent-f.SurveyResponse.Data.Pending))+
			pendingNote(f.SurveyResponse.Data.Pending), 0.5, 0.3),
		rateTile("sla", f.SLA.Data.Rate, fmt.Sprintf("%s of %s tasks on time",
			count(f.SLA.Data.Within), count(f.SLA.Data.Completed)), 0.9, 0.75),
	}
	for i := range v.Tiles {
		v.Tiles[i].Title = v.Defs[v.Tiles[i].Key].Title
	}
	v.Funnel = newFunnelChart(f.Funnel.Data)
	v.Sat = newSatisfactionView(f.NPS.Data, f.CSAT.Data)
	v.Tiers = newTierMatrix(f.TierMoves.Data)
	v.Risk = newRiskChart(f.RiskBands.Data)
	for i, a := range f.TopRisk.Data {
		v.TopRisk = append(v.TopRisk, newTopRiskRow(i+1, a))
	}
	v.Work = newWorkView(f.TasksByManager.Data, f.Escalations.Data, f.SLA.Data)
	return v
}

func pendingNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s still open)", count(n))
}

// rateTile shows a share with a ring; good and poor are the thresholds
// of its colour (at or above good: ok; below poor: bad).
func rateTile(key string, rate *float64, sub string, good, poor float64) kpiTile {
	t := kpiTile{Key: key, Value: percent(rate), Sub: sub, Ring: -1}
	if rate == nil {
		t.Sub = "no data in this period"
		return t
	}
	t.Ring = math.Round(*rate*1000) / 10
	switch {
	case *rate >= good:
		t.Tone = "ok"
	case *rate < poor:
		t.Tone = "bad"
	default:
		t.Tone = "warn"
	}
	return t
}

func npsTile(n NPSData) kpiTile {
	t := kpiTile{Key: "nps", Value: "—", Ring: -1, Sub: "no answers in this period"}
	if n.Score == nil {
		return t
	}
	t.Value = signed(*n.Score)
	t.Sub = fmt.Sprintf("%s answers · %s promoters · %s detractors",
		count(n.Responses), count(n.Promoters), count(n.Detractors))
	switch {
	case *n.Score >= 30:
		t.Tone = "ok"
	case *n.Score < 0:
		t.Tone = "bad"
	default:
		t.Tone = "warn"
	}
	t.Split = split(
		[]int{n.Detractors, n.Passives, n.Promoters},
		[]string{"seg-bad", "seg-mid", "seg-ok"},
		[]string{"detractors", "passives", "promoters"})
	return t
}

func csatTile(c CSATData) kpiTile {
	t := kpiTile{Key: "csat", Value: "—", Ring: -1, Sub: "no answers in this period"}
	if c.Average == nil {
		return t
	}
	t.Value = fmt.Sprintf("%.1f", *c.Average)
	t.Sub = fmt.Sprintf("out of 5, from %s answers", count(c.Responses))
	switch {
	case *c.Average >= 4:
		t.Tone = "ok"
	case *c.Average < 3:
		t.Tone = "bad"
	default:
		t.Tone = "warn"
	}
	// The average's place on the 1-5 scale.
	pos := (*c.Average - 1) / 4 * 100
	t.Split = []splitPart{{Class: "seg-track", X: 0, W: 100}, {Class: "seg-" + t.Tone, X: 0, W: pos, Label: "average " + t.Value}}
	return t
}

// split lays counts side by side as percentages of their total.
func split(counts []int, classes, labels []string) []splitPart {
	total := 0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return nil
	}
	var out []splitPart
	x := 0.0
	for i, c := range counts {
		w := 100 * float64(c) / float64(total)
		out = append(out, splitPart{Class: classes[i], X: x, W: w, Label: fmt.Sprintf("%s %s", count(c), labels[i])})
		x += w
	}
	return out
}

// funnelChart is the stage ladder as bars with the conversion between them.
type funnelChart struct {
	W, H  float64
	Rows  []funnelRow
	Other []funnelOther
	Empty bool
}

type funnelRow struct {
	Stage      string
	Label      string
	X, Y       float64 // the bar's left and top
	BarW       float64
	Count      string
	CountX     float64
	CountIn    bool // the count is drawn inside the bar
	Median     string
	Conversion string // "53% went on to Engage", on the line under the bar
	LinkY      float64
}

type funnelOther struct {
	Stage   string
	Label   string
	Entered string
	Median  string
}

const (
	funnelW     = 560.0
	funnelLabel = 112.0 // the stage names' column
	funnelBarW  = 280.0
	funnelPitch = 62.0
	funnelBarH  = 26.0
)

func newFunnelChart(stages []store.FunnelStage) funnelChart {
	c := funnelChart{W: funnelW, Empty: true}
	top := 1
	for _, st := range stages {
		if st.Entered > 0 || st.StaysEnded > 0 {
			c.Empty = false
		}
		if st.Entered > top && slices.Contains(ladder[:4], st.Stage) {
			top = st.Entered
		}
	}
	y := 4.0
	for _, st := range stages {
		if !slices.Contains(ladder[:4], st.Stage) {
			c.Other = append(c.Other, funnelOther{Stage: st.Stage, Label: label(st.Stage), Entered: count(st.Entered),
				Median: medianText(st)})
			continue
		}
		w := funnelBarW * float64(st.Entered) / float64(top)
		if st.Entered > 0 && w < 3 {
			w = 3
		}
		row := funnelRow{Stage: st.Stage, Label: label(st.Stage), X: funnelLabel, Y: y, BarW: w, Count: count(st.Entered),
			Median: medianText(st), LinkY: y + funnelBarH + 20}
		row.CountIn = w > 70
		if row.CountIn {
			row.CountX = funnelLabel + w - 8
		} else {
			row.CountX = funnelLabel + w + 6
		}
		if st.Next != "" && st.Stage != "maintain" {
			if st.Conversion != nil {
				row.Conversion = fmt.Sprintf("↓ %s went on to %s (%s)", percent(st.Conversion), label(st.Next), count(st.Converted))
			} else {
				row.Conversion = "↓ none entered, no conversion to " + label(st.Next)
			}
		}
		c.Rows = append(c.Rows, row)
		y += funnelPitch
	}
	c.H = y - funnelPitch + funnelBarH + 10
	return c
}

func medianText(st store.FunnelStage) string {
	if st.MedianDays == nil {
		return "no stays ended"
	}
	return "median stay " + daysText(*st.MedianDays)
}

// daysText writes a length of time given in days in the unit that reads
// best: the demo policy runs stages in minutes, production in months.
func daysText(d float64) string {
	switch {
	case d < 1.0/24:
		m := d * 24 * 60
		if m < 1 {
			return fmt.Sprintf("%.0f s", m*60)
		}
		return fmt.Sprintf("%.0f min", m)
	case d < 1:
		return fmt.Sprintf("%.1f h", d*24)
	case d < 10:
		return fmt.Sprintf("%.1f d", d)
	}
	return fmt.Sprintf("%.0f d", d)
}

// satisfactionView is NPS and CSAT week by week.
type satisfactionView struct {
	NPS  weekChart
	CSAT weekChart
}

// weekChart is one value per week on a fixed scale: bars from a zero line
// (NPS) or a line with points (CSAT).
type weekChart struct {
	W, H   float64
	Top    float64 // plot area's top and bottom
	Bottom float64
	Left   float64
	Right  float64
	Zero   float64 // y of the bars' base
	Bars   []weekBar
	Line   string // SVG points of the line
	Points []weekPoint
	Ticks  []axisTick
	Labels []axisLabel
	Empty  bool
}

type weekBar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type weekPoint struct {
	X, Y  float64
	Title string
}

type axisTick struct {
	Y     float64
	Label string
}

type axisLabel struct {
	X     float64
	Label string
}

const (
	weekW      = 560.0
	weekLeft   = 36.0
	weekRight  = 552.0
	weekTop    = 10.0
	weekBottom = 130.0
	weekH      = 156.0
)

func newSatisfactionView(n NPSData, c CSATData) satisfactionView {
	weeks := map[string]bool{}
	for _, w := range n.Weeks {
		weeks[w.Week] = true
	}
	for _, w := range c.Weeks {
		weeks[w.Week] = true
	}
	all := make([]string, 0, len(weeks))
	for w := range weeks {
		all = append(all, w)
	}
	slices.Sort(all)
	all = fillWeeks(all)
	slot := func(i int) (x, w float64) {
		if len(all) == 0 {
			return weekLeft, 0
		}
		sw := (weekRight - weekLeft) / float64(len(all))
		return weekLeft + float64(i)*sw, sw
	}
	base := func() weekChart {
		wc := weekChart{W: weekW, H: weekH, Top: weekTop, Bottom: weekBottom, Left: weekLeft, Right: weekRight}
		every := max(1, int(math.Ceil(float64(len(all))/7)))
		for i, wk := range all {
			if i%every != 0 {
				continue
			}
			x, sw := slot(i)
			t, err := time.Parse(time.DateOnly, wk)
			if err != nil {
				continue
			}
			wc.Labels = append(wc.Labels, axisLabel{X: x + sw/2, Label: t.Format("2 Jan")})
		}
		return wc
	}

	// NPS: -100..100 around a zero line.
	np := base()
	np.Empty = len(n.Weeks) == 0
	y := func(score float64) float64 { return weekTop + (100-score)/200*(weekBottom-weekTop) }
	np.Zero = y(0)
	for _, v := range []float64{100, 50, 0, -50, -100} {
		np.Ticks = append(np.Ticks, axisTick{Y: y(v), Label: signed(v)})
	}
	for _, w := range n.Weeks {
		if w.Score == nil {
			continue
		}
		i := slices.Index(all, w.Week)
		x, sw := slot(i)
		bw := math.Max(2, sw*0.64)
		top, bottom := y(math.Max(*w.Score, 0)), y(math.Min(*w.Score, 0))
		b := weekBar{X: x + (sw-bw)/2, Y: top, W: bw, H: math.Max(1, bottom-top), Class: "bar-ok",
			Title: fmt.Sprintf("Week of %s: NPS %s from %s answers", w.Week, signed(*w.Score), count(w.Responses))}
		if *w.Score < 0 {
			b.Class = "bar-bad"
		}
		np.Bars = append(np.Bars, b)
	}

	// CSAT: 1..5 as a line.
	cs := base()
	cs.Empty = len(c.Weeks) == 0
	cy := func(v float64) float64 { return weekTop + (5-v)/4*(weekBottom-weekTop) }
	for _, v := range []float64{5, 4, 3, 2, 1} {
		cs.Ticks = append(cs.Ticks, axisTick{Y: cy(v), Label: fmt.Sprintf("%.0f", v)})
	}
	var pts []string
	for _, w := range c.Weeks {
		if w.Average == nil {
			continue
		}
		i := slices.Index(all, w.Week)
		x, sw := slot(i)
		p := weekPoint{X: x + sw/2, Y: cy(*w.Average),
			Title: fmt.Sprintf("Week of %s: CSAT %.2f from %s answers", w.Week, *w.Average, count(w.Responses))}
		cs.Points = append(cs.Points, p)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.X, p.Y))
	}
	cs.Line = strings.Join(pts, " ")
	return satisfactionView{NPS: np, CSAT: cs}
}

// fillWeeks adds the weeks without answers between the first and last, so
// the x axis is time.
func fillWeeks(weeks []string) []string {
	if len(weeks) < 2 {
		return weeks
	}
	first, err1 := time.Parse(time.DateOnly, weeks[0])
	last, err2 := time.Parse(time.DateOnly, weeks[len(weeks)-1])
	if err1 != nil || err2 != nil {
		return weeks
	}
	var out []string
	for t := first; !t.After(last); t = t.AddDate(0, 0, 7) {
		out = append(out, t.Format(time.DateOnly))
	}
	return out
}

// tierMatrix is the tier movement table.
type tierMatrix struct {
	Cols                              []string
	Rows                              []tierRow
	Empty                             bool
	Promoted, Demoted, Unchanged, New string
}

type tierRow struct {
	From  string
	Label string
	Cells []tierCell
	Total string
}

type tierCell struct {
	Count string
	Class string
	Title string
}

var tierOrder = []string{"prospect", "ordinary", "core", "vip"}

func newTierMatrix(tm store.TierMoves) tierMatrix {
	m := tierMatrix{Cols: tierOrder, Empty: len(tm.Cells) == 0,
		Promoted: count(tm.Promoted), Demoted: count(tm.Demoted), Unchanged: count(tm.Unchanged), New: count(tm.New)}
	n := map[[2]string]int{}
	top := 1
	for _, c := range tm.Cells {
		n[[2]string{c.From, c.To}] = c.Accounts
		top = max(top, c.Accounts)
	}
	for _, from := range append([]string{""}, tierOrder...) {
		row := tierRow{From: from, Label: label(from)}
		if from == "" {
			row.From, row.Label = "new", "First scored"
		}
		total := 0
		for _, to := range tierOrder {
			c := n[[2]string{from, to}]
			total += c
			cell := tierCell{Count: count(c), Title: fmt.Sprintf("%s → %s: %s accounts", row.Label, label(to), count(c))}
			fi, ti := slices.Index(tierOrder, from), slices.Index(tierOrder, to)
			switch {
			case from == "":
				cell.Class = "mv-new"
			case ti > fi:
				cell.Class = "mv-up"
			case ti < fi:
				cell.Class = "mv-down"
			default:
				cell.Class = "mv-same"
			}
			if c == 0 {
				cell.Class += " h0"
			} else {
				cell.Class += fmt.Sprintf(" h%d", 1+int(math.Min(3, math.Floor(4*float64(c)/float64(top+1)))))
			}
			row.Cells = append(row.Cells, cell)
		}
		row.Total = count(total)
		if from == "" && total == 0 {
			continue // no account first scored: no row
		}
		m.Rows = append(m.Rows, row)
	}
	return m
}

// riskChart is the live accounts by tier, split by churn-risk band.
type riskChart struct {
	W, H   float64
	Rows   []riskRow
	Totals []riskTotal
	Empty  bool
}

type riskRow struct {
	Tier  string
	Label string
	Y     float64
	Segs  []riskSeg
	Total string
	TX    float64
}

type riskSeg struct {
	X, W  float64
	Class string
	Count string
	Show  bool // wide enough for its number
	Title string
}

type riskTotal struct {
	Band, Label, Count string
}

const (
	riskW     = 560.0
	riskLabel = 86.0
	riskBarW  = 400.0
	riskPitch = 36.0
	riskBarH  = 24.0
)

func newRiskChart(cells []store.RiskCell) riskChart {
	c := riskChart{W: riskW, Empty: len(cells) == 0}
	n := map[[2]string]int{}
	rowTotal := map[string]int{}
	bandTotal := map[string]int{}
	top := 1
	for _, x := range cells {
		n[[2]string{x.Tier, x.Band}] += x.Accounts
		rowTotal[x.Tier] += x.Accounts
		bandTotal[x.Band] += x.Accounts
	}
	for _, t := range rowTotal {
		top = max(top, t)
	}
	y := 2.0
	for _, tier := range slices.Backward(tierOrder) {
		row := riskRow{Tier: tier, Label: label(tier), Y: y, Total: count(rowTotal[tier])}
		x := riskLabel
		for _, band := range []string{"low", "medium", "high"} {
			v := n[[2]string{tier, band}]
			if v == 0 {
				continue
			}
			w := riskBarW * float64(v) / float64(top)
			row.Segs = append(row.Segs, riskSeg{X: x, W: w, Class: "risk-" + band, Count: count(v), Show: w >= 8+7*float64(len(count(v))),
				Title: fmt.Sprintf("%s, %s risk: %s accounts", label(tier), band, count(v))})
			x += w
		}
		row.TX = x + 6
		c.Rows = append(c.Rows, row)
		y += riskPitch
	}
	c.H = y - riskPitch + riskBarH + 4
	for _, band := range []string{"high", "medium", "low"} {
		c.Totals = append(c.Totals, riskTotal{Band: band, Label: label(band), Count: count(bandTotal[band])})
	}
	return c
}

// topRiskRow is one line of the riskiest accounts.
type topRiskRow struct {
	Rank int
	RiskAccount
	Risk    string
	RiskPct float64
	Reasons []string
	Manager string
}

func newTopRiskRow(rank int, a RiskAccount) topRiskRow {
	r := topRiskRow{Rank: rank, RiskAccount: a, Risk: fmt.Sprintf("%.2f", a.ChurnRisk),
		RiskPct: math.Round(math.Min(1, math.Max(0, a.ChurnRisk))*1000) / 10, Manager: orDefault(a.ManagerName, a.ManagerID)}
	for _, field := range []string{"churn_risk", "health"} {
		for _, rs := range a.Reasons {
			if rs.Field == field {
				r.Reasons = append(r.Reasons, label(field)+": "+rs.Text)
			}
		}
	}
	return r
}

// workView is the work figures: tasks by manager, escalations, SLA.
type workView struct {
	Tasks       taskChart
	Escalations []escalationBar
	EscEmpty    bool
	SLAKinds    []slaKind
}

type taskChart struct {
	W, H  float64
	Rows  []taskRow
	More  int
	Empty bool
	Open  string
	Late  string
}

type taskRow struct {
	Name     string
	X, Y     float64
	OpenW    float64
	LateW    float64
	Numbers  string
	NumbersX float64
}

type escalationBar struct {
	Level        int
	Label        string
	Raised       string
	Acknowledged string
	AckPct       float64
	W, AckW      float64
}

type slaKind struct {
	Kind, Label, Rate, Sub string
	Pct                    float64
	Tone                   string
}

const (
	taskW     = 560.0
	taskLabel = 150.0
	taskBarW  = 270.0
	taskPitch = 28.0
	taskBarH  = 18.0
	taskShown = 10
)

func newWorkView(ms []store.ManagerTasks, es []store.EscalationLevel, sla store.SLA) workView {
	v := workView{Tasks: taskChart{W: taskW, Empty: len(ms) == 0}}
	open, late := 0, 0
	top := 1
	for _, m := range ms {
		open += m.Open
		late += m.Overdue
		top = max(top, m.Open)
	}
	v.Tasks.Open, v.Tasks.Late = count(open), count(late)
	y := 2.0
	for i, m := range ms {
		if i == taskShown {
			v.Tasks.More = len(ms) - taskShown
			break
		}
		name := orDefault(m.Name, m.ManagerID)
		if r := []rune(name); len(r) > 22 {
			name = string(r[:21]) + "…"
		}
		row := taskRow{Name: name, X: taskLabel, Y: y, OpenW: taskBarW * float64(m.Open) / float64(top),
			LateW:   taskBarW * float64(m.Overdue) / float64(top),
			Numbers: fmt.Sprintf("%s open · %s overdue", count(m.Open), count(m.Overdue))}
		row.NumbersX = taskLabel + row.OpenW + 6
		v.Tasks.Rows = append(v.Tasks.Rows, row)
		y += taskPitch
	}
	v.Tasks.H = math.Max(y-taskPitch+taskBarH+4, 24)

	v.EscEmpty = len(es) == 0
	topE := 1
	for _, e := range es {
		topE = max(topE, e.Raised)
	}
	for _, e := range es {
		who := "to the supervisor"
		if e.Level >= 2 {
			who = "to senior management"
		}
		b := escalationBar{Level: e.Level, Label: fmt.Sprintf("Level %d · %s", e.Level, who), Raised: count(e.Raised),
			Acknowledged: count(e.Acknowledged), W: 100 * float64(e.Raised) / float64(topE),
			AckW: 100 * float64(e.Acknowledged) / float64(topE)}
		if e.Raised > 0 {
			b.AckPct = math.Round(100 * float64(e.Acknowledged) / float64(e.Raised))
		}
		v.Escalations = append(v.Escalations, b)
	}
	for _, k := range sla.ByKind {
		t := rateTile("sla", k.Rate, "", 0.9, 0.75)
		v.SLAKinds = append(v.SLAKinds, slaKind{Kind: k.Kind, Label: label(k.Kind), Rate: percent(k.Rate), Pct: math.Max(0, t.Ring),
			Sub: fmt.Sprintf("%s of %s", count(k.Within), count(k.Completed)), Tone: t.Tone})
	}
	return v
}

// percent writes a share as a whole percentage ("48%"), with a decimal
// below 10% where a whole number hides too much; "—" is no data.
func percent(v *float64) string {
	if v == nil {
		return "—"
	}
	p := *v * 100
	if p > 0 && p < 10 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

// signed writes an NPS with its sign, as people quote it.
func signed(v float64) string {
	r := math.Round(v)
	if r > 0 {
		return fmt.Sprintf("+%.0f", r)
	}
	if r == 0 {
		return "0"
	}
	return fmt.Sprintf("−%.0f", -r)
}

// count writes a count with thousands separators.
func count(n int) string { return money(float64(n)) }
