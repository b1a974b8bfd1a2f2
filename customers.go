package dream

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// CustomerService manages the end users of a project environment for the
// developer's backend, keeping the identity provider, the payment provider
// and the database in step. A customer of another environment does not
// exist for it: every call answers errCustomerNotFound for one.
type CustomerService interface {
	// CreateCustomer creates an end user; an email the environment has
	// already is a KindConflict error.
	CreateCustomer(ctx context.Context, env *Environment, c NewCustomer) (*CustomerView, error)
	// Customer returns an end user of the environment.
	Customer(ctx context.Context, env *Environment, userID string) (*CustomerView, error)
	// AssignPlan gives an end user one of the environment's subscription
	// tiers as their plan. Usage is untouched, and a running subscription
	// still decides the plan while it runs.
	AssignPlan(ctx context.Context, env *Environment, userID, plan string) (*CustomerView, error)
	// DeleteCustomer deletes an end user, canceling a running subscription
	// at the end of its period first so that nobody is billed for a deleted
	// account, and returns them as they were.
	DeleteCustomer(ctx context.Context, env *Environment, userID string) (*CustomerView, error)
}

// NewCustomer is an end user a developer creates.
type NewCustomer struct {
	Email string
	// Password is optional: without one the user signs in another way.
	Password  string
	FirstName string
	LastName  string
	// Plan is the plan to assign, "" for none.
	Plan string
}

