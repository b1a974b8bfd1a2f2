package dream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Writer applies every change to the database. There is one write path:
// on the primary a Writer is a local call into the primary package; on a
// replica it forwards the same write to the primary, so callers never know
// which. Writes are plain data so they can cross the network as JSON.
//
// A write may carry a WriteID. The primary applies a given id at most once
// and answers a retry with the outcome of the first application, so a write
// retried after a lost answer is not applied twice.
type Writer interface {
	// Write applies w, one of the writes of this file, and stores its
	// result where result points: a pointer to the write's result type, or
	// nil to drop it. Apply is the typed way to call it. A write refused
	// by a rule changes nothing.
	Write(ctx context.Context, w Write, result any) error
}

// Write is a change to the database: one of the write types of this file.
type Write interface {
	// WriteName names the write on the internal endpoint replicas forward
	// writes to; it must never change.
	WriteName() string
}

// WriteOf is a write whose result is an R. Its unexported method ties each
// write type to its result, so only this file's writes are writes.
type WriteOf[R any] interface {
	Write
	result(*R)
}

// Apply applies w with writer and returns its result.
func Apply[R any](ctx context.Context, writer Writer, w WriteOf[R]) (R, error) {
	var r R
	err := writer.Write(ctx, w, &r)
	return r, err
}

// WriteIDRetention is how long a write id is remembered: the primary's
// record of applied writes and a node's record of the idempotency keys it
// acknowledged are kept this long, so a retry within it counts once.
const WriteIDRetention = 24 * time.Hour

// NoResult is the result of writes that answer nothing but success.
type NoResult struct{}

// The names of the writes and their results.
func (TrackUsage) WriteName() string                   { return "TrackUsage" }
func (TrackUsage) result(*Usage)                       {}
func (ApplyIncrements) WriteName() string              { return "ApplyIncrements" }
func (ApplyIncrements) result(*IncrementsApplied)      {}
func (CreatePlatform) WriteName() string               { return "CreatePlatform" }
func (CreatePlatform) result(*NoResult)                {}
func (SetPassword) WriteName() string                  { return "SetPassword" }
func (SetPassword) result(*NoResult)                   {}
func (CreateSession) WriteName() string                { return "CreateSession" }
func (CreateSession) result(*NoResult)                 {}
func (DeleteSession) WriteName() string                { return "DeleteSession" }
func (DeleteSession) result(*NoResult)                 {}
func (CreateProject) WriteName() string                { return "CreateProject" }
func (CreateProject) result(*NoResult)                 {}
func (UpdateProject) WriteName() string                { return "UpdateProject" }
func (UpdateProject) result(*NoResult)                 {}
func (DeleteProject) WriteName() string                { return "DeleteProject" }
func (DeleteProject) result(*NoResult)                 {}
func (AddEnvironment) WriteName() string               { return "AddEnvironment" }
func (AddEnvironment) result(*NoResult)                {}
func (PutTier) WriteName() string                      { return "PutTier" }
func (PutTier) result(*NoResult)                       {}
func (DeleteTier) WriteName() string                   { return "DeleteTier" }
func (DeleteTier) result(*NoResult)                    {}
func (CreateConnectState) WriteName() string           { return "CreateConnectState" }
func (CreateConnectState) result(*NoResult)            {}
func (ApplyPlatformEvent) WriteName() string           { return "ApplyPlatformEvent" }
func (ApplyPlatformEvent) result(*PaymentEventOutcome) {}
func (SetPlatformCustomer) WriteName() string          { return "SetPlatformCustomer" }
func (SetPlatformCustomer) result(*string)             {}
func (RecordMeterReport) WriteName() string            { return "RecordMeterReport" }
func (RecordMeterReport) result(*NoResult)             {}
func (ClaimJobRun) WriteName() string                  { return "ClaimJobRun" }
func (ClaimJobRun) result(*bool)                       {}
func (FinishJobRun) WriteName() string                 { return "FinishJobRun" }
func (FinishJobRun) result(*NoResult)                  {}
func (RecordDailyFigures) WriteName() string           { return "RecordDailyFigures" }
func (RecordDailyFigures) result(*NoResult)            {}
func (PurgePlatform) WriteName() string                { return "PurgePlatform" }
func (PurgePlatform) result(*PurgeCounts)              {}
func (ConsumeConnectState) WriteName() string          { return "ConsumeConnectState" }
func (ConsumeConnectState) result(*ConnectState)       {}
func (RotateSecretKey) WriteName() string              { return "RotateSecretKey" }
func (RotateSecretKey) result(*NoResult)               {}
func (ConnectPaymentAccount) WriteName() string        { return "ConnectPaymentAccount" }
func (ConnectPaymentAccount) result(*NoResult)         {}
func (ApplyPaymentEvent) WriteName() string            { return "ApplyPaymentEvent" }
func (ApplyPaymentEvent) result(*PaymentEventOutcome)  {}
func (CreateCustomer) WriteName() string               { return "CreateCustomer" }
func (CreateCustomer) result(*NoResult)                {}
func (AssignPlan) WriteName() string                   { return "AssignPlan" }
func (AssignPlan) result(*NoResult)                    {}
func (DeleteCustomer) WriteName() string               { return "DeleteCustomer" }
func (DeleteCustomer) result(*bool)                    {}
func (PutAsset) WriteName() string                     { return "PutAsset" }
func (PutAsset) result(*NoResult)                      {}
func (ReserveStock) WriteName() string                 { return "ReserveStock" }
func (ReserveStock) result(*NoResult)                  {}
func (ReleaseStock) WriteName() string                 { return "ReleaseStock" }
func (ReleaseStock) result(*NoResult)                  {}
func (RecordRefund) WriteName() string                 { return "RecordRefund" }
func (RecordRefund) result(*NoResult)                  {}

