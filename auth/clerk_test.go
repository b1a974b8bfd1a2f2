package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/dream-api/dream"
)

// fakeClerk is the JWKS endpoint of one Clerk instance's Backend API.
type fakeClerk struct {
	server   *httptest.Server
	requests atomic.Int64

	mu   sync.Mutex
	keys []jose.JSONWebKey
	// delay holds every response back, so that concurrent callers overlap
	// with a fetch in flight.
	delay time.Duration
}

// newFakeClerk serves keys at /v1/jwks to requests bearing secretKey.
func newFakeClerk(t *testing.T, secretKey string, keys ...jose.JSONWebKey) *fakeClerk {
	f := &fakeClerk{keys: keys}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/v1/jwks" {
			t.Errorf("the fake Clerk got a request %s %s, want GET /v1/jwks", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if got, want := r.Header.Get("Authorization"), "Bearer "+secretKey; got != want {
			t.Errorf("the JWKS request has Authorization %q, want %q", got, want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		time.Sleep(f.delay)
		if err := json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: f.keys}); err != nil {
			t.Errorf("the fake Clerk encoding its JWKS: %v, want no error", err)
		}
	}))
	t.Cleanup(f.server.Close)
	return f
}

// url is the Backend API base URL of the fake.
func (f *fakeClerk) url() string { return f.server.URL + "/v1" }

// rotate replaces the keys the fake serves.
func (f *fakeClerk) rotate(keys ...jose.JSONWebKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
}

