package dream

import (
	"context"
	"time"
)

// Connector links a developer's own payment account to the platform: Stripe
// Connect OAuth (standard accounts, read_write) in production, a page of
// the emulator in dev mode.
type Connector interface {
	// AuthorizeURL is where the developer's browser goes to connect an
	// account in mode; the provider sends it back to the callback with
	// state and a code.
	AuthorizeURL(mode Mode, state string) (string, error)
	// Exchange trades the callback's code for the connected account's id.
	Exchange(ctx context.Context, mode Mode, code string) (string, error)
}

// ConnectCallbackPath is the path of the server's Connect callback of a
// mode, where the provider sends the developer's browser back.
func ConnectCallbackPath(mode Mode) string { return "/v1/connect/" + string(mode) + "/callback" }

// ConnectStateLifetime is how long a Connect authorization may take.
const ConnectStateLifetime = 10 * time.Minute

// StartConnect begins connecting the developer's payment account in mode
// and returns where to send their browser. The state it carries is random,
// stored only hashed, tied to the developer and the mode, single use and
// short-lived.
func (c *Console) StartConnect(ctx context.Context, p *Platform, mode Mode) (string, error) {
	if !mode.Valid() {
		return "", Errorf(KindNotFound, "not_found", "no mode %s: test or live", Quote(string(mode)))
	}
	state := NewID("cst_") + randomHex(16)
	err := c.Writer.Write(ctx, CreateConnectState{Hash: HashSessionToken(state), PlatformID: p.ID, Mode: mode,
		ExpiresAt: c.Now().Add(ConnectStateLifetime)}, nil)
	if err != nil {
		return "", err
	}
	return c.Connect.AuthorizeURL(mode, state)
}

// Errors of the Connect callback.
var (
	ErrConnectState = &Error{Kind: KindInvalid, Code: "invalid_state",
		Message: "This Stripe connection link is unknown, used already or older than 10 minutes; start again from the dashboard"}
	ErrConnectDenied = &Error{Kind: KindInvalid, Code: "connect_denied",
		Message: "Stripe did not connect the account"}
)

// FinishConnect completes a Connect authorization of mode from its
// callback: it uses up the state, trades the code for the account, stores
// it, and creates at the account the catalogue saved before it connected.
func (c *Console) FinishConnect(ctx context.Context, mode Mode, state, code string) error {
	if state == "" || len(state) > MaxID {
		return ErrConnectState
	}
	s, err := Apply(ctx, c.Writer, ConsumeConnectState{Hash: HashSessionToken(state)})
	if err != nil {
		return err
	}
	if s.Mode != mode {
		return ErrConnectState
	}
	if code == "" {
		return ErrConnectDenied
	}
	account, err := c.Connect.Exchange(ctx, mode, code)
	if err != nil {
		return err
	}
	if err := c.Writer.Write(ctx, ConnectPaymentAccount{PlatformID: s.PlatformID, Mode: mode, AccountID: account}, nil); err != nil {
		return err
	}
	return c.SyncCatalogue(ctx, s.PlatformID, mode)
}
