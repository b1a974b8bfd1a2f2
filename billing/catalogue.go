package billing

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/dream-api/dream"
	"github.com/stripe/stripe-go/v76"
)

var (
	_ dream.Catalogue = (*Stripe)(nil)
	_ dream.Connector = (*Stripe)(nil)
)

// productParams are the fields of a tier's Stripe product.
func productParams(ctx context.Context, account dream.PaymentAccount, t dream.Tier) *stripe.ProductParams {
	p := &stripe.ProductParams{
		Params:   changeParams(ctx, account),
		Name:     stripe.String(t.DisplayName),
		Metadata: map[string]string{"tierName": t.Slug, "limit": limitMetadata(t.Limit)},
	}
	// Stripe refuses an empty description; "" on update clears it.
	p.Description = optional(t.Description)
	if u, err := url.Parse(t.ImageURL); err == nil && u.IsAbs() {
		p.Images = []*string{stripe.String(t.ImageURL)}
	}
	// stripe-go v76 knows the features as "features", which Stripe has
	// since renamed "marketing_features" and refuses under the old name.
	for i, f := range t.Features {
		p.AddExtra("marketing_features["+strconv.Itoa(i)+"][name]", f)
	}
	return p
}

// limitMetadata is a tier's limit as the product's metadata says it, 0
// for unlimited as the original service wrote it.
func limitMetadata(l dream.Limit) string {
	if l.Unlimited() {
		return "0"
	}
	return strconv.FormatInt(int64(l), 10)
}

// CreateProduct implements dream.Catalogue.
func (s *Stripe) CreateProduct(ctx context.Context, account dream.PaymentAccount, t dream.Tier) (string, error) {
	api, err := s.client(account)
	if err != nil {
		return "", err
	}
	p, err := api.Products.New(productParams(ctx, account, t))
	if err != nil {
		return "", s.fail("create product", account, err)
	}
	return p.ID, nil
}

// UpdateProduct implements dream.Catalogue.
func (s *Stripe) UpdateProduct(ctx context.Context, account dream.PaymentAccount, t dream.Tier) error {
	api, err := s.client(account)
	if err != nil {
		return err
	}
	params := productParams(ctx, account, t)
	// What the tier no longer has is cleared, as Stripe clears a field:
	// sent empty.
	if params.Description == nil {
		params.Description = stripe.String("")
	}
	if len(t.Features) == 0 {
		params.AddExtra("marketing_features", "")
	}
	if params.Images == nil {
		params.AddExtra("images", "")
	}
	if _, err := api.Products.Update(t.StripeProductID, params); err != nil {
		return s.fail("update product", account, err)
	}
	return nil
}

// ArchiveProduct implements dream.Catalogue.
func (s *Stripe) ArchiveProduct(ctx context.Context, account dream.PaymentAccount, productID string) error {
	api, err := s.client(account)
	if err != nil {
		return err
	}
	params := &stripe.ProductParams{Params: changeParams(ctx, account), Active: stripe.Bool(false)}
	if _, err := api.Products.Update(productID, params); err != nil {
		return s.fail("archive product", account, err)
	}
	return nil
}

// CreatePrice implements dream.Catalogue.
func (s *Stripe) CreatePrice(ctx context.Context, account dream.PaymentAccount, t dream.Tier) (string, error) {
	api, err := s.client(account)
	if err != nil {
		return "", err
	}
	params := &stripe.PriceParams{
		Params:     changeParams(ctx, account),
		Product:    stripe.String(t.StripeProductID),
		UnitAmount: stripe.Int64(t.PriceCents),
		Currency:   stripe.String(t.Currency),
		Metadata:   map[string]string{"tierName": t.Slug},
	}
	if t.BillingMode == dream.BillingSubscription {
		params.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String(string(stripe.PriceRecurringIntervalMonth))}
	}
	p, err := api.Prices.New(params)
	if err != nil {
		return "", s.fail("create price", account, err)
	}
	return p.ID, nil
}

// DeactivatePrice implements dream.Catalogue.
func (s *Stripe) DeactivatePrice(ctx context.Context, account dream.PaymentAccount, priceID string) error {
	api, err := s.client(account)
	if err != nil {
		return err
	}
	params := &stripe.PriceParams{Params: changeParams(ctx, account), Active: stripe.Bool(false)}
	if _, err := api.Prices.Update(priceID, params); err != nil {
		return s.fail("deactivate price", account, err)
	}
	return nil
}

// errConnectNotConfigured answers a Connect call of a mode whose client id
// or callback URL the operator has not set.
var errConnectNotConfigured = &dream.Error{Kind: dream.KindUnavailable, Code: "connect_not_configured",
	Message: "Stripe Connect is not configured on this server for this mode"}

// AuthorizeURL implements dream.Connector: Stripe's OAuth page for a
// standard account with read_write access, returning to the server's
// callback.
func (s *Stripe) AuthorizeURL(mode dream.Mode, state string) (string, error) {
	api, clientID := s.clients[mode], s.connectClientIDs[mode]
	if api == nil || clientID == "" || s.publicURL == "" {
		return "", errConnectNotConfigured
	}
	return api.OAuth.AuthorizeURL(&stripe.AuthorizeURLParams{
		ClientID:     stripe.String(clientID),
		ResponseType: stripe.String("code"),
		Scope:        stripe.String(string(stripe.OAuthScopeTypeReadWrite)),
		RedirectURI:  stripe.String(s.publicURL + dream.ConnectCallbackPath(mode)),
		State:        stripe.String(state),
	}), nil
}

// Exchange implements dream.Connector with Stripe's OAuth token call,
// authenticated by the platform's secret key of mode.
func (s *Stripe) Exchange(ctx context.Context, mode dream.Mode, code string) (string, error) {
	api := s.clients[mode]
	if api == nil {
		return "", errConnectNotConfigured
	}
	token, err := api.OAuth.New(&stripe.OAuthTokenParams{
		Params:       stripe.Params{Context: ctx},
		ClientSecret: stripe.String(s.keys[mode]),
		Code:         stripe.String(code),
		GrantType:    stripe.String("authorization_code"),
	})
	if err != nil {
		return "", s.fail("exchange connect code", dream.PaymentAccount{Mode: mode}, err)
	}
	if token.StripeUserID == "" {
		return "", s.fail("exchange connect code", dream.PaymentAccount{Mode: mode}, errors.New("no stripe_user_id in the answer"))
	}
	return token.StripeUserID, nil
}
