package dream

import (
	"context"
	"strings"
	"time"
)

// Bounds of a project's settings.
const (
	// MaxAllowedOrigins bounds the origins a project allows.
	MaxAllowedOrigins = 20
	// MaxRateLimitPerMinute bounds a project's own per-user rate limit.
	MaxRateLimitPerMinute = 100_000
	// MaxRotationOverlap is the longest a rotated secret key keeps working.
	MaxRotationOverlap = 24 * time.Hour
)

// maxOrigin bounds an origin: a scheme, a host name of at most 253
// characters and a port.
const maxOrigin = 300

// ValidOrigin reports whether origin is a web origin as browsers send it,
// scheme://host[:port] over http or https and nothing else: "null", a path,
// user info or an oversized value is not one. It is read without parsing a
// URL, since the edge checks the Origin of every cross-origin call with it.
func ValidOrigin(origin string) bool {
	if len(origin) > maxOrigin {
		return false
	}
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok {
		host, ok = strings.CutPrefix(origin, "http://")
	}
	if !ok || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		// A host name (ASCII, punycode for others), an IPv4 or bracketed
		// IPv6 address, and a port.
		if c := host[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// checkOrigins refuses a list of allowed origins with one that is not an
// origin, or too many.
func checkOrigins(origins []string) error {
	if len(origins) > MaxAllowedOrigins {
		return Errorf(KindInvalid, "invalid_origins", "a project allows at most %d origins, not %d", MaxAllowedOrigins, len(origins)).For("allowedOrigins")
	}
	for _, o := range origins {
		if !ValidOrigin(o) {
			return Errorf(KindInvalid, "invalid_origins", "%s is not an origin: scheme://host[:port] over http or https", Quote(o)).For("allowedOrigins")
		}
	}
	return nil
}

// ProjectView is a project as the console shows it: its settings and its
// environments with their publishable keys. A secret key appears only in
// the answer that created it.
type ProjectView struct {
	Project
	Environments []EnvironmentView
}

// EnvironmentView is one mode of a project in the console.
type EnvironmentView struct {
	ID             int64
	Mode           Mode
	PublishableKey string
	// SecretKey is the plaintext secret key, set only in the answer of the
	// call that created it.
	SecretKey string
}

// Environment returns the project's environment of mode, nil if it has
// none.
func (v *ProjectView) Environment(mode Mode) *EnvironmentView {
	for i := range v.Environments {
		if v.Environments[i].Mode == mode {
			return &v.Environments[i]
		}
	}
	return nil
}

// ErrProjectNotFound answers a project id the developer has no project of:
// another developer's project is not found either, never forbidden, so ids
// tell nothing of other accounts.
func ErrProjectNotFound(id string) *Error {
	return Errorf(KindNotFound, "not_found", "no project %s", Quote(id))
}

// Projects returns the developer's projects, oldest first.
func (c *Console) Projects(ctx context.Context, p *Platform) ([]ProjectView, error) {
	envs, err := c.Directory.Environments(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var views []ProjectView
	for _, env := range envs {
		if len(views) == 0 || views[len(views)-1].ID != env.Project.ID {
			views = append(views, ProjectView{Project: env.Project})
		}
		v := &views[len(views)-1]
		v.Environments = append(v.Environments, EnvironmentView{ID: env.ID, Mode: env.Mode, PublishableKey: env.PublishableKey})
	}
	return views, nil
}

// Project returns one of the developer's projects.
func (c *Console) Project(ctx context.Context, p *Platform, id string) (*ProjectView, error) {
	views, err := c.Projects(ctx, p)
	if err != nil {
		return nil, err
	}
	for i := range views {
		if views[i].ID == id {
			return &views[i], nil
		}
	}
	return nil, ErrProjectNotFound(id)
}

// environment returns the developer's project and its environment of mode.
func (c *Console) environment(ctx context.Context, p *Platform, projectID string, mode Mode) (*ProjectView, *EnvironmentView, error) {
	if !mode.Valid() {
		return nil, nil, Errorf(KindNotFound, "not_found", "no mode %s: test or live", Quote(string(mode)))
	}
	v, err := c.Project(ctx, p, projectID)
	if err != nil {
		return nil, nil, err
	}
	env := v.Environment(mode)
	if env == nil {
		return nil, nil, Errorf(KindNotFound, "not_found", "project %s has no %s environment yet: promote it to live first", projectID, mode)
	}
	return v, env, nil
}

// NewProject is what a developer creates a project with.
type NewProject struct {
	Name           string      `json:"name"`
	Type           ProjectType `json:"type"`
	AllowedOrigins []string    `json:"allowedOrigins"`
}

// CreateProject creates a project with its test environment and returns
// it with its test secret key, shown this once.
func (c *Console) CreateProject(ctx context.Context, p *Platform, n NewProject) (*ProjectView, error) {
	name := strings.TrimSpace(n.Name)
	if name == "" {
		return nil, Errorf(KindInvalid, "invalid_project", "a project needs a name").For("name")
	}
	if !n.Type.Valid() {
		return nil, Errorf(KindInvalid, "invalid_project", "type is saas, store or membership, not %s", Quote(string(n.Type))).For("type")
	}
	if err := checkOrigins(n.AllowedOrigins); err != nil {
		return nil, err
	}
	pk := NewPublishableKey(ModeTest)
	sk, hash := NewSecretKey(ModeTest)
	id := NewID("prj_")
	err := c.Writer.Write(ctx, CreateProject{ID: id, PlatformID: p.ID, Name: name, Type: n.Type, AllowedOrigins: n.AllowedOrigins,
		Environments: []NewEnvironment{{Mode: ModeTest, PublishableKey: pk, SecretKeyHash: hash}}}, nil)
	if err != nil {
		return nil, err
	}
	v, err := c.Project(ctx, p, id)
	if err != nil {
		return nil, err
	}
	v.Environment(ModeTest).SecretKey = sk
	return v, nil
}

// ProjectChanges are the settings a developer changes; nil leaves one as
// it is.
type ProjectChanges struct {
	Name           *string   `json:"name"`
	AllowedOrigins *[]string `json:"allowedOrigins"`
	// RateLimitPerMinute is the project's own per-user rate limit; 0 turns
	// rate limiting off for the project, null returns it to the server's
	// default.
	RateLimitPerMinute Optional[*int] `json:"rateLimitPerMinute,omitzero"`
	StrictLimits       *bool          `json:"strictLimits"`
	EnableTax          *bool          `json:"enableTax"`
}

// Validate checks each change given is within its bounds.
func (ch ProjectChanges) Validate() error {
	if ch.Name != nil {
		if strings.TrimSpace(*ch.Name) == "" {
			return Errorf(KindInvalid, "invalid_project", "a project's name cannot be empty").For("name")
		}
		if err := CheckLength("name", *ch.Name, MaxName); err != nil {
			return err
		}
	}
	if ch.AllowedOrigins != nil {
		if err := checkOrigins(*ch.AllowedOrigins); err != nil {
			return err
		}
	}
	if r := ch.RateLimitPerMinute.Value; r != nil && (*r < 0 || *r > MaxRateLimitPerMinute) {
		return Errorf(KindInvalid, "invalid_project", "rateLimitPerMinute is 0 (off) to %d", MaxRateLimitPerMinute).For("rateLimitPerMinute")
	}
	return nil
}

// UpdateProject changes a project's settings and returns the project.
func (c *Console) UpdateProject(ctx context.Context, p *Platform, id string, ch ProjectChanges) (*ProjectView, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	if ch.Name != nil {
		name := strings.TrimSpace(*ch.Name)
		ch.Name = &name
	}
	if _, err := c.Project(ctx, p, id); err != nil {
		return nil, err
	}
	if err := c.Writer.Write(ctx, UpdateProject{ProjectID: id, Changes: ch}, nil); err != nil {
		return nil, err
	}
	return c.Project(ctx, p, id)
}

// DeleteProject deletes a project and everything of it, once the developer
// confirmed by typing its name, and archives its products at the payment
// provider. Its keys stop working at every node as the deletion reaches it.
func (c *Console) DeleteProject(ctx context.Context, p *Platform, id, confirm string) error {
	v, err := c.Project(ctx, p, id)
	if err != nil {
		return err
	}
	if confirm != v.Name {
		return Errorf(KindInvalid, "confirmation_required", "confirm the deletion with the project's name, %s", Quote(v.Name)).For("confirm")
	}
	// The catalogue is read before the rows go, to archive it after.
	type archive struct {
		account  PaymentAccount
		products []string
	}
	var archives []archive
	for _, env := range v.Environments {
		account, err := c.Directory.PaymentAccount(ctx, p.ID, env.Mode)
		if err != nil {
			return err
		}
		tiers, err := c.Directory.Tiers(ctx, env.ID)
		if err != nil {
			return err
		}
		a := archive{account: PaymentAccount{Mode: env.Mode, AccountID: account}}
		for _, t := range tiers {
			if t.StripeProductID != "" {
				a.products = append(a.products, t.StripeProductID)
			}
		}
		archives = append(archives, a)
	}
	if err := c.Writer.Write(ctx, DeleteProject{ProjectID: id}, nil); err != nil {
		return err
	}
	for _, a := range archives {
		if a.account.AccountID == "" {
			continue
		}
		for _, product := range a.products {
			// The project is gone either way; a product left active at
			// the provider sells nothing, since no key reaches it.
			if err := c.Provider.ArchiveProduct(ctx, a.account, product); err != nil {
				c.Logger.Warn("archiving a deleted project's product", "project", id, "product", product, "error", err)
			}
		}
	}
	return nil
}

// RotateSecretKey issues a new secret key for a project's environment and
// returns it, shown this once. The keys the environment had stop working
// after overlap, at once when it is zero; it is at most MaxRotationOverlap.
func (c *Console) RotateSecretKey(ctx context.Context, p *Platform, projectID string, mode Mode, overlap time.Duration) (string, time.Time, error) {
	if overlap < 0 || overlap > MaxRotationOverlap {
		return "", time.Time{}, Errorf(KindInvalid, "invalid_overlap", "overlapSeconds is 0 to %d", int(MaxRotationOverlap.Seconds())).For("overlapSeconds")
	}
	_, env, err := c.environment(ctx, p, projectID, mode)
	if err != nil {
		return "", time.Time{}, err
	}
	sk, hash := NewSecretKey(mode)
	expires := c.Now().Add(overlap)
	if err := c.Writer.Write(ctx, RotateSecretKey{EnvironmentID: env.ID, NewHash: hash, OldKeysExpireAt: expires}, nil); err != nil {
		return "", time.Time{}, err
	}
	return sk, expires, nil
}

// Promote gives a project its live environment: it copies the test
// catalogue into live objects at the payment provider and issues live
// keys, returning the project with its live secret key, shown this once.
// The test environment stays as it is. It needs a live connected account
// and a platform subscription that lets live keys work.
func (c *Console) Promote(ctx context.Context, p *Platform, projectID string) (*ProjectView, error) {
	v, err := c.Project(ctx, p, projectID)
	if err != nil {
		return nil, err
	}
	if v.Environment(ModeLive) != nil {
		return nil, Errorf(KindConflict, "already_live", "project %s is live already", projectID)
	}
	if err := c.Plan.CheckAccess(ModeLive, p.Subscription, c.Plan.Now()); err != nil {
		return nil, &Error{Kind: KindForbidden, Code: "platform_subscription_required",
			Message: "Going live needs a running platform subscription (trialing, active, or within the grace period after it ended); subscribe in the dashboard"}
	}
	account, err := c.Directory.PaymentAccount(ctx, p.ID, ModeLive)
	if err != nil {
		return nil, err
	}
	if account == "" {
		return nil, &Error{Kind: KindForbidden, Code: "live_account_required",
			Message: "Going live needs a Stripe account connected in live mode: GET /v1/connect/live/authorize"}
	}
	tiers, err := c.Directory.Tiers(ctx, v.Environment(ModeTest).ID)
	if err != nil {
		return nil, err
	}
	live := PaymentAccount{Mode: ModeLive, AccountID: account}
	// What a failure leaves created at the provider is archived again, so
	// that a retry starts clean.
	undo := func(created []Tier) {
		for _, t := range created {
			c.archive(ctx, live, t.StripeProductID)
		}
	}
	for i := range tiers {
		t := &tiers[i]
		t.StripeProductID, t.StripePriceID, t.Reserved = "", "", 0
		if err := c.syncTier(ctx, live, t); err != nil {
			undo(tiers[:i])
			return nil, err
		}
	}
	pk := NewPublishableKey(ModeLive)
	sk, hash := NewSecretKey(ModeLive)
	err = c.Writer.Write(ctx, AddEnvironment{ProjectID: projectID,
		Environment: NewEnvironment{Mode: ModeLive, PublishableKey: pk, SecretKeyHash: hash, Tiers: tiers}}, nil)
	if err != nil {
		undo(tiers)
		return nil, err
	}
	if v, err = c.Project(ctx, p, projectID); err != nil {
		return nil, err
	}
	v.Environment(ModeLive).SecretKey = sk
	return v, nil
}
