package edge

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// customerJSON is a customer as the customers API answers. createdAt is
// Unix milliseconds, as Clerk reports it and the SDK types it.
type customerJSON struct {
	ID             string  `json:"id"`
	Email          *string `json:"email"`
	FirstName      *string `json:"firstName"`
	LastName       *string `json:"lastName"`
	Plan           string  `json:"plan"`
	PublishableKey string  `json:"publishableKey"`
	CreatedAt      int64   `json:"createdAt"`
}

// createdCustomerJSON is a customer as its creation answers: names not
// given are left out rather than null, as the original server did and the
// SDK's types expect.
type createdCustomerJSON struct {
	customerJSON
	FirstName *string `json:"firstName,omitempty"`
	LastName  *string `json:"lastName,omitempty"`
}

// errCustomerNotFound is the answer for a customer that is not the
// project's, whether it exists elsewhere or not at all.
var errCustomerNotFound = dream.Errorf(dream.KindNotFound, "Not found",
	"Customer not found or does not belong to your platform")

// customer is an end user of an environment as the customers API sees
// them: from the database, or, for an end user who signed up to the project
// but never called the API, from the identity provider.
type customer struct {
	id, email, firstName, lastName string
	createdAt                      time.Time
	plan                           dream.Plan
	// subscription is the stored subscription, nil if none.
	subscription *dream.Subscription
}

// findCustomer returns the end user id of env, or errCustomerNotFound.
// Ownership is the environment's: a customer of another project, or of the
// other mode of this one, does not exist here.
func (s *Server) findCustomer(ctx context.Context, env *dream.Environment, id string) (*customer, error) {
	tiers, err := s.db.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	user, err := s.db.EndUser(ctx, env.ID, id)
	if err != nil {
		return nil, err
	}
	if user != nil {
		state, err := s.db.UserState(ctx, env.ID, id)
		if err != nil {
			return nil, err
		}
		return &customer{
			id: id, email: user.Email, firstName: user.FirstName, lastName: user.LastName, createdAt: user.CreatedAt,
			subscription: state.Subscription,
			plan:         dream.ResolvePlan(tiers, dream.PlanSources{Subscription: state.Subscription, AssignedPlan: state.AssignedPlan}),
		}, nil
	}
	identity, err := s.identity.User(ctx, env.Mode, id)
	if dream.ErrorKind(err) == dream.KindNotFound {
		return nil, errCustomerNotFound
	}
	if err != nil {
		return nil, err
	}
	if identity.MetadataString("publishableKey") != env.PublishableKey {
		return nil, errCustomerNotFound
	}
	return &customer{
		id: id, email: identity.Email, firstName: identity.FirstName, lastName: identity.LastName, createdAt: identity.CreatedAt,
		plan: dream.ResolvePlan(tiers, dream.PlanSources{TokenPlan: identity.MetadataString("plan")}),
	}, nil
}

func (c *customer) json(env *dream.Environment) customerJSON {
	return customerJSON{
		ID: c.id, Email: optional(c.email), FirstName: optional(c.firstName), LastName: optional(c.lastName),
		Plan: c.plan.Name, PublishableKey: env.PublishableKey, CreatedAt: c.createdAt.UnixMilli(),
	}
}

// assignablePlan is the canonical slug of a plan a developer may assign:
// one of the environment's subscription tiers, found by dream.FindTier.
func assignablePlan(tiers []dream.Tier, plan string) (string, error) {
	if t := dream.FindTier(tiers, dream.BillingSubscription, plan); t != nil {
		return t.Slug, nil
	}
	var names []string
	for _, t := range tiers {
		if t.BillingMode == dream.BillingSubscription {
			names = append(names, t.Slug)
		}
	}
	return "", dream.Errorf(dream.KindInvalid, "Invalid plan", "plan must be one of the project's tiers: %s", strings.Join(names, ", "))
}

