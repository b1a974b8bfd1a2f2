// Package emulator is the payments provider of dev mode: Stripe in a box.
//
// An Emulator implements dream.Payments offline, with no Stripe account. It
// keeps its state in a SQLite file of its own, apart from the product
// database, because it plays a third party whose state is not ours. It
// serves the hosted checkout and portal pages as plain HTML forms that work
// without JavaScript, and it reports every change as Stripe does: by
// delivering signed webhook events of Stripe's payload shapes, of the API
// version stripe-go v76 pins, to the server's webhook endpoint. The server
// therefore runs the same webhook code in dev mode as in production.
//
// The emulator has its own clock, the wall clock plus an offset that
// POST /dev/clock/advance moves forward, so that renewals, trial ends and
// scheduled cancellations can be tried in seconds.
package emulator

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/sqlite"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Config configures an Emulator.
type Config struct {
	// BaseURL is the server's own URL (e.g. http://127.0.0.1:8787); page
	// URLs returned to clients are built on it.
	BaseURL string
	// WebhookURL receives connected accounts' events (BaseURL +
	// "/webhook/stripe" in dev mode); PlatformWebhookURL the operator
	// account's (BaseURL + "/webhook/platform").
	WebhookURL         string
	PlatformWebhookURL string
	// Advanced, when set, is called after each move of the clock, with the
	// emulator's new time: dev mode runs the primary's daily jobs there.
	Advanced func(ctx context.Context, now time.Time) error

	// Now is the wall clock; the emulator's own clock is Now plus the offset
	// POST /dev/clock/advance accumulates (persisted). Nil means time.Now.
	Now func() time.Time
	// HTTPClient delivers webhook events; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger logs deliveries and internal errors; nil discards them.
	Logger *slog.Logger
}

// Emulator is an offline stand-in for Stripe. It is safe for concurrent
// use. Its methods deliver the webhook events a change causes before they
// return, so the server must be able to serve its webhook endpoint while a
// call is in progress.
type Emulator struct {
	db         *sql.DB
	baseURL    string
	webhookURL string
	// platformWebhookURL and advanced are the Config's.
	platformWebhookURL string
	advanced           func(ctx context.Context, now time.Time) error
	wallClock          func() time.Time
	client             *http.Client
	logger             *slog.Logger
	secret             string
	// offset is how many seconds the emulator clock is ahead of the wall
	// clock; the database holds the same value across restarts.
	offset atomic.Int64
	mux    *http.ServeMux
}

// Interface check: the emulator is a dream.Payments.
var _ dream.Payments = (*Emulator)(nil)

//go:embed schema.sql
var schema string

