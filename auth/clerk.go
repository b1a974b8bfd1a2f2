package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/dream-api/dream"
)

// ClerkInstance is one Clerk instance (test or live) whose keys sign
// end-user tokens.
type ClerkInstance struct {
	SecretKey string // sk_test_… / sk_live_… of the Clerk instance
	APIURL    string // Backend API base, default "https://api.clerk.com/v1"; tests point it at httptest
}

// ClerkVerifier verifies end-user tokens signed by Clerk, the identity
// provider of production. A project's test mode and live mode sign their end
// users in with separate Clerk instances, so a token is only valid in the
// mode whose instance signed it.
type ClerkVerifier struct {
	live     *keySet
	test     *keySet
	verifier tokenVerifier
	// fingerprint is Fingerprint's.
	fingerprint string
}

// NewClerkVerifier verifies live-mode tokens against live and test-mode
// tokens against test; a zero test instance means test-mode tokens are
// verified against the live instance too (as does one without a secret
// key). nil now means the system clock,
// nil httpClient clerk-sdk-go's default client (5 s timeout), and nil logger
// no logging.
func NewClerkVerifier(live, test ClerkInstance, now func() time.Time, httpClient *http.Client, logger *slog.Logger) *ClerkVerifier {
	// A nil issuer keeps Clerk's issuer rule: iss must be a
	// Clerk Frontend API URL.
	verifier := newTokenVerifier(nil, now, logger)
	liveKeys := newKeySet(live, verifier.now, httpClient, verifier.logger)
	testKeys := liveKeys
	if test.SecretKey != "" {
		testKeys = newKeySet(test, verifier.now, httpClient, verifier.logger)
	}
	return &ClerkVerifier{live: liveKeys, test: testKeys, verifier: verifier,
		fingerprint: fingerprint("clerk", live.SecretKey, live.APIURL, test.SecretKey, test.APIURL)}
}

// Fingerprint names the Clerk instances whose tokens the verifier
// accepts: a hash of their secret keys and API addresses, which says
// nothing of the keys. Verifiers of one fingerprint accept the same
// tokens.
func (c *ClerkVerifier) Fingerprint() string { return c.fingerprint }

// fingerprint hashes the parts, each ended by a NUL so that no two lists
// of parts hash alike.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyEndUserToken implements dream.TokenVerifier.
func (c *ClerkVerifier) VerifyEndUserToken(ctx context.Context, mode dream.Mode, token string) (*dream.EndUserClaims, error) {
	var keys *keySet
	switch mode {
	case dream.ModeLive:
		keys = c.live
	case dream.ModeTest:
		keys = c.test
	default:
		c.verifier.logger.DebugContext(ctx, "end-user token refused", "reason", "unknown mode", "mode", string(mode))
		return nil, dream.ErrInvalidEndUserToken
	}
	return c.verifier.verify(ctx, token, keys.key)
}

// backend is a clerk-sdk-go backend for one instance. Each instance gets its
// own: clerk-sdk-go's package-level backend holds one secret key, and a
// server talks to a test and a live instance at once.
func (i ClerkInstance) backend(httpClient *http.Client) clerk.Backend {
	apiURL := i.APIURL
	if apiURL == "" {
		apiURL = clerk.APIURL
	}
	return clerk.NewBackend(&clerk.BackendConfig{Key: &i.SecretKey, URL: &apiURL, HTTPClient: httpClient})
}

// ClerkDevelopers verifies developers' session tokens from the platform's
// own Clerk application, a Clerk instance apart from those of end users.
// It implements dream.DeveloperIdentity.
type ClerkDevelopers struct {
	verifier *ClerkVerifier
}

// NewClerkDevelopers verifies developers' tokens against the platform's
// Clerk instance.
func NewClerkDevelopers(platform ClerkInstance, now func() time.Time, httpClient *http.Client, logger *slog.Logger) *ClerkDevelopers {
	return &ClerkDevelopers{verifier: NewClerkVerifier(platform, platform, now, httpClient, logger)}
}

// VerifyDeveloper implements dream.DeveloperIdentity.
func (c *ClerkDevelopers) VerifyDeveloper(ctx context.Context, token string) (string, string, error) {
	claims, err := c.verifier.VerifyEndUserToken(ctx, dream.ModeLive, token)
	if err != nil {
		return "", "", err
	}
	return claims.UserID, claims.Email, nil
}
