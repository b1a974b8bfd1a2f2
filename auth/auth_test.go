package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// t0 is a fixed instant so that every test controls time completely.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testClock is a clock tests move by hand; safe for concurrent use because
// verifiers read it from many goroutines.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: t0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Test keys are generated once: RSA key generation is slow, above all under
// the race detector.
var (
	clerkKey      = sync.OnceValue(func() *rsa.PrivateKey { return generateKey() })
	clerkTestKey  = sync.OnceValue(func() *rsa.PrivateKey { return generateKey() })
	clerkOtherKey = sync.OnceValue(func() *rsa.PrivateKey { return generateKey() })
	strangerKey   = sync.OnceValue(func() *rsa.PrivateKey { return generateKey() })
)

func generateKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
}

// signFunc signs the signing input of a JWS.
type signFunc func(input []byte) []byte

func rs256(key *rsa.PrivateKey) signFunc { return rsaSign(key, crypto.SHA256) }
func rs512(key *rsa.PrivateKey) signFunc { return rsaSign(key, crypto.SHA512) }

func rsaSign(key *rsa.PrivateKey, hash crypto.Hash) signFunc {
	return func(input []byte) []byte {
		var digest []byte
		switch hash {
		case crypto.SHA256:
			sum := sha256.Sum256(input)
			digest = sum[:]
		case crypto.SHA512:
			sum := sha512.Sum512(input)
			digest = sum[:]
		}
		signature, err := rsa.SignPKCS1v15(nil, key, hash, digest)
		if err != nil {
			panic(err)
		}
		return signature
	}
}

func hs256(secret []byte) signFunc {
	return func(input []byte) []byte {
		mac := hmac.New(sha256.New, secret)
		mac.Write(input)
		return mac.Sum(nil)
	}
}

func unsigned(input []byte) []byte { return nil }

// encodeToken builds a compact JWS by hand, so that tests can forge exactly
// the tokens a verifier must refuse.
func encodeToken(header, payload map[string]any, sign signFunc) string {
	segment := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(data)
	}
	input := segment(header) + "." + segment(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

// issuer signs tokens as one real issuer would: its key, kid and iss.
type issuer struct {
	key    *rsa.PrivateKey
	kid    string
	issuer string
}

// header is the header of the issuer's tokens with alg.
func (i issuer) header(alg string) map[string]any {
	return map[string]any{"alg": alg, "kid": i.kid, "typ": "JWT"}
}

// claims are valid claims of a token issued at now.
func (i issuer) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":            i.issuer,
		"sub":            "user_2abc",
		"iat":            now.Unix(),
		"nbf":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
		"email":          "ann@example.com",
		"plan":           "pro",
		"publishableKey": "pk_test_1",
	}
}

// token signs claims, changed by edit, with the issuer's key.
func (i issuer) token(now time.Time, edit func(claims map[string]any)) string {
	claims := i.claims(now)
	if edit != nil {
		edit(claims)
	}
	return encodeToken(i.header("RS256"), claims, rs256(i.key))
}

// verifyFunc is the VerifyEndUserToken of one implementation.
type verifyFunc func(ctx context.Context, mode dream.Mode, token string) (*dream.EndUserClaims, error)

// target is one implementation under test with the issuer it trusts.
type target struct {
	name   string
	issuer issuer
	clock  *testClock
	verify verifyFunc
}

