package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	josejson "github.com/go-jose/go-jose/v3/json"

	"github.com/dream-api/dream"
)

// FuzzVerifyToken sends the token verification, which reads the
// X-Clerk-Token header of every end-user request, arbitrary tokens, and
// tokens of arbitrary header and payload signed with the issuer's key. It
// must refuse every token but one of its issuer's signatures, with the one
// invalid-token error, and map an accepted token's payload onto the claims
// it holds: its sub, and an exp not yet past.
func FuzzVerifyToken(f *testing.F) {
	clock := newTestClock()
	dir := f.TempDir()
	dev := openTestDevIssuer(f, dir, clock)
	key, err := openDevKey(filepath.Join(dir, devKeyFile))
	if err != nil {
		f.Fatal(err)
	}
	i := issuer{key: key, kid: dev.key.KeyID, issuer: DevIssuerName}
	now := clock.Now()
	valid := i.token(now, nil)
	header, _ := json.Marshal(i.header("RS256"))
	payload, _ := json.Marshal(i.claims(now))
	for _, seed := range []struct {
		token           string
		header, payload string
	}{
		{valid, string(header), string(payload)},
		{valid + "x", `{"alg":"none","kid":"` + i.kid + `"}`, string(payload)},
		{encodeToken(map[string]any{"alg": "none", "kid": i.kid}, i.claims(now), unsigned), `{"alg":"HS256","kid":"` + i.kid + `"}`, `{"sub":"u"}`},
		{encodeToken(i.header("HS256"), i.claims(now), hs256(dev.JWKS())), string(header), `{"sub":"u","exp":1e309}`},
		{strings.Replace(valid, ".", "..", 1), string(header), `{"sub":"","exp":4102444800}`},
		{" " + valid, `{"alg":"RS256"}`, `{"sub":"u","exp":4102444800,"iss":"` + DevIssuerName + `","nbf":4102444800}`},
		{"a.b.c", string(header), `{"sub":"u","exp":4102444800,"iss":"` + DevIssuerName + `","publicMetadata":{"plan":["x"]},"plan":1}`},
		{"", string(header), `[]`},
	} {
		f.Add(seed.token, []byte(seed.header), []byte(seed.payload))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string, header, payload []byte) {
		claims, err := dev.VerifyEndUserToken(ctx, dream.ModeTest, token)
		if err == nil && !signedBy(token, &key.PublicKey) {
			t.Fatalf("the token %q was accepted as %+v without the issuer's RS256 signature, want it refused", token, claims)
		}
		checkVerified(t, token, claims, err, now)

		// The same header and payload, signed: the signature no longer
		// stands in the way of what the verifier reads of them.
		input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
		signed := input + "." + base64.RawURLEncoding.EncodeToString(rs256(key)([]byte(input)))
		claims, err = dev.VerifyEndUserToken(ctx, dream.ModeTest, signed)
		checkVerified(t, signed, claims, err, now)
	})
}

// signedBy reports whether token is a compact JWS of alg RS256 whose
// signature key made, checked without the verifier's libraries.
func signedBy(token string, key *rsa.PublicKey) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(header, &h) != nil || h.Alg != "RS256" {
		return false
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], signature) == nil
}

// checkVerified holds one verification's outcome to the rules: a refusal
// is the one invalid-token error, and accepted claims are the payload's,
// unexpired.
func checkVerified(t *testing.T, token string, claims *dream.EndUserClaims, err error, now time.Time) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, dream.ErrInvalidEndUserToken) {
			t.Fatalf("the token %q was refused with %v, want %v", token, err, dream.ErrInvalidEndUserToken)
		}
		return
	}
	// Claim names are case-sensitive, as go-jose's JSON reads them.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	var registered struct {
		Subject string `json:"sub"`
	}
	if err != nil || josejson.Unmarshal(payload, &registered) != nil || registered.Subject != claims.UserID || claims.UserID == "" {
		t.Fatalf("the token %q was accepted as the end user %q, want the token's own non-empty sub", token, claims.UserID)
	}
	if !claims.ExpiresAt.After(now.Add(-leeway)) {
		t.Fatalf("the token %q was accepted expiring at %s, want a token not yet expired at %s", token, claims.ExpiresAt, now)
	}
}
