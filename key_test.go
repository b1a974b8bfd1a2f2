package dream_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func TestNewKeys(t *testing.T) {
	for _, mode := range []dream.Mode{dream.ModeTest, dream.ModeLive} {
		pk := dream.NewPublishableKey(mode)
		if len(pk) != len("pk_test_")+32 {
			t.Errorf("a new publishable key %q has length %d, want %d", pk, len(pk), len("pk_test_")+32)
		}
		if key, err := dream.ParseKey(dream.PublishableKey, pk); err != nil || key.Mode != mode {
			t.Errorf("parsing a new publishable key %q: key %+v, error %v; want it valid in mode %s", pk, key, err, mode)
		}
		sk, hash := dream.NewSecretKey(mode)
		if len(sk) != len("sk_test_")+64 {
			t.Errorf("a new secret key %q has length %d, want %d", sk, len(sk), len("sk_test_")+64)
		}
		if key, err := dream.ParseKey(dream.SecretKey, sk); err != nil || key.Mode != mode {
			t.Errorf("parsing a new secret key %q: key %+v, error %v; want it valid in mode %s", sk, key, err, mode)
		}
		if !hash.Equal(dream.HashSecretKey(sk)) {
			t.Errorf("a new secret key came with the hash %s, want its own hash %s", hash, dream.HashSecretKey(sk))
		}
	}
	if a, b := dream.NewPublishableKey(dream.ModeTest), dream.NewPublishableKey(dream.ModeTest); a == b {
		t.Errorf("two new publishable keys are both %q, want them different", a)
	}
}

func TestParseKey(t *testing.T) {
	hex32, hex64 := strings.Repeat("0a", 16), strings.Repeat("f1", 32)
	for _, tt := range []struct {
		kind  dream.KeyKind
		key   string
		valid bool
		mode  dream.Mode
	}{
		{dream.PublishableKey, "pk_test_" + hex32, true, dream.ModeTest},
		{dream.PublishableKey, "pk_live_" + hex32, true, dream.ModeLive},
		{dream.SecretKey, "sk_test_" + hex64, true, dream.ModeTest},
		{dream.SecretKey, "sk_live_" + hex64, true, dream.ModeLive},
		{dream.PublishableKey, "sk_test_" + hex32, false, ""},
		{dream.SecretKey, "pk_test_" + hex64, false, ""},
		{dream.PublishableKey, "pk_prod_" + hex32, false, ""},
		{dream.PublishableKey, "pk_test_" + hex32[:31], false, ""},
		{dream.PublishableKey, "pk_test_" + hex32 + "0", false, ""},
		{dream.PublishableKey, "pk_test_" + strings.ToUpper(hex32), false, ""},
		{dream.SecretKey, "sk_test_" + hex64[:63] + "g", false, ""},
		{dream.SecretKey, "", false, ""},
		{dream.SecretKey, "sk_test_", false, ""},
		{dream.PublishableKey, "pk_test", false, ""},
	} {
		key, err := dream.ParseKey(tt.kind, tt.key)
		if tt.valid != (err == nil) || (tt.valid && key.Mode != tt.mode) {
			t.Errorf("parsing the key %q: key %+v, error %v; want valid %v, mode %q", tt.key, key, err, tt.valid, tt.mode)
		}
		if err == nil {
			continue
		}
		want := dream.ErrInvalidPublishableKey
		if tt.kind == dream.SecretKey {
			want = dream.ErrInvalidSecretKey
		}
		if !errors.Is(err, want) {
			t.Errorf("parsing the invalid key %q: error %v, want %v", tt.key, err, want)
		}
	}
}

// FuzzParseKey holds the key parser, which reads X-Publishable-Key and
// the Bearer secret key of every keyed request, to the keys' form: an
// accepted key is the value presented with its kind's prefix and a mode,
// and a refusal is the kind's invalid-key error, never another.
func FuzzParseKey(f *testing.F) {
	f.Add("pk_test_" + strings.Repeat("ab", 16))
	f.Add("sk_live_" + strings.Repeat("09", 32))
	f.Add("sk_test_\x00")
	f.Add("pk_live_é")
	f.Add("pk_test_" + strings.Repeat("AB", 16))
	f.Add("sk_demo_" + strings.Repeat("09", 32))
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []dream.KeyKind{dream.PublishableKey, dream.SecretKey} {
			key, err := dream.ParseKey(kind, s)
			if err != nil {
				want := map[dream.KeyKind]error{dream.PublishableKey: dream.ErrInvalidPublishableKey, dream.SecretKey: dream.ErrInvalidSecretKey}[kind]
				if !errors.Is(err, want) {
					t.Fatalf("parsing %q as a key of kind %d was refused with %v, want %v", s, kind, err, want)
				}
				continue
			}
			if key.Value != s || !key.Mode.Valid() || !strings.HasPrefix(s, map[dream.KeyKind]string{dream.PublishableKey: "pk_", dream.SecretKey: "sk_"}[kind]+string(key.Mode)+"_") {
				t.Fatalf("parsing %q accepted it as %+v, want a refusal or a key of the right prefix, mode and value", s, key)
			}
		}
	})
}

