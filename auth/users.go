package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/session"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/dream-api/dream"
)

// ClerkUsers keeps end users' accounts in Clerk, the dream.Identity of
// production: the test and live instances hold a project's test-mode and
// live-mode end users.
type ClerkUsers struct {
	live, test *user.Client
	// sessions are the session APIs of the instances, by mode.
	sessions map[dream.Mode]*session.Client
}

var _ dream.Identity = (*ClerkUsers)(nil)

// NewClerkUsers manages live-mode end users in live and test-mode ones in
// test; without a test instance secret, test mode uses live too, as token
// verification does.
func NewClerkUsers(live, test ClerkInstance, httpClient *http.Client) *ClerkUsers {
	liveBackend, testBackend := live.backend(httpClient), live.backend(httpClient)
	if test.SecretKey != "" {
		testBackend = test.backend(httpClient)
	}
	return &ClerkUsers{live: &user.Client{Backend: liveBackend}, test: &user.Client{Backend: testBackend},
		sessions: map[dream.Mode]*session.Client{dream.ModeLive: {Backend: liveBackend}, dream.ModeTest: {Backend: testBackend}}}
}

func (u *ClerkUsers) client(mode dream.Mode) *user.Client {
	if mode == dream.ModeTest {
		return u.test
	}
	return u.live
}

// CreateUser implements dream.Identity. Without a password Clerk is told
// to skip its password requirement: the user signs in another way.
func (u *ClerkUsers) CreateUser(ctx context.Context, mode dream.Mode, n dream.NewIdentityUser) (*dream.IdentityUser, error) {
	metadata, err := json.Marshal(n.PublicMetadata)
	if err != nil {
		return nil, err
	}
	raw := json.RawMessage(metadata)
	params := &user.CreateParams{
		EmailAddresses: &[]string{n.Email},
		FirstName:      optional(n.FirstName),
		LastName:       optional(n.LastName),
		PublicMetadata: &raw,
	}
	if n.Password != "" {
		params.Password = &n.Password
	} else {
		params.SkipPasswordRequirement = clerk.Bool(true)
	}
	created, err := u.client(mode).Create(ctx, params)
	if err != nil {
		return nil, clerkError(err, "Failed to create customer")
	}
	return identityUser(created)
}

// User implements dream.Identity.
func (u *ClerkUsers) User(ctx context.Context, mode dream.Mode, userID string) (*dream.IdentityUser, error) {
	found, err := u.client(mode).Get(ctx, userID)
	if err != nil {
		return nil, clerkError(err, "identity_request_rejected")
	}
	return identityUser(found)
}

// DeleteUser implements dream.Identity.
func (u *ClerkUsers) DeleteUser(ctx context.Context, mode dream.Mode, userID string) error {
	_, err := u.client(mode).Delete(ctx, userID)
	return clerkError(err, "identity_request_rejected")
}

// identityUser is a Clerk user as dream sees it: the primary email (else
// the first), names and public metadata.
func identityUser(c *clerk.User) (*dream.IdentityUser, error) {
	u := &dream.IdentityUser{ID: c.ID, CreatedAt: time.UnixMilli(c.CreatedAt).UTC()}
	if c.FirstName != nil {
		u.FirstName = *c.FirstName
	}
	if c.LastName != nil {
		u.LastName = *c.LastName
	}
	for _, e := range c.EmailAddresses {
		if e != nil && (u.Email == "" || (c.PrimaryEmailAddressID != nil && e.ID == *c.PrimaryEmailAddressID)) {
			u.Email = e.EmailAddress
		}
	}
	if len(c.PublicMetadata) > 0 && string(c.PublicMetadata) != "null" {
		if err := json.Unmarshal(c.PublicMetadata, &u.PublicMetadata); err != nil {
			return nil, fmt.Errorf("clerk user %s: public metadata: %w", c.ID, err)
		}
	}
	return u, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
	return clerkError(err, "identity_request_rejected")
}

// clerkError maps a Clerk API failure onto the error users see: a missing
// user is not found, an email taken is a conflict, a refused input (a weak
// password, a malformed email) is invalid with code rejected and Clerk's own
// explanation, which is written for end users; Clerk being down is unavailable, and
// anything else is internal and keeps Clerk's words for the log.
func clerkError(err error, rejected string) error {
	if err == nil {
		return nil
	}
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) {
		return errIdentityDown
	}
	status := apiErr.HTTPStatusCode
	switch {
	case status == http.StatusNotFound:
		return dream.Errorf(dream.KindNotFound, "Customer not found", "No such end user")
	case status == http.StatusTooManyRequests || status >= 500:
		return errIdentityDown
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		var messages []string
		for _, e := range apiErr.Errors {
			if e.Code == "form_identifier_exists" {
				return dream.Errorf(dream.KindConflict, "Customer already exists", "That email address is taken")
			}
			messages = append(messages, firstNonEmpty(e.LongMessage, e.Message))
		}
		return dream.Errorf(dream.KindInvalid, rejected, "%s", strings.Join(messages, ", "))
	}
	return fmt.Errorf("clerk: %w", err)
}

// errIdentityDown is the answer while Clerk cannot be reached.
var errIdentityDown = &dream.Error{Kind: dream.KindUnavailable, Code: "identity_unavailable",
	Message: "Could not reach the identity provider; try again"}

// SessionToken returns a token of the JWT template for one of an end
// user's sessions, from Clerk's Backend API: what the hosted pages return
// to the developer's front end, with the claims the template puts in it.
func (u *ClerkUsers) SessionToken(ctx context.Context, mode dream.Mode, sessionID, template string) (string, error) {
	if sessionID == "" {
		return "", dream.ErrInvalidEndUserToken
	}
	token, err := u.sessions[mode].CreateToken(ctx, &session.CreateTokenParams{ID: sessionID, TemplateName: template})
	if err != nil {
		return "", clerkError(err, "identity_request_rejected")
	}
	return token.JWT, nil
}
