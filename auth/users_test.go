package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// fakeClerkUsers is the part of Clerk's Backend API that ClerkUsers calls. It
// records requests and answers from a table of users, or with the error
// set for the next request.
type fakeClerkUsers struct {
	mu       sync.Mutex
	requests []string // "METHOD path secret body"
	users    map[string]map[string]any
	fail     int    // status of the next answer, 0 for none
	failCode string // Clerk error code of that answer
}

func newFakeClerkUsers() *fakeClerkUsers { return &fakeClerkUsers{users: map[string]map[string]any{}} }

func (f *fakeClerkUsers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
	w.Header().Set("Content-Type", "application/json")
	clerkError := func(status int, code, message string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message, "long_message": message + "."}},
			"clerk_trace_id": "trace"})
	}
	if f.fail != 0 {
		status, code := f.fail, f.failCode
		f.fail, f.failCode = 0, ""
		clerkError(status, code, "refused")
		return
	}
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/metadata"), "/v1/users/")
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/users":
		var in map[string]any
		json.Unmarshal(body, &in)
		id = fmt.Sprintf("user_%024d", len(f.users)+1)
		emails := in["email_address"].([]any)
		f.users[id] = map[string]any{
			"id": id, "object": "user", "first_name": in["first_name"], "last_name": in["last_name"],
			"primary_email_address_id": "idn_2", "created_at": 1700000000000,
			"email_addresses": []map[string]any{{"id": "idn_1", "email_address": "old@example.com"}, {"id": "idn_2", "email_address": emails[0]}},
			"public_metadata": in["public_metadata"],
		}
		json.NewEncoder(w).Encode(f.users[id])
	case f.users[id] == nil:
		clerkError(http.StatusNotFound, "resource_not_found", "not found")
	case r.Method == "GET":
		json.NewEncoder(w).Encode(f.users[id])
	case r.Method == "PATCH":
		var in map[string]map[string]any
		json.Unmarshal(body, &in)
		metadata, _ := f.users[id]["public_metadata"].(map[string]any)
		for k, v := range in["public_metadata"] {
			metadata[k] = v
		}
		json.NewEncoder(w).Encode(f.users[id])
	case r.Method == "DELETE":
		delete(f.users, id)
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "user", "deleted": true})
	}
}

func TestClerkUsers(t *testing.T) {
	fake := newFakeClerkUsers()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	users := NewClerkUsers(ClerkInstance{SecretKey: "sk_live_l", APIURL: srv.URL + "/v1"},
		ClerkInstance{SecretKey: "sk_test_t", APIURL: srv.URL + "/v1"}, srv.Client())
	ctx := context.Background()
	last := func() string {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.requests[len(fake.requests)-1]
	}

	created, err := users.CreateUser(ctx, dream.ModeTest, dream.NewIdentityUser{Email: "ada@example.com", FirstName: "Ada",
		PublicMetadata: map[string]any{"publishableKey": "pk_test_1", "plan": "free"}})
	if err != nil {
		t.Fatalf("creating an end user in test mode: %v, want the user", err)
	}
	if want := `POST /v1/users Bearer sk_test_t {"email_address":["ada@example.com"],"first_name":"Ada","public_metadata":{"plan":"free","publishableKey":"pk_test_1"},"skip_password_requirement":true}`; last() != want {
		t.Fatalf("creating an end user sent Clerk\n%s\nwant\n%s", last(), want)
	}
	if created.Email != "ada@example.com" || created.FirstName != "Ada" || created.LastName != "" ||
		created.MetadataString("publishableKey") != "pk_test_1" || created.CreatedAt.UnixMilli() != 1700000000000 {
		t.Fatalf("the created end user is %+v, want ada@example.com, Ada, pk_test_1, created at 1700000000000 ms",
			created)
	}
	if _, err := users.CreateUser(ctx, dream.ModeLive, dream.NewIdentityUser{Email: "b@example.com", Password: "pw"}); err != nil {
		t.Fatalf("creating a live end user with a password: %v, want the user", err)
	}
	if sent := last(); !strings.Contains(sent, "Bearer sk_live_l") || !strings.Contains(sent, `"password":"pw"`) || strings.Contains(sent, "skip_password") {
		t.Fatalf("creating a user with a password sent %s, want the live key and password, no skip_password", sent)
	}

	got, err := users.User(ctx, dream.ModeTest, created.ID)
	if err != nil || got.Email != "ada@example.com" || last() != "GET /v1/users/"+created.ID+" Bearer sk_test_t " {
		t.Fatalf("getting the end user gave %+v, %v by %q, want ada@example.com by GET with the test key",
			got, err, last())
	}
	if err := users.UpdatePublicMetadata(ctx, dream.ModeTest, created.ID, map[string]any{"plan": "pro"}); err != nil {
		t.Fatalf("updating the end user's public metadata: %v, want no error", err)
	}
	if want := "PATCH /v1/users/" + created.ID + `/metadata Bearer sk_test_t {"public_metadata":{"plan":"pro"}}`; last() != want {
		t.Fatalf("updating the public metadata sent Clerk %s, want %s", last(), want)
	}
	if got, _ := users.User(ctx, dream.ModeTest, created.ID); got.MetadataString("plan") != "pro" || got.MetadataString("publishableKey") != "pk_test_1" {
		t.Fatalf("after the update the public metadata is %+v, want plan pro and publishableKey pk_test_1",
			got.PublicMetadata)
	}
	if err := users.DeleteUser(ctx, dream.ModeTest, created.ID); err != nil || !strings.HasPrefix(last(), "DELETE /v1/users/"+created.ID+" Bearer sk_test_t") {
		t.Fatalf("deleting the end user: %v by %q, want a DELETE with the test key", err, last())
	}
	if _, err := users.User(ctx, dream.ModeTest, created.ID); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("getting a deleted end user: %v, want KindNotFound", err)
	}
	if err := users.DeleteUser(ctx, dream.ModeTest, created.ID); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("deleting an end user twice: %v, want KindNotFound", err)
	}

	t.Run("Errors", func(t *testing.T) {
		for _, tt := range []struct {
			status int
			code   string
			kind   dream.Kind
			wire   string
		}{
			{422, "form_identifier_exists", dream.KindConflict, "Customer already exists"},
			{422, "form_password_pwned", dream.KindInvalid, "Failed to create customer"},
			{400, "form_param_format_invalid", dream.KindInvalid, "Failed to create customer"},
			{429, "too_many_requests", dream.KindUnavailable, "identity_unavailable"},
			{502, "", dream.KindUnavailable, "identity_unavailable"},
			{401, "authentication_invalid", dream.KindInternal, ""},
		} {
			fake.fail, fake.failCode = tt.status, tt.code
			_, err := users.CreateUser(ctx, dream.ModeLive, dream.NewIdentityUser{Email: "c@example.com"})
			var e *dream.Error
			if dream.ErrorKind(err) != tt.kind || (tt.wire != "" && (!errors.As(err, &e) || e.Code != tt.wire)) {
				t.Errorf("creating a user while Clerk answers %d %s: %v (kind %d), want kind %d and code %q",
					tt.status, tt.code, err, dream.ErrorKind(err), tt.kind, tt.wire)
			}
		}
		srv.Close()
		if _, err := users.User(ctx, dream.ModeLive, "user_1"); dream.ErrorKind(err) != dream.KindUnavailable {
			t.Errorf("getting an end user with Clerk down: %v, want KindUnavailable", err)
		}
	})
}

