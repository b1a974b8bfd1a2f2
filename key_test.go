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
			t.Errorf("publishable key %q has length %d", pk, len(pk))
		}
		if key, err := dream.ParseKey(dream.PublishableKey, pk); err != nil || key.Mode != mode {
			t.Errorf("ParseKey(%q) = %+v, %v", pk, key, err)
		}
		sk, hash := dream.NewSecretKey(mode)
		if len(sk) != len("sk_test_")+64 {
			t.Errorf("secret key %q has length %d", sk, len(sk))
		}
		if key, err := dream.ParseKey(dream.SecretKey, sk); err != nil || key.Mode != mode {
			t.Errorf("ParseKey(%q) = %+v, %v", sk, key, err)
		}
		if !hash.Equal(dream.HashSecretKey(sk)) {
			t.Error("the returned hash is not the key's")
		}
	}
	if a, b := dream.NewPublishableKey(dream.ModeTest), dream.NewPublishableKey(dream.ModeTest); a == b {
		t.Error("two keys are equal")
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
			t.Errorf("ParseKey(%q) = %+v, %v", tt.key, key, err)
		}
		if err == nil {
			continue
		}
		want := dream.ErrInvalidPublishableKey
		if tt.kind == dream.SecretKey {
			want = dream.ErrInvalidSecretKey
		}
		if !errors.Is(err, want) {
			t.Errorf("ParseKey(%q): error %v, want %v", tt.key, err, want)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("pk_test_" + strings.Repeat("ab", 16))
	f.Add("sk_live_" + strings.Repeat("09", 32))
	f.Add("sk_test_\x00")
	f.Add("pk_live_é")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []dream.KeyKind{dream.PublishableKey, dream.SecretKey} {
			key, err := dream.ParseKey(kind, s)
			if err != nil {
				continue
			}
			if key.Value != s || !key.Mode.Valid() || !strings.HasPrefix(s, map[dream.KeyKind]string{dream.PublishableKey: "pk_", dream.SecretKey: "sk_"}[kind]+string(key.Mode)+"_") {
				t.Fatalf("ParseKey(%q) accepted %+v", s, key)
			}
		}
	})
}

func TestSecretKeyHash(t *testing.T) {
	sk, hash := dream.NewSecretKey(dream.ModeLive)
	parsed, err := dream.ParseSecretKeyHash(hash.String())
	if err != nil || !parsed.Equal(hash) {
		t.Fatalf("round trip: %v", err)
	}
	if len(hash.String()) != 64 || hash.String() != strings.ToLower(hash.String()) {
		t.Fatalf("hash %q is not lowercase hex SHA-256", hash)
	}
	if dream.HashSecretKey(sk + "x").Equal(hash) {
		t.Fatal("different keys hash equal")
	}
	b, err := json.Marshal(hash)
	if err != nil || string(b) != `"`+hash.String()+`"` {
		t.Fatalf("JSON = %s, %v", b, err)
	}
	var back dream.SecretKeyHash
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(hash) {
		t.Fatalf("JSON round trip: %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("a", 63), strings.Repeat("a", 66)} {
		if _, err := dream.ParseSecretKeyHash(bad); err == nil {
			t.Errorf("ParseSecretKeyHash(%q) succeeded", bad)
		}
	}
}

func TestSecretKeyRecord_ValidAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !(&dream.SecretKeyRecord{}).ValidAt(now) {
		t.Error("a key without expiry is invalid")
	}
	k := &dream.SecretKeyRecord{ExpiresAt: now.Add(time.Hour)}
	if !k.ValidAt(now) || k.ValidAt(now.Add(time.Hour)) {
		t.Error("expiry is not exclusive of its instant")
	}
}

func TestCheckPlatformAccess(t *testing.T) {
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := dream.CheckPlatformAccess(tt.mode, tt.sub, now)
			if tt.ok != (err == nil) {
				t.Fatalf("got %v", err)
			}
			if err != nil && !errors.Is(err, dream.ErrSubscriptionExpired) {
				t.Fatalf("got %v, want subscription_expired", err)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	if dream.ErrorKind(dream.LimitReached(3, 3)) != dream.KindForbidden {
		t.Error("LimitReached is not forbidden")
	}
	wrapped := errors.Join(errors.New("context"), dream.ErrInvalidSecretKey)
	if dream.ErrorKind(wrapped) != dream.KindUnauthenticated {
		t.Error("kind of a wrapped error lost")
	}
	if dream.ErrorKind(errors.New("disk on fire")) != dream.KindInternal {
		t.Error("a plain error is not internal")
	}
}
