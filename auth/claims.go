package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	josejson "github.com/go-jose/go-jose/v3/json"

	"github.com/dream-api/dream"
)

// tokenClaims is the payload of a token as the verification reads it, in
// one decoding with go-jose's JSON, whose member names match case for case
// as JWT claim names do (RFC 7519, section 10.1.1).
type tokenClaims struct {
	// The registered claims, which must have the types RFC 7519 gives
	// them: a token that gets one wrong is refused.
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	Expiry    *numericDate `json:"exp"`
	NotBefore *numericDate `json:"nbf"`
	IssuedAt  *numericDate `json:"iat"`
	ID        string       `json:"jti"`
	// SessionID is Clerk's session id, a string in every Clerk token.
	SessionID string `json:"sid"`

	// Developers put plan, publishable key and email into their Clerk
	// session token in different places: top-level claims of a JWT
	// template, or the user's public metadata or metadata embedded whole.
	// A claim of the wrong type is ignored rather than refused: it is the
	// developer's data, not a forgery, and the database has the final say
	// on the plan anyway.
	Email          looseString    `json:"email"`
	PrimaryEmail   looseString    `json:"primary_email"`
	Plan           looseString    `json:"plan"`
	PublishableKey looseString    `json:"publishableKey"`
	PublicMetadata metadataClaims `json:"publicMetadata"`
	Metadata       metadataClaims `json:"metadata"`
}

// decodeClaims decodes the payload of a token. exp is required even though
// JWT makes it optional, because a token that never expires could never be
// revoked, and so is a sub, the end user the token names.
func decodeClaims(payload []byte) (*tokenClaims, error) {
	var c tokenClaims
	if err := josejson.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("token payload: %w", err)
	}
	if c.Expiry == nil {
		return nil, errors.New("token has no exp")
	}
	if c.Subject == "" {
		return nil, errors.New("token has no sub")
	}
	return &c, nil
}

// validAt checks the token's times against now: it has not expired, is
// not used before its nbf, and was not issued in the future, each with
// leeway for the clocks of issuer and server.
func (c *tokenClaims) validAt(now time.Time) error {
	switch {
	case c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.time()):
		return errors.New("token is not valid yet")
	case now.Add(-leeway).After(c.Expiry.time()):
		return errors.New("token has expired")
	case c.IssuedAt != nil && now.Add(leeway).Before(c.IssuedAt.time()):
		return errors.New("token was issued in the future")
	}
	return nil
}

// endUser maps the claims onto dream.EndUserClaims. For each of plan,
// publishable key and email the first non-empty string wins, top-level
// claims first, then public metadata, then metadata, so that a template
// that names a claim explicitly overrides what the metadata says.
func (c *tokenClaims) endUser() *dream.EndUserClaims {
	return &dream.EndUserClaims{
		UserID: c.Subject,
		Email: firstNonEmpty(string(c.Email), string(c.PrimaryEmail),
			string(c.PublicMetadata.Email), string(c.Metadata.Email)),
		Plan: firstNonEmpty(string(c.Plan),
			string(c.PublicMetadata.Plan), string(c.Metadata.Plan)),
		PublishableKey: firstNonEmpty(string(c.PublishableKey),
			string(c.PublicMetadata.PublishableKey), string(c.Metadata.PublishableKey)),
		ExpiresAt: c.Expiry.time().UTC(),
		SessionID: c.SessionID,
	}
}

// isClerkIssuer is the issuer rule of Clerk's tokens when no issuer is
// pinned: iss must be a Clerk Frontend API URL, as clerk-sdk-go has it.
func isClerkIssuer(iss string) bool {
	return strings.HasPrefix(iss, "https://clerk.") || strings.Contains(iss, ".clerk.accounts")
}

// numericDate is a JWT NumericDate: seconds since the epoch, which may have
// a fraction, dropped here.
type numericDate int64

// maxNumericDate bounds a NumericDate to what a float64 holds exactly,
// some 285 million years either side of 1970, so that no conversion to
// int64 depends on the platform.
const maxNumericDate = 1 << 53

// UnmarshalJSON implements json.Unmarshaler.
func (n *numericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f > maxNumericDate || f < -maxNumericDate {
		return fmt.Errorf("a NumericDate is a number of seconds within ±2^53, not %.40s", b)
	}
	*n = numericDate(f)
	return nil
}

func (n numericDate) time() time.Time { return time.Unix(int64(n), 0) }

// audience is the aud claim: one string or an array of strings.
type audience []string

// UnmarshalJSON implements json.Unmarshaler.
func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := josejson.Unmarshal(b, &one); err != nil {
			return err
		}
		*a = audience{one}
		return nil
	}
	var many []string
	if err := josejson.Unmarshal(b, &many); err != nil || many == nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// looseString is a developer's claim: a string, or "" when the claim holds
// anything else.
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *looseString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return josejson.Unmarshal(b, (*string)(s))
	}
	return nil
}

// metadataClaims are the claims read from an object of user metadata
// embedded in a token; a metadata claim that is not an object holds none.
type metadataClaims struct {
	Email          looseString `json:"email"`
	Plan           looseString `json:"plan"`
	PublishableKey looseString `json:"publishableKey"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *metadataClaims) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		type plain metadataClaims // without this method
		return josejson.Unmarshal(b, (*plain)(m))
	}
	return nil
}

// firstNonEmpty returns the first of values that is not "".
func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
