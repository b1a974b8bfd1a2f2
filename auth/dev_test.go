package auth

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-jose/go-jose/v3"

	"github.com/dream-api/dream"
)

// openTestDevIssuer opens the dev issuer of dir on clock.
func openTestDevIssuer(tb testing.TB, dir string, clock *testClock) *DevIssuer {
	tb.Helper()
	d, err := OpenDevIssuer(dir, clock.Now)
	if err != nil {
		tb.Fatalf("OpenDevIssuer: %v", err)
	}
	return d
}

// mustIssue issues a token and fails the test on error.
func mustIssue(t *testing.T, d *DevIssuer, publishableKey, email, plan string) (token, userID string) {
	t.Helper()
	token, userID, err := d.IssueToken(publishableKey, email, plan)
	if err != nil {
		t.Fatalf("IssueToken(%q, %q, %q): %v", publishableKey, email, plan, err)
	}
	return token, userID
}

// mustVerifyDev verifies a dev token and fails the test on error.
func mustVerifyDev(t *testing.T, d *DevIssuer, token string) *dream.EndUserClaims {
	t.Helper()
	claims, err := d.VerifyEndUserToken(context.Background(), dream.ModeTest, token)
	if err != nil {
		t.Fatalf("VerifyEndUserToken: %v", err)
	}
	return claims
}

// decodeSegment returns the JSON object of segment i of token.
func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var object map[string]any
	if err := json.Unmarshal(data, &object); err != nil {
		t.Fatal(err)
	}
	return object
}