// targets returns the dev issuer and a Clerk verifier: the shared rules must
// hold for both.
func targets(t *testing.T) []target {
	devClock := newTestClock()
	dir := t.TempDir()
	dev := openTestDevIssuer(t, dir, devClock)
	devKey, err := openDevKey(filepath.Join(dir, devKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	clerkClock := newTestClock()
	server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
	verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clerkClock.Now, nil, nil)

	return []target{
		{
			name:   "Dev",
			issuer: issuer{key: devKey, kid: dev.key.KeyID, issuer: DevIssuerName},
			clock:  devClock,
			verify: dev.VerifyEndUserToken,
		},
		{
			name:   "Clerk",
			issuer: issuer{key: clerkKey(), kid: "kid-1", issuer: "https://clerk.example.test"},
			clock:  clerkClock,
			verify: verifier.VerifyEndUserToken,
		},
	}
}

func TestVerify_Accepts(t *testing.T) {
	for _, target := range targets(t) {
		t.Run(target.name, func(t *testing.T) {
			now := target.clock.Now()
			for _, tt := range []struct {
				name string
				edit func(claims map[string]any)
			}{
				{"Valid", nil},
				{"ExpiredWithinLeeway", func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }},
				{"NotYetValidWithinLeeway", func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() }},
				{"IssuedInFutureWithinLeeway", func(c map[string]any) { c["iat"] = now.Add(30 * time.Second).Unix() }},
				{"NoNotBeforeNorIssuedAt", func(c map[string]any) { delete(c, "nbf"); delete(c, "iat") }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					token := target.issuer.token(now, tt.edit)
					claims, err := target.verify(context.Background(), dream.ModeLive, token)
					if err != nil {
						t.Fatalf("verifying a token that should pass: %v, want end-user claims", err)
					}
					if claims.UserID != "user_2abc" {
						t.Fatalf("the verified token names end user %q, want user_2abc", claims.UserID)
					}
				})
			}
		})
	}
}

func TestVerify_Refuses(t *testing.T) {
	for _, target := range targets(t) {
		t.Run(target.name, func(t *testing.T) {
			iss := target.issuer
			now := target.clock.Now()
			valid := iss.token(now, nil)
			publicDER, err := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})

			for _, tt := range []struct {
				name  string
				token string
			}{
				{"TamperedPayload", tamperPayload(t, valid)},
				{"TamperedSignature", tamperSignature(t, valid)},
				{"OtherKey", encodeToken(iss.header("RS256"), iss.claims(now), rs256(strangerKey()))},
				{"AlgNone", encodeToken(iss.header("none"), iss.claims(now), unsigned)},
				{"AlgNoneCapitalised", encodeToken(iss.header("None"), iss.claims(now), unsigned)},
				{"HS256WithPublicKeyPEM", encodeToken(iss.header("HS256"), iss.claims(now), hs256(publicPEM))},
				{"HS256WithPublicKeyDER", encodeToken(iss.header("HS256"), iss.claims(now), hs256(publicDER))},
				{"RS512", encodeToken(iss.header("RS512"), iss.claims(now), rs512(iss.key))},
				{"Expired", iss.token(now, func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() })},
				{"NotYetValid", iss.token(now, func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })},
				{"IssuedInFuture", iss.token(now, func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })},
				{"MissingExp", iss.token(now, func(c map[string]any) { delete(c, "exp") })},
				{"MissingSub", iss.token(now, func(c map[string]any) { delete(c, "sub") })},
				{"EmptySub", iss.token(now, func(c map[string]any) { c["sub"] = "" })},
				{"NumericSub", iss.token(now, func(c map[string]any) { c["sub"] = 42 })},
				{"WrongIssuer", iss.token(now, func(c map[string]any) { c["iss"] = "https://evil.example.test" })},
				{"MissingIssuer", iss.token(now, func(c map[string]any) { delete(c, "iss") })},
				{"UnknownKid", encodeToken(map[string]any{"alg": "RS256", "kid": "kid-unknown"}, iss.claims(now), rs256(iss.key))},
				{"MissingKid", encodeToken(map[string]any{"alg": "RS256"}, iss.claims(now), rs256(iss.key))},
				{"UpperCaseAlgName", encodeToken(map[string]any{"ALG": "RS256", "kid": iss.kid}, iss.claims(now), rs256(iss.key))},
				{"CriticalHeader", encodeToken(map[string]any{"alg": "RS256", "kid": iss.kid, "crit": []string{"exp"}}, iss.claims(now), rs256(iss.key))},
				{"UpperCaseSub", iss.token(now, func(c map[string]any) { c["SUB"] = c["sub"]; delete(c, "sub") })},
				{"NonCanonicalSignature", nonCanonical(t, valid)},
				{"Empty", ""},
				{"TwoParts", "a.b"},
				{"ThreeLetters", "a.b.c"},
				{"NotBase64", "!!!.@@@.###"},
				{"Whitespace", strings.Replace(valid, ".", " .", 1)},
				{"JSONSerialization", jsonSerialization(t, valid)},
				{"Bearer", "Bearer " + valid},
			} {
				t.Run(tt.name, func(t *testing.T) {
					claims, err := target.verify(context.Background(), dream.ModeLive, tt.token)
					if err != dream.ErrInvalidEndUserToken {
						t.Fatalf("verifying a bad token gave claims %+v and error %v, want ErrInvalidEndUserToken",
							claims, err)
					}
				})
			}
		})
	}
}