// Open opens (creating if missing) the emulator's database at path and
// returns an Emulator on it. A new database gets a fresh webhook secret and
// a clock that agrees with the wall clock.
func Open(path string, c Config) (*Emulator, error) {
	e := &Emulator{
		baseURL:    strings.TrimRight(c.BaseURL, "/"),
		webhookURL: c.WebhookURL,
		wallClock:  c.Now,
		client:     c.HTTPClient,
		logger:     c.Logger,
	}
	e.platformWebhookURL, e.advanced = c.PlatformWebhookURL, c.Advanced
	if e.wallClock == nil {
		e.wallClock = time.Now
	}
	if e.client == nil {
		e.client = http.DefaultClient
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}

	// One connection: SQLite has one writer at a time anyway, and the
	// emulator's load is one developer clicking. Transactions begin
	// IMMEDIATE so that each read-modify-write of an object holds the write
	// lock from its first read, which is what makes paying exactly-once.
	db, err := sql.Open("sqlite3", sqlite.DSN(path, "_journal_mode=WAL", "_synchronous=NORMAL",
		"_busy_timeout=5000", "_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	e.db = db
	if err := e.initialize(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening payments emulator database %s: %w", path, err)
	}
	e.mux = e.routes()
	return e, nil
}

// initialize creates the schema if missing, and the secret and clock on
// first open, and loads them.
func (e *Emulator) initialize() error {
	ctx := context.Background()
	if _, err := e.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, `INSERT INTO state (id, webhook_secret, clock_offset)
		VALUES (1, ?, 0) ON CONFLICT (id) DO NOTHING`, dream.NewID("whsec_")); err != nil {
		return err
	}
	var offset int64
	if err := e.db.QueryRowContext(ctx, `SELECT webhook_secret, clock_offset FROM state WHERE id = 1`).
		Scan(&e.secret, &offset); err != nil {
		return err
	}
	e.offset.Store(offset)
	return nil
}

// Close closes the database.
func (e *Emulator) Close() error { return e.db.Close() }

// WebhookSecret is the signing secret ("whsec_" + random hex), generated on
// first open and persisted, which the server's webhook verifier is
// configured with.
func (e *Emulator) WebhookSecret() string { return e.secret }

// now is the emulator clock, to the second as Stripe's timestamps are.
// Offset is how far the emulator's clock is ahead of the wall clock.
func (e *Emulator) Offset() time.Duration { return time.Duration(e.offset.Load()) * time.Second }

func (e *Emulator) now() time.Time {
	return e.wallClock().Add(time.Duration(e.offset.Load()) * time.Second).Truncate(time.Second).UTC()
}

// advanceClock moves the emulator clock forward by seconds and returns the
// new time.
func (e *Emulator) advanceClock(ctx context.Context, seconds int64) (time.Time, error) {
	var offset int64
	err := e.db.QueryRowContext(ctx, `UPDATE state SET clock_offset = clock_offset + ? WHERE id = 1
		RETURNING clock_offset`, seconds).Scan(&offset)
	if err != nil {
		return time.Time{}, err
	}
	e.offset.Store(offset)
	return e.now(), nil
}

// The tables of objects, each holding an object's Go struct as JSON in its
// data column, next to the columns queries select by.
const (
	customersTable        = "customers"
	checkoutSessionsTable = "checkout_sessions"
	portalSessionsTable   = "portal_sessions"
	subscriptionsTable    = "subscriptions"
)

// queryer is what get and selectAll need; both the database and a
// transaction provide it.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// get reads the object id of table into v and reports whether it exists.
func get(ctx context.Context, q queryer, table, id string, v any) (bool, error) {
	var data string
	err := q.QueryRowContext(ctx, "SELECT data FROM "+table+" WHERE id = ?", id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(data), v)
}

// selectAll reads the objects query selects, whose one column is their
// data, and returns those match accepts.
func selectAll[T any](ctx context.Context, q queryer, match func(*T) bool, query string, args ...any) ([]*T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var matched []*T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal([]byte(data), v); err != nil {
			return nil, err
		}
		if match(v) {
			matched = append(matched, v)
		}
	}
	return matched, rows.Err()
}

// put writes v as the object id of table, which has no columns besides id
// and data.
func put(ctx context.Context, tx *sql.Tx, table, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO "+table+` (id, data) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`, id, string(data))
	return err
}

// update runs f in a write transaction and commits it if f succeeds.
func (e *Emulator) update(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// owner is the account and mode an object lives in. As at Stripe, an
// object of another connected account, or of the other mode, does not
// exist for a caller.
type owner struct {
	Account  string
	Livemode bool
}

// ownerOf is the owner of the objects account creates.
func ownerOf(account dream.PaymentAccount) owner {
	return owner{Account: account.AccountID, Livemode: account.Mode == dream.ModeLive}
}

// customer is a stored customer. The emulator creates them at subscription
// checkout; a later checkout or portal session may name one.
type customer struct {
	owner
	ID      string
	Email   string
	Created int64
}

// rejected is the error of a request the provider refuses.
func rejected(format string, args ...any) error {
	return dream.Errorf(dream.KindInvalid, "payment_request_rejected", format, args...)
}

// notFound is the error of a request for an object the account does not
// have.
func notFound(format string, args ...any) error {
	return dream.Errorf(dream.KindNotFound, "Not found", format, args...)
}