func TestDevIssuer_IssueToken(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		clock := newTestClock()
		d := openTestDevIssuer(t, t.TempDir(), clock)
		token, userID := mustIssue(t, d, "pk_test_1", "ann@example.com", "")

		if len(userID) != len("user_")+24 || !strings.HasPrefix(userID, "user_") {
			t.Fatalf("user id = %q, want user_ and 24 hex digits", userID)
		}
		for _, mode := range []dream.Mode{dream.ModeTest, dream.ModeLive} {
			claims, err := d.VerifyEndUserToken(context.Background(), mode, token)
			if err != nil {
				t.Fatalf("verify in %s mode: %v", mode, err)
			}
			want := dream.EndUserClaims{
				UserID:         userID,
				Email:          "ann@example.com",
				Plan:           "free",
				PublishableKey: "pk_test_1",
				ExpiresAt:      t0.Add(24 * time.Hour),
			}
			if *claims != want {
				t.Fatalf("claims = %+v, want %+v", *claims, want)
			}
		}
	})

	t.Run("TokenLayout", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		token, userID := mustIssue(t, d, "pk_test_1", "ann@example.com", "pro")

		header := decodeSegment(t, token, 0)
		if header["alg"] != "RS256" || header["kid"] != d.key.KeyID || header["typ"] != "JWT" {
			t.Fatalf("header = %v", header)
		}
		thumbprint, err := (&jose.JSONWebKey{Key: d.key.Key}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(thumbprint); d.key.KeyID != want {
			t.Fatalf("kid = %q, want the RFC 7638 thumbprint %q", d.key.KeyID, want)
		}
		want := map[string]any{
			"iss":            "dream-dev",
			"sub":            userID,
			"email":          "ann@example.com",
			"plan":           "pro",
			"publishableKey": "pk_test_1",
			"iat":            float64(t0.Unix()),
			"nbf":            float64(t0.Unix()),
			"exp":            float64(t0.Add(24 * time.Hour).Unix()),
		}
		payload := decodeSegment(t, token, 1)
		if len(payload) != len(want) {
			t.Fatalf("payload = %v, want %v", payload, want)
		}
		for name, value := range want {
			if payload[name] != value {
				t.Fatalf("payload[%q] = %v, want %v", name, payload[name], value)
			}
		}
	})

	t.Run("SameEmailSameUser", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		_, ann := mustIssue(t, d, "pk_test_1", "ann@example.com", "")
		for _, email := range []string{"ann@example.com", "Ann@Example.COM", "ANN@EXAMPLE.COM"} {
			if _, id := mustIssue(t, d, "pk_test_1", email, ""); id != ann {
				t.Fatalf("%s got user %s, want %s", email, id, ann)
			}
		}
		if _, id := mustIssue(t, d, "pk_test_2", "ann@example.com", ""); id == ann {
			t.Fatalf("another project got the same user %s", id)
		}
		if _, id := mustIssue(t, d, "pk_test_1", "bob@example.com", ""); id == ann {
			t.Fatalf("another email got the same user %s", id)
		}
	})

	t.Run("PlanIsStored", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		for _, step := range []struct {
			plan, want string
		}{
			{"", "free"},
			{"pro", "pro"},
			{"", "pro"},
			{"team", "team"},
			{"", "team"},
		} {
			token, _ := mustIssue(t, d, "pk_test_1", "ann@example.com", step.plan)
			if got := mustVerifyDev(t, d, token).Plan; got != step.want {
				t.Fatalf("after plan %q: token plan = %q, want %q", step.plan, got, step.want)
			}
		}
	})

	t.Run("MissingField", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		for _, tt := range []struct {
			publishableKey, email, field string
		}{
			{"", "ann@example.com", "publishableKey"},
			{"pk_test_1", "", "email"},
			{"", "", "publishableKey"},
		} {
			_, _, err := d.IssueToken(tt.publishableKey, tt.email, "")
			var e *dream.Error
			if !errors.As(err, &e) || e.Kind != dream.KindInvalid || e.Code != "Missing required field" || !strings.Contains(e.Message, tt.field) {
				t.Fatalf("IssueToken(%q, %q) = %v, want Missing required field naming %s", tt.publishableKey, tt.email, err, tt.field)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		dir := t.TempDir()
		d := openTestDevIssuer(t, dir, newTestClock())
		emails := []string{"ann@example.com", "ANN@example.com", "bob@example.com", "Bob@Example.com"}
		ids := make([]string, 32)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				_, id, err := d.IssueToken("pk_test_1", emails[i%len(emails)], "")
				if err != nil {
					t.Errorf("IssueToken: %v", err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		ann, bob := ids[0], ids[2]
		if ann == bob {
			t.Fatalf("ann and bob share user %s", ann)
		}
		for i, id := range ids {
			want := ann
			if i%len(emails) >= 2 {
				want = bob
			}
			if id != want {
				t.Fatalf("call %d (%s) got user %s, want %s", i, emails[i%len(emails)], id, want)
			}
		}
		if users := readUsersFile(t, dir); len(users) != 2 {
			t.Fatalf("users file holds %d users, want 2: %+v", len(users), users)
		}
	})
}

// readUsersFile returns the users in the users file of dir.
func readUsersFile(t *testing.T, dir string) []devUser {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, devUsersFile))
	if err != nil {
		t.Fatal(err)
	}
	var document devUsersDocument
	if err := json.Unmarshal(data, &document); err != nil {
		t.Fatalf("users file: %v\n%s", err, data)
	}
	return document.Users
}

