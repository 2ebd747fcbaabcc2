package api_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
)

// chromiumPath is Debian's chromium; the tests never download a browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where KAM_SCREENSHOTS=1 saves the console's pictures
// for the README.
var screenshotDir = filepath.Join("..", "..", "docs", "screenshots")

// newBrowser starts headless Chromium with a fresh profile and returns a
// context for opening isolated tabs (each its own cookie jar) with tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("install chromium (scripts/deps.sh test): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}

// tab opens a tab in its own browser context (no shared cookies), sized as
// a laptop screen, with a deadline for everything done in it.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	return ctx
}

// shoot saves a full-page PNG when KAM_SCREENSHOTS=1.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("KAM_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot %s", name)
	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644))
	t.Logf("saved %s", filepath.Join(screenshotDir, name+".png"))
}

func signInBrowser(t *testing.T, ctx context.Context, e *env, token, waitFor string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/inbox"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(waitFor)),
	), "sign in")
}

// TestBrowser drives the console in headless Chromium as people use it: a
// manager signs in, finds a visit in the inbox, completes it and sees it
// leave the inbox and appear on the account's timeline; ops finds the
// survey mail in the outbox; the customer answers the survey, and the
// answer reaches the account's workflow as a survey_response event.
func TestBrowser(t *testing.T) {
	e := newEnv(t, func(p *policy.Policy) {
		// Visits on the hour, due an hour and a half after: a calm inbox.
		p.Tasks.Due[policy.TaskVisit] = policy.Duration(90 * time.Minute)
		p.Visits.Length = policy.Duration(time.Hour)
		p.Visits.PerDay = 24
	})
	e.manager(sup, "李伟 Li Wei", activities.RoleSupervisor, "")
	mgrTok := e.manager(mgr1, "张敏 Zhang Min", activities.RoleManager, sup)
	opsTok := e.manager(ops, "Ops Desk", activities.RoleOps, "")
	const acct = "sh-precision"
	e.onboard(acct, "上海华东精密机械有限公司", mgr1)
	e.onboard("nordic-freight", "Nordic Freight AB", mgr1)
	e.onboard("yuntu", "北京云图科技", mgr1)
	e.onboard("acme-gmbh", "Acme Maschinenbau GmbH", mgr1)
	visit := e.waitTask(acct, activities.TaskVisit, mgr1)
	for _, id := range []string{"nordic-freight", "yuntu", "acme-gmbh"} {
		e.waitTask(id, activities.TaskVisit, mgr1)
	}
	taskSel := `[data-task="` + visit.ID + `"]`
	browser := newBrowser(t)
	started := time.Now()

	// The manager: sign in, see the visit, complete it.
	m := tab(t, browser)
	signInBrowser(t, m, e, mgrTok, taskSel)
	shoot(t, m, "inbox")
	require.NoError(t, chromedp.Do(m,
		chromedp.SendKeys(chromedp.CSS(taskSel+` input[name=outcome]`), "Visited, follow-up agreed"),
		chromedp.SendKeys(chromedp.CSS(taskSel+` textarea[name=notes]`), "采购经理很感兴趣 — wants a quote by Friday"),
		chromedp.Click(chromedp.CSS(taskSel+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash.ok`)),
	), "complete the visit")
	flash, err := chromedp.Run(m, chromedp.Text(chromedp.CSS(`.flash.ok`)))
	require.NoError(t, err)
	require.Contains(t, flash, "上海华东精密机械有限公司")
	gone, err := chromedp.Run(m, chromedp.Evaluate[bool](`document.querySelector('`+taskSel+`') === null`))
	require.NoError(t, err)
	require.True(t, gone, "the completed task left the inbox")

	done := `#timeline li[data-type="task_done"][data-ref="` + visit.ID + `"]`
	require.NoError(t, chromedp.Do(m, chromedp.Navigate(e.srv.URL+"/accounts/"+acct), chromedp.WaitVisible(chromedp.CSS(done))),
		"the completion is on the account's timeline")
	line, err := chromedp.Run(m, chromedp.Text(chromedp.CSS(done)))
	require.NoError(t, err)
	require.Contains(t, line, "Visited, follow-up agreed")

	// A first order after the visit moves the account to deepen, which
	// sends the contact a CSAT survey.
	ctx := context.Background()
	require.NoError(t, accounts.SendEvent(ctx, e.c, acct, activities.Event{
		ExternalID: "order-1001", Kind: activities.EventOrder, At: time.Now(), Amount: 1_250_000, Note: "首批订单 first order",
	}))
	var mail store.OutboxItem
	require.Eventually(t, func() bool {
		items, err := e.st.OutboxPage(ctx, acct+":survey", 10)
		require.NoError(t, err)
		if len(items) == 0 {
			return false
		}
		mail = items[0]
		return true
	}, time.Minute, 200*time.Millisecond, "a survey mail in the outbox")
	surveyID := strings.TrimSuffix(mail.ID, ":mail")

	require.NoError(t, chromedp.Do(m, chromedp.Navigate(e.srv.URL+"/accounts"), chromedp.WaitVisible(chromedp.CSS(`#accounts tr[data-account="`+acct+`"]`))))
	shoot(t, m, "accounts")

	// Ops: the survey link is in the outbox.
	o := tab(t, browser)
	signInBrowser(t, o, e, opsTok, `nav.nav`)
	mailSel := `[data-mail="` + mail.ID + `"] a[href*="/s/"]`
	require.NoError(t, chromedp.Do(o, chromedp.Navigate(e.srv.URL+"/outbox"), chromedp.WaitVisible(chromedp.CSS(mailSel))))
	shoot(t, o, "outbox")
	link, err := chromedp.Run(o, chromedp.AttributeValue(chromedp.CSS(mailSel), "href"))
	require.NoError(t, err)
	require.True(t, link.Exists)
	require.True(t, strings.HasPrefix(link.Value, e.srv.URL+"/s/"), link.Value)

	// The customer: no sign-in, one click on a score, a comment, done.
	c := tab(t, browser)
	require.NoError(t, chromedp.Do(c, chromedp.Navigate(link.Value), chromedp.WaitVisible(chromedp.CSS(`label[for="score-5"]`))))
	shoot(t, c, "survey")
	require.NoError(t, chromedp.Do(c,
		chromedp.Click(chromedp.CSS(`label[for="score-5"]`)),
		chromedp.SendKeys(chromedp.ID("comment"), "服务很好 — great service, thank you"),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.card.center h1`)),
	), "answer the survey")
	heading, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(`.card.center h1`)))
	require.NoError(t, err)
	require.Equal(t, "Thank you!", heading)
	shoot(t, c, "survey-thanks")

	// The answer reached the workflow, which recorded it as an event.
	require.Eventually(t, func() bool {
		events, err := e.st.Events(ctx, acct, 0)
		require.NoError(t, err)
		for _, ev := range events {
			if ev.Kind == activities.EventSurveyResponse && ev.ExternalID == "survey:"+surveyID {
				require.NotNil(t, ev.CSAT)
				require.Equal(t, 5, *ev.CSAT)
				require.Equal(t, store.EventApplied, ev.Status)
				require.Contains(t, ev.Note, "服务很好")
				return true
			}
		}
		return false
	}, time.Minute, 200*time.Millisecond, "a survey_response event in account_events")

	require.Equal(t, 1.0, counter(t, e, "kamflow_surveys_answered_total", "csat"), "the answer is counted")

	// The link works once.
	require.NoError(t, chromedp.Do(c, chromedp.Navigate(link.Value), chromedp.WaitVisible(chromedp.CSS(`.card.center h1`))))
	again, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(`.card.center h1`)))
	require.NoError(t, err)
	require.Equal(t, "You have already answered", again)

	// The account page now tells the whole story.
	require.NoError(t, chromedp.Do(m, chromedp.Navigate(e.srv.URL+"/accounts/"+acct),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-type="event"]`))))
	shoot(t, m, "account")

	// And the inbox reads well on a phone.
	require.NoError(t, chromedp.Do(m, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(e.srv.URL+"/inbox"), chromedp.WaitVisible(chromedp.CSS(`.tasks`))))
	shoot(t, m, "inbox-phone")
	t.Logf("browser steps took %s", time.Since(started).Round(time.Millisecond))
}

// counter reads one labelled value of a counter from the env's registry.
func counter(t *testing.T, e *env, name, label string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
