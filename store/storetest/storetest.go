// Package storetest builds real SQLite databases for tests: a migrated file
// in a temporary directory and projects created through the write path, as
// production creates them.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
)

// Open returns a migrated database in a temporary directory, closed when
// the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "dream.db"), false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Exec runs a statement directly on the database file, for state that no
// write path creates yet (platform billing, project settings).
func Exec(tb testing.TB, db *store.DB, query string, args ...any) {
	tb.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db.Path()+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// SetPlatformSubscription gives a platform a subscription state, as the
// platform billing webhook will, with the change logged for the caches.
func SetPlatformSubscription(tb testing.TB, db *store.DB, platformID string, status dream.SubscriptionStatus, endedAt time.Time) {
	tb.Helper()
	var ended any
	if !endedAt.IsZero() {
		ended = endedAt.UnixMilli()
	}
	Exec(tb, db, `UPDATE platforms SET subscription_status = ?, subscription_ended_at = ? WHERE id = ?`, status, ended, platformID)
	Exec(tb, db, `INSERT INTO changes (kind, key, created_at) VALUES (?, ?, 0)`, store.ChangePlatform, platformID)
}

// SetRateLimit sets a project's per-user rate limit (nil for the server's
// default), with the change logged for the caches.
func SetRateLimit(tb testing.TB, db *store.DB, projectID string, perMinute *int) {
	tb.Helper()
	Exec(tb, db, `UPDATE projects SET rate_limit_per_minute = ? WHERE id = ?`, perMinute, projectID)
	Exec(tb, db, `INSERT INTO changes (kind, key, created_at)
		SELECT ?, publishable_key, 0 FROM environments WHERE project_id = ?`, store.ChangeEnvironment, projectID)
}

// SetStrictLimits turns a project's strict limits on or off through the
// store, with the change logged for the caches.
func SetStrictLimits(tb testing.TB, db *store.DB, projectID string, strict bool) {
	tb.Helper()
	tx, err := db.Begin(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.UpdateProject(context.Background(), dream.UpdateProject{ProjectID: projectID, Changes: dream.ProjectChanges{StrictLimits: &strict}}, time.Now()); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// Keys are the plaintext keys of one environment of a test project.
type Keys struct {
	EnvironmentID  int64
	PublishableKey string
	SecretKey      string
}

// Project is a test project with both environments.
type Project struct {
	PlatformID string
	ID         string
	Test, Live Keys
}

// Platform creates a developer account and returns its id.
func Platform(tb testing.TB, w dream.Writer) string {
	tb.Helper()
	id, err := NewPlatform(context.Background(), w)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// NewPlatform is Platform for callers that have no test to fail, such as
// the cluster harness.
func NewPlatform(ctx context.Context, w dream.Writer) (string, error) {
	id := dream.NewID("plt_")
	if err := w.Write(ctx, dream.CreatePlatform{ID: id, Owner: "test:" + id}, nil); err != nil {
		return "", err
	}
	return id, nil
}

// CreateProject creates a project of typ on the platform, with tiers in
// both environments, and returns its keys.
func CreateProject(tb testing.TB, db *store.DB, w dream.Writer, platformID string, typ dream.ProjectType, tiers []dream.Tier) Project {
	tb.Helper()
	p, err := NewProject(context.Background(), db, w, platformID, typ, tiers)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// NewProject is CreateProject for callers that have no test to fail, such
// as the cluster harness.
func NewProject(ctx context.Context, db *store.DB, w dream.Writer, platformID string, typ dream.ProjectType, tiers []dream.Tier) (Project, error) {
	p := Project{PlatformID: platformID, ID: dream.NewID("prj_")}
	var envs []dream.NewEnvironment
	for _, k := range []*Keys{&p.Test, &p.Live} {
		mode := dream.ModeTest
		if k == &p.Live {
			mode = dream.ModeLive
		}
		k.PublishableKey = dream.NewPublishableKey(mode)
		var hash dream.SecretKeyHash
		k.SecretKey, hash = dream.NewSecretKey(mode)
		envs = append(envs, dream.NewEnvironment{Mode: mode, PublishableKey: k.PublishableKey, SecretKeyHash: hash, Tiers: tiers})
	}
	err := w.Write(ctx, dream.CreateProject{ID: p.ID, PlatformID: platformID, Name: "Test " + string(typ), Type: typ, Environments: envs}, nil)
	if err != nil {
		return Project{}, err
	}
	for _, k := range []*Keys{&p.Test, &p.Live} {
		env, err := db.EnvironmentByPublishableKey(ctx, k.PublishableKey)
		if err != nil || env == nil {
			return Project{}, fmt.Errorf("environment of %s: %v", k.PublishableKey, err)
		}
		k.EnvironmentID = env.ID
	}
	return p, nil
}

// SaaSTiers is a SaaS catalogue: free (limit 100), pro (10,000) and
// enterprise (unlimited), with price ids price_free, price_pro and
// price_enterprise.
func SaaSTiers() []dream.Tier {
	tier := func(slug, name string, cents int64, limit dream.Limit) dream.Tier {
		return dream.Tier{Slug: slug, DisplayName: name, BillingMode: dream.BillingSubscription, PriceCents: cents,
			Limit: limit, Features: []string{name + " feature"}, StripePriceID: "price_" + slug, StripeProductID: "prod_" + slug}
	}
	return []dream.Tier{
		tier("free", "Free", 0, 100),
		tier("pro", "Pro Plan", 2900, 10_000),
		tier("enterprise", "Enterprise", 9900, dream.Unlimited),
	}
}

// Count runs a query of one integer on the database file.
func Count(tb testing.TB, db *store.DB, query string, args ...any) int64 {
	tb.Helper()
	raw := openReadOnly(tb, db)
	defer raw.Close()
	var n int64
	if err := raw.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// Dump returns every row of the tables as text, to compare a database
// before and after requests that must change nothing.
func Dump(tb testing.TB, db *store.DB, tables ...string) string {
	tb.Helper()
	raw := openReadOnly(tb, db)
	defer raw.Close()
	return dump(tb, raw, tables)
}

// dump is Dump on a connection of the caller's.
func dump(tb testing.TB, raw *sql.DB, tables []string) string {
	tb.Helper()
	var out strings.Builder
	for _, table := range tables {
		out.WriteString(rows(tb, raw, `SELECT '`+table+`', * FROM `+table+` ORDER BY 2`))
	}
	return out.String()
}

// PlatformRows returns every row of a platform's projects and their
// environments, keys, catalogues, end users and orders as text, to show
// that what happened to others left it as it was.
func PlatformRows(tb testing.TB, db *store.DB, platformID string) string {
	tb.Helper()
	out := Rows(tb, db, `SELECT 'projects', * FROM projects WHERE platform_id = ? ORDER BY 2`, platformID)
	for _, table := range []string{"environments", "secret_keys", "tiers", "end_users", "usage_counters", "subscriptions", "orders"} {
		join := `t.environment_id`
		if table == "environments" {
			join = `t.id`
		}
		out += Rows(tb, db, `SELECT '`+table+`', t.* FROM `+table+` t JOIN environments e ON e.id = `+join+`
			JOIN projects p ON p.id = e.project_id WHERE p.platform_id = ? ORDER BY 2, 3`, platformID)
	}
	return out
}

// Rows returns the rows a query selects as text, a line each.
func Rows(tb testing.TB, db *store.DB, query string, args ...any) string {
	tb.Helper()
	raw := openReadOnly(tb, db)
	defer raw.Close()
	return rows(tb, raw, query, args...)
}

// openReadOnly opens the database file read-only, beside the database's
// own connections.
func openReadOnly(tb testing.TB, db *store.DB) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db.Path()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// rows is Rows on a connection of the caller's.
func rows(tb testing.TB, raw *sql.DB, query string, args ...any) string {
	tb.Helper()
	rows, err := raw.Query(query, args...)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out strings.Builder
	for rows.Next() {
		values := make([]any, len(columns))
		pointers := make([]any, len(columns))
		for i := range values {
			pointers[i] = &values[i]
		}
		if err := rows.Scan(pointers...); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&out, "%v\n", values)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out.String()
}

// Dumper dumps every table of a database over one connection it keeps, so
// that a fuzz target can afford a dump before and after each input to show
// that a refused request wrote nothing.
type Dumper struct {
	raw    *sql.DB
	tables []string
}

// NewDumper returns a Dumper of db's tables, closed when the test ends.
func NewDumper(tb testing.TB, db *store.DB) *Dumper {
	tb.Helper()
	d := &Dumper{raw: openReadOnly(tb, db)}
	tb.Cleanup(func() { d.raw.Close() })
	d.tables = strings.Fields(rows(tb, d.raw, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`))
	for i, t := range d.tables {
		d.tables[i] = strings.Trim(t, "[]")
	}
	return d
}

// Dump returns every row of every table as text.
func (d *Dumper) Dump(tb testing.TB) string {
	tb.Helper()
	return dump(tb, d.raw, d.tables)
}