// clerkKeyPair is the public JWK of key as Clerk publishes it.
func clerkKeyPair(kid string, key *rsa.PrivateKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

// clerkIssuer signs tokens like the Clerk instance whose key is key.
func clerkIssuer(kid string, key *rsa.PrivateKey) issuer {
	return issuer{key: key, kid: kid, issuer: "https://clerk.example.test"}
}

// assertRequests fails the test unless the fake has served want requests.
func (f *fakeClerk) assertRequests(t *testing.T, want int64) {
	t.Helper()
	if got := f.requests.Load(); got != want {
		t.Fatalf("the fake Clerk served %d JWKS requests, want %d", got, want)
	}
}

// mustVerify verifies token and fails the test on error.
func mustVerify(t *testing.T, verifier *ClerkVerifier, mode dream.Mode, token string) *dream.EndUserClaims {
	t.Helper()
	claims, err := verifier.VerifyEndUserToken(context.Background(), mode, token)
	if err != nil {
		t.Fatalf("verifying a token in %s mode: %v, want it accepted", mode, err)
	}
	return claims
}

// mustRefuse fails the test unless token is refused as invalid.
func mustRefuse(t *testing.T, verifier *ClerkVerifier, mode dream.Mode, token string) {
	t.Helper()
	if claims, err := verifier.VerifyEndUserToken(context.Background(), mode, token); err != dream.ErrInvalidEndUserToken {
		t.Fatalf("verifying a token in %s mode gave claims %+v and error %v, want ErrInvalidEndUserToken",
			mode, claims, err)
	}
}

func TestClerkVerifier_VerifyEndUserToken(t *testing.T) {
	t.Run("Verifies", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)

		// The layout of a session token that embeds the user's public
		// metadata, to see custom claims come through clerk-sdk-go.
		token := clerkIssuer("kid-1", clerkKey()).token(t0, func(c map[string]any) {
			delete(c, "plan")
			delete(c, "publishableKey")
			c["publicMetadata"] = map[string]any{"plan": "team", "publishableKey": "pk_live_9"}
		})
		got := mustVerify(t, verifier, dream.ModeLive, token)
		want := dream.EndUserClaims{
			UserID:         "user_2abc",
			Email:          "ann@example.com",
			Plan:           "team",
			PublishableKey: "pk_live_9",
			ExpiresAt:      t0.Add(time.Hour),
		}
		if *got != want {
			t.Fatalf("the Clerk token gave end-user claims %+v, want %+v", *got, want)
		}
		server.assertRequests(t, 1)
	})

	t.Run("KnownKidCostsNoFetch", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)
		iss := clerkIssuer("kid-1", clerkKey())

		mustVerify(t, verifier, dream.ModeLive, iss.token(t0, nil))
		clock.Advance(59 * time.Minute)
		mustVerify(t, verifier, dream.ModeLive, iss.token(clock.Now(), nil))
		server.assertRequests(t, 1)
	})

	t.Run("RotatedKeysAreRefetched", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)

		mustVerify(t, verifier, dream.ModeLive, clerkIssuer("kid-1", clerkKey()).token(t0, nil))
		server.rotate(clerkKeyPair("kid-2", clerkOtherKey()))
		clock.Advance(minFetchInterval)

		mustVerify(t, verifier, dream.ModeLive, clerkIssuer("kid-2", clerkOtherKey()).token(clock.Now(), nil))
		server.assertRequests(t, 2)
		// The refetched set replaced the old one: the retired key is gone.
		mustRefuse(t, verifier, dream.ModeLive, clerkIssuer("kid-1", clerkKey()).token(clock.Now(), nil))
		server.assertRequests(t, 2)
	})

	t.Run("UnknownKidRefetchesOncePerInterval", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)

		mustVerify(t, verifier, dream.ModeLive, clerkIssuer("kid-1", clerkKey()).token(t0, nil))
		clock.Advance(minFetchInterval)
		forged := clerkIssuer("kid-forged", clerkOtherKey())
		mustRefuse(t, verifier, dream.ModeLive, forged.token(clock.Now(), nil))
		server.assertRequests(t, 2)

		clock.Advance(minFetchInterval - time.Second)
		mustRefuse(t, verifier, dream.ModeLive, forged.token(clock.Now(), nil))
		server.assertRequests(t, 2)

		clock.Advance(time.Second)
		mustRefuse(t, verifier, dream.ModeLive, forged.token(clock.Now(), nil))
		server.assertRequests(t, 3)
	})

	t.Run("StaleKeysAreRefreshed", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)
		iss := clerkIssuer("kid-1", clerkKey())

		mustVerify(t, verifier, dream.ModeLive, iss.token(t0, nil))
		clock.Advance(maxKeyAge)
		mustVerify(t, verifier, dream.ModeLive, iss.token(clock.Now(), nil))
		server.assertRequests(t, 2)

		// A key revoked at Clerk stops verifying once the cache is refreshed.
		server.rotate(clerkKeyPair("kid-2", clerkOtherKey()))
		clock.Advance(maxKeyAge)
		mustRefuse(t, verifier, dream.ModeLive, iss.token(clock.Now(), nil))
		server.assertRequests(t, 3)
	})

	t.Run("ConcurrentCallersShareOneFetch", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		server.delay = 100 * time.Millisecond
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)
		token := clerkIssuer("kid-1", clerkKey()).token(t0, nil)

		// Callers that arrive while the fetch is in flight wait for it rather
		// than fetching too or being refused by the fetch interval.
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if _, err := verifier.VerifyEndUserToken(context.Background(), dream.ModeLive, token); err != nil {
					t.Errorf("verifying a token while the keys are fetched: %v, want it accepted", err)
				}
			})
		}
		wg.Wait()
		server.assertRequests(t, 1)
	})

	t.Run("ModeRouting", func(t *testing.T) {
		clock := newTestClock()
		// Both instances use the same kid, so only the routing by mode
		// decides which key a token is checked against.
		live := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		test := newFakeClerk(t, "sk_test_1", clerkKeyPair("kid-1", clerkTestKey()))
		verifier := NewClerkVerifier(
			ClerkInstance{SecretKey: "sk_live_1", APIURL: live.url()},
			ClerkInstance{SecretKey: "sk_test_1", APIURL: test.url()},
			clock.Now, nil, nil)
		liveToken := clerkIssuer("kid-1", clerkKey()).token(t0, nil)
		testToken := clerkIssuer("kid-1", clerkTestKey()).token(t0, nil)

		mustVerify(t, verifier, dream.ModeLive, liveToken)
		mustVerify(t, verifier, dream.ModeTest, testToken)
		mustRefuse(t, verifier, dream.ModeLive, testToken)
		mustRefuse(t, verifier, dream.ModeTest, liveToken)
		mustRefuse(t, verifier, dream.Mode("staging"), liveToken)
		live.assertRequests(t, 1)
		test.assertRequests(t, 1)
	})

	t.Run("ZeroTestInstanceUsesLive", func(t *testing.T) {
		clock := newTestClock()
		live := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: live.url()}, ClerkInstance{}, clock.Now, nil, nil)
		token := clerkIssuer("kid-1", clerkKey()).token(t0, nil)

		mustVerify(t, verifier, dream.ModeTest, token)
		mustVerify(t, verifier, dream.ModeLive, token)
		// One cache serves both modes.
		live.assertRequests(t, 1)
	})

	t.Run("UnreachableWithNothingCached", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		server.server.Close()
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)

		_, err := verifier.VerifyEndUserToken(context.Background(), dream.ModeLive, clerkIssuer("kid-1", clerkKey()).token(t0, nil))
		assertUnavailable(t, err)
	})

	t.Run("ErrorStatusWithNothingCached", func(t *testing.T) {
		clock := newTestClock()
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"errors":[{"code":"internal","message":"boom"}]}`, http.StatusInternalServerError)
		}))
		defer server.Close()
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.URL + "/v1"}, ClerkInstance{}, clock.Now, nil, nil)

		_, err := verifier.VerifyEndUserToken(context.Background(), dream.ModeLive, clerkIssuer("kid-1", clerkKey()).token(t0, nil))
		assertUnavailable(t, err)
	})

	t.Run("UnreachableWithKeysCached", func(t *testing.T) {
		clock := newTestClock()
		server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
		verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, nil)
		iss := clerkIssuer("kid-1", clerkKey())

		mustVerify(t, verifier, dream.ModeLive, iss.token(t0, nil))
		server.server.Close()
		clock.Advance(maxKeyAge)
		// The refresh fails; the cached key keeps verifying, and an
		// unknown kid is the token's fault, not Clerk's.
		mustVerify(t, verifier, dream.ModeLive, iss.token(clock.Now(), nil))
		clock.Advance(minFetchInterval)
		mustRefuse(t, verifier, dream.ModeLive, clerkIssuer("kid-2", clerkOtherKey()).token(clock.Now(), nil))
	})
}

// assertUnavailable fails the test unless err is the identity provider being
// unreachable.
func assertUnavailable(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*dream.Error)
	if !ok || e.Kind != dream.KindUnavailable || e.Code != "identity_unavailable" {
		t.Fatalf("verifying with Clerk unreachable: %v, want a KindUnavailable identity_unavailable dream.Error", err)
	}
}

func TestClerkDevelopers_VerifyDeveloper(t *testing.T) {
	clock := newTestClock()
	server := newFakeClerk(t, "sk_live_platform", clerkKeyPair("kid-p", clerkKey()))
	developers := NewClerkDevelopers(ClerkInstance{SecretKey: "sk_live_platform", APIURL: server.url()}, clock.Now, nil, nil)
	token := clerkIssuer("kid-p", clerkKey()).token(t0, func(c map[string]any) {
		delete(c, "plan")
		delete(c, "publishableKey")
	})
	userID, email, err := developers.VerifyDeveloper(context.Background(), token)
	if err != nil || userID != "user_2abc" || email != "ann@example.com" {
		t.Fatalf("a platform session token gave %q, %q, %v; want the developer's Clerk id and email", userID, email, err)
	}
	other := clerkIssuer("kid-p", clerkOtherKey()).token(t0, nil)
	if _, _, err := developers.VerifyDeveloper(context.Background(), other); err == nil {
		t.Fatal("a token signed by another key was accepted, want it refused")
	}
}
