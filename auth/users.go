package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/dream-api/dream"
)

// ClerkUsers keeps end users' accounts in Clerk, the dream.Identity of
// production: the test and live instances hold a project's test-mode and
// live-mode end users.
type ClerkUsers struct {
	live, test *user.Client
}

var _ dream.Identity = (*ClerkUsers)(nil)

// NewClerkUsers manages live-mode end users in live and test-mode ones in
// test; without a test instance secret, test mode uses live too, as token
// verification does.
func NewClerkUsers(live, test ClerkInstance, httpClient *http.Client) *ClerkUsers {
	u := &ClerkUsers{live: &user.Client{Backend: live.backend(httpClient)}}
	u.test = u.live
	if test.SecretKey != "" {
		u.test = &user.Client{Backend: test.backend(httpClient)}
	}
	return u
}

func (u *ClerkUsers) client(mode dream.Mode) *user.Client {
	if mode == dream.ModeTest {
		return u.test
	}
	return u.live
}

// UpdatePublicMetadata implements dream.Identity with Clerk's metadata
// endpoint, which merges the given keys into what the user has.
func (u *ClerkUsers) UpdatePublicMetadata(ctx context.Context, mode dream.Mode, userID string, values map[string]any) error {
	raw, err := json.Marshal(values)
	if err != nil {
		return err
	}
	metadata := json.RawMessage(raw)
	_, err = u.client(mode).UpdateMetadata(ctx, userID, &user.UpdateMetadataParams{PublicMetadata: &metadata})
	return clerkError(err)
}

// clerkError maps a Clerk API failure onto the error users see: a missing
// user is not found, Clerk being down is unavailable, anything else is
// internal and keeps Clerk's words for the log.
func clerkError(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) {
		return &dream.Error{Kind: dream.KindUnavailable, Code: "identity_unavailable",
			Message: "Could not reach the identity provider; try again"}
	}
	switch {
	case apiErr.HTTPStatusCode == http.StatusNotFound:
		return dream.Errorf(dream.KindNotFound, "Customer not found", "No such end user")
	case apiErr.HTTPStatusCode == http.StatusTooManyRequests || apiErr.HTTPStatusCode >= 500:
		return &dream.Error{Kind: dream.KindUnavailable, Code: "identity_unavailable",
			Message: "Could not reach the identity provider; try again"}
	}
	return fmt.Errorf("clerk: %w", err)
}
