// Package auth verifies end-user identity tokens: the JWTs a developer's
// front end gets from the identity provider and sends with every end-user
// request.
//
// In production the tokens come from Clerk and ClerkVerifier checks them
// against the keys of the Clerk instance of the request's mode. The offline
// `dream dev` mode has no Clerk, so DevIssuer both issues tokens and verifies
// them. Both go through the one verification in this file, so a rule (RS256
// only, exp required, 60 s of clock skew, how claims map onto
// dream.EndUserClaims) cannot drift between dev and production: what works
// in dev works in production.
package auth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	clerkjwt "github.com/clerk/clerk-sdk-go/v2/jwt"
	josejson "github.com/go-jose/go-jose/v3/json"

	"github.com/dream-api/dream"
)

const (
	// algorithm is the only signing algorithm accepted. Pinning it, rather
	// than trusting the token's header, closes the classic JWT attacks: alg
	// "none", and HS256 keyed with the issuer's public key.
	algorithm = "RS256"

	// leeway is how far the clocks of the issuer and of this server may
	// disagree when exp, nbf and iat are checked.
	leeway = 60 * time.Second
)

// errIdentityUnavailable is the one failure that is not the token's fault:
// its keys could not be fetched, so the request may succeed when retried.
var errIdentityUnavailable = &dream.Error{
	Kind:    dream.KindUnavailable,
	Code:    "identity_unavailable",
	Message: "Could not reach the identity provider to verify the token",
}

// errUnknownKeyID is the reason a token is refused when no key of its issuer
// has the token's kid.
var errUnknownKeyID = errors.New("no key has the token's kid")

// keyLookup returns the issuer's public key whose id is kid. It returns
// errIdentityUnavailable when the keys cannot be fetched; any other error
// makes the token invalid.
type keyLookup func(ctx context.Context, kid string) (*clerk.JSONWebKey, error)

// tokenVerifier is the verification DevIssuer and ClerkVerifier share. They
// differ only in where the key comes from (the keyLookup passed to verify)
// and which issuer they accept.
type tokenVerifier struct {
	// issuer pins the iss claim. When nil, clerk-sdk-go's rule applies: iss
	// must look like a Clerk Frontend API URL.
	issuer *string
	now    func() time.Time
	logger *slog.Logger
}

// newTokenVerifier returns a tokenVerifier; nil now means the system clock
// and nil logger means no logging.
func newTokenVerifier(issuer *string, now func() time.Time, logger *slog.Logger) tokenVerifier {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return tokenVerifier{issuer: issuer, now: now, logger: logger}
}

// verify checks the compact JWT token against the key lookup finds for it
// and returns the token's claims. Every failure is
// dream.ErrInvalidEndUserToken except errIdentityUnavailable; the reason is
// logged at debug level because callers only ever see the one error.
func (v tokenVerifier) verify(ctx context.Context, token string, lookup keyLookup) (*dream.EndUserClaims, error) {
	claims, err := v.claims(ctx, token, lookup)
	switch {
	case err == nil:
		return claims, nil
	case errors.Is(err, errIdentityUnavailable):
		return nil, err
	default:
		// The reason, never the token: a token is a credential.
		v.logger.DebugContext(ctx, "end-user token refused", "reason", err.Error())
		return nil, dream.ErrInvalidEndUserToken
	}
}

// claims is verify with the reason of a failure kept.
func (v tokenVerifier) claims(ctx context.Context, token string, lookup keyLookup) (*dream.EndUserClaims, error) {
	if !isCompact(token) {
		return nil, errors.New("not a compact JWS")
	}
	// The algorithm is checked before the key is looked up so that a forged
	// header cannot make the Clerk verifier fetch keys.
	header, err := protectedHeader(token)
	if err != nil {
		return nil, err
	}
	if header.Algorithm != algorithm {
		return nil, fmt.Errorf("algorithm %q is not %s", header.Algorithm, algorithm)
	}
	if header.KeyID == "" {
		return nil, errors.New("token has no kid")
	}
	key, err := lookup(ctx, header.KeyID)
	if err != nil {
		return nil, err
	}
	if _, ok := key.Key.(*rsa.PublicKey); !ok || key.Algorithm != algorithm {
		return nil, fmt.Errorf("key %q is not an %s public key", key.KeyID, algorithm)
	}

	// Verify checks the signature, exp/nbf/iat and the issuer. It fetches
	// nothing because JWK is set. The payload is captured whole so that the
	// claims normalisation sees every layout of custom claims.
	var payload json.RawMessage
	_, err = clerkjwt.Verify(ctx, &clerkjwt.VerifyParams{
		Token:    token,
		JWK:      key,
		Clock:    clock(v.now),
		Leeway:   leeway,
		ProxyURL: v.issuer,
		CustomClaimsConstructor: func(context.Context) any {
			return &payload
		},
	})
	if err != nil {
		return nil, err
	}
	return endUserClaims(payload)
}

// isCompact reports whether token has the shape of a compact JWS: three
// base64url parts joined by dots. go-jose would also accept the JSON
// serialization, whose unprotected headers have no place in a bearer token,
// and silently strips whitespace; neither is a token an issuer produced.
func isCompact(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// header is what the verification reads of a token's protected header
// before it has a key: the algorithm and the key's id.
type header struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
}

// protectedHeader decodes the header of a compact token. It reads the
// header alone, with go-jose's own JSON decoding (whose names match case
// for case): the whole token is parsed once, by the verification that
// checks its signature, and parsing it twice was a seventh of the cost of
// a token new to a node.
func protectedHeader(token string) (header, error) {
	encoded, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return header{}, fmt.Errorf("token header: %w", err)
	}
	var h header
	if err := josejson.Unmarshal(raw, &h); err != nil {
		return header{}, fmt.Errorf("token header: %w", err)
	}
	return h, nil
}

// clock adapts a now function to clerk.Clock.
type clock func() time.Time

// Now implements clerk.Clock.
func (c clock) Now() time.Time { return c() }
