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
	"github.com/dream-api/dream/internal/memtest"
	lru "github.com/hashicorp/golang-lru/v2"
)

// TestTokenEntryBytes holds TokenEntryBytes to what a verified token
// costs in the cache: claims as the identity issuer's verifier makes them,
// keyed as verifyToken keys them.
func TestTokenEntryBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies thousands of tokens")
	}
	issuer, err := auth.OpenDevIssuer(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1_000
	pk := dream.NewPublishableKey(dream.ModeTest)
	verified := make([]*dream.EndUserClaims, n)
	for i := range verified {
		token, _, err := issuer.IssueToken(pk, fmt.Sprintf("customer%d@example.com", i), "")
		if err != nil {
			t.Fatal(err)
		}
		if verified[i], err = issuer.VerifyEndUserToken(context.Background(), dream.ModeTest, token); err != nil {
			t.Fatal(err)
		}
	}
	// The cache holds claims as the verifier made them; a deep copy of
	// each, made while measuring, costs what holding them does.
	c, err := lru.New[[sha256.Size]byte, *dream.EndUserClaims](n)
	if err != nil {
		t.Fatal(err)
	}
	per := memtest.BytesPerEntry(n, func(i int) {
		v := verified[i]
		c.Add(sha256.Sum256([]byte(v.UserID)), &dream.EndUserClaims{UserID: strings.Clone(v.UserID), Email: strings.Clone(v.Email),
			Plan: strings.Clone(v.Plan), PublishableKey: strings.Clone(v.PublishableKey), ExpiresAt: v.ExpiresAt, SessionID: strings.Clone(v.SessionID)})
	})
	runtime.KeepAlive(c)
	runtime.KeepAlive(verified)
	t.Logf("a cached token costs %.0f bytes", per)
	if per > TokenEntryBytes {
		t.Errorf("a cached token costs %.0f bytes, more than TokenEntryBytes (%d)", per, TokenEntryBytes)
	}
}
