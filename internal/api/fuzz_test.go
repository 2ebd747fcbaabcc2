package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
)

// fuzzBodies seed the JSON body fuzz targets: the good shape and the ways
// clients get it wrong.
var fuzzBodies = []string{
	`{"outcome":"visited, all well","notes":"客户满意"}`,
	`{"outcome":""}`,
	`{"outcome":"ok","extra":1}`,
	`{"outcome":"ok"}{"outcome":"again"}`,
	`{"outcome":1}`,
	`{"outcome":"ok","notes":null}`,
	`[{"outcome":"ok"}]`,
	`{"outcome":"\ud800"}`,
	`{"outcome":"ok"`,
	``,
	`null`,
}

// FuzzDecodeJSON feeds arbitrary bodies and content types to the decoder
// of every JSON request body. It must never panic, and every refusal must be
// an *apiError with a 4xx status, written as a JSON error body: a plain
// error here would surface as a 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add("application/json", []byte(b))
	}
	f.Add("text/plain", []byte(`{"outcome":"ok"}`))
	f.Add("", []byte(`{"outcome":"ok"}`))
	f.Add("application/json; charset=utf-8", bytes.Repeat([]byte(" "), maxBody+1))
	s := &server{Deps: Deps{Logger: slog.New(slog.DiscardHandler)}}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/tasks/a:visit:1/complete", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		var req CompleteRequest
		err := decodeJSON(w, r, &req)
		if err == nil {
			// Accepted: one JSON object of known fields, which reads back the same.
			again, merr := json.Marshal(req)
			require.NoError(t, merr)
			var back CompleteRequest
			require.NoError(t, json.Unmarshal(again, &back))
			require.Equal(t, req, back)
			return
		}
		var ae *apiError
		require.True(t, errors.As(err, &ae), "a refusal that is not an apiError becomes a 500: %v", err)
		require.GreaterOrEqual(t, ae.Status, 400, "%v", err)
		require.Less(t, ae.Status, 500, "%v", err)
		require.NotEmpty(t, ae.Code)
		s.writeError(w, r, err)
		require.Equal(t, ae.Status, w.Code)
		require.True(t, json.Valid(w.Body.Bytes()), "error body is JSON: %q", w.Body.String())
	})
}

// FuzzCompleteTaskAPI sends arbitrary task ids, content types, bodies and
// Authorization headers to POST /api/v1/tasks/{id}/complete on the real
// handler over a real (empty) database. Whatever arrives, the answer is a
// JSON 4xx: never a 500, never a panic (which the handler would turn into
// a 500). No task exists, so nothing ever reaches Temporal.
func FuzzCompleteTaskAPI(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add("acme-1:visit:3", "application/json", []byte(b), "")
	}
	f.Add("", "application/json", []byte(`{"outcome":"ok"}`), "")
	f.Add("no-colon", "application/json", []byte(`{"outcome":"ok"}`), "")
	f.Add("../../etc:visit:1", "application/json", []byte(`{"outcome":"ok"}`), "Bearer ")
	f.Add("a:b:c", "application/json", []byte(`{"outcome":"ok"}`), "Basic Zm9vOmJhcg==")
	f.Add("a:visit:1", "application/json", []byte(`{"outcome":"ok"}`), "Bearer not-a-token")

	handler, token := fuzzServer(f)
	f.Fuzz(func(t *testing.T, id, contentType string, body []byte, auth string) {
		target := "/api/v1/tasks/" + url.PathEscape(id) + "/complete"
		if _, err := url.ParseRequestURI(target); err != nil {
			return // not a request a client can send
		}
		r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if auth == "" {
			auth = "Bearer " + token
		}
		r.Header.Set("Authorization", auth)
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		require.GreaterOrEqual(t, w.Code, 400, "%s %q: %s", target, body, w.Body)
		require.Less(t, w.Code, 500, "%s %q: %s", target, body, w.Body)
		require.True(t, json.Valid(w.Body.Bytes()), "error body is JSON: %q", w.Body.String())
	})
}

// fuzzServer is the API handler over a fresh database with one ops
// manager, whose token it returns. Each fuzzing process makes its own.
func fuzzServer(f *testing.F) (http.Handler, string) {
	f.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, pgtest.Database(f))
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, st.Close()) })
	require.NoError(f, st.Migrate(ctx))
	require.NoError(f, st.UpsertManager(ctx, store.Manager{ID: "ops", Name: "Ops", Email: "ops@example.com", Role: activities.RoleOps}))
	const token = "fuzz-ops-token"
	require.NoError(f, st.SetManagerToken(ctx, "ops", activities.TokenHash(token)))
	reg := prometheus.NewRegistry()
	pol := policy.Default()
	ready := make(chan struct{})
	close(ready)
	return New(Deps{
		Store: st, Gatherer: reg, Metrics: metrics.New(reg), Logger: slog.New(slog.DiscardHandler), Ready: ready,
		Activities: &activities.Activities{Store: st, Policy: func() policy.Policy { return pol }},
		// Unknown tokens are throttled per address; the fuzzer is one address.
		SignInRate: 1e9, SignInBurst: 1e9,
	}), token
}
