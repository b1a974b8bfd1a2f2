package edge_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAnswersOfOddRequests sends requests as raw bytes. Every one that
// reaches the server's handler, however odd, is answered with the JSON
// error shape. The ones net/http answers itself before any handler runs
// are answered as the README documents: text/plain, with the status given
// there, which this test holds the documentation to.
func TestAnswersOfOddRequests(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addr := strings.TrimPrefix(h.baseURL, "http://")
	send := func(raw string) (*http.Response, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, raw)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer to %.60q: %v", raw, err)
		}
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	t.Run("ReachingTheServer", func(t *testing.T) {
		for _, raw := range []string{
			"GET /api/tiers?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
			"TRACE /api/tiers HTTP/1.1\r\nHost: x\r\n\r\n",
			"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET //api//tiers/ HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /api/assets/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST /api/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_x\r\nContent-Length: 3\r\n\r\n{\x00}",
		} {
			res, body := send(raw)
			var answer map[string]any
			if res.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &answer) != nil ||
				answer["error"] == nil || answer["message"] == nil {
				t.Errorf("%.60q was answered %d %s %.100q, want the JSON error shape", raw, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
		}
	})
	t.Run("AnsweredByNetHTTP", func(t *testing.T) {
		for _, tt := range []struct {
			what, raw string
			status    int
		}{
			{"a malformed request line", "GARBAGE\r\n\r\n", 400},
			{"a NUL in a header", "GET /api/tiers HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
			{"an invalid escape in the path", "GET /api/assets/% HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"a malformed Content-Length", "GET /api/tiers HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
			{"no Host", "GET /api/tiers HTTP/1.1\r\n\r\n", 400},
			{"headers over 1 MB", "GET /api/tiers HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", 431},
			{"an unknown transfer encoding", "POST /api/customers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
			{"an unknown protocol version", "GET /api/tiers HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		} {
			res, body := send(tt.raw)
			if res.StatusCode != tt.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("%s was answered %d %s %.60q, want net/http's %d in text/plain as the README says",
					tt.what, res.StatusCode, res.Header.Get("Content-Type"), body, tt.status)
			}
		}
	})
}