// ErrPrimaryUnavailable answers a write no primary can apply now: the
// primary is restarting, shutting down or failing over, and is back within
// seconds.
var ErrPrimaryUnavailable = &Error{Kind: KindUnavailable, Code: "primary_unavailable",
	Message: "The primary is unavailable; the write was not applied. Try again shortly.", Fields: map[string]any{"retryAfter": 1}}

// TrackUsage is one usage unit of an end user.
type TrackUsage struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	UserID        string `json:"userId"`
	// Email is the end user's email from their token, "" if it has none.
	Email string `json:"email,omitempty"`
	// TokenPlan is the plan the token claims, the last resort of plan
	// resolution.
	TokenPlan string `json:"tokenPlan,omitempty"`
}

// TrackWriteID is the WriteID of an end user's track that came with the
// client's idempotency key: scoped to the environment and the end user, so
// that one client's keys never meet another's.
func TrackWriteID(environmentID int64, userID, key string) string {
	scoped := sha256.Sum256([]byte(strconv.FormatInt(environmentID, 10) + "\x00" + userID + "\x00" + key))
	return "idem_" + hex.EncodeToString(scoped[:])
}

// Validate checks the unit names an end user.
func (w TrackUsage) Validate() error {
	if w.UserID == "" {
		return Errorf(KindInvalid, "Invalid usage", "an end user id is required")
	}
	return nil
}

// Increment is one usage unit a node acknowledged and keeps in its outbox
// until the primary has applied it.
type Increment struct {
	// Seq orders a node's units: it only grows, and a node ships its units
	// in its order.
	Seq           int64  `json:"seq"`
	EnvironmentID int64  `json:"environmentId"`
	UserID        string `json:"userId"`
	Email         string `json:"email,omitempty"`
	// Plan is the plan the node counted the unit against, kept with the
	// counter as the plan of its last unit.
	Plan string `json:"plan"`
	// At is when the node acknowledged the unit, in Unix milliseconds: the
	// unit counts in the usage period of that moment.
	At int64 `json:"at"`
	// WriteID is set when the client sent an Idempotency-Key, so that a
	// retry of the same call at another node is counted once.
	WriteID string `json:"writeId,omitempty"`
}

// ApplyIncrements is a batch of one node's units, in sequence order.
type ApplyIncrements struct {
	NodeID string      `json:"nodeId"`
	Items  []Increment `json:"items"`
}

// MaxIncrements bounds the units of one batch, and so the time one batch
// holds the primary's write transaction.
const MaxIncrements = 10_000

// Validate checks a batch: a node id, 1 to MaxIncrements units in strictly
// increasing sequence, each naming an environment, a user and a time.
func (w ApplyIncrements) Validate() error {
	invalid := func(format string, args ...any) error {
		return Errorf(KindInvalid, "Invalid increments", format, args...)
	}
	if w.NodeID == "" {
		return invalid("a batch needs the id of its node")
	}
	if len(w.Items) == 0 || len(w.Items) > MaxIncrements {
		return invalid("a batch has 1 to %d units, not %d", MaxIncrements, len(w.Items))
	}
	var last int64
	for _, it := range w.Items {
		if it.Seq <= last {
			return invalid("sequences must increase: %d after %d", it.Seq, last)
		}
		last = it.Seq
		if it.EnvironmentID <= 0 || it.UserID == "" || it.At <= 0 {
			return invalid("unit %d needs an environment, a user and a time", it.Seq)
		}
	}
	return nil
}

