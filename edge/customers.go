package edge

import (
	"net/http"

	"github.com/dream-api/dream"
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

// newCustomerJSON is a customer of env as the customers API shows them.
func newCustomerJSON(c *dream.CustomerView, env *dream.Environment) customerJSON {
	return customerJSON{
		ID: c.UserID, Email: optional(c.Email), FirstName: optional(c.FirstName), LastName: optional(c.LastName),
		Plan: c.Plan.Name, PublishableKey: env.PublishableKey, CreatedAt: c.CreatedAt.UnixMilli(),
	}
}

// handleCreateCustomer creates an end user of the project: POST
// /api/customers.
func (s *Server) handleCreateCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Plan      string `json:"plan"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	env := req.customerEnvironment()
	c, err := s.customers.CreateCustomer(r.Context(), env, dream.NewCustomer(body))
	if err != nil {
		return err
	}
	j := newCustomerJSON(c, env)
	writeJSON(w, http.StatusCreated, map[string]any{"success": true,
		"customer": createdCustomerJSON{customerJSON: j, FirstName: j.FirstName, LastName: j.LastName}})
	return nil
}

// handleGetCustomer answers GET /api/customers/:id.
func (s *Server) handleGetCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	env := req.customerEnvironment()
	s.tally.AwaitShipped(r.Context(), env.ID)
	c, err := s.customers.Customer(r.Context(), env, req.params.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": newCustomerJSON(c, env)})
	return nil
}

// handleUpdateCustomer assigns a plan: PATCH /api/customers/:id.
func (s *Server) handleUpdateCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		Plan string `json:"plan"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	ctx, env, id := r.Context(), req.customerEnvironment(), req.params.ByName("id")
	var c *dream.CustomerView
	var err error
	if body.Plan == "" {
		c, err = s.customers.Customer(ctx, env, id)
	} else {
		c, err = s.customers.AssignPlan(ctx, env, id, body.Plan)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true,
		"customer": map[string]any{"id": id, "email": optional(c.Email), "plan": c.Plan.Name}})
	return nil
}

// handleDeleteCustomer deletes an end user of the project: DELETE
// /api/customers/:id.
func (s *Server) handleDeleteCustomer(w http.ResponseWriter, r *http.Request, req *request) error {
	id := req.params.ByName("id")
	c, err := s.customers.DeleteCustomer(r.Context(), req.customerEnvironment(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Customer deleted successfully",
		"deleted": map[string]string{"id": id, "email": c.Email}})
	return nil
}
