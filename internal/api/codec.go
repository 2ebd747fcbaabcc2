package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/kamflow/kamflow/activities"
)

// The codec endpoint lets the Temporal UI (and `temporal workflow show
// --codec-endpoint`) show encrypted payloads in clear to the people allowed
// to read every account: ops and senior management. The UI calls it from
// the browser, so it answers CORS for the configured UI origins; it
// authenticates like the rest of the API (a Bearer token, or the console's
// session cookie, which the UI sends when its codec setting includes
// credentials).
const (
	codecPath = "/codec/"
	// maxCodecBody bounds one encode or decode call: Temporal caps a payload
	// at 2 MiB by default and the UI sends one event's payloads at a time.
	maxCodecBody = 8 << 20
	// codecHeaders are what the UI sends: its namespace and, when configured
	// to pass its access token, Authorization and Authorization-Extras.
	codecHeaders = "Content-Type, Authorization, Authorization-Extras, X-Namespace"
)

// routeCodec serves the codec on POST /codec/{encode,decode} with the
// preflight on OPTIONS. The routes bypass the console's cross-origin
// protection, which would refuse the UI's cross-origin calls: they carry
// their own origin allowlist and need credentials, and decoding changes
// nothing on the server, so there is nothing to forge.
func (s *server) routeCodec(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	h := converter.NewPayloadCodecHTTPHandler(s.Codec)
	for _, op := range []string{"encode", "decode"} {
		path := codecPath + op
		mux.Handle("POST "+path, s.codecCORS(s.codecAuth(h)))
		mux.Handle("OPTIONS "+path, s.codecCORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})))
		cop.AddInsecureBypassPattern("POST " + path)
	}
}

// codecCORS answers allowed origins with the CORS headers a credentialed
// fetch needs, and refuses a browser call from any other origin before it
// reaches authentication. Calls without Origin (CLI, SDK) pass.
func (s *server) codecCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !slices.Contains(s.CodecOrigins, origin) {
				s.writeError(w, r, errForbidden("origin %s may not call the codec endpoint: add it to KAM_CODEC_ORIGINS", origin))
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", codecHeaders)
			h.Set("Access-Control-Max-Age", "600")
		}
		next.ServeHTTP(w, r)
	})
}

// codecAuth lets ops and senior management through; everyone else gets the
// API's JSON 401 or 403. The body is read here, bounded, so an oversized
// call is a 413 rather than the SDK handler's generic 400.
func (s *server) codecAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		switch {
		case err != nil:
		case p == nil:
			err = errUnauthorized
		case p.Role != activities.RoleOps && p.Role != activities.RoleSenior:
			err = errForbidden("decoding payloads shows every account's data: only ops and senior management may, and %s is %s", p.ID, p.Role)
		}
		if err == nil && !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
			// Requiring JSON makes every browser call a preflighted one.
			err = &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json"}
		}
		var body []byte
		if err == nil {
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxCodecBody))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)}
			} else if err != nil {
				err = errBadRequest("the body could not be read: %v", err)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Logger.Debug("codec", "op", strings.TrimPrefix(r.URL.Path, codecPath), "manager_id", p.ID, "role", p.Role,
			"namespace", r.Header.Get("X-Namespace"))
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
