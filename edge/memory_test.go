package edge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/auth"
	"github.com/dream-api/dream/internal/lru"
	"github.com/dream-api/dream/internal/memtest"
)

// TestTokenEntryBytes holds TokenEntryBytes to what a verified token
// costs in the cache: the end user as verifyToken keeps them, from claims
// as the identity issuer's verifier makes them, keyed as verifyToken keys
// them.
func TestTokenEntryBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies thousands of tokens")
	}
	issuer, err := auth.OpenDevIssuer(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	// A thousand tokens verified, each kept many times over with a key of
	// its own: a full cache on the fly.toml Machine holds about 250,000,
	// and what the cache's index costs an entry depends on how many it
	// holds.
	const n, tokens = 250_000, 1_000
	pk := dream.NewPublishableKey(dream.ModeTest)
	verified := make([]*dream.EndUserClaims, tokens)
	for i := range verified {
		token, _, err := issuer.IssueToken(pk, fmt.Sprintf("customer%d@example.com", i), "")
		if err != nil {
			t.Fatal(err)
		}
		if verified[i], err = issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, token); err != nil {
			t.Fatal(err)
		}
	}
	// The cache holds strings of the verifier's claims; a copy of each,
	// made while measuring, costs what holding them does.
	c, err := lru.New[tokenKey, endUser](n)
	if err != nil {
		t.Fatal(err)
	}
	per := memtest.BytesPerEntry(n, func(i int) {
		v := verified[i%tokens]
		sum := sha256.Sum256(fmt.Appendf(nil, "%s %d", v.UserID, i))
		c.Add(tokenKey(sum[:len(tokenKey{})]), endUser{UserID: strings.Clone(v.UserID), Email: strings.Clone(v.Email),
			Plan: strings.Clone(v.Plan), expires: v.ExpiresAt.Unix()})
	})
	runtime.KeepAlive(c)
	runtime.KeepAlive(verified)
	t.Logf("a cached token costs %.0f bytes", per)
	if per > TokenEntryBytes {
		t.Errorf("a cached token costs %.0f bytes, more than TokenEntryBytes (%d)", per, TokenEntryBytes)
	}
}
