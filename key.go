package dream

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
)

// KeyKind tells a publishable key from a secret key.
type KeyKind int

// The two kinds of API key.
const (
	// PublishableKey identifies a project environment and may be shipped in
	// front-end code: "pk_test_" or "pk_live_" and 32 hex digits.
	PublishableKey KeyKind = iota + 1
	// SecretKey authenticates a developer's backend: "sk_test_" or "sk_live_"
	// and 64 hex digits. Only its SHA-256 is stored.
	SecretKey
)

// Key is a parsed API key.
type Key struct {
	Kind KeyKind
	Mode Mode
	// Value is the whole key as presented.
	Value string
}

// keyFormat is the prefix and random-part length of a key kind.
var keyFormat = map[KeyKind]struct {
	prefix  string
	hexLen  int
	invalid *Error
}{
	PublishableKey: {"pk_", 32, ErrInvalidPublishableKey},
	SecretKey:      {"sk_", 64, ErrInvalidSecretKey},
}

// ParseKey parses s as a key of the given kind. It checks the prefix, the
// mode and the length and alphabet of the random part; whether the key
// exists is for the store to say. A malformed key is the kind's
// invalid-key error.
func ParseKey(kind KeyKind, s string) (Key, error) {
	f := keyFormat[kind]
	if f.prefix == "" {
		return Key{}, ErrInternal
	}
	rest, ok := strings.CutPrefix(s, f.prefix)
	if !ok {
		return Key{}, f.invalid
	}
	var mode Mode
	switch {
	case strings.HasPrefix(rest, "test_"):
		mode = ModeTest
	case strings.HasPrefix(rest, "live_"):
		mode = ModeLive
	default:
		return Key{}, f.invalid
	}
	random := rest[len("test_"):]
	if len(random) != f.hexLen || !isLowerHex(random) {
		return Key{}, f.invalid
	}
	return Key{Kind: kind, Mode: mode, Value: s}, nil
}

// isLowerHex reports whether s is made only of 0-9 and a-f.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NewPublishableKey returns a new random publishable key for mode.
func NewPublishableKey(mode Mode) string {
	return "pk_" + string(mode) + "_" + randomHex(16)
}

// NewSecretKey returns a new random secret key for mode and its hash, the
// only form in which it is stored.
func NewSecretKey(mode Mode) (string, SecretKeyHash) {
	key := "sk_" + string(mode) + "_" + randomHex(32)
	return key, HashSecretKey(key)
}

// SecretKeyHash is the SHA-256 of a whole secret key string, prefix
// included.
type SecretKeyHash [sha256.Size]byte

// HashSecretKey returns the hash under which a secret key is stored.
func HashSecretKey(key string) SecretKeyHash {
	return sha256.Sum256([]byte(key))
}

// String returns the hash as lowercase hex, the form stored in the database.
func (h SecretKeyHash) String() string { return hex.EncodeToString(h[:]) }

// Equal compares two hashes in constant time.
func (h SecretKeyHash) Equal(other SecretKeyHash) bool {
	return subtle.ConstantTimeCompare(h[:], other[:]) == 1
}

// ParseSecretKeyHash parses the hex form of a hash.
func ParseSecretKeyHash(s string) (SecretKeyHash, error) {
	var h SecretKeyHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, Errorf(KindInternal, "internal_error", "malformed secret key hash")
	}
	copy(h[:], b)
	return h, nil
}

// SecretKeyRecord is a stored secret key: its hash, the environment it opens
// and its lifetime. A rotated key may stay valid until ExpiresAt so that a
// deployment can roll over without downtime.
type SecretKeyRecord struct {
	Hash        SecretKeyHash
	Environment Environment
	CreatedAt   time.Time
	// ExpiresAt is when a rotated key stops working; zero means never.
	ExpiresAt time.Time
}

// ValidAt reports whether the key authenticates at time now.
func (k *SecretKeyRecord) ValidAt(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// MarshalText writes the hash as lowercase hex.
func (h SecretKeyHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form of a hash.
func (h *SecretKeyHash) UnmarshalText(b []byte) error {
	parsed, err := ParseSecretKeyHash(string(b))
	if err != nil {
		return err
	}
	*h = parsed
	return nil
}
