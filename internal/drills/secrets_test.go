package drills

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
)

// TestSecretsNeverLogged runs the worker binary at debug level with every
// kind of secret it holds (a database password, the survey secret, payload
// keys, an SMTP password, API tokens) and exercises the paths that log:
// start-up, escalation mail that cannot be delivered, API calls with good
// and bad tokens, a console sign-in, a task completion, codec calls, a
// shutdown, and a start against an unreachable database. No secret appears
// in any log line, in the starter's output or in a /metrics scrape.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	const (
		dbPassword   = "db-Pa55w0rd-7f3c9"
		surveySecret = "survey-secret-9d1e2b7c4a6f8e0d3b5a7c9e1f2d4b6a"
		smtpPassword = "smtp-Pa55-41b8e2"
		wrongToken   = "tok-wrong-but-close-1d9f"
		// Chat webhooks carry their credential in the path.
		webhookSecret = "T0A1B2C3/B0D4E5F6/hook-secret-8c2f7a"
	)
	if testing.Short() {
		t.Skip("drill: needs the built binaries, Temporal and PostgreSQL")
	}
	// Trust authentication ignores the password, but the worker holds it
	// in DATABASE_URL all the same, which is what matters here.
	u, err := url.Parse(pgtest.Database(t))
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	d := newDeployment(t, fastPolicy(func(p *policy.Policy) {
		p.Tasks.Due[policy.TaskVisit] = policy.Duration(time.Second)
		p.Tasks.EscalateAfter = policy.Duration(time.Second)
	}), u.String())
	_, keyMaterial, _ := strings.Cut(d.keys, ":")
	m, sup, senior, ops := d.id("m1"), d.id("sup"), d.id("senior"), d.id("ops")
	tokens := d.addManagers(
		store.Manager{ID: senior, Name: "Senior", Email: "senior@example.com", Role: activities.RoleSenior},
		store.Manager{ID: ops, Name: "Ops", Email: "ops@example.com", Role: activities.RoleOps},
		store.Manager{ID: sup, Name: "Sup", Email: "sup@example.com", Role: activities.RoleSupervisor},
		store.Manager{ID: m, Name: "Mia", Email: "mia@example.com", Role: activities.RoleManager, SupervisorID: sup},
	)
	closed := freeAddr(t) // nothing listens: every delivery fails and is logged
	env := []string{
		"KAM_SURVEY_SECRET=" + surveySecret,
		"KAM_SMTP_URL=smtp://kam:" + smtpPassword + "@" + closed + "?from=kam@example.com&tls=none",
		"KAM_ALERT_WEBHOOK=http://" + closed + "/services/" + webhookSecret,
	}
	w := d.startWorker("worker", env, "--log-level", "debug")

	account := d.id("acme")
	r := d.runStarter("start", "--id", account, "--name", "Acme", "--manager", m, "--revenue", "60000000",
		"--contact-name", "Carl", "--contact-email", "carl@example.com")
	require.Equal(t, 0, r.code, "%s", r)
	outputs := r.stdout + r.stderr
	eventually(t, time.Minute, "the overdue visit escalated twice and its mail failed", func() (bool, string) {
		esc := d.count(`SELECT count(*) FROM escalations WHERE account_id = $1`, account)
		failed := d.count(`SELECT count(*) FROM outbox WHERE error <> ''`)
		return esc == 2 && failed > 0, ""
	})

	// The API with good and bad credentials.
	code, body := get(t, w.url()+"/api/v1/me", tokens[m])
	require.Equal(t, http.StatusOK, code, body)
	code, body = get(t, w.url()+"/api/v1/me", wrongToken)
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = get(t, w.url()+"/api/v1/accounts/"+d.id("nobody"), tokens[ops])
	require.Equal(t, http.StatusNotFound, code, body)
	task := d.strings(`SELECT id FROM tasks WHERE account_id = $1 AND kind = 'visit'`, account)
	require.Len(t, task, 1)
	req, err := http.NewRequest(http.MethodPost, w.url()+"/api/v1/tasks/"+task[0]+"/complete", strings.NewReader(`{"outcome":"visited"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tokens[m])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Console sign-ins: the token travels in a form body.
	require.Equal(t, http.StatusUnauthorized, signIn(t, w.url(), wrongToken))
	require.Equal(t, http.StatusSeeOther, signIn(t, w.url(), tokens[sup]))

	// Codec calls, allowed and refused.
	code, _ = postCodec(t, w.url()+"/codec/decode", tokens[ops], "", []byte(`{"payloads":[]}`))
	require.Equal(t, http.StatusOK, code)
	code, _ = postCodec(t, w.url()+"/codec/decode", wrongToken, "", []byte(`{"payloads":[]}`))
	require.Equal(t, http.StatusUnauthorized, code)

	r = d.runStarter("status", account)
	require.Equal(t, 0, r.code, "%s", r)
	outputs += r.stdout + r.stderr
	code, metrics := get(t, w.url()+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, metrics, "kamflow_escalations_total")
	w.stop()
	logs := w.log()
	require.Contains(t, logs, `"level":"DEBUG"`, "debug logging was on")
	require.Contains(t, logs, "delivery failed", "the failed mail was logged")
	require.Contains(t, logs, "[redacted]", "the webhook's credential was blanked out of its error")
	require.Contains(t, logs, "signed in")

	// A worker that cannot reach its database says so without the password.
	badDB := *u
	badDB.Host = closed
	bad := runBinary(t, d.worker, append(append([]string{}, d.env...), "DATABASE_URL="+badDB.String()),
		"--http-addr", "127.0.0.1:0", "--policy", d.policy)
	require.Equal(t, 1, bad.code, "%s", bad)
	require.Contains(t, bad.stderr, "connect to")
	outputs += bad.stdout + bad.stderr

	secrets := map[string]string{
		"database password": dbPassword, "survey secret": surveySecret, "payload key": keyMaterial,
		"SMTP password": smtpPassword, "wrong token": wrongToken, "webhook credential": "hook-secret-8c2f7a",
		"manager token": tokens[m], "supervisor token": tokens[sup], "ops token": tokens[ops],
	}
	for what, secret := range secrets {
		for where, text := range map[string]string{"worker log": logs, "metrics": metrics, "starter and start-up output": outputs} {
			if i := strings.Index(text, secret); i >= 0 {
				t.Errorf("the %s appears in the %s: ...%s...", what, where, text[max(i-120, 0):min(i+len(secret)+40, len(text))])
			}
		}
	}
	t.Logf("scanned %d log lines, %d metric lines, %d bytes of other output", strings.Count(logs, "\n"), strings.Count(metrics, "\n"), len(outputs))
}

// signIn posts token to the console's sign-in form, as a browser does, and
// returns the answer's status.
func signIn(t *testing.T, base, token string) int {
	t.Helper()
	_, code := browserSession(t, base, token)
	return code
}

// browserSession signs in like a browser and returns that browser (its
// cookie jar holds the session on success) and the sign-in's status.
func browserSession(t *testing.T, base, token string) (*http.Client, int) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(base + "/signin")
	require.NoError(t, err)
	var page bytes.Buffer
	_, err = page.ReadFrom(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.String())
	require.NotNil(t, csrf, "sign-in form")
	resp, err = browser.PostForm(base+"/signin", url.Values{"csrf": {csrf[1]}, "token": {token}, "next": {"/inbox"}})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return browser, resp.StatusCode
}
