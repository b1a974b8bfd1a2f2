package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/metrics"
)

// requestInfo follows a request through the pipeline for its log line;
// the request's id is in its context (dream.RequestIDFromContext).
type requestInfo struct {
	// route is the matched route pattern, "" when none matched, and
	// measured its request histograms.
	route    string
	measured *metrics.Route
	// project is the id of the project the request was scoped to, if any.
	project string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// Headers every API response carries (spec api.md §3), besides the CORS
// headers that depend on the request.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' https://*.clerk.accounts.dev https://js.stripe.com; " +
		"style-src 'self' 'unsafe-inline' https://*.clerk.accounts.dev; img-src 'self' data: https://*.clerk.com https://*.clerk.accounts.dev; " +
		"connect-src 'self' https://*.clerk.accounts.dev https://api.clerk.com https://api.stripe.com; font-src 'self' https://*.clerk.accounts.dev; " +
		"frame-src 'self' https://*.clerk.accounts.dev https://checkout.stripe.com https://js.stripe.com; object-src 'none'; base-uri 'self'",
	"X-Frame-Options":           "SAMEORIGIN",
	"X-Content-Type-Options":    "nosniff",
	"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
	"Referrer-Policy":           "strict-origin-when-cross-origin",
	"Permissions-Policy":        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

// fixedHeaders are the security headers and the request-independent CORS
// headers as header values, set on every response by assignment: building
// them per request was a tenth of a cached read's time. Each value slice
// has no spare capacity, so an Add on a response copies instead of writing
// into the shared array.
var fixedHeaders = func() http.Header {
	h := http.Header{}
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Vary", "Origin")
	for k, v := range h {
		h[k] = v[:len(v):len(v)]
	}
	return h
}()

// anyOrigin is Access-Control-Allow-Origin for a request without a valid
// Origin, shared like fixedHeaders.
var anyOrigin = []string{"*"}

// jsonContentType is the Content-Type value of every JSON answer.
var jsonContentType = []string{"application/json"}

// CORS: any origin may call the API, since keys and tokens in headers, not
// origins or cookies, authorise it. A valid origin is echoed (hence Vary:
// Origin) and anything else answered with *. No answer allows credentials:
// the API reads none a browser would send on its own.
const (
	corsAllowMethods = "GET, POST, PATCH, DELETE, OPTIONS"
	corsAllowHeaders = "Content-Type, Authorization, X-Platform-User-Id, X-User-Id, X-User-Plan, X-Env, " +
		"X-Publishable-Key, X-Clerk-Token, X-User-Token, X-End-User-Token, X-Request-Id, Idempotency-Key"
	corsExposeHeaders = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id"
)

// ServeHTTP runs the pipeline every request goes through: request id,
// headers, preflight, panic recovery, the request log and the request
// histograms, around the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	id := requestID(r)
	info := &requestInfo{}
	rw := &statusWriter{ResponseWriter: w}
	h := w.Header()
	for k, v := range fixedHeaders {
		h[k] = v
	}
	h["X-Request-Id"] = []string{id}
	if origin := r.Header.Get("Origin"); dream.ValidOrigin(origin) {
		h["Access-Control-Allow-Origin"] = []string{origin}
	} else {
		h["Access-Control-Allow-Origin"] = anyOrigin
	}

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger.Error("panic serving request", "request_id", id, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
			if !rw.wroteHeader {
				writeErrorBody(rw, dream.ErrInternal)
			}
		}
		duration := s.now().Sub(start)
		// Typed attributes: the request line is written for every request,
		// and boxing its values cost more than writing it.
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
			slog.String("route", info.route), slog.Int("status", rw.status), slog.Duration("duration", duration),
			slog.String("request_id", id), slog.String("project", info.project))
		measured := info.measured
		if measured == nil {
			measured = s.metrics.Unmatched(r.Method)
		}
		measured.Observe(rw.status, duration)
	}()

	if r.Method == http.MethodOptions {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	s.router.ServeHTTP(rw, r.WithContext(context.WithValue(dream.NewContextWithRequestID(r.Context(), id), infoKey{}, info)))
}

// requestID keeps a caller's X-Request-Id when it is a short token safe to
// log, so a request can be followed through a proxy; otherwise it makes one.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) >= 0 {
		return dream.NewID("req_")
	}
	return id
}

// statusWriter remembers the status written, for the log and for panic
// recovery, which can only answer if nothing was written yet.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeError is the one error writer. A *dream.Error is answered with its
// kind's status and its code, message and fields; anything else is logged
// with the request id and answered as an internal error without details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := dream.Shown(err)
	if internal {
		s.logger.Error("internal error", "request_id", dream.RequestIDFromContext(r.Context()), "error", err)
	}
	writeErrorBody(w, e)
}

func writeErrorBody(w http.ResponseWriter, e *dream.Error) {
	// An error that says when to try again says it in the header too.
	switch after := e.Fields["retryAfter"].(type) {
	case int:
		w.Header().Set("Retry-After", strconv.Itoa(after))
	case float64:
		w.Header().Set("Retry-After", strconv.Itoa(int(after)))
	}
	body := make(map[string]any, len(e.Fields)+2)
	for k, v := range e.Fields {
		body[k] = v
	}
	body["error"] = e.Code
	body["message"] = e.Message
	writeJSON(w, e.Kind.HTTPStatus(), body)
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our own response types always encode; reaching this is a bug,
		// and the answer must still be JSON.
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"Internal error"}`)
	}
	writeBody(w, status, b)
}

// writeBody answers with a JSON body encoded already.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(b)
}
