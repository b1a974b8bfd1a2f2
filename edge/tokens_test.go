package edge

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/ratelimit"
	"github.com/dream-api/dream/store/storetest"
)

// signedTokens stands for an identity provider whose tokens are all
// validly signed; the token's text names the claims it carries.
type signedTokens map[string]*dream.EndUserClaims

func (s signedTokens) VerifyEndUserToken(_ context.Context, _ dream.Mode, token string) (*dream.EndUserClaims, error) {
	if c, ok := s[token]; ok {
		return c, nil
	}
	return nil, dream.ErrInvalidEndUserToken
}

// TestEndUserTokensBindToOneProject sends validly signed tokens to the
// end-user routes: one that names no project is refused with 401, one that
// names another project with 403, and only one of the request's project
// passes.
func TestEndUserTokensBindToOneProject(t *testing.T) {
	db := storetest.Open(t)
	p := primary.New(db, time.Now, nil)
	t.Cleanup(func() { p.Close() })
	proj := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
	other := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
	limiter, err := ratelimit.New(100)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour)
	tokens := signedTokens{
		"unbound": {UserID: "user_1", ExpiresAt: expires},
		"other":   {UserID: "user_1", PublishableKey: other.Test.PublishableKey, ExpiresAt: expires},
		"own":     {UserID: "user_1", PublishableKey: proj.Test.PublishableKey, ExpiresAt: expires},
	}
	s, err := Open(context.Background(), Options{DB: db, Writer: p, Tokens: tokens, Limiter: limiter,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		token  string
		status int
		code   string
	}{
		{"unbound", 401, "Invalid or missing end-user token"},
		{"other", 403, "Publishable key mismatch"},
		{"own", 200, ""},
	} {
		for _, key := range [][2]string{{"X-Publishable-Key", proj.Test.PublishableKey}, {"Authorization", "Bearer " + proj.Test.SecretKey}} {
			req := httptest.NewRequest(http.MethodGet, "/api/usage", nil)
			req.Header.Set(key[0], key[1])
			req.Header.Set("X-Clerk-Token", tt.token)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("a %s token with %s answered %d %s, want %d %s", tt.token, key[0], rec.Code, rec.Body, tt.status, tt.code)
			}
		}
	}
}
