package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

// Login returns the local account of an email, ignoring case, or nil.
func (db *DB) Login(ctx context.Context, email string) (*dream.Login, error) {
	var l dream.Login
	err := db.read.QueryRowContext(ctx, `SELECT platform_id, email, password_hash FROM developer_logins WHERE email = ?`, email).
		Scan(&l.PlatformID, &l.Email, &l.PasswordHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return &l, nil
}

// DeveloperSession returns the session stored under hash, or nil.
func (db *DB) DeveloperSession(ctx context.Context, hash string) (*dream.DeveloperSession, error) {
	var s dream.DeveloperSession
	var expires int64
	err := db.read.QueryRowContext(ctx, `SELECT platform_id, expires_at FROM developer_sessions WHERE hash = ?`, hash).
		Scan(&s.PlatformID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("developer session: %w", err)
	}
	s.ExpiresAt = time.UnixMilli(expires).UTC()
	return &s, nil
}

// insertLogin stores a local account's credentials.
func (tx *Tx) insertLogin(ctx context.Context, platformID, email, hash string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO developer_logins (platform_id, email, password_hash, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (platform_id) DO UPDATE SET email = excluded.email, password_hash = excluded.password_hash,
			updated_at = excluded.updated_at`, platformID, email, hash, now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindConflict, "account_exists", "an account with email %s exists already", dream.Quote(email))
	}
	if err != nil {
		return fmt.Errorf("insert login: %w", err)
	}
	return nil
}

// SetPassword sets a platform's login and ends its sessions.
func (tx *Tx) SetPassword(ctx context.Context, w dream.SetPassword, now time.Time) error {
	if err := tx.insertLogin(ctx, w.PlatformID, w.Email, w.PasswordHash, now); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM developer_sessions WHERE platform_id = ?`, w.PlatformID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// CreateSession stores a developer session.
func (tx *Tx) CreateSession(ctx context.Context, w dream.CreateSession, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO developer_sessions (hash, platform_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		w.Hash, w.PlatformID, now.UnixMilli(), w.ExpiresAt.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "not_found", "no platform %s", w.PlatformID)
	}
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// DeleteSession ends a developer session; ending one that is gone already
// is no error.
func (tx *Tx) DeleteSession(ctx context.Context, w dream.DeleteSession, now time.Time) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM developer_sessions WHERE hash = ?`, w.Hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateConnectState stores the state of a Connect authorization.
func (tx *Tx) CreateConnectState(ctx context.Context, w dream.CreateConnectState, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO connect_states (hash, platform_id, mode, expires_at) VALUES (?, ?, ?, ?)`,
		w.Hash, w.PlatformID, w.Mode, w.ExpiresAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert connect state: %w", err)
	}
	return nil
}

// ConsumeConnectState deletes a Connect state and returns its platform
// and mode, or dream.ErrConnectState if there is none or it expired.
func (tx *Tx) ConsumeConnectState(ctx context.Context, w dream.ConsumeConnectState, now time.Time) (dream.ConnectState, error) {
	var s dream.ConnectState
	var expires int64
	err := tx.tx.QueryRowContext(ctx, `DELETE FROM connect_states WHERE hash = ? RETURNING platform_id, mode, expires_at`, w.Hash).
		Scan(&s.PlatformID, &s.Mode, &expires)
	if errors.Is(err, sql.ErrNoRows) || err == nil && expires <= now.UnixMilli() {
		return dream.ConnectState{}, dream.ErrConnectState
	}
	if err != nil {
		return dream.ConnectState{}, fmt.Errorf("consume connect state: %w", err)
	}
	return s, nil
}