// tamperPayload returns token with the subject changed and the signature
// kept.
func tamperPayload(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	payload = bytes.Replace(payload, []byte("user_2abc"), []byte("user_2abd"), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// nonCanonical returns token with its signature spelt otherwise: the
// unused low bits of its last character set, which a lenient base64
// decoder drops.
func nonCanonical(t *testing.T, token string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if (len(token)-strings.LastIndexByte(token, '.')-1)%4 == 0 {
		t.Fatal("the signature's encoding has no unused bits")
	}
	last := strings.IndexByte(alphabet, token[len(token)-1])
	spelt := token[:len(token)-1] + string(alphabet[last|1])
	if _, err := base64.RawURLEncoding.DecodeString(spelt[strings.LastIndexByte(spelt, '.')+1:]); err != nil {
		t.Fatalf("the other spelling does not decode leniently: %v", err)
	}
	return spelt
}

// tamperSignature returns token with one bit of its signature flipped.
func tamperSignature(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	signature[len(signature)/2] ^= 1
	parts[2] = base64.RawURLEncoding.EncodeToString(signature)
	return strings.Join(parts, ".")
}

// jsonSerialization returns the JWS JSON serialization of token: the same
// signature, in a form that go-jose accepts and bearer tokens never use.
func jsonSerialization(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	data, err := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestVerify_LogsReasonNotToken(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newTestClock()
	server := newFakeClerk(t, "sk_live_1", clerkKeyPair("kid-1", clerkKey()))
	verifier := NewClerkVerifier(ClerkInstance{SecretKey: "sk_live_1", APIURL: server.url()}, ClerkInstance{}, clock.Now, nil, logger)

	iss := issuer{key: clerkKey(), kid: "kid-1", issuer: "https://clerk.example.test"}
	token := iss.token(t0, func(c map[string]any) { c["exp"] = t0.Add(-time.Hour).Unix() })
	if _, err := verifier.VerifyEndUserToken(context.Background(), dream.ModeLive, token); err != dream.ErrInvalidEndUserToken {
		t.Fatalf("verifying an expired token: %v, want ErrInvalidEndUserToken", err)
	}
	if !strings.Contains(log.String(), "end-user token refused") || !strings.Contains(log.String(), "expired") {
		t.Fatalf("the log of a refused expired token lacks the refusal or its reason, want both:\n%s", log.String())
	}
	for _, part := range strings.Split(token, ".") {
		if strings.Contains(log.String(), part) {
			t.Fatalf("the log holds a part of the refused token, want the token kept out:\n%s", log.String())
		}
	}
}

func TestIsCompact(t *testing.T) {
	for _, tt := range []struct {
		token string
		want  bool
	}{
		{"a.b.c", true},
		{"aZ09-_.b.", true},
		{"", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{"a.b.c=", false},
		{"a+b.c.d", false},
		{"a. b.c", false},
		{`{"payload":"a"}`, false},
	} {
		if got := isCompact(tt.token); got != tt.want {
			t.Errorf("isCompact(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}
