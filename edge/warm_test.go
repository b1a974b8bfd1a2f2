package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/outbox"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// countedTokens is signedTokens that counts its verifications.
type countedTokens struct {
	signedTokens
	mu    sync.Mutex
	calls int
}

func (c *countedTokens) VerifyEndUserToken(ctx context.Context, mode dream.Mode, token string) (*dream.EndUserClaims, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.signedTokens.VerifyEndUserToken(ctx, mode, token)
}

func (c *countedTokens) verified() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// A node stopped and started again comes back with the tokens it had
// verified, unexpired and under the same identity configuration, and with
// the usage views it kept; a file it cannot read costs it only that.
func TestWarmRestart(t *testing.T) {
	db := storetest.Open(t)
	var mu sync.Mutex
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := primary.New(db, clock, nil)
	t.Cleanup(func() { p.Close() })
	proj := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
	pk := proj.Test.PublishableKey
	tokens := &countedTokens{signedTokens: signedTokens{
		"ann": {UserID: "user_ann", PublishableKey: pk, Plan: "free", ExpiresAt: now.Add(time.Hour)},
		"bob": {UserID: "user_bob", PublishableKey: pk, Plan: "free", ExpiresAt: now.Add(30 * time.Second)},
	}}
	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	warmFile := filepath.Join(dir, "outbox.db-warm")
	var logs bytes.Buffer
	open := func(trust string) *Server {
		t.Helper()
		limiter, err := ratelimit.New(100)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(context.Background(), Options{DB: db, Writer: p, Tokens: tokens, Limiter: limiter, Outbox: ob,
			WarmFile: warmFile, TokenTrust: trust, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	call := func(s *Server, method, path, token string) (count int) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		req.Header.Set("X-Publishable-Key", pk)
		req.Header.Set("X-Clerk-Token", token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var body struct {
			UsageCount int `json:"usageCount"`
			Usage      struct {
				UsageCount int `json:"usageCount"`
			} `json:"usage"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			t.Fatalf("%s %s with %s's token answered %d %s, want 200", method, path, token, rec.Code, rec.Body)
		}
		return max(body.UsageCount, body.Usage.UsageCount)
	}
	ann := store.UserRef{EnvironmentID: proj.Test.EnvironmentID, UserID: "user_ann"}

	s := open("issuer-a")
	call(s, http.MethodPost, "/api/data", "ann")
	call(s, http.MethodGet, "/api/usage", "bob")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(warmFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("after Close the warm file is %v (error %v), want a file of mode 0600", info, err)
	}

	// Bob's token expires while the node is down.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	verified := tokens.verified()
	logs.Reset()
	s = open("issuer-a")
	if _, err := os.Stat(warmFile); !os.IsNotExist(err) {
		t.Errorf("after Open the warm file is still there (%v), want it removed", err)
	}
	if !strings.Contains(logs.String(), "tokens=1 usage_views=2") {
		t.Errorf("the restarted node did not log 1 token kept of the 2 saved and 2 views; logs:\n%s", logs.String())
	}
	if users := s.tally.Users(); !slices.Contains(users, ann) || len(users) != 2 {
		t.Errorf("the restarted node keeps the views of %v, want ann's and bob's", users)
	}
	if n := call(s, http.MethodGet, "/api/usage", "ann"); n != 1 || tokens.verified() != verified {
		t.Errorf("after the restart ann's usage check read %d units and verified %d tokens, want 1 unit and no verification",
			n, tokens.verified()-verified)
	}
	call(s, http.MethodGet, "/api/usage", "bob")
	if tokens.verified() != verified+1 {
		t.Errorf("bob's token, which expired while the node was down, was verified %d times after the restart, want once",
			tokens.verified()-verified)
	}
	if n := call(s, http.MethodPost, "/api/data", "ann"); n != 2 {
		t.Errorf("ann's track after the restart counted %d units, want 2", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Another identity configuration verifies every token again.
	verified = tokens.verified()
	s = open("issuer-b")
	if n := call(s, http.MethodGet, "/api/usage", "ann"); n != 2 || tokens.verified() != verified+1 {
		t.Errorf("under another identity configuration ann's usage check read %d units and verified %d tokens, want 2 and 1",
			n, tokens.verified()-verified)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A file that does not decode is logged, removed and forgotten.
	if err := os.WriteFile(warmFile, []byte("not a warm state"), 0o600); err != nil {
		t.Fatal(err)
	}
	verified = tokens.verified()
	s = open("issuer-b")
	defer s.Close()
	if n := call(s, http.MethodGet, "/api/usage", "ann"); n != 2 || tokens.verified() != verified+1 {
		t.Errorf("after an unreadable warm file ann's usage check read %d units and verified %d tokens, want 2 and 1",
			n, tokens.verified()-verified)
	}
	if _, err := os.Stat(warmFile); !os.IsNotExist(err) {
		t.Errorf("the unreadable warm file is still there (%v), want it removed", err)
	}
	if !strings.Contains(logs.String(), "reading the end users kept before the restart") {
		t.Errorf("the unreadable warm file was not logged; logs:\n%s", logs.String())
	}
}