// IncrementsApplied is the primary's answer to a batch.
type IncrementsApplied struct {
	// Mark is the node's high-water mark after the batch: every unit of
	// the node up to it has been applied.
	Mark int64 `json:"mark"`
	// Applied is how many units of the batch were counted now; the others
	// had been applied before.
	Applied int `json:"applied"`
}

// CreatePlatform is a new developer account.
type CreatePlatform struct {
	WriteID string `json:"writeId,omitempty"`
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	Email   string `json:"email,omitempty"`
	// Login is the local account's credentials; nil for a developer of the
	// identity provider.
	Login *NewLogin `json:"login,omitempty"`
}

// NewLogin is a local account's email and password hash.
type NewLogin struct {
	Email        string `json:"email"`
	PasswordHash string `json:"passwordHash"`
}

// Validate checks the platform has an id and an owner.
func (w CreatePlatform) Validate() error {
	if w.ID == "" || w.Owner == "" {
		return Errorf(KindInvalid, "Invalid platform", "a platform needs an id and an owner")
	}
	if w.Login != nil && (w.Login.Email == "" || w.Login.PasswordHash == "") {
		return Errorf(KindInvalid, "Invalid platform", "a login needs an email and a password hash")
	}
	return nil
}

// SetPassword sets a local account's login, creating it if the platform
// has none, and ends every session of the platform.
type SetPassword struct {
	WriteID      string `json:"writeId,omitempty"`
	PlatformID   string `json:"platformId"`
	Email        string `json:"email"`
	PasswordHash string `json:"passwordHash"`
}

// Validate checks the write names a platform, an email and a hash.
func (w SetPassword) Validate() error {
	if w.PlatformID == "" || w.Email == "" || w.PasswordHash == "" {
		return Errorf(KindInvalid, "Invalid login", "a login needs a platform, an email and a password hash")
	}
	return nil
}

