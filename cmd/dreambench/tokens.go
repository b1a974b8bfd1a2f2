package main

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/dream-api/dream/auth"
)

// endUser is an end user of the scale section, who exists only in the
// tokens signed for them: the node registers them on their first track,
// as it does every end user of an identity provider.
type endUser struct {
	ID, Email string
}

// scaleUser is the i-th end user of the scale section. Ids have the shape
// of the dev issuer's ("user_" and 24 hex digits), spread as random ids
// are, so that each new user lands on a page of their own in the
// database's indexes.
func scaleUser(i int) endUser {
	sum := sha256.Sum256(fmt.Appendf(nil, "scale-%d", i))
	return endUser{ID: "user_" + hex.EncodeToString(sum[:12]), Email: fmt.Sprintf("scale-%d@example.com", i)}
}

// tokenLifetime is how long the scale section's tokens are valid: longer
// than the section runs.
const tokenLifetime = time.Hour

// devSigner signs end users' tokens as `dream dev`'s identity issuer does,
// with its key read from the node's data directory: creating 100,000 users
// through POST /dev/tokens would take minutes of requests, and signing
// them here costs the same RSA signatures without them.
type devSigner struct {
	key            *rsa.PrivateKey
	keyID          string
	publishableKey string
	plan           string
}

// newDevSigner reads the issuer's key of the node and the key id its JWKS
// gives it, and signs tokens of the node's SaaS project claiming plan.
func newDevSigner(ctx context.Context, d *devNode, plan string) (*devSigner, error) {
	b, err := os.ReadFile(filepath.Join(d.data, "dev-issuer-key.pem"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("dev-issuer-key.pem holds no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dev-issuer-key.pem: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev-issuer-key.pem holds a %T, not an RSA key", parsed)
	}
	body, err := call(ctx, http.MethodGet, d.base+"/.well-known/jwks.json", nil)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the dev issuer's JWKS: %w", err)
	}
	if len(set.Keys) != 1 {
		return nil, fmt.Errorf("the dev issuer's JWKS has %d keys, want one", len(set.Keys))
	}
	if public, ok := set.Keys[0].Key.(*rsa.PublicKey); !ok || !public.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("the dev issuer's JWKS does not publish the key of dev-issuer-key.pem")
	}
	return &devSigner{key: key, keyID: set.Keys[0].KeyID, publishableKey: d.publishableKey, plan: plan}, nil
}

// sign returns the users' tokens, in order, signed on every core.
func (s *devSigner) sign(ctx context.Context, users []endUser) ([]string, error) {
	tokens := make([]string, len(users))
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: s.key, KeyID: s.keyID}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				errs[w] = err
				return
			}
			now := time.Now()
			for i := w; i < len(users) && ctx.Err() == nil; i += workers {
				// The dev issuer's claims: the custom ones top-level, as
				// in Clerk's end-user-api JWT template.
				tokens[i], err = jwt.Signed(signer).Claims(jwt.Claims{
					Issuer: auth.DevIssuerName, Subject: users[i].ID,
					IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(tokenLifetime)),
				}).Claims(map[string]any{"email": users[i].Email, "plan": s.plan, "publishableKey": s.publishableKey}).CompactSerialize()
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range append(errs, ctx.Err()) {
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}
