package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dream-api/dream"
)

// environmentColumns are the columns scanEnvironment reads, from
// environments e joined with projects p.
const environmentColumns = `e.id, e.mode, e.publishable_key,
	p.id, p.platform_id, p.name, p.type, p.rate_limit_per_minute, p.enable_tax, p.strict_limits, p.allowed_origins, p.created_at`

func scanEnvironment(row interface{ Scan(...any) error }, env *dream.Environment, extra ...any) error {
	var rateLimit sql.NullInt64
	var created int64
	var origins string
	err := row.Scan(append([]any{&env.ID, &env.Mode, &env.PublishableKey,
		&env.Project.ID, &env.Project.PlatformID, &env.Project.Name, &env.Project.Type,
		&rateLimit, &env.Project.EnableTax, &env.Project.StrictLimits, &origins, &created}, extra...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(origins), &env.Project.AllowedOrigins); err != nil {
		return fmt.Errorf("project %s allowed origins: %w", env.Project.ID, err)
	}
	if rateLimit.Valid {
		n := int(rateLimit.Int64)
		env.Project.RateLimitPerMinute = &n
	}
	env.Project.CreatedAt = time.UnixMilli(created).UTC()
	return nil
}

// EnvironmentByPublishableKey returns the environment a publishable key
// identifies, or nil if no environment has it.
func (db *DB) EnvironmentByPublishableKey(ctx context.Context, pk string) (*dream.Environment, error) {
	return environment(ctx, db.read, "e.publishable_key = ?", pk)
}

// EnvironmentByPublishableKey returns the environment of a publishable key
// as the transaction sees it, or nil.
func (tx *Tx) EnvironmentByPublishableKey(ctx context.Context, pk string) (*dream.Environment, error) {
	return environment(ctx, tx.tx, "e.publishable_key = ?", pk)
}

// EnvironmentByID returns an environment as the transaction sees it, or nil.
func (tx *Tx) EnvironmentByID(ctx context.Context, id int64) (*dream.Environment, error) {
	return environment(ctx, tx.tx, "e.id = ?", id)
}

func environment(ctx context.Context, q queryer, where string, arg any) (*dream.Environment, error) {
	var env dream.Environment
	err := scanEnvironment(q.QueryRowContext(ctx, `SELECT `+environmentColumns+`
		FROM environments e JOIN projects p ON p.id = e.project_id
		WHERE `+where, arg), &env)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	return &env, nil
}

// Environments returns the environments of every project of a platform,
// oldest project first.
func (db *DB) Environments(ctx context.Context, platformID string) ([]dream.Environment, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+environmentColumns+`
		FROM environments e JOIN projects p ON p.id = e.project_id
		WHERE p.platform_id = ? ORDER BY p.created_at, p.rowid, e.mode DESC`, platformID)
	if err != nil {
		return nil, fmt.Errorf("environments: %w", err)
	}
	defer rows.Close()
	var envs []dream.Environment
	for rows.Next() {
		var env dream.Environment
		if err := scanEnvironment(rows, &env); err != nil {
			return nil, fmt.Errorf("environments: %w", err)
		}
		envs = append(envs, env)
	}
	return envs, rows.Err()
}