// CreateSession stores a developer session by its token's hash.
type CreateSession struct {
	WriteID    string    `json:"writeId,omitempty"`
	Hash       string    `json:"hash"`
	PlatformID string    `json:"platformId"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Validate checks the session has a hash, a platform and an expiry.
func (w CreateSession) Validate() error {
	if w.Hash == "" || w.PlatformID == "" || w.ExpiresAt.IsZero() {
		return Errorf(KindInvalid, "Invalid session", "a session needs a hash, a platform and an expiry")
	}
	return nil
}

// DeleteSession ends a developer session.
type DeleteSession struct {
	WriteID string `json:"writeId,omitempty"`
	Hash    string `json:"hash"`
}

// CreateProject is a new project. Keys are generated by the caller and only
// the secret keys' hashes travel, so no plaintext secret reaches the
// primary or its record of applied writes.
type CreateProject struct {
	WriteID    string      `json:"writeId,omitempty"`
	ID         string      `json:"id"`
	PlatformID string      `json:"platformId"`
	Name       string      `json:"name"`
	Type       ProjectType `json:"type"`
	// AllowedOrigins are the origins the hosted pages may return to.
	AllowedOrigins []string         `json:"allowedOrigins,omitempty"`
	Environments   []NewEnvironment `json:"environments"`
}

// NewEnvironment is one mode of a new project.
type NewEnvironment struct {
	Mode           Mode          `json:"mode"`
	PublishableKey string        `json:"publishableKey"`
	SecretKeyHash  SecretKeyHash `json:"secretKeyHash"`
	Tiers          []Tier        `json:"tiers"`
}

// Validate checks a new project before it reaches the database, whose
// constraints are the last line, not the error messages.
func (w CreateProject) Validate() error {
	invalid := func(format string, args ...any) error {
		return Errorf(KindInvalid, "Invalid project", format, args...)
	}
	if w.ID == "" || w.PlatformID == "" || w.Name == "" {
		return invalid("a project needs an id, a platform and a name")
	}
	if err := CheckLength("name", w.Name, MaxName); err != nil {
		return err
	}
	if !w.Type.Valid() {
		return invalid("unknown project type %q", w.Type)
	}
	if err := checkOrigins(w.AllowedOrigins); err != nil {
		return err
	}
	for _, env := range w.Environments {
		if err := env.validate(); err != nil {
			return err
		}
	}
	return nil
}

// validate checks an environment has a publishable key of its mode and a
// valid catalogue.
func (env NewEnvironment) validate() error {
	key, err := ParseKey(PublishableKey, env.PublishableKey)
	if err != nil || !env.Mode.Valid() || key.Mode != env.Mode {
		return Errorf(KindInvalid, "Invalid project", "environment %q needs a publishable key of its mode", env.Mode)
	}
	for _, t := range env.Tiers {
		if t.BillingMode != BillingSubscription && t.BillingMode != BillingOneOff {
			return Errorf(KindInvalid, "Invalid project", "tier %q has unknown billing mode %q", t.Slug, t.BillingMode)
		}
		if err := t.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// UpdateProject changes a project's settings.
type UpdateProject struct {
	WriteID   string         `json:"writeId,omitempty"`
	ProjectID string         `json:"projectId"`
	Changes   ProjectChanges `json:"changes"`
}

// Validate checks the write names a project and its changes are valid.
func (w UpdateProject) Validate() error {
	if w.ProjectID == "" {
		return Errorf(KindInvalid, "Invalid project", "a project id is required")
	}
	return w.Changes.Validate()
}

// DeleteProject deletes a project and every row of its environments.
type DeleteProject struct {
	WriteID   string `json:"writeId,omitempty"`
	ProjectID string `json:"projectId"`
}

// AddEnvironment gives a project its environment of another mode: its
// live one, when it is promoted.
type AddEnvironment struct {
	WriteID     string         `json:"writeId,omitempty"`
	ProjectID   string         `json:"projectId"`
	Environment NewEnvironment `json:"environment"`
}

// Validate checks the write names a project and a valid environment.
func (w AddEnvironment) Validate() error {
	if w.ProjectID == "" {
		return Errorf(KindInvalid, "Invalid project", "a project id is required")
	}
	return w.Environment.validate()
}

// PutTier creates a tier or product in an environment (Create), or
// replaces the one of its slug.
type PutTier struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	Tier          Tier   `json:"tier"`
	Create        bool   `json:"create,omitempty"`
	// Max is how many entries of the tier's billing mode the environment
	// may hold once a created one is added.
	Max int `json:"max,omitempty"`
}

// Validate checks the tier.
func (w PutTier) Validate() error { return w.Tier.Validate() }

// DeleteTier deletes a tier or product from an environment.
type DeleteTier struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	Slug          string `json:"slug"`
}

// CreateConnectState stores the state of a Connect authorization by its
// hash.
type CreateConnectState struct {
	WriteID    string    `json:"writeId,omitempty"`
	Hash       string    `json:"hash"`
	PlatformID string    `json:"platformId"`
	Mode       Mode      `json:"mode"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Validate checks the state names a hash, a platform, a mode and an expiry.
func (w CreateConnectState) Validate() error {
	if w.Hash == "" || w.PlatformID == "" || !w.Mode.Valid() || w.ExpiresAt.IsZero() {
		return Errorf(KindInvalid, "Invalid state", "a Connect state needs a hash, a platform, a mode and an expiry")
	}
	return nil
}

// ConsumeConnectState uses up a Connect state: it is deleted, and its
// platform and mode returned, if it exists and has not expired; otherwise
// the answer is ErrConnectState. It carries no write id: a retry is a
// second use, refused like any other.
type ConsumeConnectState struct {
	Hash string `json:"hash"`
}

// ConnectState is the developer and mode a Connect authorization is for.
type ConnectState struct {
	PlatformID string `json:"platformId"`
	Mode       Mode   `json:"mode"`
}

// RotateSecretKey replaces the secret keys of an environment with a new one.
type RotateSecretKey struct {
	WriteID       string        `json:"writeId,omitempty"`
	EnvironmentID int64         `json:"environmentId"`
	NewHash       SecretKeyHash `json:"newHash"`
	// OldKeysExpireAt is when the environment's current keys stop working;
	// zero ends them at once.
	OldKeysExpireAt time.Time `json:"oldKeysExpireAt,omitzero"`
}

// ConnectPaymentAccount links a developer's payment account for a mode.
type ConnectPaymentAccount struct {
	WriteID    string `json:"writeId,omitempty"`
	PlatformID string `json:"platformId"`
	Mode       Mode   `json:"mode"`
	AccountID  string `json:"accountId"`
}

// Validate checks the account has a platform, a mode and an id.
func (w ConnectPaymentAccount) Validate() error {
	if w.PlatformID == "" || w.AccountID == "" || !w.Mode.Valid() {
		return Errorf(KindInvalid, "Invalid account", "a payment account needs a platform, a mode and an account id")
	}
	return nil
}

// ApplyPaymentEvent is a verified payment webhook event to apply.
type ApplyPaymentEvent struct {
	Event PaymentEvent `json:"event"`
	// LineItems are those of the paid checkout session the event is about,
	// fetched from the provider before the write because events do not
	// carry them; empty for other events.
	LineItems []LineItem `json:"lineItems,omitempty"`
}

// Validate checks the event has an id and a type.
func (w ApplyPaymentEvent) Validate() error {
	if w.Event.ID == "" || w.Event.Type == "" {
		return Errorf(KindInvalid, "Invalid event", "an event needs an id and a type")
	}
	return nil
}

// PaymentEventOutcome is what applying a payment event did.
type PaymentEventOutcome struct {
	// Result is "processed", "ignored" (nothing in it concerns a known
	// project, or it is of a type not handled) or "duplicate".
	Result string `json:"result"`
	// PlanChanges are the end users whose plan the event changed, to mirror
	// into their identity metadata.
	PlanChanges []PlanChange `json:"planChanges,omitempty"`
	// Refunds are the oversold orders of the event's checkout that are not
	// refunded yet, a redelivered event's included, so that a refund that
	// failed is tried again.
	Refunds []Refund `json:"refunds,omitempty"`
	// Type is the event's type, which the webhook services set once its
	// signature verified, also beside an error, for the node's metrics;
	// the primary's answer does not carry it.
	Type string `json:"-"`
}

// Refund is a payment to give back: an oversold order's.
type Refund struct {
	OrderID string         `json:"orderId"`
	Account PaymentAccount `json:"account"`
	// PaymentIntentID is the payment the order was paid with.
	PaymentIntentID string `json:"paymentIntentId"`
}

// The results of applying a payment event.
const (
	EventProcessed = "processed"
	EventIgnored   = "ignored"
	EventDuplicate = "duplicate"
)

// PlanChange is an end user's plan after a payment event changed it.
type PlanChange struct {
	Mode   Mode   `json:"mode"`
	UserID string `json:"userId"`
	Plan   string `json:"plan"`
}

// CreateCustomer is an end user created through the customers API.
type CreateCustomer struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	UserID        string `json:"userId"`
	Email         string `json:"email"`
	FirstName     string `json:"firstName,omitempty"`
	LastName      string `json:"lastName,omitempty"`
	// Plan is the assigned plan, "" for none.
	Plan string `json:"plan,omitempty"`
	// CreatedAt is when the identity provider created the end user, so
	// that every answer about the customer gives the same time.
	CreatedAt time.Time `json:"createdAt"`
}

