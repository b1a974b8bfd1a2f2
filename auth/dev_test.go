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
		tb.Fatalf("opening the dev issuer: %v, want it open", err)
	}
	return d
}

// mustIssue issues a token and fails the test on error.
func mustIssue(t *testing.T, d *DevIssuer, publishableKey, email, plan string) (token, userID string) {
	t.Helper()
	token, userID, err := d.IssueToken(publishableKey, email, plan)
	if err != nil {
		t.Fatalf("issuing a dev token for %q, %q, plan %q: %v, want a token", publishableKey, email, plan, err)
	}
	return token, userID
}

// mustVerifyDev verifies a dev token and fails the test on error.
func mustVerifyDev(t *testing.T, d *DevIssuer, token string) *dream.EndUserClaims {
	t.Helper()
	claims, err := d.VerifyEndUserToken(context.Background(), dream.ModeTest, token)
	if err != nil {
		t.Fatalf("verifying a dev token: %v, want it accepted", err)
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
			t.Fatalf("the new end user id is %q, want user_ and 24 hex digits", userID)
		}
		for _, mode := range []dream.Mode{dream.ModeTest, dream.ModeLive} {
			claims, err := d.VerifyEndUserToken(context.Background(), mode, token)
			if err != nil {
				t.Fatalf("verifying a dev token in %s mode: %v, want it accepted", mode, err)
			}
			want := dream.EndUserClaims{
				UserID:         userID,
				Email:          "ann@example.com",
				Plan:           "free",
				PublishableKey: "pk_test_1",
				ExpiresAt:      t0.Add(24 * time.Hour),
			}
			if *claims != want {
				t.Fatalf("the dev token gave end-user claims %+v, want %+v", *claims, want)
			}
		}
	})

	t.Run("TokenLayout", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		token, userID := mustIssue(t, d, "pk_test_1", "ann@example.com", "pro")

		header := decodeSegment(t, token, 0)
		if header["alg"] != "RS256" || header["kid"] != d.key.KeyID || header["typ"] != "JWT" {
			t.Fatalf("the dev token header is %v, want alg RS256, kid %s and typ JWT", header, d.key.KeyID)
		}
		thumbprint, err := (&jose.JSONWebKey{Key: d.key.Key}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(thumbprint); d.key.KeyID != want {
			t.Fatalf("the dev key id is %q, want the RFC 7638 thumbprint %q", d.key.KeyID, want)
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
			t.Fatalf("the dev token payload is %v, want exactly %v", payload, want)
		}
		for name, value := range want {
			if payload[name] != value {
				t.Fatalf("the dev token claim %q is %v, want %v", name, payload[name], value)
			}
		}
	})

	t.Run("SameEmailSameUser", func(t *testing.T) {
		d := openTestDevIssuer(t, t.TempDir(), newTestClock())
		_, ann := mustIssue(t, d, "pk_test_1", "ann@example.com", "")
		for _, email := range []string{"ann@example.com", "Ann@Example.COM", "ANN@EXAMPLE.COM"} {
			if _, id := mustIssue(t, d, "pk_test_1", email, ""); id != ann {
				t.Fatalf("a token for %s names end user %s, want the same user %s", email, id, ann)
			}
		}
		if _, id := mustIssue(t, d, "pk_test_2", "ann@example.com", ""); id == ann {
			t.Fatalf("a token of another project names the same end user %s, want a new user", id)
		}
		if _, id := mustIssue(t, d, "pk_test_1", "bob@example.com", ""); id == ann {
			t.Fatalf("a token for another email names the same end user %s, want a new user", id)
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
				t.Fatalf("after asking for plan %q the token has plan %q, want %q", step.plan, got, step.want)
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
				t.Fatalf("issuing a token for %q, %q: %v, want Missing required field naming %s",
					tt.publishableKey, tt.email, err, tt.field)
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
					t.Errorf("issuing dev tokens at once: %v, want a token", err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		ann, bob := ids[0], ids[2]
		if ann == bob {
			t.Fatalf("ann and bob got the same end user %s, want two users", ann)
		}
		for i, id := range ids {
			want := ann
			if i%len(emails) >= 2 {
				want = bob
			}
			if id != want {
				t.Fatalf("concurrent token %d for %s names end user %s, want %s", i, emails[i%len(emails)], id, want)
			}
		}
		if users := readUsersFile(t, dir); len(users) != 2 {
			t.Fatalf("users file holds %d users, want 2: %+v", len(users), users)
		}
	})
}

// readUsersFile returns the users the users file of dir holds after its
// changes.
func readUsersFile(t *testing.T, dir string) []devUser {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, devUsersFile))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	users := map[string]devUser{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var user devUser
		if err := json.Unmarshal([]byte(line), &user); err != nil {
			t.Fatalf("reading the users file: %v, want a JSON user a line\n%s", err, data)
		}
		if _, seen := users[user.ID]; !seen {
			ids = append(ids, user.ID)
		}
		users[user.ID] = user
	}
	var list []devUser
	for _, id := range ids {
		if !users[id].Deleted {
			list = append(list, users[id])
		}
	}
	return list
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
			t.Fatalf("the new users file holds %+v, want no users", users)
		}
		key, err := openDevKey(filepath.Join(dir, devKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if bits := key.N.BitLen(); bits != 2048 {
			t.Fatalf("the dev key has %d bits, want 2048", bits)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("the state dir holds %d files, want 2 (no temporary files left)", len(entries))
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
			t.Fatalf("after a restart the old token names end user %s, want %s", claims.UserID, ann)
		}
		token, id := mustIssue(t, second, "pk_test_1", "ANN@example.com", "")
		if id != ann {
			t.Fatalf("after a restart ann is end user %s, want %s", id, ann)
		}
		if plan := mustVerifyDev(t, second, token).Plan; plan != "pro" {
			t.Fatalf("after a restart ann's token has plan %q, want pro", plan)
		}
		if users := readUsersFile(t, dir); len(users) != 1 || !users[0].CreatedAt.Equal(t0) {
			t.Fatalf("after a restart the users file holds %+v, want only ann created at %v", users, t0)
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
			t.Fatalf("verifying a token of the replaced key: %v, want ErrInvalidEndUserToken", err)
		}
	})

	t.Run("RefusesBadFiles", func(t *testing.T) {
		for _, tt := range []struct {
			name, file, content string
		}{
			{"KeyNotPEM", devKeyFile, "not a key"},
			{"KeyNotPKCS8", devKeyFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			{"UsersNotJSON", devUsersFile, "{\n"},
			{"DocumentNotJSON", devUsersDocument, "{"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := OpenDevIssuer(dir, nil); err == nil {
					t.Fatalf("opening the dev issuer over a bad %s succeeded, want an error", tt.file)
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
		t.Fatalf("decoding the JWKS: %v, want a JSON key set\n%s", err, document)
	}
	if len(raw.Keys) != 1 {
		t.Fatalf("the JWKS has %d keys, want 1", len(raw.Keys))
	}
	key := raw.Keys[0]
	for name, want := range map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": d.key.KeyID, "e": "AQAB"} {
		if key[name] != want {
			t.Fatalf("the JWKS key has %q = %v, want %v", name, key[name], want)
		}
	}
	if _, ok := key["d"]; ok {
		t.Fatal("the JWKS key has the private exponent d, want only the public key")
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
		t.Fatalf("verifying a dev token with the published JWKS key: %v, want it accepted", err)
	}
	if claims.UserID != userID {
		t.Fatalf("the token verified with the JWKS key names end user %q, want %q", claims.UserID, userID)
	}

	// JWKS returns a copy: changing it changes nothing for others.
	document[0] = 'x'
	if d.JWKS()[0] != '{' {
		t.Fatal("changing the returned JWKS changed the issuer's copy, want a fresh copy each call")
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
