package dream

import (
	"context"
	"time"
)

// EndUserClaims is what a verified end-user token says about its holder.
type EndUserClaims struct {
	// UserID is the token's subject, the end user's id at the identity
	// provider.
	UserID string
	Email  string
	// Plan is the plan the token claims; the database decides the plan and
	// this is only its fallback.
	Plan string
	// PublishableKey is the project the end user signed up to; a token for
	// one project is refused by another.
	PublishableKey string
	ExpiresAt      time.Time
	// SessionID is the identity provider's session the token is of (Clerk's
	// sid), "" when it names none.
	SessionID string
}

// CheckProject reports whether the token was issued for the project
// environment of publishableKey. A token binds to one project through its
// publishableKey claim or public metadata: one that names none is refused
// with ErrUnboundEndUserToken, whoever signed it, and one that names
// another project with ErrPublishableKeyMismatch.
func (c *EndUserClaims) CheckProject(publishableKey string) error {
	switch c.PublishableKey {
	case "":
		return ErrUnboundEndUserToken
	case publishableKey:
		return nil
	}
	return ErrPublishableKeyMismatch
}

// TokenVerifier verifies end-user tokens: in production against the Clerk
// instance of the request's mode, in dev mode against the built-in issuer.
type TokenVerifier interface {
	// VerifyEndUserToken returns the claims of token if it is valid for the
	// identity instance that serves mode. Every failure is
	// ErrInvalidEndUserToken, with the reason logged by the implementation
	// at most.
	VerifyEndUserToken(ctx context.Context, mode Mode, token string) (*EndUserClaims, error)
}

// Identity keeps end users' accounts at the identity provider: Clerk in
// production, the dev issuer's records in dev mode. Each call acts on the
// identity instance of mode: test-mode and live-mode end users live apart.
type Identity interface {
	// CreateUser creates an end user. An email already taken is a
	// KindConflict error.
	CreateUser(ctx context.Context, mode Mode, u NewIdentityUser) (*IdentityUser, error)
	// User returns an end user; an unknown id is a KindNotFound error.
	User(ctx context.Context, mode Mode, userID string) (*IdentityUser, error)
	// UpdatePublicMetadata merges values into the public metadata of the end
	// user, leaving other keys as they are, so that the user's next token
	// carries them.
	UpdatePublicMetadata(ctx context.Context, mode Mode, userID string, values map[string]any) error
	// DeleteUser deletes an end user; an unknown id is a KindNotFound error.
	DeleteUser(ctx context.Context, mode Mode, userID string) error
}

// NewIdentityUser is an end user to create at the identity provider.
type NewIdentityUser struct {
	Email string
	// Password is optional: without one the user signs in another way
	// (an email code, a social login).
	Password  string
	FirstName string
	LastName  string
	// PublicMetadata ties the user to a project and plan for the front end
	// and the tokens: {"publishableKey": …, "plan": …}.
	PublicMetadata map[string]any
}

// IdentityUser is an end user as the identity provider knows them.
type IdentityUser struct {
	ID             string
	Email          string
	FirstName      string
	LastName       string
	PublicMetadata map[string]any
	CreatedAt      time.Time
}

// MetadataString returns a string value of the user's public metadata, ""
// when absent or not a string.
func (u *IdentityUser) MetadataString(key string) string {
	s, _ := u.PublicMetadata[key].(string)
	return s
}