func TestOpenDevIssuer(t *testing.T) {
	t.Run("CreatesFiles", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		openTestDevIssuer(t, dir, newTestClock())
		for _, name := range []string{devKeyFile, devUsersFile} {
			info, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if mode := info.Mode().Perm(); mode != 0o600 {
				t.Fatalf("%s has mode %v, want 0600", name, mode)
			}
		}
		if users := readUsersFile(t, dir); len(users) != 0 {
			t.Fatalf("new users file holds %+v", users)
		}
		key, err := openDevKey(filepath.Join(dir, devKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if bits := key.N.BitLen(); bits != 2048 {
			t.Fatalf("key has %d bits, want 2048", bits)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("dir holds %d files, want 2 (no temporary files left)", len(entries))
		}
	})

	t.Run("SurvivesRestart", func(t *testing.T) {
		dir := t.TempDir()
		clock := newTestClock()
		first := openTestDevIssuer(t, dir, clock)
		token, ann := mustIssue(t, first, "pk_test_1", "ann@example.com", "pro")

		clock.Advance(time.Hour)
		second := openTestDevIssuer(t, dir, clock)
		if claims := mustVerifyDev(t, second, token); claims.UserID != ann {
			t.Fatalf("old token verified as %s, want %s", claims.UserID, ann)
		}
		token, id := mustIssue(t, second, "pk_test_1", "ANN@example.com", "")
		if id != ann {
			t.Fatalf("after restart ann is %s, want %s", id, ann)
		}
		if plan := mustVerifyDev(t, second, token).Plan; plan != "pro" {
			t.Fatalf("after restart plan = %q, want pro", plan)
		}
		if users := readUsersFile(t, dir); len(users) != 1 || !users[0].CreatedAt.Equal(t0) {
			t.Fatalf("users file = %+v, want ann created at %v", users, t0)
		}
	})

	t.Run("NewKeyRefusesOldTokens", func(t *testing.T) {
		dir := t.TempDir()
		first := openTestDevIssuer(t, dir, newTestClock())
		token, _ := mustIssue(t, first, "pk_test_1", "ann@example.com", "")
		if err := os.Remove(filepath.Join(dir, devKeyFile)); err != nil {
			t.Fatal(err)
		}
		second := openTestDevIssuer(t, dir, newTestClock())
		if _, err := second.VerifyEndUserToken(context.Background(), dream.ModeTest, token); err != dream.ErrInvalidEndUserToken {
			t.Fatalf("verify = %v, want ErrInvalidEndUserToken", err)
		}
	})

	t.Run("RefusesBadFiles", func(t *testing.T) {
		for _, tt := range []struct {
			name, file, content string
		}{
			{"KeyNotPEM", devKeyFile, "not a key"},
			{"KeyNotPKCS8", devKeyFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			{"UsersNotJSON", devUsersFile, "{"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := OpenDevIssuer(dir, nil); err == nil {
					t.Fatal("OpenDevIssuer succeeded")
				}
			})
		}
	})
}

func TestDevIssuer_JWKS(t *testing.T) {
	clock := newTestClock()
	d := openTestDevIssuer(t, t.TempDir(), clock)
	document := d.JWKS()

	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(document, &raw); err != nil {
		t.Fatalf("JWKS: %v\n%s", err, document)
	}
	if len(raw.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(raw.Keys))
	}
	key := raw.Keys[0]
	for name, want := range map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": d.key.KeyID, "e": "AQAB"} {
		if key[name] != want {
			t.Fatalf("key[%q] = %v, want %v", name, key[name], want)
		}
	}
	if _, ok := key["d"]; ok {
		t.Fatal("JWKS leaks the private key")
	}

	// A verifier that knows only the published document accepts the
	// issuer's tokens, as any consumer of /.well-known/jwks.json would.
	var set clerk.JSONWebKeySet
	if err := json.Unmarshal(document, &set); err != nil {
		t.Fatal(err)
	}
	token, userID := mustIssue(t, d, "pk_test_1", "ann@example.com", "")
	verifier := newTokenVerifier(new(DevIssuerName), clock.Now, nil)
	claims, err := verifier.verify(context.Background(), token, func(_ context.Context, kid string) (*clerk.JSONWebKey, error) {
		if kid != set.Keys[0].KeyID {
			return nil, errUnknownKeyID
		}
		return set.Keys[0], nil
	})
	if err != nil {
		t.Fatalf("verify with the JWKS key: %v", err)
	}
	if claims.UserID != userID {
		t.Fatalf("UserID = %q, want %q", claims.UserID, userID)
	}

	// JWKS returns a copy: changing it changes nothing for others.
	document[0] = 'x'
	if d.JWKS()[0] != '{' {
		t.Fatal("JWKS returned the issuer's own buffer")
	}
}

func BenchmarkDevIssuer_Verify(b *testing.B) {
	d := openTestDevIssuer(b, b.TempDir(), newTestClock())
	token, _, err := d.IssueToken("pk_test_1", "ann@example.com", "pro")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.VerifyEndUserToken(ctx, dream.ModeTest, token); err != nil {
			b.Fatal(err)
		}
	}
}
