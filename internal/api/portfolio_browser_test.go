package api_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// TestPortfolioBrowser opens the portfolio in headless Chromium as senior
// management does: the charts are drawn, the headline numbers are the
// store's, a definition opens and closes, the page fits a phone, and the
// print version drops the controls. With KAM_SCREENSHOTS=1 it saves
// docs/screenshots/portfolio.png.
func TestPortfolioBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	// Three years of a programme of 1,500 accounts, up to now.
	require.NoError(t, e.st.SeedKPIBench(ctx, 1500, 15000, now))
	tok := e.manager(senior, "陈静 Chen Jing", activities.RoleSenior, "")

	// A fixed period (the last 90 days to the end of today), so the page
	// and the store count the same rows.
	to := now.Truncate(24*time.Hour).AddDate(0, 0, 1)
	from := to.AddDate(0, 0, -90)
	want, err := e.st.KPIs(ctx, store.KPIQuery{From: from, To: to})
	require.NoError(t, err)
	require.NotNil(t, want.Retention.Rate)
	require.NotNil(t, want.Satisfaction.NPS)

	browser := newBrowser(t)
	p := tab(t, browser)
	signInBrowser(t, p, e, tok, `nav.nav`)
	page := e.srv.URL + "/portfolio?" + url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}.Encode()
	require.NoError(t, chromedp.Do(p, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#funnel svg`))), "open the portfolio")

	count := func(sel string) int {
		n, err := chromedp.Run(p, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
		require.NoError(t, err, sel)
		return n
	}
	// textContent, not innerText: SVG text has no innerText.
	text := func(sel string) string {
		s, err := chromedp.Run(p, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}

	// The charts.
	require.Equal(t, 4, count(`#funnel .funnel-row rect.fbar`), "identify, engage, deepen, maintain")
	require.Positive(t, count(`#nps-chart rect`), "NPS bars")
	require.Positive(t, count(`#csat-chart circle.dot`), "CSAT points")
	require.GreaterOrEqual(t, count(`#tiers tbody tr`), 4, "tier matrix rows")
	require.Positive(t, count(`#risk svg rect`), "risk bars")
	require.Equal(t, 10, count(`#top-risk li a[href^="/accounts/bench-"]`), "ten riskiest accounts, linked")
	require.Positive(t, count(`#work svg .task-row`), "tasks by manager")
	require.Equal(t, 2, count(`#escalations-sla [data-level]`), "two escalation levels")

	// The headline numbers are the store's.
	pct := func(v *float64) string { return fmt.Sprintf("%.0f%%", *v*100) }
	require.Equal(t, pct(want.Retention.Rate), text(`#tile-retention .pf-value`))
	require.Equal(t, pct(want.Acquisition.Rate), text(`#tile-acquisition .pf-value`))
	require.Equal(t, fmt.Sprintf("%.1f", *want.Satisfaction.CSAT), text(`#tile-csat .pf-value`))
	require.Equal(t, money(want.Funnel[0].Entered), text(`#funnel [data-stage="identify"] text.num`))
	require.Contains(t, text(`#pf-period`), "to", "the period in words")
	require.Equal(t, "All accounts", text(`#pf-scope`))
	href, err := chromedp.Run(p, chromedp.AttributeValue(chromedp.CSS(`#pf-csv`), "href"))
	require.NoError(t, err)
	require.Equal(t, "/api/v1/kpis.csv?from="+url.QueryEscape(from.Format(time.RFC3339))+"&to="+url.QueryEscape(to.Format(time.RFC3339)), href.Value)

	shoot(t, p, "portfolio")

	// A definition is one click away, and Escape closes it.
	require.NoError(t, chromedp.Do(p,
		chromedp.Click(chromedp.CSS(`#tile-retention summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#tile-retention .pf-pop`)),
	), "open the retention definition")
	require.Contains(t, text(`#tile-retention .pf-pop`), "from <= t < to")
	require.NoError(t, chromedp.Do(p, chromedp.KeyEvent(kb.Escape)))
	open, err := chromedp.Run(p, chromedp.Evaluate[bool](`document.querySelector("#tile-retention details").open`))
	require.NoError(t, err)
	require.False(t, open, "Escape closes it")
	for _, tile := range []string{"acquisition", "sla"} { // the leftmost and the rightmost
		require.NoError(t, chromedp.Do(p, chromedp.Click(chromedp.CSS(`#tile-`+tile+` summary`)),
			chromedp.WaitVisible(chromedp.CSS(`#tile-`+tile+` .pf-pop`))))
		inside, err := chromedp.Run(p, chromedp.Evaluate[bool](`(r => r.left >= 0 && r.right <= innerWidth)(
			document.querySelector("#tile-`+tile+` .pf-pop").getBoundingClientRect())`))
		require.NoError(t, err)
		require.True(t, inside, "the %s pop-over stays inside the window", tile)
	}
	require.NoError(t, chromedp.Do(p, chromedp.Click(chromedp.CSS(`h1`))))
	open, err = chromedp.Run(p, chromedp.Evaluate[bool](`document.querySelector("#tile-sla details").open`))
	require.NoError(t, err)
	require.False(t, open, "a click elsewhere closes it")

	// Paper: no navigation or controls; the definitions are printed.
	require.NoError(t, chromedp.Do(p, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	})))
	hidden, err := chromedp.Run(p, chromedp.Evaluate[bool](`["nav.nav", ".pf-period", "#pf-csv", "details.pf-def"].every(
		s => document.querySelector(s).getClientRects().length === 0)`))
	require.NoError(t, err)
	require.True(t, hidden, "print hides the navigation and the controls")
	require.NotZero(t, count(`#definitions dt`))
	require.NoError(t, chromedp.Do(p, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	})))

	// A phone: nothing wider than the screen.
	require.NoError(t, chromedp.Do(p, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#funnel svg`))))
	wide, err := chromedp.Run(p, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	require.NoError(t, err)
	require.LessOrEqual(t, wide, 390, "no sideways scrolling on a phone")
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// money formats a count as the page does (thousands separators).
func money(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
