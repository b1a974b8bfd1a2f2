package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/safefile"
	"golang.org/x/crypto/bcrypt"
)

// DevIssuerName is the iss claim of dev tokens.
const DevIssuerName = "dream-dev"

const (
	devKeyFile   = "dev-issuer-key.pem"
	devUsersFile = "dev-users.jsonl"
	// devUsersDocument is the users file of versions that rewrote it whole
	// on every change; its users move to devUsersFile.
	devUsersDocument = "dev-users.json"
	devKeyBits       = 2048
	devTokenLifetime = 24 * time.Hour
)

// DevIssuer is the built-in identity issuer of dev mode. `dream dev` runs
// offline, without Clerk, so it signs end-user tokens itself with a local
// RSA key and verifies them exactly as production verifies Clerk's: a front
// end that works against dev mode works against production.
type DevIssuer struct {
	signer jose.Signer
	// key is the public half of the signing key, the one tokens are verified
	// against.
	key      *clerk.JSONWebKey
	jwks     []byte
	users    *devUsers
	verifier tokenVerifier
	// passwordCost is the bcrypt cost of end users' passwords; decoy a
	// hash of no one's password, compared when an email has no user.
	passwordCost int
	decoy        []byte
}

// OpenDevIssuer loads the issuer's RSA key (2048-bit, PKCS#8 PEM, file mode
// 0600) from dir/dev-issuer-key.pem and its users from dir/dev-users.jsonl,
// creating either if missing, so tokens and user ids survive restarts. nil
// now means the system clock.
func OpenDevIssuer(dir string, now func() time.Time) (*DevIssuer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: creating dev issuer directory: %w", err)
	}
	privateKey, err := openDevKey(filepath.Join(dir, devKeyFile))
	if err != nil {
		return nil, err
	}

	// The kid is the key's RFC 7638 thumbprint: stable across restarts, and
	// a new key (the file deleted) gets a new kid, so old tokens are refused
	// as signed by an unknown key rather than as a bad signature.
	thumbprint, err := (&jose.JSONWebKey{Key: &privateKey.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(thumbprint)

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: privateKey, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer signer: %w", err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &privateKey.PublicKey, KeyID: kid, Algorithm: algorithm, Use: "sig",
	}}})
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer JWKS: %w", err)
	}

	verifier := newTokenVerifier(new(DevIssuerName), now, nil)
	users, err := openDevUsers(filepath.Join(dir, devUsersFile), filepath.Join(dir, devUsersDocument), verifier.now)
	if err != nil {
		return nil, err
	}
	// Dev passwords guard nothing of value: the cheapest cost bcrypt
	// allows keeps sign-ups quick.
	decoy, err := bcrypt.GenerateFromPassword([]byte("no end user has this password"), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	return &DevIssuer{
		signer:       signer,
		key:          &clerk.JSONWebKey{Key: &privateKey.PublicKey, KeyID: kid, Algorithm: algorithm, Use: "sig"},
		jwks:         jwks,
		users:        users,
		verifier:     verifier,
		passwordCost: bcrypt.MinCost,
		decoy:        decoy,
	}, nil
}

// IssueToken returns a signed end-user token and the user's id for the end
// user with this email in the project of publishableKey. The same
// (publishableKey, email) — email compared case-insensitively — always gets
// the same user id ("user_" + 24 random hex); a new pair creates a user. A
// non-empty plan is stored as the user's plan; the token carries the user's
// stored plan ("free" when never set). Empty email or publishableKey is a
// dream.Error of KindInvalid.
func (d *DevIssuer) IssueToken(publishableKey, email, plan string) (token, userID string, err error) {
	if publishableKey == "" {
		return "", "", dream.Errorf(dream.KindInvalid, "Missing required field", "publishableKey is required")
	}
	if email == "" {
		return "", "", dream.Errorf(dream.KindInvalid, "Missing required field", "email is required")
	}
	user, err := d.users.user(publishableKey, email, plan)
	if err != nil {
		return "", "", err
	}

	now := d.verifier.now()
	// The custom claims are top-level, the layout of Clerk's end-user-api
	// JWT template, so dev tokens exercise the same claims path.
	token, err = jwt.Signed(d.signer).
		Claims(jwt.Claims{
			Issuer:    DevIssuerName,
			Subject:   user.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(devTokenLifetime)),
		}).
		Claims(devClaims{Email: user.Email, Plan: user.Plan, PublishableKey: user.PublishableKey}).
		CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("auth: signing dev token: %w", err)
	}
	return token, user.ID, nil
}

// devClaims are the custom claims of a dev token.
type devClaims struct {
	Email          string `json:"email"`
	Plan           string `json:"plan"`
	PublishableKey string `json:"publishableKey"`
}

// JWKS returns the issuer's public JSON Web Key Set document
// (`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":...,"n":...,"e":...}]}`),
// served at /.well-known/jwks.json.
func (d *DevIssuer) JWKS() []byte {
	// A copy, so that no caller can change what the others serve.
	return bytes.Clone(d.jwks)
}