// SecretKey returns the stored secret key with this hash and the
// environment it opens, or nil if none has it. Expired keys are returned
// too; whether a key is valid now is the caller's rule.
func (db *DB) SecretKey(ctx context.Context, hash dream.SecretKeyHash) (*dream.SecretKeyRecord, error) {
	var key dream.SecretKeyRecord
	var stored string
	var created int64
	var expires sql.NullInt64
	err := scanEnvironment(db.read.QueryRowContext(ctx, `SELECT `+environmentColumns+`,
			k.hash, k.created_at, k.expires_at
		FROM secret_keys k
		JOIN environments e ON e.id = k.environment_id
		JOIN projects p ON p.id = e.project_id
		WHERE k.hash = ?`, hash.String()), &key.Environment, &stored, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if key.Hash, err = dream.ParseSecretKeyHash(stored); err != nil {
		return nil, err
	}
	key.CreatedAt = time.UnixMilli(created).UTC()
	key.ExpiresAt = fromMillis(expires)
	return &key, nil
}

// Platform returns the platform with this id, or nil.
func (db *DB) Platform(ctx context.Context, id string) (*dream.Platform, error) {
	return platform(ctx, db.read, `id = ?`, id)
}

// PlatformByOwner returns the platform of an identity, or nil.
func (db *DB) PlatformByOwner(ctx context.Context, owner string) (*dream.Platform, error) {
	return platform(ctx, db.read, `owner = ?`, owner)
}

// platformColumns are the columns scanPlatform reads.
const platformColumns = `id, owner, email, subscription_status, subscription_ended_at, trial_ends_at, current_period_end,
	stripe_customer_id, stripe_subscription_id, trial_used, purged_at, created_at`

func scanPlatform(row interface{ Scan(...any) error }, p *dream.Platform) error {
	var email, customer, subscription sql.NullString
	var ended, trialEnds, periodEnd, purged sql.NullInt64
	var created int64
	sub := &p.Subscription
	err := row.Scan(&p.ID, &p.Owner, &email, &sub.Status, &ended, &trialEnds, &periodEnd,
		&customer, &subscription, &sub.TrialUsed, &purged, &created)
	if err != nil {
		return err
	}
	p.Email, sub.CustomerID, sub.SubscriptionID = email.String, customer.String, subscription.String
	sub.EndedAt, sub.TrialEndsAt, sub.CurrentPeriodEnd = fromMillis(ended), fromMillis(trialEnds), fromMillis(periodEnd)
	sub.PurgedAt = fromMillis(purged)
	p.CreatedAt = time.UnixMilli(created).UTC()
	return nil
}

func platform(ctx context.Context, q queryer, where string, arg any) (*dream.Platform, error) {
	var p dream.Platform
	err := scanPlatform(q.QueryRowContext(ctx, `SELECT `+platformColumns+` FROM platforms WHERE `+where, arg), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return &p, nil
}

// CreatePlatform inserts a developer account.
func (tx *Tx) CreatePlatform(ctx context.Context, w dream.CreatePlatform, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO platforms (id, owner, email, created_at) VALUES (?, ?, ?, ?)`,
		w.ID, w.Owner, nullString(w.Email), now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindConflict, "account_exists", "a platform already exists for this account")
	}
	if err != nil || w.Login == nil {
		return err
	}
	return tx.insertLogin(ctx, w.ID, w.Login.Email, w.Login.PasswordHash, now)
}

// CreateProject inserts a project with its environments, their first
// secret keys and their catalogues.
func (tx *Tx) CreateProject(ctx context.Context, w dream.CreateProject, now time.Time) error {
	origins, err := jsonList(w.AllowedOrigins)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO projects (id, platform_id, name, type, allowed_origins, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, w.ID, w.PlatformID, w.Name, w.Type, origins, now.UnixMilli())
	if isConstraint(err) {
		return dream.Errorf(dream.KindInvalid, "Invalid project", "unknown platform or duplicate project id")
	}
	if err != nil {
		return fmt.Errorf("insert project: %w", err)
	}
	for _, env := range w.Environments {
		if err := tx.insertEnvironment(ctx, w.ID, env, now); err != nil {
			return err
		}
	}
	return nil
}

// jsonList is a list as stored in a JSON column: [] for none.
func jsonList(list []string) (string, error) {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	return string(b), err
}

func (tx *Tx) insertEnvironment(ctx context.Context, projectID string, env dream.NewEnvironment, now time.Time) error {
	var envID int64
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO environments (project_id, mode, publishable_key, created_at)
		VALUES (?, ?, ?, ?) RETURNING id`, projectID, env.Mode, env.PublishableKey, now.UnixMilli()).Scan(&envID)
	if isConstraint(err) {
		return dream.Errorf(dream.KindConflict, "environment_exists", "the project has a %s environment already, or the key is taken", env.Mode)
	}
	if err != nil {
		return fmt.Errorf("insert environment: %w", err)
	}
	if err := tx.insertSecretKey(ctx, envID, env.SecretKeyHash, now); err != nil {
		return err
	}
	// Nodes may have cached the key as unknown.
	if err := tx.LogChange(ctx, ChangeEnvironment, env.PublishableKey, now); err != nil {
		return err
	}
	for _, t := range env.Tiers {
		if err := tx.insertTier(ctx, envID, t, now); err != nil {
			return err
		}
	}
	return nil
}

// AddEnvironment adds an environment to an existing project.
func (tx *Tx) AddEnvironment(ctx context.Context, w dream.AddEnvironment, now time.Time) error {
	var exists bool
	if err := tx.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?)`, w.ProjectID).Scan(&exists); err != nil {
		return fmt.Errorf("add environment: %w", err)
	}
	if !exists {
		return dream.ErrProjectNotFound(w.ProjectID)
	}
	return tx.insertEnvironment(ctx, w.ProjectID, w.Environment, now)
}

func (tx *Tx) insertSecretKey(ctx context.Context, envID int64, hash dream.SecretKeyHash, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO secret_keys (hash, environment_id, created_at) VALUES (?, ?, ?)`,
		hash.String(), envID, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("insert secret key: %w", err)
	}
	return nil
}

