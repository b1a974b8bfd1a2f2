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
// production, the dev issuer's records in dev mode.
type Identity interface {
	// UpdatePublicMetadata merges values into the public metadata of the end
	// user in the identity instance of mode, leaving other keys as they
	// are, so that the user's next token carries them.
	UpdatePublicMetadata(ctx context.Context, mode Mode, userID string, values map[string]any) error
}
