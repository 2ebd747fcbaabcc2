package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs client in to the console with token, as a browser would:
// fetch the form (its CSRF cookie and field), post it, follow nothing.
func signIn(t *testing.T, e *env, c *http.Client, token string) {
	t.Helper()
	resp, err := c.Get(e.srv.URL + "/signin")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	m := csrfInput.FindSubmatch(body)
	require.NotNil(t, m, "sign-in form has a CSRF field: %s", body)
	resp, err = c.PostForm(e.srv.URL+"/signin", url.Values{"csrf": {string(m[1])}, "token": {token}, "next": {"/inbox"}})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "sign in")
	require.Equal(t, "/inbox", resp.Header.Get("Location"))
}

// csrfOf reads the session's CSRF token from a console page.
func csrfOf(t *testing.T, e *env, c *http.Client) string {
	t.Helper()
	resp, err := c.Get(e.srv.URL + "/inbox")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	m := csrfInput.FindSubmatch(body)
	require.NotNil(t, m, "console page has a CSRF field")
	return string(m[1])
}

// TestBadInput sends what a careless or hostile client might: every answer
// is a 4xx with a JSON {error, detail} body (HTML for the console and the
// survey page), never a 500.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	tok := e.manager(mgr1, "张敏 Zhang Min", activities.RoleManager, "")
	opsTok := e.manager(ops, "Ops Desk", activities.RoleOps, "")

	completeURL := "/api/v1/tasks/acct-1:visit:1/complete"
	for _, c := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"oversized body", "POST", completeURL, `{"outcome":"` + strings.Repeat("x", 100<<10) + `"}`, 413},
		{"malformed JSON", "POST", completeURL, `{"outcome": "visited",`, 400},
		{"not JSON at all", "POST", completeURL, `outcome=visited`, 400},
		{"unknown field", "POST", completeURL, `{"outcome":"visited","when":"now"}`, 400},
		{"wrong type", "POST", completeURL, `{"outcome": 5}`, 400},
		{"two JSON values", "POST", completeURL, `{"outcome":"a"}{"outcome":"b"}`, 400},
		{"empty body", "POST", completeURL, ``, 400},
		{"JSON null", "POST", completeURL, `null`, 400},
		{"missing outcome", "POST", completeURL, `{"notes":"no outcome"}`, 400},
		{"outcome too long", "POST", completeURL, `{"outcome":"` + strings.Repeat("长", 201) + `"}`, 400},
		{"notes too long", "POST", completeURL, `{"outcome":"ok","notes":"` + strings.Repeat("n", 4001) + `"}`, 400},
		{"bad task id", "POST", "/api/v1/tasks/no-colon/complete", `{"outcome":"ok"}`, 400},
		{"task id with a bad account", "POST", "/api/v1/tasks/%2Fetc%2Fpasswd:visit:1/complete", `{"outcome":"ok"}`, 400},
		{"task id with spaces", "POST", "/api/v1/tasks/a%20b:visit:1/complete", `{"outcome":"ok"}`, 400},
		{"unknown task", "POST", completeURL, `{"outcome":"ok"}`, 404},
		{"bad account id", "GET", "/api/v1/accounts/has%20space", nil, 400},
		{"account id too long", "GET", "/api/v1/accounts/" + strings.Repeat("a", 65), nil, 400},
		{"unknown account", "GET", "/api/v1/accounts/nobody", nil, 404},
		{"bad timeline cursor", "GET", "/api/v1/accounts/nobody?before=garbage", nil, 400},
		{"bad state", "GET", "/api/v1/tasks?state=maybe", nil, 400},
		{"bad limit", "GET", "/api/v1/tasks?limit=abc", nil, 400},
		{"limit too large", "GET", "/api/v1/tasks?limit=100000", nil, 400},
		{"bad inbox cursor", "GET", "/api/v1/tasks?after=garbage", nil, 400},
		{"bad stage", "GET", "/api/v1/accounts?stage=heaven", nil, 400},
		{"bad tier", "GET", "/api/v1/accounts?tier=platinum", nil, 400},
		{"bad manager", "GET", "/api/v1/accounts?manager=a%20b", nil, 400},
		{"search too long", "GET", "/api/v1/accounts?q=" + strings.Repeat("q", 101), nil, 400},
		{"search not UTF-8", "GET", "/api/v1/accounts?q=%ff%fe", nil, 400},
		{"negative offset", "GET", "/api/v1/accounts?offset=-1", nil, 400},
		{"unknown route", "GET", "/api/v1/nothing", nil, 404},
		{"wrong method", "DELETE", "/api/v1/me", nil, 405},
		{"GET on a POST route", "GET", completeURL, nil, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if s, ok := c.body.(string); ok {
				body = s
			}
			code, b := e.call(c.method, c.path, tok, body)
			require.Equal(t, c.want, code, "%s %s: %s", c.method, c.path, b)
			errorBody(t, b)
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+completeURL, strings.NewReader(`{"outcome":"ok"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
		errorBody(t, b)
	})

	t.Run("cross-site form posts are refused", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+completeURL, strings.NewReader(`{"outcome":"ok"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		errorBody(t, b)
	})

	t.Run("console forms need the session's CSRF token", func(t *testing.T) {
		c := e.browserless()
		signIn(t, e, c, opsTok)
		for name, form := range map[string]url.Values{
			"no token":    {"outcome": {"ok"}},
			"wrong token": {"outcome": {"ok"}, "csrf": {"forged"}},
		} {
			resp, err := c.PostForm(e.srv.URL+"/tasks/acct-1:visit:1/complete", form)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		}
		// With the token, an unknown task is refused politely: back to the
		// inbox with the reason, not an error page.
		resp, err := c.PostForm(e.srv.URL+"/tasks/acct-1:visit:1/complete", url.Values{"outcome": {"ok"}, "csrf": {csrfOf(t, e, c)}})
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		// A session cookie used on the JSON API must carry the token in a header.
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+completeURL, strings.NewReader(`{"outcome":"ok"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err = c.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})

	t.Run("sign-in: wrong token, missing form token, then rate-limited", func(t *testing.T) {
		c := e.browserless()
		resp, err := c.PostForm(e.srv.URL+"/signin", url.Values{"token": {tok}})
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF field")
		codes := map[int]int{}
		for range 15 {
			resp, err := c.Get(e.srv.URL + "/signin")
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			csrf := csrfInput.FindSubmatch(b)
			require.NotNil(t, csrf)
			resp, err = c.PostForm(e.srv.URL+"/signin", url.Values{"csrf": {string(csrf[1])}, "token": {"guess"}})
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			codes[resp.StatusCode]++
		}
		require.Positive(t, codes[http.StatusUnauthorized], "wrong tokens: %v", codes)
		require.Positive(t, codes[http.StatusTooManyRequests], "then the limiter: %v", codes)
		code, b := e.call(http.MethodGet, "/api/v1/me", "another-guess", nil)
		require.Equal(t, http.StatusTooManyRequests, code, "the limit covers Bearer guesses too")
		errorBody(t, b)
	})

	t.Run("an expired survey link gets a friendly page, and no answer", func(t *testing.T) {
		ctx := context.Background()
		_, err := e.st.UpsertAccount(ctx, store.Account{ID: "old-acct", Name: "旧客户 Old Account", ManagerID: mgr1})
		require.NoError(t, err)
		token := "expired-survey-token-0123456789"
		_, err = e.st.CreateSurvey(ctx, store.Survey{ID: "old-acct:survey:1", AccountID: "old-acct", Kind: "nps",
			TokenHash: activities.TokenHash(token), SentAt: time.Now().Add(-30 * 24 * time.Hour), DueAt: time.Now().Add(-time.Hour)})
		require.NoError(t, err)
		for _, post := range []bool{false, true} {
			var resp *http.Response
			if post {
				resp, err = e.srv.Client().PostForm(e.srv.URL+"/s/"+token, url.Values{"score": {"9"}})
			} else {
				resp, err = e.srv.Client().Get(e.srv.URL + "/s/" + token)
			}
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusGone, resp.StatusCode, "post=%v", post)
			require.Contains(t, string(b), "This survey has closed")
			require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
		}
		sv, err := e.st.SurveyByTokenHash(ctx, activities.TokenHash(token))
		require.NoError(t, err)
		require.Nil(t, sv.AnsweredAt, "an expired link records nothing")
	})

	t.Run("survey links: malformed, unknown, bad answers", func(t *testing.T) {
		for path, want := range map[string]int{
			"/s/short": 404, "/s/" + strings.Repeat("A", 43): 404, "/s/bad%20token%20with%20spaces": 404,
		} {
			resp, err := e.srv.Client().Get(e.srv.URL + path)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, want, resp.StatusCode, path)
			resp, err = e.srv.Client().PostForm(e.srv.URL+path, url.Values{"score": {"9"}})
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, want, resp.StatusCode, "POST "+path)
		}
	})
}