// RotateSecretKey adds a secret key to an environment and makes the keys it
// had expire at w.OldKeysExpireAt (now when zero), never later than they
// already would.
func (tx *Tx) RotateSecretKey(ctx context.Context, w dream.RotateSecretKey, now time.Time) error {
	expires := w.OldKeysExpireAt
	if expires.IsZero() || expires.Before(now) {
		expires = now
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE secret_keys SET expires_at = min(coalesce(expires_at, ?2), ?2)
		WHERE environment_id = ?1`, w.EnvironmentID, expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("expire secret keys: %w", err)
	}
	err = tx.insertSecretKey(ctx, w.EnvironmentID, w.NewHash, now)
	if isConstraint(err) {
		return dream.Errorf(dream.KindNotFound, "Not found", "environment %d not found", w.EnvironmentID)
	}
	if err != nil {
		return err
	}
	return tx.LogChange(ctx, ChangeSecretKeys, strconv.FormatInt(w.EnvironmentID, 10), now)
}

// UpdateProject changes a project's settings and logs its environments as
// changed, so every node's cached copy of them goes.
func (tx *Tx) UpdateProject(ctx context.Context, w dream.UpdateProject, now time.Time) error {
	ch := w.Changes
	var origins sql.NullString
	if ch.AllowedOrigins != nil {
		list, err := jsonList(*ch.AllowedOrigins)
		if err != nil {
			return err
		}
		origins = sql.NullString{String: list, Valid: true}
	}
	// The rate limit may be set to NULL, the server's default: whether it
	// changes is a parameter of its own.
	res, err := tx.tx.ExecContext(ctx, `UPDATE projects SET
			name = coalesce(?, name),
			allowed_origins = coalesce(?, allowed_origins),
			rate_limit_per_minute = CASE WHEN ? THEN ? ELSE rate_limit_per_minute END,
			strict_limits = coalesce(?, strict_limits),
			enable_tax = coalesce(?, enable_tax)
		WHERE id = ?`, ch.Name, origins, ch.RateLimitPerMinute.Set, ch.RateLimitPerMinute.Value, ch.StrictLimits, ch.EnableTax, w.ProjectID)
	if err != nil {
		return fmt.Errorf("update project: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return dream.ErrProjectNotFound(w.ProjectID)
	}
	return tx.logEnvironments(ctx, w.ProjectID, now)
}

// logEnvironments logs every environment of a project as changed.
func (tx *Tx) logEnvironments(ctx context.Context, projectID string, now time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO changes (kind, key, created_at)
		SELECT ?, publishable_key, ? FROM environments WHERE project_id = ?`, ChangeEnvironment, now.UnixMilli(), projectID)
	if err != nil {
		return fmt.Errorf("log environments: %w", err)
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO changes (kind, key, created_at)
		SELECT ?, id, ? FROM environments WHERE project_id = ?`, ChangeSecretKeys, now.UnixMilli(), projectID)
	if err != nil {
		return fmt.Errorf("log environments: %w", err)
	}
	return nil
}

// DeleteProject deletes a project and every row of its environments: the
// foreign keys cascade from the project to its environments and from them
// to keys, catalogue, end users, usage, subscriptions, orders, events and
// reservations; the tombstones of its end users, which have no foreign
// key, go by environment id, and the uploaded images of its products with
// them. Every node drops its keys as the change log
// reaches it.
func (tx *Tx) DeleteProject(ctx context.Context, w dream.DeleteProject, now time.Time) error {
	if err := tx.logEnvironments(ctx, w.ProjectID, now); err != nil {
		return err
	}
	if err := tx.dropImages(ctx, `p.id = ?`, w.ProjectID); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM end_user_tombstones
		WHERE environment_id IN (SELECT id FROM environments WHERE project_id = ?)`, w.ProjectID); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, w.ProjectID)
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return dream.ErrProjectNotFound(w.ProjectID)
	}
	return nil
}
