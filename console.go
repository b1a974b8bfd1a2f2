package dream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// The developer console is what a developer runs their business with: their
// account, projects and keys, Stripe connections, catalogue and going live.
// The JSON management API and the dashboard are two encodings of the
// Console's methods; neither holds a rule of its own.

// Rules of developer accounts.
const (
	// MinPasswordLength is the shortest password a local account takes.
	MinPasswordLength = 10
	// MaxDeveloperPassword is the longest: bcrypt reads 72 bytes and no
	// further, so a longer password would be cut without a word.
	MaxDeveloperPassword = 72
	// SessionLifetime is how long a developer stays signed in.
	SessionLifetime = 30 * 24 * time.Hour
	// SignInAttemptsPerMinute bounds the sign-in attempts per email and per
	// client address at one node.
	SignInAttemptsPerMinute = 10
)

// sessionPrefix starts every developer session token, so that a session
// presented as a Bearer token is told from a secret key or a JWT.
const sessionPrefix = "dss_"

// LocalOwner is the identity of a local account: its email, lowercased.
// One platform per owner holds for local accounts as for Clerk users.
func LocalOwner(email string) string { return "local:" + strings.ToLower(email) }

// ClerkOwner is the identity of a developer signed in with the platform's
// Clerk application.
func ClerkOwner(userID string) string { return "clerk:" + userID }

// NewSessionToken returns a new developer session token and the hash it is
// stored under.
func NewSessionToken() (token, hash string) {
	token = sessionPrefix + randomHex(32)
	return token, HashSessionToken(token)
}

// HashSessionToken is the hash a session token is stored under.
func HashSessionToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IsSessionToken reports whether s has the form of a session token.
func IsSessionToken(s string) bool {
	rest, ok := strings.CutPrefix(s, sessionPrefix)
	return ok && len(rest) == 64 && isLowerHex(rest)
}

// CSRFToken is the token a browser sends with every write it makes with
// the session cookie token: derived from the session, which a page of
// another site cannot read, so it needs no storage of its own.
func CSRFToken(sessionToken string) string {
	sum := sha256.Sum256([]byte("csrf\x00" + sessionToken))
	return hex.EncodeToString(sum[:16])
}

// The cookies of a developer's browser session: a local account's session
// token, and Clerk's session JWT, which Clerk's front end keeps on the
// dashboard's origin.
const (
	SessionCookie      = "dream_session"
	ClerkSessionCookie = "__session"
)

// NewSessionCookie is the cookie that keeps a local session token in a
// browser, or with maxAge < 0 drops it: HttpOnly so no script reads it,
// SameSite=Lax so other sites' pages do not send it on their writes, and
// Secure unless the server is reached over loopback only.
func NewSessionCookie(token string, maxAge int, secure bool) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode}
}

