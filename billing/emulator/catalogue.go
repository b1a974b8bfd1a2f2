package emulator

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"

	"github.com/dream-api/dream"
)

var (
	_ dream.Catalogue = (*Emulator)(nil)
	_ dream.Connector = (*Emulator)(nil)
)

// product is a stored product of a connected account.
type product struct {
	owner
	ID          string
	Active      bool
	Name        string
	Description string
	Image       string
	Features    []string
	Metadata    map[string]string
}

// productPrice is a stored price.
type productPrice struct {
	owner
	ID         string
	Active     bool
	Product    string
	UnitAmount int64
	Currency   string
	Recurring  bool
}

// The emulator's object tables.
const (
	productsTable     = "products"
	pricesTable       = "prices"
	connectCodesTable = "connect_codes"
)

// CreateProduct implements dream.Catalogue.
func (e *Emulator) CreateProduct(ctx context.Context, account dream.PaymentAccount, t dream.Tier) (string, error) {
	if err := validateAccount(account); err != nil {
		return "", err
	}
	p := product{owner: ownerOf(account), ID: dream.NewID("prod_dev_"), Active: true}
	p.set(t)
	return p.ID, e.update(ctx, func(tx *sql.Tx) error { return put(ctx, tx, productsTable, p.ID, p) })
}

// set copies what a product shows of t.
func (p *product) set(t dream.Tier) {
	p.Name, p.Description, p.Image, p.Features = t.DisplayName, t.Description, t.ImageURL, t.Features
	p.Metadata = map[string]string{"tierName": t.Slug}
}

// UpdateProduct implements dream.Catalogue.
func (e *Emulator) UpdateProduct(ctx context.Context, account dream.PaymentAccount, t dream.Tier) error {
	return change(ctx, e, account, productsTable, t.StripeProductID, func(p *product) { p.set(t) })
}

// ArchiveProduct implements dream.Catalogue.
func (e *Emulator) ArchiveProduct(ctx context.Context, account dream.PaymentAccount, productID string) error {
	return change(ctx, e, account, productsTable, productID, func(p *product) { p.Active = false })
}

// CreatePrice implements dream.Catalogue.
func (e *Emulator) CreatePrice(ctx context.Context, account dream.PaymentAccount, t dream.Tier) (string, error) {
	if err := validateAccount(account); err != nil {
		return "", err
	}
	p := productPrice{owner: ownerOf(account), ID: dream.NewID("price_dev_"), Active: true, Product: t.StripeProductID,
		UnitAmount: t.PriceCents, Currency: t.Currency, Recurring: t.BillingMode == dream.BillingSubscription}
	err := e.update(ctx, func(tx *sql.Tx) error {
		var owning product
		if found, err := get(ctx, tx, productsTable, p.Product, &owning); err != nil {
			return err
		} else if !found || owning.owner != p.owner {
			return notFound("No such product: %s", p.Product)
		}
		return put(ctx, tx, pricesTable, p.ID, p)
	})
	return p.ID, err
}

// DeactivatePrice implements dream.Catalogue.
func (e *Emulator) DeactivatePrice(ctx context.Context, account dream.PaymentAccount, priceID string) error {
	return change(ctx, e, account, pricesTable, priceID, func(p *productPrice) { p.Active = false })
}

// owned is a stored object of an owner.
type owned interface{ ownedBy() owner }

func (o owner) ownedBy() owner { return o }

// change applies f to the object id of table, which account must own.
func change[T any, P interface {
	*T
	owned
}](ctx context.Context, e *Emulator, account dream.PaymentAccount, table, id string, f func(P)) error {
	if err := validateAccount(account); err != nil {
		return err
	}
	return e.update(ctx, func(tx *sql.Tx) error {
		v := P(new(T))
		if found, err := get(ctx, tx, table, id, v); err != nil {
			return err
		} else if !found || v.ownedBy() != ownerOf(account) {
			return notFound("No such object: %s", id)
		}
		f(v)
		return put(ctx, tx, table, id, v)
	})
}

// connectCode is an authorization code of the Connect page.
type connectCode struct {
	ID      string
	Mode    dream.Mode
	Account string
}

// AuthorizeURL implements dream.Connector: the emulator's own Connect
// page, which sends the browser back to the server's callback.
func (e *Emulator) AuthorizeURL(mode dream.Mode, state string) (string, error) {
	q := url.Values{"mode": {string(mode)}, "state": {state}}
	return e.baseURL + "/dev/connect/authorize?" + q.Encode(), nil
}

// Exchange implements dream.Connector: a code is traded once, for the
// account of its mode.
func (e *Emulator) Exchange(ctx context.Context, mode dream.Mode, code string) (string, error) {
	var c connectCode
	err := e.update(ctx, func(tx *sql.Tx) error {
		found, err := get(ctx, tx, connectCodesTable, code, &c)
		if err != nil {
			return err
		}
		if !found || c.Mode != mode {
			return rejected("No such authorization code: %s", code)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+connectCodesTable+" WHERE id = ?", code)
		return err
	})
	return c.Account, err
}

// connectPage is what the Connect page shows.
type connectPage struct {
	Mode  dream.Mode
	State string
}

// handleConnect shows the Connect page: the account to connect and a
// button that connects it.
func (e *Emulator) handleConnect(w http.ResponseWriter, r *http.Request) {
	mode := dream.Mode(r.FormValue("mode"))
	if !mode.Valid() || r.FormValue("state") == "" {
		e.writeError(w, rejected("A Connect link needs a mode (test or live) and a state"), pageLink{})
		return
	}
	e.render(w, http.StatusOK, "connect", connectPage{Mode: mode, State: r.FormValue("state")})
}

// handleConnectAuthorize connects a new account and sends the browser to
// the callback with a code for it, or with error=access_denied when the
// developer declined.
func (e *Emulator) handleConnectAuthorize(w http.ResponseWriter, r *http.Request) {
	mode, state := dream.Mode(r.FormValue("mode")), r.FormValue("state")
	if !mode.Valid() || state == "" {
		e.writeError(w, rejected("A Connect link needs a mode (test or live) and a state"), pageLink{})
		return
	}
	q := url.Values{"state": {state}}
	if r.FormValue("decision") == "deny" {
		q.Set("error", "access_denied")
	} else {
		c := connectCode{ID: dream.NewID("ac_dev_"), Mode: mode, Account: dream.NewID("acct_dev_")}
		if err := e.update(r.Context(), func(tx *sql.Tx) error { return put(r.Context(), tx, connectCodesTable, c.ID, c) }); err != nil {
			e.writeError(w, err, pageLink{})
			return
		}
		q.Set("code", c.ID)
	}
	http.Redirect(w, r, e.baseURL+dream.ConnectCallbackPath(mode)+"?"+q.Encode(), http.StatusSeeOther)
}
