package edge

import (
	"net/http"

	"github.com/dream-api/dream"
)

// mountDev adds the routes of dev mode's built-in identity issuer: minting
// end-user tokens for any email in a project, and the issuer's public keys.
// They exist only when the server runs in dev mode.
func (s *Server) mountDev(dev DevIdentity) {
	s.handle(http.MethodPost, "/dev/tokens", dream.AccessNone, func(w http.ResponseWriter, r *http.Request, _ *request) error {
		var body struct {
			PublishableKey string `json:"publishableKey"`
			Email          string `json:"email"`
			Plan           string `json:"plan"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		if body.PublishableKey == "" {
			return dream.Errorf(dream.KindInvalid, "Missing required field", "publishableKey is required")
		}
		if err := dream.CheckLength("email", body.Email, dream.MaxEmail); err != nil {
			return err
		}
		if err := dream.CheckLength("plan", body.Plan, dream.MaxName); err != nil {
			return err
		}
		env, err := s.environment(r.Context(), body.PublishableKey)
		if err != nil {
			return err
		}
		if env == nil {
			return dream.ErrInvalidPublishableKey
		}
		token, userID, err := dev.IssueToken(env.PublishableKey, body.Email, body.Plan)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": token, "userId": userID})
		return nil
	})
	s.handle(http.MethodGet, "/.well-known/jwks.json", dream.AccessNone, func(w http.ResponseWriter, r *http.Request, _ *request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write(dev.JWKS())
		return nil
	})
}