// Fingerprint names the key whose tokens the issuer accepts: its kid, the
// key's thumbprint. Issuers of one fingerprint accept the same tokens.
func (d *DevIssuer) Fingerprint() string { return fingerprint("dev", d.key.KeyID) }

// VerifyEndUserToken implements dream.TokenVerifier. mode is ignored: one
// dev issuer serves both modes.
func (d *DevIssuer) VerifyEndUserToken(ctx context.Context, mode dream.Mode, token string) (*dream.EndUserClaims, error) {
	return d.verifier.verify(ctx, token, d.lookup)
}

// The dev issuer is dream.Identity in dev mode. Its users have one piece of
// metadata besides their project, the plan; mode is ignored, as in
// verification. A password given at creation is kept as a bcrypt hash, for
// the hosted sign-in page; POST /dev/tokens mints tokens by email alone.
var _ dream.Identity = (*DevIssuer)(nil)

// CreateUser implements dream.Identity. The user belongs to the project
// named by the metadata's publishableKey.
func (d *DevIssuer) CreateUser(ctx context.Context, mode dream.Mode, n dream.NewIdentityUser) (*dream.IdentityUser, error) {
	pk, _ := n.PublicMetadata["publishableKey"].(string)
	plan, _ := n.PublicMetadata["plan"].(string)
	if pk == "" || n.Email == "" {
		return nil, dream.Errorf(dream.KindInvalid, "Missing required field", "email and a publishableKey are required")
	}
	var hash []byte
	if n.Password != "" {
		var err error
		if hash, err = bcrypt.GenerateFromPassword([]byte(n.Password), d.passwordCost); err != nil {
			return nil, dream.Errorf(dream.KindInvalid, "Invalid password", "a password has at most 72 bytes")
		}
	}
	u, err := d.users.create(devUser{PublishableKey: pk, Email: n.Email, FirstName: n.FirstName, LastName: n.LastName, Plan: plan,
		PasswordHash: string(hash)})
	if err != nil {
		return nil, err
	}
	return u.identity(), nil
}

// ErrEndUserCredentials answers a hosted sign-in with a wrong email or
// password.
var ErrEndUserCredentials = &dream.Error{Kind: dream.KindUnauthenticated, Code: "invalid_credentials",
	Message: "The email or the password is wrong"}

// SignIn checks an end user's password in the project of publishableKey
// and returns a token for them, as IssueToken would. A user without a
// password (minted by email) cannot sign in with one. The work is the same
// whether or not the email has a user.
func (d *DevIssuer) SignIn(publishableKey, email, password string) (token, userID string, err error) {
	u, ok := d.users.byEmailOf(publishableKey, email)
	hash := []byte(u.PasswordHash)
	if !ok || len(hash) == 0 {
		hash = d.decoy
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok || u.PasswordHash == "" {
		return "", "", ErrEndUserCredentials
	}
	return d.IssueToken(publishableKey, u.Email, "")
}

// User implements dream.Identity.
func (d *DevIssuer) User(ctx context.Context, mode dream.Mode, userID string) (*dream.IdentityUser, error) {
	u, err := d.users.byIDOf(userID)
	if err != nil {
		return nil, err
	}
	return u.identity(), nil
}

// UpdatePublicMetadata implements dream.Identity: a plan in values becomes
// the user's plan, which their next token carries.
func (d *DevIssuer) UpdatePublicMetadata(ctx context.Context, mode dream.Mode, userID string, values map[string]any) error {
	plan, _ := values["plan"].(string)
	return d.users.change(userID, func(u *devUser) bool {
		if plan != "" {
			u.Plan = plan
		}
		return true
	})
}

// DeleteUser implements dream.Identity.
func (d *DevIssuer) DeleteUser(ctx context.Context, mode dream.Mode, userID string) error {
	return d.users.change(userID, func(*devUser) bool { return false })
}

// identity is the user as dream.Identity reports users.
func (u devUser) identity() *dream.IdentityUser {
	return &dream.IdentityUser{
		ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, CreatedAt: u.CreatedAt,
		PublicMetadata: map[string]any{"publishableKey": u.PublishableKey, "plan": u.Plan},
	}
}

// lookup is the keyLookup of dev tokens: the issuer has exactly one key.
func (d *DevIssuer) lookup(_ context.Context, kid string) (*clerk.JSONWebKey, error) {
	if kid != d.key.KeyID {
		return nil, errUnknownKeyID
	}
	return d.key, nil
}

// openDevKey reads the RSA private key at path, generating and saving one
// if the file does not exist.
func openDevKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createDevKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("auth: reading dev issuer key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: %s holds no PKCS#8 PEM private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parsing dev issuer key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: %s holds a %T, not an RSA key", path, parsed)
	}
	return key, nil
}

// createDevKey generates the dev issuer's RSA key and saves it at path.
func createDevKey(path string) (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, devKeyBits)
	if err != nil {
		return nil, fmt.Errorf("auth: generating dev issuer key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encoding dev issuer key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := safefile.WriteBytes(path, data); err != nil {
		return nil, fmt.Errorf("auth: saving dev issuer key: %w", err)
	}
	return key, nil
}
