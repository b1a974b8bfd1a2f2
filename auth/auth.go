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
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
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
	// issuer pins the iss claim. When nil, Clerk's rule applies: iss must
	// be a Clerk Frontend API URL (isClerkIssuer).
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

// claims is verify with the reason of a failure kept. The token is split,
// decoded and checked in one pass: its header, the key its kid names, the
// RS256 signature over header and payload, then the payload's claims,
// decoded once.
func (v tokenVerifier) claims(ctx context.Context, token string, lookup keyLookup) (*dream.EndUserClaims, error) {
	if !isCompact(token) {
		return nil, errors.New("not a compact JWS")
	}
	last := strings.LastIndexByte(token, '.')
	signed, encodedSignature := token[:last], token[last+1:]
	encodedHeader, encodedPayload, _ := strings.Cut(signed, ".")
	// The algorithm is checked before the key is looked up so that a forged
	// header cannot make the Clerk verifier fetch keys.
	header, err := decodeHeader(encodedHeader)
	if err != nil {
		return nil, err
	}
	key, err := lookup(ctx, header.KeyID)
	if err != nil {
		return nil, err
	}
	public, ok := key.Key.(*rsa.PublicKey)
	if !ok || key.Algorithm != algorithm {
		return nil, fmt.Errorf("key %q is not an %s public key", key.KeyID, algorithm)
	}
	signature, err := base64URL.DecodeString(encodedSignature)
	if err != nil {
		return nil, fmt.Errorf("token signature: %w", err)
	}
	digest := sha256.New()
	io.WriteString(digest, signed)
	if err := rsa.VerifyPKCS1v15(public, crypto.SHA256, digest.Sum(nil), signature); err != nil {
		return nil, fmt.Errorf("token signature: %w", err)
	}

	payload, err := base64URL.DecodeString(encodedPayload)
	if err != nil {
		return nil, fmt.Errorf("token payload: %w", err)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := c.validAt(v.now()); err != nil {
		return nil, err
	}
	if v.issuer != nil && c.Issuer != *v.issuer || v.issuer == nil && !isClerkIssuer(c.Issuer) {
		return nil, fmt.Errorf("issuer %q is not the token issuer's", c.Issuer)
	}
	return c.endUser(), nil
}

// base64URL is the encoding of a compact token's parts. It is strict: the
// bits after the last whole byte must be zero, so each token has exactly
// one spelling, which issuers' encoders give it.
var base64URL = base64.RawURLEncoding.Strict()

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
// before it has a key.
type header struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
	// Critical names extensions a verifier must understand to accept the
	// token; this one understands none.
	Critical josejson.RawMessage `json:"crit"`
}

// decodeHeader decodes the protected header of a compact token and checks
// it is one this verification accepts: RS256 with a kid.
func decodeHeader(encoded string) (header, error) {
	raw, err := base64URL.DecodeString(encoded)
	if err != nil {
		return header{}, fmt.Errorf("token header: %w", err)
	}
	var h header
	if err := josejson.Unmarshal(raw, &h); err != nil {
		return header{}, fmt.Errorf("token header: %w", err)
	}
	switch {
	case h.Algorithm != algorithm:
		return header{}, fmt.Errorf("algorithm %q is not %s", h.Algorithm, algorithm)
	case h.KeyID == "":
		return header{}, errors.New("token has no kid")
	case h.Critical != nil:
		return header{}, errors.New("token has critical header parameters")
	}
	return h, nil
}