// Validate checks the customer has an email address and every field its
// bound.
func (c NewCustomer) Validate() error {
	if strings.TrimSpace(c.Email) == "" {
		return Errorf(KindInvalid, "Missing required field", "email is required")
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"email", c.Email, MaxEmail}, {"password", c.Password, MaxPassword},
		{"firstName", c.FirstName, MaxName}, {"lastName", c.LastName, MaxName}, {"plan", c.Plan, MaxName},
	} {
		if err := CheckLength(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if !strings.Contains(c.Email, "@") {
		return Errorf(KindInvalid, "Invalid email", "email must be an email address")
	}
	return nil
}

// CustomerView is an end user as the customers API shows them.
type CustomerView struct {
	UserID    string
	Email     string
	FirstName string
	LastName  string
	CreatedAt time.Time
	// Plan is the plan that governs the end user now.
	Plan Plan
	// Subscription is the stored subscription, nil if none.
	Subscription *Subscription
}

// CustomerDirectory is what the customers service reads: the node's copy
// of the database.
type CustomerDirectory interface {
	PaymentDirectory
	Tiers(ctx context.Context, envID int64) ([]Tier, error)
	EndUser(ctx context.Context, envID int64, userID string) (*EndUser, error)
	EndUserByEmail(ctx context.Context, envID int64, email string) (string, error)
	UserState(ctx context.Context, envID int64, userID string) (UserState, error)
}

// Customers implements CustomerService.
type Customers struct {
	Directory CustomerDirectory
	// Writer applies the writes; reads of the directory after one see it.
	Writer   Writer
	Identity Identity
	Payments Payments
	Logger   *slog.Logger
}

var _ CustomerService = (*Customers)(nil)

// errCustomerNotFound is the answer for a customer that is not the
// environment's, whether it exists elsewhere or not at all.
var errCustomerNotFound = Errorf(KindNotFound, "Not found", "Customer not found or does not belong to your platform")

// CreateCustomer implements CustomerService. The identity provider gets
// the account and the database the customer; if the database refuses, the
// account is removed again.
func (s *Customers) CreateCustomer(ctx context.Context, env *Environment, c NewCustomer) (*CustomerView, error) {
	c.Email = strings.TrimSpace(c.Email)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tiers, err := s.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	var plan string
	if c.Plan != "" {
		if plan, err = assignablePlan(tiers, c.Plan); err != nil {
			return nil, err
		}
	}
	if existing, err := s.Directory.EndUserByEmail(ctx, env.ID, c.Email); err != nil {
		return nil, err
	} else if existing != "" {
		return nil, CustomerExists(c.Email)
	}
	assigned := ResolvePlan(tiers, PlanSources{AssignedPlan: plan})
	identity, err := s.Identity.CreateUser(ctx, env.Mode, NewIdentityUser{
		Email: c.Email, Password: c.Password, FirstName: c.FirstName, LastName: c.LastName,
		PublicMetadata: map[string]any{"publishableKey": env.PublishableKey, "plan": assigned.Name},
	})
	if err != nil {
		return nil, err
	}
	err = s.Writer.Write(ctx, CreateCustomer{
		EnvironmentID: env.ID, UserID: identity.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Plan: plan,
		CreatedAt: identity.CreatedAt,
	}, nil)
	if err != nil {
		if undo := s.Identity.DeleteUser(ctx, env.Mode, identity.ID); undo != nil {
			s.Logger.Error("removing the identity of a customer the database refused", "request_id", RequestIDFromContext(ctx),
				"user_id", identity.ID, "error", undo)
		}
		return nil, err
	}
	return &CustomerView{UserID: identity.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
		CreatedAt: identity.CreatedAt, Plan: assigned}, nil
}

// assignablePlan is the canonical slug of a plan a developer may assign:
// one of the environment's subscription tiers, found by FindTier.
func assignablePlan(tiers []Tier, plan string) (string, error) {
	if t := FindTier(tiers, BillingSubscription, plan); t != nil {
		return t.Slug, nil
	}
	var names []string
	for _, t := range tiers {
		if t.BillingMode == BillingSubscription {
			names = append(names, t.Slug)
		}
	}
	return "", Errorf(KindInvalid, "Invalid plan", "plan must be one of the project's tiers: %s", strings.Join(names, ", "))
}

// Customer implements CustomerService. An end user who signed up to the
// project but never called the API is known only to the identity
// provider, whose metadata ties them to the project.
func (s *Customers) Customer(ctx context.Context, env *Environment, userID string) (*CustomerView, error) {
	tiers, err := s.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	return s.customer(ctx, env, tiers, userID)
}

// customer is Customer with the environment's tiers read.
func (s *Customers) customer(ctx context.Context, env *Environment, tiers []Tier, userID string) (*CustomerView, error) {
	if err := CheckLength("customer id", userID, MaxID); err != nil {
		return nil, err
	}
	user, err := s.Directory.EndUser(ctx, env.ID, userID)
	if err != nil {
		return nil, err
	}
	if user != nil {
		state, err := s.Directory.UserState(ctx, env.ID, userID)
		if err != nil {
			return nil, err
		}
		return &CustomerView{
			UserID: userID, Email: user.Email, FirstName: user.FirstName, LastName: user.LastName, CreatedAt: user.CreatedAt,
			Subscription: state.Subscription,
			Plan:         ResolvePlan(tiers, PlanSources{Subscription: state.Subscription, AssignedPlan: state.AssignedPlan}),
		}, nil
	}
	identity, err := s.Identity.User(ctx, env.Mode, userID)
	if ErrorKind(err) == KindNotFound {
		return nil, errCustomerNotFound
	}
	if err != nil {
		return nil, err
	}
	if identity.MetadataString("publishableKey") != env.PublishableKey {
		return nil, errCustomerNotFound
	}
	return &CustomerView{
		UserID: userID, Email: identity.Email, FirstName: identity.FirstName, LastName: identity.LastName, CreatedAt: identity.CreatedAt,
		Plan: ResolvePlan(tiers, PlanSources{TokenPlan: identity.MetadataString("plan")}),
	}, nil
}

// AssignPlan implements CustomerService. The new plan is mirrored into the
// end user's identity metadata, so their next token carries it.
func (s *Customers) AssignPlan(ctx context.Context, env *Environment, userID, plan string) (*CustomerView, error) {
	if err := CheckLength("plan", plan, MaxName); err != nil {
		return nil, err
	}
	tiers, err := s.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	c, err := s.customer(ctx, env, tiers, userID)
	if err != nil {
		return nil, err
	}
	slug, err := assignablePlan(tiers, plan)
	if err != nil {
		return nil, err
	}
	if err := s.Writer.Write(ctx, AssignPlan{EnvironmentID: env.ID, UserID: userID, Plan: slug}, nil); err != nil {
		return nil, err
	}
	c.Plan = ResolvePlan(tiers, PlanSources{Subscription: c.Subscription, AssignedPlan: slug})
	mirrorPlans(ctx, s.Identity, s.Logger, []PlanChange{{Mode: env.Mode, UserID: userID, Plan: c.Plan.Name}})
	return c, nil
}

// DeleteCustomer implements CustomerService: the subscription's
// cancellation first, then the identity, then the database rows.
func (s *Customers) DeleteCustomer(ctx context.Context, env *Environment, userID string) (*CustomerView, error) {
	c, err := s.Customer(ctx, env, userID)
	if err != nil {
		return nil, err
	}
	if sub := c.Subscription; sub != nil && sub.Status.Running() && !sub.CancelAtPeriodEnd {
		account, err := ConnectedAccount(ctx, s.Directory, env)
		if err != nil {
			return nil, err
		}
		if err := s.Payments.CancelSubscription(ctx, account, sub.ID, true); err != nil {
			return nil, err
		}
	}
	if err := s.Identity.DeleteUser(ctx, env.Mode, userID); err != nil && ErrorKind(err) != KindNotFound {
		return nil, err
	}
	if err := s.Writer.Write(ctx, DeleteCustomer{EnvironmentID: env.ID, UserID: userID}, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// mirrorPlans copies changed plans into the end users' identity metadata,
// so their next token carries the plan the database already enforces. The
// database stays the source of truth: a failure here is logged, not
// answered, since nothing the caller could do would retry it.
func mirrorPlans(ctx context.Context, identity Identity, logger *slog.Logger, changes []PlanChange) {
	for _, c := range changes {
		if err := identity.UpdatePublicMetadata(ctx, c.Mode, c.UserID, map[string]any{"plan": c.Plan}); err != nil {
			logger.Warn("mirroring plan into identity metadata", "request_id", RequestIDFromContext(ctx),
				"user_id", c.UserID, "plan", c.Plan, "error", err)
		}
	}
}