// Validate checks the customer has an id and an email.
func (w CreateCustomer) Validate() error {
	if w.UserID == "" || w.Email == "" {
		return Errorf(KindInvalid, "Missing required field", "a customer needs an id and an email")
	}
	return nil
}

// AssignPlan gives an end user a plan.
type AssignPlan struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	UserID        string `json:"userId"`
	Plan          string `json:"plan"`
}

// Validate checks the write names an end user.
func (w AssignPlan) Validate() error {
	if w.UserID == "" {
		return Errorf(KindInvalid, "Missing required field", "an end user id is required")
	}
	return nil
}

// DeleteCustomer deletes an end user from an environment.
type DeleteCustomer struct {
	WriteID       string `json:"writeId,omitempty"`
	EnvironmentID int64  `json:"environmentId"`
	UserID        string `json:"userId"`
}

// PutAsset is an uploaded image.
type PutAsset struct {
	WriteID string `json:"writeId,omitempty"`
	Asset   Asset  `json:"asset"`
}

// Validate checks the asset has a key, a platform and data.
func (w PutAsset) Validate() error {
	if w.Asset.Key == "" || w.Asset.PlatformID == "" || len(w.Asset.Data) == 0 {
		return Errorf(KindInvalid, "Invalid asset", "an asset needs a key, a platform and data")
	}
	return nil
}

// ReserveStock holds a cart's quantities of products with inventory for a
// checkout until ExpiresAt, or refuses the whole cart when one is not
// available: the check and the hold are one transaction, so concurrent
// carts never hold more than there is.
type ReserveStock struct {
	WriteID       string `json:"writeId,omitempty"`
	ReservationID string `json:"reservationId"`
	EnvironmentID int64  `json:"environmentId"`
	// Lines are the cart's lines of products with inventory.
	Lines     []StockLine `json:"lines"`
	ExpiresAt time.Time   `json:"expiresAt"`
}

