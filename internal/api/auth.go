package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// Console sessions are server-side rows in the sessions table rather than
// HMAC-signed cookies, because:
//   - signing out, or an administrator rotating or revoking a token with
//     `starter managers add`, ends the session at once: a session row holds
//     the token hash it was opened with and only matches while the manager
//     still has that hash. A signed cookie stays valid until it expires.
//   - every worker shares PostgreSQL already, so sessions work behind a load
//     balancer without a second secret to distribute and rotate.
//   - the cookie is a random id whose SHA-256 is the row key, so neither a
//     database dump nor a log line holds a usable session.
//
// The cost is one indexed primary-key read per console request.
const (
	sessionCookie = "kam_session"
	// signInCookie carries the double-submit token of the sign-in form,
	// which has no session yet to hold one.
	signInCookie = "kam_signin"
	sessionTTL   = 12 * time.Hour
	csrfField    = "csrf"
	csrfHeader   = "X-CSRF-Token"
)

// principal is the authenticated caller of one request.
type principal struct {
	store.Manager
	// Team is who a supervisor sees besides themselves (their reporting
	// tree); empty for other roles.
	Team []string
	// Reports are the supervisor's direct reports, whose tasks the workflow
	// lets them complete.
	Reports []string
	// Session is set for console (cookie) callers; Bearer callers have none.
	Session *store.Session
}

// hashToken is how tokens and session ids are kept: SHA-256, the same hash
// `starter managers add` stores.
func hashToken(token string) []byte {
	return activities.TokenHash(token)
}

// authenticate finds who is calling: a Bearer token first (API clients),
// else the console's session cookie. It returns nil, nil for an anonymous
// request and an *apiError for credentials that are present but wrong.
func (s *server) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return nil, &apiError{http.StatusUnauthorized, "unauthorized", "the Authorization header must be `Bearer <token>`"}
		}
		return s.bearer(r, strings.TrimSpace(token))
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.Store.SessionByHash(r.Context(), hashToken(c.Value), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // expired, signed out or token rotated: sign in again
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	return s.newPrincipal(r.Context(), sess.Manager, &sess)
}

