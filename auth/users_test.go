package auth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// fakeClerkUsers is the part of Clerk's Backend API that ClerkUsers calls.
type fakeClerkUsers struct {
	mu       sync.Mutex
	requests []string // "METHOD path secret body"
	status   int
}

func (f *fakeClerkUsers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
	status := f.status
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "resource_not_found", "message": "not found", "long_message": "User not found"}}})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"id": "user_1", "object": "user", "public_metadata": map[string]any{"plan": "pro"}})
}

func TestClerkUsers_UpdatePublicMetadata(t *testing.T) {
	fake := &fakeClerkUsers{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	users := NewClerkUsers(ClerkInstance{SecretKey: "sk_live_l", APIURL: srv.URL + "/v1"},
		ClerkInstance{SecretKey: "sk_test_t", APIURL: srv.URL + "/v1"}, srv.Client())
	ctx := context.Background()

	if err := users.UpdatePublicMetadata(ctx, dream.ModeTest, "user_1", map[string]any{"plan": "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := users.UpdatePublicMetadata(ctx, dream.ModeLive, "user_2", map[string]any{"plan": "free"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`PATCH /v1/users/user_1/metadata Bearer sk_test_t {"public_metadata":{"plan":"pro"}}`,
		`PATCH /v1/users/user_2/metadata Bearer sk_live_l {"public_metadata":{"plan":"free"}}`,
	}
	for i, w := range want {
		if fake.requests[i] != w {
			t.Errorf("request %d:\n got %s\nwant %s", i, fake.requests[i], w)
		}
	}

	for status, kind := range map[int]dream.Kind{404: dream.KindNotFound, 503: dream.KindUnavailable, 429: dream.KindUnavailable, 422: dream.KindInternal} {
		fake.status = status
		err := users.UpdatePublicMetadata(ctx, dream.ModeLive, "user_1", map[string]any{"plan": "pro"})
		if dream.ErrorKind(err) != kind {
			t.Errorf("status %d: got %v, want kind %d", status, err, kind)
		}
	}
	srv.Close()
	if err := users.UpdatePublicMetadata(ctx, dream.ModeLive, "user_1", nil); dream.ErrorKind(err) != dream.KindUnavailable {
		t.Errorf("Clerk down: %v", err)
	}
}

func TestDevIssuer_UpdatePublicMetadata(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDevIssuer(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pk := dream.NewPublishableKey(dream.ModeTest)
	_, id, err := d.IssueToken(pk, "ada@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdatePublicMetadata(ctx, dream.ModeTest, id, map[string]any{"plan": "pro", "other": 1}); err != nil {
		t.Fatal(err)
	}
	token, _, _ := d.IssueToken(pk, "ada@example.com", "")
	claims, err := d.VerifyEndUserToken(ctx, dream.ModeTest, token)
	if err != nil || claims.Plan != "pro" {
		t.Fatalf("the next token does not carry the plan: %+v, %v", claims, err)
	}
	reopened, err := OpenDevIssuer(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	token, _, _ = reopened.IssueToken(pk, "ada@example.com", "")
	if claims, _ := reopened.VerifyEndUserToken(ctx, dream.ModeTest, token); claims.Plan != "pro" {
		t.Fatalf("the plan did not persist: %+v", claims)
	}
	if err := d.UpdatePublicMetadata(ctx, dream.ModeTest, "user_nobody", map[string]any{"plan": "pro"}); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("unknown user: %v", err)
	}
	if err := d.UpdatePublicMetadata(ctx, dream.ModeTest, id, map[string]any{"name": "x"}); err != nil {
		t.Fatalf("metadata without a plan: %v", err)
	}
}