// handleCreateCustomer creates an end user of the project: POST
// /api/customers. The identity provider gets the account and the database
// the customer; if the database refuses, the account is removed again.
func (s *Server) handleCreateCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Plan      string `json:"plan"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	body.Email = strings.TrimSpace(body.Email)
	if body.Email == "" {
		return dream.Errorf(dream.KindInvalid, "Missing required field", "email is required")
	}
	if !strings.Contains(body.Email, "@") {
		return dream.Errorf(dream.KindInvalid, "Invalid email", "email must be an email address")
	}
	ctx, env := r.Context(), req.key
	tiers, err := s.db.Tiers(ctx, env.ID)
	if err != nil {
		return err
	}
	var plan string
	if body.Plan != "" {
		if plan, err = assignablePlan(tiers, body.Plan); err != nil {
			return err
		}
	}
	if existing, err := s.db.EndUserByEmail(ctx, env.ID, body.Email); err != nil {
		return err
	} else if existing != "" {
		return dream.CustomerExists(body.Email)
	}
	metadataPlan := plan
	if metadataPlan == "" {
		metadataPlan = dream.ResolvePlan(tiers, dream.PlanSources{}).Name
	}
	identity, err := s.identity.CreateUser(ctx, env.Mode, dream.NewIdentityUser{
		Email: body.Email, Password: body.Password, FirstName: body.FirstName, LastName: body.LastName,
		PublicMetadata: map[string]any{"publishableKey": env.PublishableKey, "plan": metadataPlan},
	})
	if err != nil {
		return err
	}
	err = s.writer.Write(ctx, dream.CreateCustomer{
		EnvironmentID: env.ID, UserID: identity.ID, Email: body.Email, FirstName: body.FirstName, LastName: body.LastName, Plan: plan,
		CreatedAt: identity.CreatedAt,
	}, nil)
	s.tally.Forget(store.UserRef{EnvironmentID: env.ID, UserID: identity.ID})
	if err != nil {
		if undo := s.identity.DeleteUser(ctx, env.Mode, identity.ID); undo != nil {
			s.logger.Error("removing the identity of a customer the database refused", "request_id", infoFrom(ctx).id,
				"user_id", identity.ID, "error", undo)
		}
		return err
	}
	c := customer{id: identity.ID, email: body.Email, firstName: body.FirstName, lastName: body.LastName, createdAt: identity.CreatedAt,
		plan: dream.ResolvePlan(tiers, dream.PlanSources{AssignedPlan: plan})}
	j := c.json(env)
	writeJSON(w, http.StatusCreated, map[string]any{"success": true,
		"customer": createdCustomerJSON{customerJSON: j, FirstName: j.FirstName, LastName: j.LastName}})
	return nil
}

// handleGetCustomer answers GET /api/customers/:id.
func (s *Server) handleGetCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	s.tally.AwaitShipped(r.Context(), req.key.ID)
	c, err := s.findCustomer(r.Context(), req.key, req.params.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": c.json(req.key)})
	return nil
}

// handleUpdateCustomer assigns a plan: PATCH /api/customers/:id. The usage
// count and period stay as they are; an entitling subscription still
// decides the plan while it runs.
func (s *Server) handleUpdateCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Plan string `json:"plan"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	ctx, env, id := r.Context(), req.key, req.params.ByName("id")
	c, err := s.findCustomer(ctx, env, id)
	if err != nil {
		return err
	}
	if body.Plan != "" {
		tiers, err := s.db.Tiers(ctx, env.ID)
		if err != nil {
			return err
		}
		plan, err := assignablePlan(tiers, body.Plan)
		if err != nil {
			return err
		}
		err = s.writer.Write(ctx, dream.AssignPlan{EnvironmentID: env.ID, UserID: id, Plan: plan}, nil)
		// The next read at this node sees the plan, before the change log
		// says so.
		s.tally.Forget(store.UserRef{EnvironmentID: env.ID, UserID: id})
		if err != nil {
			return err
		}
		c.plan = dream.ResolvePlan(tiers, dream.PlanSources{Subscription: c.subscription, AssignedPlan: plan})
		s.mirrorPlans(ctx, []dream.PlanChange{{Mode: env.Mode, UserID: id, Plan: c.plan.Name}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true,
		"customer": map[string]any{"id": id, "email": optional(c.email), "plan": c.plan.Name}})
	return nil
}

// handleDeleteCustomer deletes an end user of the project: DELETE
// /api/customers/:id. A running subscription is canceled at the end of its
// period first, so nobody is billed for a deleted account; then the
// identity and the database rows go. The environment is the secret key's
// validated X-Publishable-Key scope.
func (s *Server) handleDeleteCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx, env, id := r.Context(), req.scope, req.params.ByName("id")
	c, err := s.findCustomer(ctx, env, id)
	if err != nil {
		return err
	}
	if sub := c.subscription; sub != nil && sub.Status.Running() && !sub.CancelAtPeriodEnd {
		account, err := s.paymentAccount(ctx, env)
		if err != nil {
			return err
		}
		if err := s.payments.CancelSubscription(ctx, account, sub.ID, true); err != nil {
			return err
		}
	}
	if err := s.identity.DeleteUser(ctx, env.Mode, id); err != nil && dream.ErrorKind(err) != dream.KindNotFound {
		return err
	}
	err = s.writer.Write(ctx, dream.DeleteCustomer{EnvironmentID: env.ID, UserID: id}, nil)
	s.tally.Forget(store.UserRef{EnvironmentID: env.ID, UserID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Customer deleted successfully",
		"deleted": map[string]string{"id": id, "email": c.email}})
	return nil
}
