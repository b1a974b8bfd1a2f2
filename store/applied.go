package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AppliedWrite returns the recorded outcome of the write with this id, and
// whether there is one.
func (tx *Tx) AppliedWrite(ctx context.Context, id string) ([]byte, bool, error) {
	var outcome []byte
	err := tx.tx.QueryRowContext(ctx, `SELECT outcome FROM applied_writes WHERE id = ?`, id).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("applied write: %w", err)
	}
	return outcome, true, nil
}

// RecordWrite records the outcome of the write with this id, in the same
// transaction as its effects.
func (tx *Tx) RecordWrite(ctx context.Context, id string, outcome []byte, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO applied_writes (id, outcome, applied_at) VALUES (?, ?, ?)`,
		id, string(outcome), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record write: %w", err)
	}
	return nil
}
