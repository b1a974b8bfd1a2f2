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

// dropImages deletes the uploaded images of the tiers where selects, of
// the platform that owns their environments, that no other tier shows: an
// image goes with its product. A tier's image is an asset when its URL
// ends in /api/assets/{key}. It runs before the tiers are deleted, with
// where naming them.
func (tx *Tx) dropImages(ctx context.Context, where string, args ...any) error {
	_, err := tx.tx.ExecContext(ctx, `WITH gone AS (
			SELECT t.id, p.platform_id, substr(t.image_url, instr(t.image_url, '`+dream.AssetPath+`') + `+fmt.Sprint(len(dream.AssetPath))+`) AS key
			FROM tiers t JOIN environments e ON e.id = t.environment_id JOIN projects p ON p.id = e.project_id
			WHERE instr(t.image_url, '`+dream.AssetPath+`') > 0 AND `+where+`)
		DELETE FROM assets WHERE EXISTS (
			SELECT 1 FROM gone WHERE gone.key = assets.key AND gone.platform_id = assets.platform_id
				AND NOT EXISTS (SELECT 1 FROM tiers o WHERE o.image_url LIKE '%`+dream.AssetPath+`' || assets.key
					AND o.id NOT IN (SELECT id FROM gone)))`, args...)
	if err != nil {
		return fmt.Errorf("drop images: %w", err)
	}
	return nil
}
