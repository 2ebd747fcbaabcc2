// Package api serves kamflow over HTTP: the managers' console, the JSON API
// under /api/v1, the public survey page, /metrics and the health checks.
//
// Everything is served by the worker on one port. People sign in with the
// API token `starter managers add` gave them: API clients send it as
// `Authorization: Bearer`, the console trades it for a session cookie. What a
// caller may see and do follows their role (see the access rules in auth.go);
// the account workflow still validates every task completion itself.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/store"
)

// Deps is what the HTTP server needs.
type Deps struct {
	Store    *store.Store
	Temporal client.Client
	Gatherer prometheus.Gatherer
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	// Ready is closed once the worker polls its task queue.
	Ready      <-chan struct{}
	Activities *activities.Activities
	TaskQueue  string
	// SignInRate and SignInBurst throttle failed sign-ins and unknown
	// Bearer tokens per client address. Zero means one attempt every two
	// seconds with a burst of ten.
	SignInRate  rate.Limit
	SignInBurst int
	// Now is the clock for overdue flags and survey expiry; nil means time.Now.
	Now func() time.Time
	// Codec, when set, is served at /codec/{encode,decode} for the Temporal
	// UI (codec.go), to the browser origins in CodecOrigins.
	Codec        converter.PayloadCodec
	CodecOrigins []string
}

type server struct {
	Deps
	limiter *signInLimiter
	pages   map[string]*pageTemplate

	locMu sync.Mutex
	locs  map[string]*time.Location
}

// New returns the handler of the worker's HTTP server.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SignInRate == 0 {
		d.SignInRate = rate.Every(2 * time.Second)
	}
	if d.SignInBurst == 0 {
		d.SignInBurst = 10
	}
	s := &server{Deps: d, limiter: newSignInLimiter(d.SignInRate, d.SignInBurst), pages: mustParsePages(), locs: map[string]*time.Location{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))

	// JSON API. Every route answers JSON, errors included.
	mux.Handle("GET /api/v1/me", s.requireAPI(s.apiMe))
	mux.Handle("GET /api/v1/tasks", s.requireAPI(s.apiTasks))
	mux.Handle("POST /api/v1/tasks/{id}/complete", s.requireAPI(s.apiCompleteTask))
	mux.Handle("GET /api/v1/accounts", s.requireAPI(s.apiAccounts))
	mux.Handle("GET /api/v1/accounts/{id}", s.requireAPI(s.apiAccount))
	mux.Handle("GET /api/v1/escalations", s.requireAPI(s.apiEscalations))
	mux.Handle("GET /api/v1/outbox", s.requireAPI(s.apiOutbox))
	mux.Handle("GET /api/v1/visits.ics", s.requireAPI(s.apiVisitsICS))
	mux.Handle("GET /api/v1/kpis", s.requireAPI(s.apiKPIs))
	mux.Handle("GET /api/v1/kpis.csv", s.requireAPI(s.apiKPIsCSV))

	// The console. Sections are listed once, in sections (console.go).
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.Handle("POST /signout", s.requirePage(s.signOut))
	mux.Handle("GET /{$}", s.requirePage(s.home))
	mux.Handle("GET /inbox", s.requirePage(s.inboxPage))
	mux.Handle("POST /tasks/{id}/complete", s.requirePage(s.completePage))
	mux.Handle("GET /accounts", s.requirePage(s.accountsPage))
	mux.Handle("GET /accounts/{id}", s.requirePage(s.accountPage))
	mux.Handle("GET /escalations", s.requirePage(s.escalationsPage))
	mux.Handle("GET /outbox", s.requirePage(s.outboxPage))
	mux.Handle("GET /portfolio", s.requirePage(s.portfolioPage))
	mux.HandleFunc(notFoundPattern, s.notFoundPage)

	// The customer's survey page: no sign-in, the token is the key.
	mux.HandleFunc("GET /s/{token}", s.surveyPage)
	mux.HandleFunc("POST /s/{token}", s.surveyAnswer)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errForbidden("cross-origin request refused: send it from the kamflow console itself"))
	}))
	if d.Codec != nil {
		s.routeCodec(mux, cop)
	}
	return recoverer(s.Logger, securityHeaders(cop.Handler(s.jsonMethodErrors(mux))))
}

// notFoundPattern catches every GET no other route takes, for a friendly
// console page; under /api/ the answer stays JSON.
const notFoundPattern = "GET /"

// jsonMethodErrors answers the mux's own 404 and 405 under /api/ in JSON,
// so an API client never has to parse a plain-text error.
func (s *server) jsonMethodErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			mux.ServeHTTP(w, r)
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" && pattern != notFoundPattern {
			mux.ServeHTTP(w, r)
			return
		}
		// No API route takes this method here: is it the method or the path?
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := *r
			probe.Method = m
			if _, p := mux.Handler(&probe); p != "" && p != notFoundPattern {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) == 0 {
			s.apiNotFound(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))})
	})
}

func (s *server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errNotFound("no API route %s %s: see the console README for the routes", r.Method, r.URL.Path))
}

// location is the time zone the console shows times in: the policy's visit
// time zone, where the managers work; UTC when there is none.
func (s *server) location() *time.Location {
	if s.Activities == nil || s.Activities.Policy == nil {
		return time.UTC
	}
	name := s.Activities.Policy().Visits.TimeZone
	s.locMu.Lock()
	defer s.locMu.Unlock()
	if loc, ok := s.locs[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		s.Logger.Warn("console time zone", "time_zone", name, "error", err)
		loc = time.UTC
	}
	s.locs[name] = loc
	return loc
}

// healthz answers 200 only when both Temporal and PostgreSQL answer, and
// says which one is down otherwise.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"temporal": "ok", "postgres": "ok"}
	code := http.StatusOK
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], code = "unreachable: "+err.Error(), http.StatusServiceUnavailable
	}
	if err := s.Store.Ping(ctx); err != nil {
		checks["postgres"], code = "unreachable: "+store.Redact(err.Error()), http.StatusServiceUnavailable
	}
	status := "ok"
	if code != http.StatusOK {
		status = "unavailable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// readyz answers 200 once the worker polls its task queue.
func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.Ready:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
	}
}

// writeFile answers with a file made in full beforehand, so a failure to
// make it is still an error page: disposition is "inline" or "attachment",
// cache the Cache-Control value.
func writeFile(w http.ResponseWriter, contentType, disposition, name, cache string, body *bytes.Buffer) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", disposition+`; filename="`+name+`"`)
	h.Set("Cache-Control", cache)
	w.WriteHeader(http.StatusOK)
	// The status line is already sent; a failed write means the client left.
	_, _ = body.WriteTo(w)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	// The status line is already sent; a failed write means the client left.
	_ = json.NewEncoder(w).Encode(v)
}