func TestDevIssuer_Identity(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDevIssuer(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pk := dream.NewPublishableKey(dream.ModeTest)

	created, err := d.CreateUser(ctx, dream.ModeTest, dream.NewIdentityUser{Email: "Ada@example.com", FirstName: "Ada",
		PublicMetadata: map[string]any{"publishableKey": pk, "plan": "pro"}})
	if err != nil {
		t.Fatalf("creating a dev end user: %v, want the user", err)
	}
	if created.MetadataString("plan") != "pro" || created.FirstName != "Ada" {
		t.Fatalf("the created dev end user is %+v, want first name Ada and plan pro", created)
	}
	// A dev token for the email is the created user's.
	token, id, _ := d.IssueToken(pk, "ada@EXAMPLE.com", "")
	claims, _ := d.VerifyEndUserToken(ctx, dream.ModeTest, token)
	if id != created.ID || claims.Plan != "pro" {
		t.Fatalf("the dev token names end user %s with plan %s, want the created user %s with plan pro",
			id, claims.Plan, created.ID)
	}
	if _, err := d.CreateUser(ctx, dream.ModeTest, dream.NewIdentityUser{Email: "ada@example.com",
		PublicMetadata: map[string]any{"publishableKey": pk}}); dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("creating an end user with a taken email: %v, want KindConflict", err)
	}
	if _, err := d.CreateUser(ctx, dream.ModeTest, dream.NewIdentityUser{Email: "x@example.com"}); dream.ErrorKind(err) != dream.KindInvalid {
		t.Fatalf("creating an end user without a publishable key: %v, want KindInvalid", err)
	}

	if err := d.UpdatePublicMetadata(ctx, dream.ModeTest, id, map[string]any{"plan": "enterprise", "other": 1}); err != nil {
		t.Fatalf("updating a dev end user's public metadata: %v, want no error", err)
	}
	reopened, err := OpenDevIssuer(dir, time.Now)
	if err != nil {
		t.Fatalf("reopening the dev issuer: %v, want it open", err)
	}
	if u, err := reopened.User(ctx, dream.ModeTest, id); err != nil || u.MetadataString("plan") != "enterprise" || u.Email != "Ada@example.com" {
		t.Fatalf("after reopening, the end user is %+v, %v, want plan enterprise and email Ada@example.com",
			u, err)
	}
	if err := reopened.DeleteUser(ctx, dream.ModeTest, id); err != nil {
		t.Fatalf("deleting a dev end user: %v, want no error", err)
	}
	for _, err := range []error{
		reopened.DeleteUser(ctx, dream.ModeTest, id),
		reopened.UpdatePublicMetadata(ctx, dream.ModeTest, id, map[string]any{"plan": "pro"}),
		func() error { _, err := reopened.User(ctx, dream.ModeTest, id); return err }(),
	} {
		if dream.ErrorKind(err) != dream.KindNotFound {
			t.Fatalf("using a deleted dev end user: %v, want KindNotFound", err)
		}
	}
	// The email is free again: a new sign-in is a new user.
	if _, again, _ := reopened.IssueToken(pk, "ada@example.com", ""); again == id {
		t.Fatalf("a new sign-in got the deleted end user's id %s, want a new user", id)
	}
}