func (s *server) bearer(r *http.Request, token string) (*principal, error) {
	if s.limiter.blocked(r) {
		return nil, errTooMany
	}
	sum := hashToken(token)
	m, err := s.Store.ManagerByTokenHash(r.Context(), sum)
	if err == nil && subtle.ConstantTimeCompare(m.TokenHash, sum) != 1 {
		err = store.ErrNotFound // cannot happen with an equality lookup; never trust it blindly
	}
	if errors.Is(err, store.ErrNotFound) {
		s.limiter.allow(r) // spend one attempt of this client
		return nil, &apiError{http.StatusUnauthorized, "unauthorized", "the token matches no one: ask ops for a new one (`starter managers add`)"}
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return s.newPrincipal(r.Context(), m, nil)
}

var errTooMany = &apiError{http.StatusTooManyRequests, "too_many_requests", "too many failed sign-in attempts from this address: wait a minute"}

func (s *server) newPrincipal(ctx context.Context, m store.Manager, sess *store.Session) (*principal, error) {
	p := &principal{Manager: m, Session: sess}
	if m.Role == activities.RoleSupervisor {
		team, err := s.Store.TeamMembers(ctx, m.ID)
		if err != nil {
			return nil, fmt.Errorf("team of %s: %w", m.ID, err)
		}
		for _, t := range team {
			p.Team = append(p.Team, t.ID)
			if t.SupervisorID == m.ID {
				p.Reports = append(p.Reports, t.ID)
			}
		}
	}
	return p, nil
}

// requireAPI wraps an API handler: 401 without valid credentials, and a
// per-session CSRF token on unsafe methods when the credential is the
// console's cookie (a Bearer header is never sent by a browser on its own).
func (s *server) requireAPI(h func(http.ResponseWriter, *http.Request, *principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil && p == nil {
			err = errUnauthorized
		}
		if err == nil && p.Session != nil && !safeMethod(r.Method) && !validCSRF(p.Session.CSRF, r.Header.Get(csrfHeader)) {
			err = errForbidden("missing or stale %s header: reload the page", csrfHeader)
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// requirePage wraps a console page: anonymous visitors go to the sign-in
// page and come back afterwards; form posts must carry the session's CSRF
// token.
func (s *server) requirePage(h func(http.ResponseWriter, *http.Request, *principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil && p == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			err = &apiError{http.StatusUnauthorized, "unauthorized", "your session has ended: sign in again"}
		}
		if err == nil && !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if perr := r.ParseForm(); perr != nil {
				err = errBadRequest("the form could not be read: %v", perr)
			} else if p.Session == nil || !validCSRF(p.Session.CSRF, r.PostForm.Get(csrfField)) {
				err = errForbidden("the form is stale (missing or wrong CSRF token): reload the page and try again")
			}
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.pageError(w, r, p, err)
		}
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func validCSRF(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// secure says whether cookies get the Secure flag: when the request came
// over TLS, or the public URL (what people type, in front of any proxy) is
// https.
func (s *server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.Activities != nil && strings.HasPrefix(s.Activities.PublicURL, "https://"))
}

func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, ttl time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r),
	}
	if ttl > 0 {
		c.MaxAge = int(ttl.Seconds())
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// signInPage shows the token form. Its CSRF token is a double-submit
// cookie: a cross-site page can neither read the cookie nor set it, so it
// cannot sign a victim in to the attacker's account.
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	if p, err := s.authenticate(r); err == nil && p != nil && p.Session != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderSignIn(w, r, http.StatusOK, "")
}

func (s *server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := rand.Text()
	s.setCookie(w, r, signInCookie, token, 30*time.Minute)
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	s.render(w, r, status, "signin", &page{Title: "Sign in", CSRF: token, Data: signInData{Error: msg, Next: safeNext(next)}})
}

type signInData struct {
	Error string
	Next  string
}

func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.renderSignIn(w, r, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	c, err := r.Cookie(signInCookie)
	if err != nil || !validCSRF(c.Value, r.PostForm.Get(csrfField)) {
		s.renderSignIn(w, r, http.StatusForbidden, "The sign-in form had expired. Please try again.")
		return
	}
	if !s.limiter.allow(r) {
		s.renderSignIn(w, r, http.StatusTooManyRequests, "Too many attempts from this address. Wait a minute, then try again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		s.renderSignIn(w, r, http.StatusBadRequest, "Paste your API token.")
		return
	}
	sum := hashToken(token)
	m, err := s.Store.ManagerByTokenHash(r.Context(), sum)
	if err == nil && subtle.ConstantTimeCompare(m.TokenHash, sum) != 1 {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		s.renderSignIn(w, r, http.StatusUnauthorized, "That token matches no one. Check it, or ask ops for a new one.")
		return
	}
	if err != nil {
		s.Logger.Error("sign in", "error", err)
		s.renderSignIn(w, r, http.StatusInternalServerError, "Signing in failed on our side. Please try again.")
		return
	}
	id := rand.Text()
	now := time.Now()
	if err := s.Store.CreateSession(r.Context(), store.Session{
		IDHash: hashToken(id), Manager: store.Manager{ID: m.ID, TokenHash: m.TokenHash}, CSRF: rand.Text(),
		CreatedAt: now, ExpiresAt: now.Add(sessionTTL),
	}); err != nil {
		s.Logger.Error("create session", "manager_id", m.ID, "error", err)
		s.renderSignIn(w, r, http.StatusInternalServerError, "Signing in failed on our side. Please try again.")
		return
	}
	if n, err := s.Store.DeleteExpiredSessions(r.Context(), now); err != nil {
		s.Logger.Warn("delete expired sessions", "error", err)
	} else if n > 0 {
		s.Logger.Debug("deleted expired sessions", "count", n)
	}
	s.setCookie(w, r, signInCookie, "", 0)
	s.setCookie(w, r, sessionCookie, id, sessionTTL)
	s.Logger.Info("signed in", "manager_id", m.ID, "role", m.Role)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *server) signOut(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.Session != nil {
		if err := s.Store.DeleteSession(r.Context(), p.Session.IDHash); err != nil {
			return fmt.Errorf("sign out %s: %w", p.ID, err)
		}
	}
	s.setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site: a path, never
// another host ("//evil", "/\evil" or "https://...").
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	return next
}

// Access rules. A manager sees their own accounts and tasks; a supervisor
// also their team's; senior management reads every account and acts on the
// escalations sent to them; ops sees and acts on everything.

// managers returns whose accounts p may read; nil means everyone's.
func (p *principal) managers() []string {
	switch p.Role {
	case activities.RoleSenior, activities.RoleOps:
		return nil
	case activities.RoleSupervisor:
		return append([]string{p.ID}, p.Team...)
	default:
		return []string{p.ID}
	}
}

// assignees returns whose tasks p's inbox lists; nil means everyone's.
func (p *principal) assignees() []string {
	switch p.Role {
	case activities.RoleOps:
		return nil
	case activities.RoleSupervisor:
		return append([]string{p.ID}, p.Team...)
	default:
		return []string{p.ID}
	}
}

func (p *principal) canReadAccount(managerID string) bool {
	ms := p.managers()
	return ms == nil || slices.Contains(ms, managerID)
}

// canComplete mirrors the workflow's validator (assignee, their direct
// supervisor or ops) from the record, so the console offers the form only
// where it would be accepted. The workflow still has the last word.
func (p *principal) canComplete(t store.Task) bool {
	if t.State != store.TaskOpen {
		return false
	}
	if p.Role == activities.RoleOps || t.AssigneeID == p.ID {
		return true
	}
	return p.Role == activities.RoleSupervisor && slices.Contains(p.Reports, t.AssigneeID)
}

// canReadTask: a task is visible to whoever may complete it and to whoever
// may read its account.
func (p *principal) canReadTask(t store.Task, accountManager string) bool {
	if p.Role == activities.RoleOps || t.AssigneeID == p.ID || p.canReadAccount(accountManager) {
		return true
	}
	return p.Role == activities.RoleSupervisor && slices.Contains(p.Team, t.AssigneeID)
}

func (p *principal) seesEscalations() bool {
	return p.Role != activities.RoleManager
}

func (p *principal) isOps() bool { return p.Role == activities.RoleOps }
