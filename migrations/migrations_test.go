package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dream-api/dream/migrations"
	_ "github.com/mattn/go-sqlite3"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestAll(t *testing.T) {
	all, err := migrations.Schema.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].Version != 1 || all[0].Name != "0001_initial.sql" {
		t.Fatalf("the schema's migrations are %+v, want them to start with version 1, 0001_initial.sql", all)
	}
	for i, m := range all {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d: versions must have no gaps", m.Name, m.Version, i+1)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %s holds no SQL, want its statements", m.Name)
		}
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	pending, err := migrations.Schema.Pending(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := migrations.Schema.All()
	if len(pending) != len(all) {
		t.Fatalf("new database: %d pending, want %d", len(pending), len(all))
	}
	applied, err := migrations.Schema.Apply(ctx, db)
	if err != nil || len(applied) != len(all) {
		t.Fatalf("the first apply to a new database applied %v (error %v), want all %d migrations",
			applied, err, len(all))
	}
	again, err := migrations.Schema.Apply(ctx, db)
	if err != nil || len(again) != 0 {
		t.Fatalf("a second apply to the database applied %v (error %v), want nothing", again, err)
	}
	if pending, err := migrations.Schema.Pending(ctx, db); err != nil || len(pending) != 0 {
		t.Fatalf("after applying, migrations %v are pending (error %v), want none", pending, err)
	}

	for _, table := range []string{"platforms", "stripe_accounts", "projects", "environments", "secret_keys", "tiers",
		"end_users", "usage_counters", "subscriptions", "orders", "webhook_events", "assets", "applied_writes"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("the migrated database has %d tables named %s (error %v), want 1", n, table, err)
		}
	}
	// Every foreign key must name a real table and key.
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("PRAGMA foreign_key_check reports problems in the migrated database, want none")
	}
}

func TestApply_ForeignKeysCascade(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	if _, err := migrations.Schema.Apply(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO platforms (id, owner, created_at) VALUES ('plt_1', 'o', 0)`,
		`INSERT INTO projects (id, platform_id, name, type, created_at) VALUES ('prj_1', 'plt_1', 'p', 'saas', 0)`,
		`INSERT INTO environments (id, project_id, mode, publishable_key, created_at) VALUES (1, 'prj_1', 'test', 'pk', 0)`,
		`INSERT INTO end_users (environment_id, user_id, created_at, updated_at) VALUES (1, 'u', 0, 0)`,
		`INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at) VALUES (1, 'u', '2025-01-01', '2025-01-30', 1, 'free', 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("setting up rows, %s failed with %v; want it to succeed", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at)
		VALUES (1, 'nobody', '2025-01-01', '2025-01-30', 1, 'free', 0)`); err == nil {
		t.Fatal("the database took a usage counter of an end user that does not exist, want a foreign key error")
	}
	if _, err := db.Exec(`DELETE FROM projects WHERE id = 'prj_1'`); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRow(`SELECT (SELECT count(*) FROM environments) + (SELECT count(*) FROM end_users) + (SELECT count(*) FROM usage_counters)`).Scan(&n)
	if n != 0 {
		t.Fatalf("deleting a project left %d environments, end users and usage counters behind, want 0", n)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	all, _ := migrations.Schema.All()
	latest := all[len(all)-1]
	t.Run("Current", func(t *testing.T) {
		db := open(t)
		migrations.Schema.Apply(ctx, db)
		if last, err := migrations.Schema.Check(ctx, db); err != nil || last.Name != latest.Name {
			t.Fatalf("Check of a migrated database returned %+v, %v; want %s", last, err, latest.Name)
		}
	})
	t.Run("Older", func(t *testing.T) {
		db := open(t)
		migrations.Schema.Apply(ctx, db)
		db.Exec(`DELETE FROM schema_migrations WHERE version > 2`)
		if last, err := migrations.Schema.Check(ctx, db); err != nil || last.Version != 2 {
			t.Fatalf("Check of a database at version 2 returned %+v, %v; want version 2, no error", last, err)
		}
	})
	t.Run("Newer", func(t *testing.T) {
		db := open(t)
		migrations.Schema.Apply(ctx, db)
		db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, latest.Version+1, "9999_future.sql")
		if _, err := migrations.Schema.Check(ctx, db); !errors.Is(err, migrations.ErrNewerSchema) || !strings.Contains(err.Error(), "9999_future.sql") {
			t.Fatalf("Check of a database with a later migration returned %v, want ErrNewerSchema naming it", err)
		}
	})
	t.Run("Other", func(t *testing.T) {
		empty := open(t)
		if _, err := migrations.Schema.Check(ctx, empty); !errors.Is(err, migrations.ErrOtherSchema) {
			t.Fatalf("Check of an empty database returned %v, want ErrOtherSchema", err)
		}
		other := open(t)
		other.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
		other.Exec(`INSERT INTO schema_migrations VALUES (1, '0001_outbox.sql', 0)`)
		if _, err := migrations.Schema.Check(ctx, other); !errors.Is(err, migrations.ErrOtherSchema) {
			t.Fatalf("Check of a database of another schema returned %v, want ErrOtherSchema", err)
		}
	})
}