func TestSecretKeyHash(t *testing.T) {
	sk, hash := dream.NewSecretKey(dream.ModeLive)
	parsed, err := dream.ParseSecretKeyHash(hash.String())
	if err != nil || !parsed.Equal(hash) {
		t.Fatalf("parsing a secret key hash back from its text: %v, error %v; want the same hash %v", parsed, err, hash)
	}
	if len(hash.String()) != 64 || hash.String() != strings.ToLower(hash.String()) {
		t.Fatalf("a secret key hash reads %q, want 64 characters of lowercase hex", hash)
	}
	if dream.HashSecretKey(sk + "x").Equal(hash) {
		t.Fatal("two different secret keys have the same hash, want different hashes")
	}
	b, err := json.Marshal(hash)
	if err != nil || string(b) != `"`+hash.String()+`"` {
		t.Fatalf("a secret key hash in JSON is %s, error %v; want the quoted hex %q", b, err, hash.String())
	}
	var back dream.SecretKeyHash
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(hash) {
		t.Fatalf("a secret key hash read back from JSON is %v, error %v; want %v", back, err, hash)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("a", 63), strings.Repeat("a", 66)} {
		if _, err := dream.ParseSecretKeyHash(bad); err == nil {
			t.Errorf("parsing the secret key hash %q gave no error, want it refused", bad)
		}
	}
}

func TestSecretKeyRecord_ValidAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !(&dream.SecretKeyRecord{}).ValidAt(now) {
		t.Error("a secret key without expiry is not valid, want it valid")
	}
	k := &dream.SecretKeyRecord{ExpiresAt: now.Add(time.Hour)}
	if !k.ValidAt(now) || k.ValidAt(now.Add(time.Hour)) {
		t.Errorf("a secret key expiring in an hour: valid now %v, valid at expiry %v; want valid now, expired at expiry",
			k.ValidAt(now), k.ValidAt(now.Add(time.Hour)))
	}
}

func TestPlatformPlan_CheckAccess(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		mode dream.Mode
		sub  dream.PlatformSubscription
		ok   bool
	}{
		{"TestModeAlways", dream.ModeTest, dream.PlatformSubscription{Status: dream.StatusCanceled, EndedAt: now.AddDate(-1, 0, 0)}, true},
		{"TestModeNeverSubscribed", dream.ModeTest, dream.PlatformSubscription{Status: dream.StatusNone}, true},
		{"Trialing", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusTrialing}, true},
		{"Active", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusActive}, true},
		{"PastDue", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusPastDue}, true},
		{"CanceledInGrace", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusCanceled, EndedAt: now.Add(-6 * 24 * time.Hour)}, true},
		{"CanceledGraceOver", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusCanceled, EndedAt: now.Add(-7 * 24 * time.Hour)}, false},
		{"UnpaidInGrace", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusUnpaid, EndedAt: now.Add(-time.Hour)}, true},
		{"CanceledWithoutEnd", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusCanceled}, false},
		{"NeverSubscribed", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusNone}, false},
		{"Incomplete", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusIncomplete}, false},
		{"Paused", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusPaused}, false},
		{"IncompleteExpired", dream.ModeLive, dream.PlatformSubscription{Status: dream.StatusIncompleteExpired}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := dream.PlatformPlan{Grace: 7 * 24 * time.Hour}
			err := plan.CheckAccess(tt.mode, tt.sub, now)
			if tt.ok != (err == nil) {
				t.Fatalf("platform access in %s mode with subscription %+v: error %v, want access %v", tt.mode, tt.sub, err, tt.ok)
			}
			if err != nil && !errors.Is(err, dream.ErrSubscriptionExpired) {
				t.Fatalf("platform access refused with %v, want subscription_expired", err)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	if dream.ErrorKind(dream.LimitReached(3, 3)) != dream.KindForbidden {
		t.Errorf("a reached limit is of kind %d, want forbidden (%d)", dream.ErrorKind(dream.LimitReached(3, 3)), dream.KindForbidden)
	}
	wrapped := errors.Join(errors.New("context"), dream.ErrInvalidSecretKey)
	if dream.ErrorKind(wrapped) != dream.KindUnauthenticated {
		t.Errorf("a wrapped invalid secret key is of kind %d, want unauthenticated (%d)", dream.ErrorKind(wrapped), dream.KindUnauthenticated)
	}
	if dream.ErrorKind(errors.New("disk on fire")) != dream.KindInternal {
		t.Errorf("a plain error is of kind %d, want internal (%d)", dream.ErrorKind(errors.New("disk on fire")), dream.KindInternal)
	}
}