// Validate checks the reservation names itself, its environment, a time and
// at least one positive quantity.
func (w ReserveStock) Validate() error {
	if w.ReservationID == "" || w.EnvironmentID <= 0 || w.ExpiresAt.IsZero() || len(w.Lines) == 0 {
		return Errorf(KindInvalid, "Invalid reservation", "a reservation needs an id, an environment, an expiry and lines")
	}
	for _, l := range w.Lines {
		if l.PriceID == "" || l.Quantity <= 0 {
			return Errorf(KindInvalid, "Invalid reservation", "every line needs a price and a positive quantity")
		}
	}
	return nil
}

// ReleaseStock returns what a reservation holds, as when its checkout could
// not be created.
type ReleaseStock struct {
	WriteID       string `json:"writeId,omitempty"`
	ReservationID string `json:"reservationId"`
}

// RecordRefund records that an oversold order's payment was given back.
type RecordRefund struct {
	WriteID string `json:"writeId,omitempty"`
	OrderID string `json:"orderId"`
	// RefundID is the payment provider's refund ("re_…").
	RefundID string `json:"refundId"`
}

// Validate checks the refund names its order and the provider's refund.
func (w RecordRefund) Validate() error {
	if w.OrderID == "" || w.RefundID == "" {
		return Errorf(KindInvalid, "Invalid refund", "a refund needs its order and the provider's refund id")
	}
	return nil
}

// ApplyPlatformEvent is a verified event of the platform webhook: the
// operator's own payment account reporting a developer's subscription to
// the platform plan.
type ApplyPlatformEvent struct {
	Event PaymentEvent `json:"event"`
}

// Validate checks the event has an id and a type.
func (w ApplyPlatformEvent) Validate() error {
	if w.Event.ID == "" || w.Event.Type == "" {
		return Errorf(KindInvalid, "Invalid event", "an event needs an id and a type")
	}
	return nil
}

// SetPlatformCustomer stores a developer's customer on the operator's
// payment account, unless they have one already; its result is the
// customer stored, theirs if another request stored one first.
type SetPlatformCustomer struct {
	WriteID    string `json:"writeId,omitempty"`
	PlatformID string `json:"platformId"`
	CustomerID string `json:"customerId"`
}

// Validate checks the write names a platform and a customer.
func (w SetPlatformCustomer) Validate() error {
	if w.PlatformID == "" || w.CustomerID == "" {
		return Errorf(KindInvalid, "Invalid customer", "a platform and a customer are required")
	}
	return nil
}

// RecordMeterReport records that a platform's billable end users of a day
// were reported to the meter.
type RecordMeterReport struct {
	WriteID    string `json:"writeId,omitempty"`
	PlatformID string `json:"platformId"`
	Day        string `json:"day"`
	EndUsers   int64  `json:"endUsers"`
}

// ClaimJobRun claims a day of a daily job for a node until a time; its
// result is false when the day is done, or claimed by another node whose
// claim has not lapsed.
type ClaimJobRun struct {
	Job   string    `json:"job"`
	Day   string    `json:"day"`
	Node  string    `json:"node"`
	Until time.Time `json:"until"`
}

// FinishJobRun marks a day of a daily job done.
type FinishJobRun struct {
	Job string `json:"job"`
	Day string `json:"day"`
}

// PurgePlatform deletes every project of a lapsed developer, both
// environments, and their uploaded images, and records when; the platform
// row stays with its status. It refuses a platform whose subscription runs
// again.
type PurgePlatform struct {
	PlatformID string `json:"platformId"`
}

// PurgeCounts is what a purge deleted.
type PurgeCounts struct {
	Projects int64 `json:"projects"`
	EndUsers int64 `json:"endUsers"`
	Tiers    int64 `json:"tiers"`
	Orders   int64 `json:"orders"`
	Assets   int64 `json:"assets"`
	Purged   bool  `json:"purged"`
}

// RecordDailyFigures stores a page of environments' figures of a day.
type RecordDailyFigures struct {
	Figures []EnvironmentFigure `json:"figures"`
}

// EnvironmentFigure is one environment's figures of a day.
type EnvironmentFigure struct {
	EnvironmentID int64 `json:"environmentId"`
	DailyFigure
}
