package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dream-api/dream"
)

// PutAsset stores an uploaded image; a key taken is a conflict.
func (tx *Tx) PutAsset(ctx context.Context, w dream.PutAsset, _ time.Time) error {
	a := w.Asset
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO assets (key, platform_id, content_type, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		a.Key, a.PlatformID, a.ContentType, a.Data, a.CreatedAt.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindConflict, "Asset exists", "an asset with key %s exists", a.Key)
	}
	return err
}

// Asset returns the asset with this key, or nil.
func (db *DB) Asset(ctx context.Context, key string) (*dream.Asset, error) {
	a := dream.Asset{Key: key}
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT platform_id, content_type, data, created_at FROM assets WHERE key = ?`, key).
		Scan(&a.PlatformID, &a.ContentType, &a.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("asset: %w", err)
	}
	a.CreatedAt = time.UnixMilli(created).UTC()
	return &a, nil
}
