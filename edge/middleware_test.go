package edge

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestID holds the request id, which every log line carries, to
// what is safe to log: a caller's X-Request-Id is kept only when it is a
// short token of letters, digits and -_., and anything else is replaced by
// an id of our own.
func FuzzRequestID(f *testing.F) {
	for _, seed := range []string{"req_abc", "", "trace-1.2_3", strings.Repeat("a", 64), strings.Repeat("a", 65), "a b", "a\nlevel=ERROR", "é", "\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/health", nil)
		r.Header["X-Request-Id"] = []string{header}
		id := requestID(r)
		if id == header {
			if id == "" || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
				t.Fatalf("the X-Request-Id %q was kept, want only a token of at most 64 letters, digits and -_.", header)
			}
			return
		}
		if !strings.HasPrefix(id, "req_") || len(id) > 64 {
			t.Fatalf("the X-Request-Id %q was replaced by %q, want an id of our own", header, id)
		}
	})
}
