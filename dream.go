// Package dream is the domain of Dream API, the backend an indie developer
// puts behind their own front end: end-user auth, billing, metered usage with
// per-tier limits and rate limits, isolated per project by API key.
//
// The package holds the domain types, the business rules that decide usage
// periods, limits, plans and the platform gate, the one error type every
// layer answers with, and the interfaces between the parts. It depends on
// the standard library only; each sub-package implements one concern on top
// of it and cmd/dream wires them together.
package dream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Mode says which side of a project a key, a request or a row belongs to.
// Test mode is free and uses the payment provider's test accounts; live mode
// handles real money and is gated by the developer's platform subscription.
type Mode string

// The two modes of every project.
const (
	ModeTest Mode = "test"
	ModeLive Mode = "live"
)

// Valid reports whether m is one of the two modes.
func (m Mode) Valid() bool { return m == ModeTest || m == ModeLive }

// ProjectType is what a project sells, which decides the catalogue it has.
type ProjectType string

// The three project types.
const (
	// ProjectSaaS sells usage-metered subscription tiers.
	ProjectSaaS ProjectType = "saas"
	// ProjectStore sells one-off products with inventory through guest checkout.
	ProjectStore ProjectType = "store"
	// ProjectMembership gates content by plan, with optional trials.
	ProjectMembership ProjectType = "membership"
)

// Valid reports whether t is a known project type.
func (t ProjectType) Valid() bool {
	return t == ProjectSaaS || t == ProjectStore || t == ProjectMembership
}

// Platform is a developer account: the customer of Dream API who owns
// projects and pays the platform subscription.
type Platform struct {
	// ID is "plt_" followed by 32 hex digits.
	ID string
	// Owner identifies the developer at the identity provider that signs them
	// in (a Clerk user id in production, a local account in dev mode). One
	// platform per owner.
	Owner string
	Email string
	// Subscription is the state of the developer's own platform subscription.
	Subscription PlatformSubscription
	CreatedAt    time.Time
}

// Project is one application of a developer: a SaaS, a store or a membership
// site. Every project has a test and a live environment.
type Project struct {
	// ID is "prj_" followed by 32 hex digits.
	ID         string
	PlatformID string
	Name       string
	Type       ProjectType
	// AllowedOrigins are the origins of the developer's front ends: the
	// hosted pages return only to them.
	AllowedOrigins []string
	// RateLimitPerMinute overrides the server-wide per-user rate limit for
	// this project when set; zero disables rate limiting for the project.
	RateLimitPerMinute *int
	// EnableTax turns on the payment provider's automatic tax at checkout.
	EnableTax bool
	// StrictLimits decides every usage unit at the primary, so no limit is
	// ever exceeded, at the cost of a round trip to the primary per unit.
	// Without it a node decides units itself from its replicated copy and
	// the units it has not shipped yet, and nodes that serve the same end
	// user at the same moment may together admit a few units past a limit.
	StrictLimits bool
	CreatedAt    time.Time
}

// Environment is one mode of a project with its own publishable key, secret
// keys, catalogue, end users, usage, subscriptions and orders. Every query on
// tenant data is scoped by an environment.
type Environment struct {
	ID             int64
	Mode           Mode
	PublishableKey string
	Project        Project
}

// EndUser is a customer of a developer's project: a person who signs in to
// the developer's front end. End users belong to one environment.
type EndUser struct {
	// UserID is the end user's id at the identity provider.
	UserID    string
	Email     string
	FirstName string
	LastName  string
	// Plan is the plan a developer assigned through the customers API, ""
	// if none.
	Plan string
	// StripeCustomerID is the end user's customer at the payment provider,
	// reused by their later checkouts.
	StripeCustomerID string
	CreatedAt        time.Time
}

// Customer is an end user with what the database knows of their plan and
// usage.
type Customer struct {
	EndUser
	State UserState
}

// Order is a paid store checkout.
type Order struct {
	// ID is "ord_" followed by 32 hex digits.
	ID                    string
	Email                 string
	AmountCents           int64
	Currency              string
	Items                 []LineItem
	StripeSessionID       string
	StripePaymentIntentID string
	CreatedAt             time.Time
	// Oversold is an order paid for stock there was none of: nothing was
	// taken from stock, and the payment is refunded.
	Oversold bool
	// RefundID is the payment provider's refund of an oversold order, ""
	// until it is refunded.
	RefundID string
}

// NewID returns prefix followed by 32 random lowercase hex digits, the form
// of platform and project ids.
func NewID(prefix string) string {
	return prefix + randomHex(16)
}

// randomHex returns n random bytes from crypto/rand as 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported platforms; a failure
		// here means the process cannot produce secrets at all.
		panic(fmt.Sprintf("dream: reading random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// requestIDKey is the context key of a request's id.
type requestIDKey struct{}

// NewContextWithRequestID returns ctx carrying the id of the request it
// serves, which logs name it by.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext is the id of the request ctx serves, "" outside one.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
