package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// maxBody bounds every request body: the largest thing a person sends is a
// task's notes (4000 characters), so 64 KiB leaves room and stops a client
// from streaming megabytes into a decoder.
const maxBody = 64 << 10

// apiError is an error with the HTTP status and the stable code a client
// switches on; Detail is for the person reading it.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Detail }

// errorBody is the JSON every error answer carries.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

func errBadRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

func errForbidden(format string, args ...any) *apiError {
	return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf(format, args...)}
}

func errConflict(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, "conflict", fmt.Sprintf(format, args...)}
}

var errUnauthorized = &apiError{http.StatusUnauthorized, "unauthorized",
	"send Authorization: Bearer <token> (create one with `starter managers add`)"}

// writeError answers err as JSON. An *apiError keeps its status; anything
// else is logged with the request and answered as a 500 that leaks nothing.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "the server failed to answer; the error is in its log"}
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kamflow"`)
	}
	writeJSON(w, ae.Status, errorBody{Error: ae.Code, Detail: ae.Detail})
}

// decodeJSON reads one JSON object into v: bounded, strict about unknown
// fields and trailing data, with messages that name what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err == nil {
			return errBadRequest("the body holds more than one JSON value")
		}
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return errBadRequest("the body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadRequest("the body is not complete JSON")
	case errors.As(err, &syntax):
		return errBadRequest("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		return errBadRequest("field %q: want a %s, got %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errBadRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return errBadRequest("the body is not valid JSON: %v", err)
	}
}

// recoverer turns a panic in a handler into a logged JSON 500, so one bad
// request never takes the worker (and its workflows) down. http.ErrAbortHandler
// is re-raised: it is how a handler deliberately drops a connection.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Detail: "the server failed to answer; the error is in its log"})
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders are set on every answer: no framing, no sniffing, scripts
// only from our own origin, and no Referer leaving the site (survey links
// carry their token in the path).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}
