package emulator

import (
	"context"
	"database/sql"

	"github.com/dream-api/dream"
)

// portalSession is a stored customer portal session.
type portalSession struct {
	owner
	ID        string
	Customer  string
	ReturnURL string
	// Plans are the prices the customer may switch between.
	Plans   []dream.LineItem
	Created int64
}

// CreatePortalSession stores a portal session for a customer of the
// account and returns the URL of its page.
func (e *Emulator) CreatePortalSession(ctx context.Context, request dream.PortalSession) (string, error) {
	if err := validateAccount(request.Account); err != nil {
		return "", err
	}
	if err := validateURL("return URL", request.ReturnURL); err != nil {
		return "", err
	}
	for i, plan := range request.Plans {
		if plan.PriceID == "" || !plan.Recurring {
			return "", rejected("Plan %d (%s) must be a recurring price", i, plan.PriceID)
		}
	}
	session := &portalSession{
		owner:     ownerOf(request.Account),
		ID:        dream.NewID("bps_"),
		Customer:  request.CustomerID,
		ReturnURL: request.ReturnURL,
		Plans:     normalizeLineItems(request.Plans),
		Created:   e.now().Unix(),
	}
	err := e.update(ctx, func(tx *sql.Tx) error {
		if _, err := customerOf(ctx, tx, session.owner, request.CustomerID); err != nil {
			return err
		}
		return put(ctx, tx, portalSessionsTable, session.ID, session)
	})
	if err != nil {
		return "", err
	}
	return e.baseURL + "/dev/portal/" + session.ID, nil
}

// customerSubscriptions returns every subscription of the portal session's
// customer, oldest first.
func (e *Emulator) customerSubscriptions(ctx context.Context, p *portalSession) ([]*subscription, error) {
	return selectAll(ctx, e.db, func(s *subscription) bool { return s.owner == p.owner },
		`SELECT data FROM subscriptions WHERE customer = ? ORDER BY rowid`, p.Customer)
}