// ClientAddress is the address sign-in attempts are counted by: Fly's
// client IP header, which Fly's proxy sets, else the peer. A node reached
// without Fly's proxy takes the header as sent; the per-email limit holds
// either way.
func ClientAddress(r *http.Request) string {
	if ip := r.Header.Get("Fly-Client-IP"); ip != "" && net.ParseIP(ip) != nil {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Login is a local account's credentials.
type Login struct {
	PlatformID   string
	Email        string
	PasswordHash string
}

// DeveloperSession is a stored session.
type DeveloperSession struct {
	PlatformID string
	ExpiresAt  time.Time
}

// PasswordHasher hashes local accounts' passwords; auth.Passwords does it
// with bcrypt.
type PasswordHasher interface {
	Hash(password string) (string, error)
	// Matches reports whether password is the one hash was made from. An
	// empty hash matches nothing, after the same work as any other.
	Matches(hash, password string) bool
}

// AttemptLimiter counts attempts by key and says whether one more is
// allowed now.
type AttemptLimiter interface {
	Allow(key string) bool
}

// DeveloperIdentity verifies a developer's session token from the
// platform's identity provider (Clerk) and returns who they are.
type DeveloperIdentity interface {
	VerifyDeveloper(ctx context.Context, token string) (userID, email string, err error)
}

// ConsoleDirectory is what the console reads.
type ConsoleDirectory interface {
	PaymentDirectory
	Platform(ctx context.Context, id string) (*Platform, error)
	PlatformByOwner(ctx context.Context, owner string) (*Platform, error)
	Login(ctx context.Context, email string) (*Login, error)
	DeveloperSession(ctx context.Context, hash string) (*DeveloperSession, error)
	Environments(ctx context.Context, platformID string) ([]Environment, error)
	Tiers(ctx context.Context, environmentID int64) ([]Tier, error)
	BillableEndUsers(ctx context.Context, platformID string) (int64, error)
}

// Console is the developer's service.
type Console struct {
	Directory ConsoleDirectory
	Writer    Writer
	// Passwords and Attempts serve local accounts; with Passwords nil
	// local accounts are off and developers sign in through Identity.
	Passwords PasswordHasher
	Attempts  AttemptLimiter
	Identity  DeveloperIdentity
	// Provider keeps the payment provider's copy of the tiers and
	// products; Connect links developers' payment accounts.
	Provider Catalogue
	Connect  Connector
	// Plan is what developers pay the platform; Operator the operator's
	// payment account that bills them.
	Plan     *PlatformPlan
	Operator OperatorBilling
	// EndUsers lists a project's customers and events; Customers is the
	// customers service the customer API uses, which the dashboard's
	// customer pages call.
	EndUsers  ConsoleCustomers
	Customers CustomerService
	// Admin is what the operator's page reads; AdminEmails the developers
	// who may see it.
	Admin       OperatorDirectory
	AdminEmails []string
	// DashboardURL is the dashboard's absolute URL: where platform
	// checkouts and the billing portal return.
	DashboardURL string
	Logger       *slog.Logger
	Now          func() time.Time
}

// Errors of developer accounts.
var (
	ErrDeveloperUnauthenticated = &Error{Kind: KindUnauthenticated, Code: "unauthenticated",
		Message: "Sign in: send Authorization: Bearer <session token>, or the session cookie"}
	ErrInvalidCredentials = &Error{Kind: KindUnauthenticated, Code: "invalid_credentials",
		Message: "The email or the password is wrong"}
	ErrTooManySignIns = &Error{Kind: KindRateLimited, Code: "too_many_attempts",
		Message: "Too many sign-in attempts; wait a minute and try again", Fields: map[string]any{"retryAfter": 60}}
	ErrLocalAccountsOff = &Error{Kind: KindNotFound, Code: "local_accounts_disabled",
		Message: "This server signs developers in with Clerk; local accounts are off"}
)

// Credentials are what a developer signs up or in with.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Validate checks an email address and a password within the bounds.
func (c Credentials) Validate() error {
	if err := CheckLength("email", c.Email, MaxEmail); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
		return Errorf(KindInvalid, "invalid_email", "%s is not an email address", Quote(c.Email)).For("email")
	}
	if len(c.Password) < MinPasswordLength || len(c.Password) > MaxDeveloperPassword {
		return Errorf(KindInvalid, "invalid_password", "a password has %d to %d bytes", MinPasswordLength, MaxDeveloperPassword).For("password")
	}
	return nil
}

// SignUp creates a local account and its platform, and signs it in.
func (c *Console) SignUp(ctx context.Context, cred Credentials, clientAddr string) (platformID, token string, err error) {
	if c.Passwords == nil {
		return "", "", ErrLocalAccountsOff
	}
	if err := cred.Validate(); err != nil {
		return "", "", err
	}
	if !c.Attempts.Allow("ip:" + clientAddr) {
		return "", "", ErrTooManySignIns
	}
	hash, err := c.Passwords.Hash(cred.Password)
	if err != nil {
		return "", "", err
	}
	platformID = NewID("plt_")
	err = c.Writer.Write(ctx, CreatePlatform{ID: platformID, Owner: LocalOwner(cred.Email), Email: cred.Email,
		Login: &NewLogin{Email: cred.Email, PasswordHash: hash}}, nil)
	if err != nil {
		return "", "", err
	}
	token, err = c.newSession(ctx, platformID)
	return platformID, token, err
}

// SignIn checks a local account's password and opens a session. Attempts
// are limited per email and per client address, so neither one account
// nor one client can try passwords quickly.
func (c *Console) SignIn(ctx context.Context, cred Credentials, clientAddr string) (string, error) {
	if c.Passwords == nil {
		return "", ErrLocalAccountsOff
	}
	if err := CheckLength("email", cred.Email, MaxEmail); err != nil {
		return "", err
	}
	if len(cred.Password) > MaxDeveloperPassword {
		return "", ErrInvalidCredentials
	}
	if !c.Attempts.Allow("email:"+strings.ToLower(cred.Email)) || !c.Attempts.Allow("ip:"+clientAddr) {
		return "", ErrTooManySignIns
	}
	login, err := c.Directory.Login(ctx, cred.Email)
	if err != nil {
		return "", err
	}
	if login == nil {
		// The same work as a wrong password, so timing does not tell
		// which emails have accounts.
		c.Passwords.Matches("", cred.Password)
		return "", ErrInvalidCredentials
	}
	if !c.Passwords.Matches(login.PasswordHash, cred.Password) {
		return "", ErrInvalidCredentials
	}
	return c.newSession(ctx, login.PlatformID)
}

func (c *Console) newSession(ctx context.Context, platformID string) (string, error) {
	token, hash := NewSessionToken()
	err := c.Writer.Write(ctx, CreateSession{Hash: hash, PlatformID: platformID, ExpiresAt: c.Now().Add(SessionLifetime)}, nil)
	if err != nil {
		return "", err
	}
	return token, nil
}

// SignOut ends a session at every node.
func (c *Console) SignOut(ctx context.Context, token string) error {
	if !IsSessionToken(token) {
		return nil
	}
	return c.Writer.Write(ctx, DeleteSession{Hash: HashSessionToken(token)}, nil)
}

// ChangePassword sets a local account's password and ends every session it
// has, at every node, the one it was changed from included.
func (c *Console) ChangePassword(ctx context.Context, platformID, current, next string) error {
	if c.Passwords == nil {
		return ErrLocalAccountsOff
	}
	p, err := c.Directory.Platform(ctx, platformID)
	if err != nil {
		return err
	}
	login, err := c.Directory.Login(ctx, p.Email)
	if err != nil {
		return err
	}
	if login == nil || login.PlatformID != platformID || !c.Passwords.Matches(login.PasswordHash, current) {
		return ErrInvalidCredentials
	}
	if err := (Credentials{Email: login.Email, Password: next}).Validate(); err != nil {
		return err
	}
	hash, err := c.Passwords.Hash(next)
	if err != nil {
		return err
	}
	return c.Writer.Write(ctx, SetPassword{PlatformID: platformID, Email: login.Email, PasswordHash: hash}, nil)
}

// Authenticate returns the platform of a developer's credential: a local
// session token, or a token of the platform's identity provider, whose
// first sign-in creates the developer's platform.
func (c *Console) Authenticate(ctx context.Context, token string) (*Platform, error) {
	if IsSessionToken(token) {
		s, err := c.Directory.DeveloperSession(ctx, HashSessionToken(token))
		if err != nil {
			return nil, err
		}
		if s == nil || !c.Now().Before(s.ExpiresAt) {
			return nil, ErrDeveloperUnauthenticated
		}
		return c.platform(ctx, s.PlatformID)
	}
	if c.Identity == nil || token == "" {
		return nil, ErrDeveloperUnauthenticated
	}
	userID, email, err := c.Identity.VerifyDeveloper(ctx, token)
	if err != nil {
		return nil, ErrDeveloperUnauthenticated
	}
	owner := ClerkOwner(userID)
	p, err := c.Directory.PlatformByOwner(ctx, owner)
	if err != nil || p != nil {
		return p, err
	}
	err = c.Writer.Write(ctx, CreatePlatform{ID: NewID("plt_"), Owner: owner, Email: email}, nil)
	if err != nil && ErrorKind(err) != KindConflict {
		return nil, err
	}
	// A concurrent first sign-in may have created it: the owner is unique.
	return c.Directory.PlatformByOwner(ctx, owner)
}

func (c *Console) platform(ctx context.Context, id string) (*Platform, error) {
	p, err := c.Directory.Platform(ctx, id)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, ErrDeveloperUnauthenticated
	}
	return p, nil
}

// PlatformView is a developer's account as the console shows it.
type PlatformView struct {
	Platform
	// ConnectedAccounts are the developer's payment accounts by mode.
	ConnectedAccounts map[Mode]string
}

// Account returns the developer's account with its connected payment
// accounts.
func (c *Console) Account(ctx context.Context, p *Platform) (*PlatformView, error) {
	v := &PlatformView{Platform: *p, ConnectedAccounts: map[Mode]string{}}
	for _, mode := range []Mode{ModeTest, ModeLive} {
		id, err := c.Directory.PaymentAccount(ctx, p.ID, mode)
		if err != nil {
			return nil, err
		}
		if id != "" {
			v.ConnectedAccounts[mode] = id
		}
	}
	return v, nil
}
