package auth

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/dream-api/dream"
)

// endUserClaims maps the payload of a verified token onto
// dream.EndUserClaims.
//
// Developers put plan, publishable key and email into their Clerk session
// token in different places: top-level claims of a JWT template, or the
// user's public metadata or metadata embedded whole. The first non-empty
// string wins, in that order, so a template that names a claim explicitly
// overrides what the metadata says. A claim of the wrong type is ignored
// rather than refused: it is the developer's data, not a forgery, and the
// database has the final say on the plan anyway.
//
// exp is required even though JWT makes it optional, because a token that
// never expires could never be revoked.
func endUserClaims(payload []byte) (*dream.EndUserClaims, error) {
	// The registered claims are read the way clerk-sdk-go's Verify read them,
	// so sub and exp are the values whose validity it checked.
	var registered clerk.RegisteredClaims
	if err := json.Unmarshal(payload, &registered); err != nil {
		return nil, err
	}
	if registered.Expiry == nil {
		return nil, errors.New("token has no exp")
	}
	if registered.Subject == "" {
		return nil, errors.New("token has no sub")
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return nil, err
	}
	publicMetadata := objectClaim(top, "publicMetadata")
	metadata := objectClaim(top, "metadata")
	return &dream.EndUserClaims{
		UserID: registered.Subject,
		Email: firstNonEmpty(
			stringClaim(top, "email"),
			stringClaim(top, "primary_email"),
			stringClaim(publicMetadata, "email"),
			stringClaim(metadata, "email"),
		),
		Plan: firstNonEmpty(
			stringClaim(top, "plan"),
			stringClaim(publicMetadata, "plan"),
			stringClaim(metadata, "plan"),
		),
		PublishableKey: firstNonEmpty(
			stringClaim(top, "publishableKey"),
			stringClaim(publicMetadata, "publishableKey"),
			stringClaim(metadata, "publishableKey"),
		),
		ExpiresAt: time.Unix(*registered.Expiry, 0).UTC(),
		SessionID: stringClaim(top, "sid"),
	}, nil
}

// stringClaim returns the claim name of object if it is a string, and ""
// if it is missing or of another type.
func stringClaim(object map[string]json.RawMessage, name string) string {
	var s string
	if json.Unmarshal(object[name], &s) != nil {
		return ""
	}
	return s
}

// objectClaim returns the claim name of object if it is a JSON object, and
// nil if it is missing or of another type.
func objectClaim(object map[string]json.RawMessage, name string) map[string]json.RawMessage {
	var claim map[string]json.RawMessage
	if json.Unmarshal(object[name], &claim) != nil {
		return nil
	}
	return claim
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
