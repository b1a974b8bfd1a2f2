package edge

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/dream-api/dream"
)

// authenticate resolves the credentials a route's access needs into req, in
// the order of the spec's pipeline: credential detection, the publishable-key
// allow-list, key validation, the secret key's publishable-key override, the
// platform gate, and on end-user routes the token, the publishable-key
// mismatch check and the per-user rate limit, on secret-key routes the
// key's rate limit.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, a dream.Access, req *request) error {
	switch a {
	case dream.AccessNone, dream.AccessWebhook:
		// A webhook's handler verifies its signature: the signed payload
		// is the body it reads.
		return nil
	case dream.AccessDeveloper:
		return s.authenticateDeveloper(r, req)
	case dream.AccessPublishable, dream.AccessSecret, dream.AccessEndUser:
	default:
		// A class the pipeline cannot check opens nothing.
		return fmt.Errorf("route %s %s declares access %q, which the pipeline cannot check", r.Method, infoFrom(r.Context()).route, a)
	}
	ctx := r.Context()
	authorization := r.Header.Get("Authorization")
	pk := r.Header.Get("X-Publishable-Key")
	switch {
	case strings.HasPrefix(authorization, "Bearer sk_"):
		if err := s.resolveSecretKey(ctx, strings.TrimPrefix(authorization, "Bearer "), pk, req); err != nil {
			return err
		}
	case pk != "":
		// The allow-list is checked before the key: a front end must learn
		// that a route is backend-only whatever key it holds.
		if a == dream.AccessSecret {
			return dream.ErrSecretKeyRequired
		}
		env, err := s.environment(ctx, pk)
		if err != nil {
			return err
		}
		if env == nil {
			return dream.ErrInvalidPublishableKey
		}
		req.key, req.scope = env, env
	case !strings.HasPrefix(authorization, "Bearer "):
		return dream.ErrMissingAuthentication
	default:
		return dream.ErrInvalidSecretKey
	}

	if err := s.checkPlatform(ctx, req.key); err != nil {
		return err
	}
	switch a {
	case dream.AccessEndUser:
		return s.authenticateEndUser(w, r, req)
	case dream.AccessSecret:
		return s.limitSecretKey(w, req)
	}
	return nil
}

// resolveSecretKey validates a secret key and the X-Publishable-Key
// override that may come with it. The override must name an environment of
// the same platform and mode; anything else would let one developer's key
// reach another tenant's data.
func (s *Server) resolveSecretKey(ctx context.Context, sk, overridePK string, req *request) error {
	key, err := dream.ParseKey(dream.SecretKey, sk)
	if err != nil {
		return err
	}
	hash := dream.HashSecretKey(key.Value)
	record, err := s.secretKey(ctx, hash)
	if err != nil {
		return err
	}
	if record == nil || !record.Hash.Equal(hash) || !record.ValidAt(s.now()) || record.Environment.Mode != key.Mode {
		return dream.ErrInvalidSecretKey
	}
	req.key, req.scope = &record.Environment, &record.Environment
	if overridePK == "" || overridePK == record.Environment.PublishableKey {
		return nil
	}
	env, err := s.environment(ctx, overridePK)
	if err != nil {
		return err
	}
	if env == nil || env.Project.PlatformID != record.Environment.Project.PlatformID || env.Mode != record.Environment.Mode {
		return dream.ErrForeignPublishableKey
	}
	req.scope = env
	return nil
}

// checkPlatform applies the platform gate to the credential's environment.
func (s *Server) checkPlatform(ctx context.Context, env *dream.Environment) error {
	if env.Mode == dream.ModeTest || s.plan.Off {
		return nil
	}
	sub, err := s.platformSubscription(ctx, env.Project.PlatformID)
	if err != nil {
		return err
	}
	return s.plan.CheckAccess(env.Mode, sub, s.plan.Now())
}

// endUserTokenHeaders are where an end-user token may come from, in order.
// Browsers can only send the first, the one CORS has always allowed.
var endUserTokenHeaders = []string{"X-Clerk-Token", "X-User-Token", "X-End-User-Token"}

// authenticateEndUser verifies the end-user token against the identity
// instance of the credential's mode, refuses a token not issued for the
// credential's project, and applies the end user's rate limit.
func (s *Server) authenticateEndUser(w http.ResponseWriter, r *http.Request, req *request) error {
	var token string
	for _, h := range endUserTokenHeaders {
		if token = r.Header.Get(h); token != "" {
			break
		}
	}
	if token == "" {
		return dream.ErrMissingEndUserToken
	}
	user, err := s.verifyToken(r.Context(), req.key, token)
	if err != nil {
		return err
	}
	req.user = user
	return s.limitEndUser(w, req.scope.Project, user.UserID)
}
