package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

var ctx = context.Background()

// fixture is a migrated database with one SaaS project.
func fixture(t *testing.T) (*store.DB, storetest.Project) {
	t.Helper()
	db := storetest.Open(t)
	w := primary.New(db, time.Now)
	return db, storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectSaaS, storetest.SaaSTiers())
}

// begin starts a write transaction rolled back at the end of the test.
func begin(t *testing.T, db *store.DB) *store.Tx {
	t.Helper()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

func TestOpen(t *testing.T) {
	t.Run("PersistsAcrossReopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dream.db")
		db, err := store.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		w := primary.New(db, time.Now)
		p := storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectStore, nil)
		db.Close()

		db, err = store.Open(path, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		env, err := db.EnvironmentByPublishableKey(ctx, p.Live.PublishableKey)
		if err != nil || env == nil || env.Project.Type != dream.ProjectStore {
			t.Fatalf("after reopen: %+v, %v", env, err)
		}
	})
	t.Run("ReadOnlyCannotWrite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dream.db")
		rw, err := store.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		rw.Close()
		db, err := store.Open(path, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Begin(ctx); err == nil {
			t.Fatal("began a write on a read-only database")
		}
		if _, err := db.Migrate(ctx); err == nil {
			t.Fatal("migrated a read-only database")
		}
	})
	t.Run("ReadOnlyNeedsTheFile", func(t *testing.T) {
		if _, err := store.Open(filepath.Join(t.TempDir(), "missing.db"), true); err == nil {
			t.Fatal("opened a missing file read-only")
		}
	})
	t.Run("OddFileName", func(t *testing.T) {
		db, err := store.Open(filepath.Join(t.TempDir(), "a?b#c%d.db"), false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDB_Migrate(t *testing.T) {
	db := storetest.Open(t)
	again, err := db.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
	pending, err := db.PendingMigrations(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate: %v, %v", pending, err)
	}
}

func TestDB_EnvironmentByPublishableKey(t *testing.T) {
	db, p := fixture(t)
	env, err := db.EnvironmentByPublishableKey(ctx, p.Test.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != p.Test.EnvironmentID || env.Mode != dream.ModeTest || env.Project.ID != p.ID ||
		env.Project.PlatformID != p.PlatformID || env.Project.Type != dream.ProjectSaaS || env.Project.RateLimitPerMinute != nil {
		t.Fatalf("got %+v", env)
	}
	if env, err := db.EnvironmentByPublishableKey(ctx, dream.NewPublishableKey(dream.ModeTest)); env != nil || err != nil {
		t.Fatalf("unknown key: %+v, %v", env, err)
	}
}

func TestDB_SecretKey(t *testing.T) {
	db, p := fixture(t)
	hash := dream.HashSecretKey(p.Live.SecretKey)
	key, err := db.SecretKey(ctx, hash)
	if err != nil || key == nil {
		t.Fatalf("got %+v, %v", key, err)
	}
	if !key.Hash.Equal(hash) || key.Environment.ID != p.Live.EnvironmentID || key.Environment.Mode != dream.ModeLive ||
		!key.ExpiresAt.IsZero() {
		t.Fatalf("got %+v", key)
	}
	if key, err := db.SecretKey(ctx, dream.HashSecretKey(p.Live.SecretKey+"0")); key != nil || err != nil {
		t.Fatalf("unknown key: %+v, %v", key, err)
	}
}

func TestTx_RotateSecretKey(t *testing.T) {
	db, p := fixture(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	old := dream.HashSecretKey(p.Test.SecretKey)
	rotate := func(expires time.Time) dream.SecretKeyHash {
		_, hash := dream.NewSecretKey(dream.ModeTest)
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.RotateSecretKey(ctx, dream.RotateSecretKey{EnvironmentID: p.Test.EnvironmentID, NewHash: hash, OldKeysExpireAt: expires}, now); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	expiry := func(h dream.SecretKeyHash) time.Time {
		k, err := db.SecretKey(ctx, h)
		if err != nil || k == nil {
			t.Fatalf("key: %+v, %v", k, err)
		}
		return k.ExpiresAt
	}

	second := rotate(now.Add(24 * time.Hour))
	if got := expiry(old); !got.Equal(now.Add(24 * time.Hour)) {
		t.Fatalf("old key expires %v", got)
	}
	if !expiry(second).IsZero() {
		t.Fatal("new key expires")
	}
	// Rotating again at once ends both earlier keys now: a later rotation
	// never extends an earlier one's life.
	third := rotate(time.Time{})
	if got := expiry(old); !got.Equal(now) {
		t.Fatalf("old key expires %v after second rotation", got)
	}
	if got := expiry(second); !got.Equal(now) {
		t.Fatalf("second key expires %v", got)
	}
	if !expiry(third).IsZero() {
		t.Fatal("newest key expires")
	}

	tx := begin(t, db)
	_, hash := dream.NewSecretKey(dream.ModeTest)
	err := tx.RotateSecretKey(ctx, dream.RotateSecretKey{EnvironmentID: 9999, NewHash: hash}, now)
	if dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("unknown environment: %v", err)
	}
}

func TestDB_Tiers(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now)
	five, zero := int64(5), int64(0)
	catalogue := []dream.Tier{
		{Slug: "mug", DisplayName: "Mug", Description: "Big", BillingMode: dream.BillingOneOff, PriceCents: 1200,
			Limit: dream.Unlimited, Inventory: &five, ImageURL: "https://img.example/mug.png", StripePriceID: "price_mug"},
		{Slug: "poster", DisplayName: "Poster", BillingMode: dream.BillingOneOff, PriceCents: 500, Limit: dream.Unlimited, Inventory: &zero},
		{Slug: "member", DisplayName: "Member", BillingMode: dream.BillingSubscription, PriceCents: 900, Limit: 0,
			TrialDays: 7, Popular: true, Features: []string{"a", "b"}},
	}
	p := storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectMembership, catalogue)
	tiers, err := db.Tiers(ctx, p.Live.EnvironmentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tiers) != 3 || tiers[0].Slug != "mug" || tiers[1].Slug != "poster" || tiers[2].Slug != "member" {
		t.Fatalf("order: %+v", tiers)
	}
	mug, poster, member := tiers[0], tiers[1], tiers[2]
	if *mug.Inventory != 5 || mug.SoldOut() || mug.Currency != "usd" || mug.ImageURL == "" || mug.StripePriceID != "price_mug" ||
		!mug.Limit.Unlimited() || len(mug.Features) != 0 || mug.Description != "Big" {
		t.Errorf("mug: %+v", mug)
	}
	if !poster.SoldOut() || poster.StripePriceID != "" {
		t.Errorf("poster: %+v", poster)
	}
	if member.Limit != 0 || member.TrialDays != 7 || !member.Popular || len(member.Features) != 2 || member.Inventory != nil {
		t.Errorf("member: %+v", member)
	}
	if other, err := db.Tiers(ctx, 9999); err != nil || len(other) != 0 {
		t.Fatalf("unknown environment: %+v, %v", other, err)
	}
}

func TestTx_IncrementUsage(t *testing.T) {
	db, p := fixture(t)
	env := p.Test.EnvironmentID
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	tx := begin(t, db)
	register := func(user string) {
		if err := tx.RegisterEndUser(ctx, env, user, "", now); err != nil {
			t.Fatal(err)
		}
	}
	inc := func(user string, limit dream.Limit, at time.Time) (dream.UsageCounter, bool) {
		c, ok, err := tx.IncrementUsage(ctx, env, user, dream.Plan{Name: "free", Limit: limit}, at)
		if err != nil {
			t.Fatal(err)
		}
		return c, ok
	}

	t.Run("FirstUseStartsPeriod", func(t *testing.T) {
		register("u1")
		c, ok := inc("u1", 3, now)
		if !ok || c.Count != 1 || c.Period.StartString() != "2025-01-15" || c.Period.EndString() != "2025-02-13" {
			t.Fatalf("got %+v, %v", c, ok)
		}
	})
	t.Run("CountsUpToLimit", func(t *testing.T) {
		inc("u1", 3, now)
		c, ok := inc("u1", 3, now)
		if !ok || c.Count != 3 {
			t.Fatalf("got %+v, %v", c, ok)
		}
		c, ok = inc("u1", 3, now)
		if ok || c.Count != 3 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("at limit: %+v, %v", c, ok)
		}
	})
	t.Run("PlanChangeKeepsCount", func(t *testing.T) {
		c, ok := inc("u1", 10, now.Add(time.Hour))
		if !ok || c.Count != 4 {
			t.Fatalf("got %+v, %v", c, ok)
		}
	})
	t.Run("LastDayOfPeriodStillCounts", func(t *testing.T) {
		c, ok := inc("u1", 10, time.Date(2025, 2, 13, 23, 59, 0, 0, time.UTC))
		if !ok || c.Count != 5 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("got %+v, %v", c, ok)
		}
	})
	t.Run("EndedPeriodRestartsToday", func(t *testing.T) {
		later := time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
		c, ok := inc("u1", 3, later)
		if !ok || c.Count != 1 || c.Period.StartString() != "2025-03-02" || c.Period.EndString() != "2025-03-31" {
			t.Fatalf("got %+v, %v", c, ok)
		}
	})
	t.Run("EndedPeriodAtLimitRestarts", func(t *testing.T) {
		register("u2")
		inc("u2", 1, now)
		if _, ok := inc("u2", 1, now); ok {
			t.Fatal("admitted over the limit")
		}
		c, ok := inc("u2", 1, now.AddDate(0, 0, 30))
		if !ok || c.Count != 1 {
			t.Fatalf("new period: %+v, %v", c, ok)
		}
	})
	t.Run("ZeroLimitNeverCounts", func(t *testing.T) {
		register("u3")
		c, ok := inc("u3", 0, now)
		if ok || c.Count != 0 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("got %+v, %v", c, ok)
		}
		if st, _ := tx.UserState(ctx, env, "u3"); st.Counter != nil {
			t.Fatalf("a refused first use stored a counter: %+v", st.Counter)
		}
	})
	t.Run("Unlimited", func(t *testing.T) {
		register("u4")
		for i := 1; i <= 50; i++ {
			if c, ok := inc("u4", dream.Unlimited, now); !ok || c.Count != int64(i) {
				t.Fatalf("unit %d: %+v, %v", i, c, ok)
			}
		}
	})
	t.Run("UnregisteredUserRefused", func(t *testing.T) {
		if _, _, err := tx.IncrementUsage(ctx, env, "ghost", dream.Plan{Name: "free", Limit: 5}, now); err == nil {
			t.Fatal("counted usage of an end user that does not exist")
		}
	})
}

func TestUserState(t *testing.T) {
	db, p := fixture(t)
	env := p.Live.EnvironmentID
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

	state, err := db.UserState(ctx, env, "nobody")
	if err != nil || state.Counter != nil || state.Subscription != nil || state.AssignedPlan != "" {
		t.Fatalf("unknown user: %+v, %v", state, err)
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.RegisterEndUser(ctx, env, "u1", "ada@example.com", now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.IncrementUsage(ctx, env, "u1", dream.Plan{Name: "pro", Limit: 10}, now); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Subscriptions and assigned plans are written by later features; the
	// query must already read them.
	raw, err := sql.Open("sqlite3", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE end_users SET plan = 'enterprise' WHERE user_id = 'u1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id, stripe_price_id, plan,
			status, cancel_at_period_end, current_period_end, stripe_version, created_at, updated_at)
		VALUES (?, 'u1', 'sub_1', 'price_pro', 'pro', 'active', 1, ?, 0, 0, 0)`, env, now.AddDate(0, 1, 0).UnixMilli()); err != nil {
		t.Fatal(err)
	}

	state, err = db.UserState(ctx, env, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if state.AssignedPlan != "enterprise" || state.Counter == nil || state.Counter.Count != 1 ||
		state.Counter.Period.StartString() != "2025-06-01" {
		t.Fatalf("got %+v", state)
	}
	s := state.Subscription
	if s == nil || s.Plan != "pro" || s.PriceID != "price_pro" || s.Status != dream.StatusActive || !s.CancelAtPeriodEnd ||
		!s.CurrentPeriodEnd.Equal(now.AddDate(0, 1, 0)) {
		t.Fatalf("subscription: %+v", s)
	}
	// Another environment of the same project sees none of it.
	if other, err := db.UserState(ctx, p.Test.EnvironmentID, "u1"); err != nil || other.Counter != nil || other.Subscription != nil {
		t.Fatalf("test environment sees live data: %+v, %v", other, err)
	}
}

func TestTx_RegisterEndUser(t *testing.T) {
	db, p := fixture(t)
	env := p.Test.EnvironmentID
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	updatedAt := func() (string, int64) {
		var email sql.NullString
		var updated int64
		raw, err := sql.Open("sqlite3", db.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := raw.QueryRow(`SELECT email, updated_at FROM end_users WHERE environment_id = ? AND user_id = 'u1'`, env).
			Scan(&email, &updated); err != nil {
			t.Fatal(err)
		}
		return email.String, updated
	}
	register := func(email string, at time.Time) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.RegisterEndUser(ctx, env, "u1", email, at); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	register("", t0)
	if email, updated := updatedAt(); email != "" || updated != t0.UnixMilli() {
		t.Fatalf("created: %q %d", email, updated)
	}
	register("ada@example.com", t0.Add(time.Minute))
	if email, updated := updatedAt(); email != "ada@example.com" || updated != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("email learned: %q %d", email, updated)
	}
	register("ada@example.com", t0.Add(time.Hour))
	register("", t0.Add(2*time.Hour))
	if email, updated := updatedAt(); email != "ada@example.com" || updated != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("unchanged email rewrote the row: %q %d", email, updated)
	}
	tx := begin(t, db)
	if err := tx.RegisterEndUser(ctx, 9999, "u1", "", t0); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("unknown environment: %v", err)
	}
}

func TestTx_AppliedWrite(t *testing.T) {
	db := storetest.Open(t)
	tx := begin(t, db)
	if _, ok, err := tx.AppliedWrite(ctx, "w1"); ok || err != nil {
		t.Fatalf("unknown id: %v, %v", ok, err)
	}
	if err := tx.RecordWrite(ctx, "w1", []byte(`{"n":1}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	got, ok, err := tx.AppliedWrite(ctx, "w1")
	if err != nil || !ok || string(got) != `{"n":1}` {
		t.Fatalf("got %s, %v, %v", got, ok, err)
	}
	if err := tx.RecordWrite(ctx, "w1", []byte(`{}`), time.Now()); err == nil {
		t.Fatal("recorded one write id twice")
	}
}

func TestDB_Environments(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now)
	platform := storetest.Platform(t, w)
	a := storetest.CreateProject(t, db, w, platform, dream.ProjectSaaS, nil)
	b := storetest.CreateProject(t, db, w, platform, dream.ProjectStore, nil)
	storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectSaaS, nil)
	envs, err := db.Environments(ctx, platform)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{a.Test.EnvironmentID, a.Live.EnvironmentID, b.Test.EnvironmentID, b.Live.EnvironmentID}
	if len(envs) != len(want) {
		t.Fatalf("got %d environments, want %d", len(envs), len(want))
	}
	for i, env := range envs {
		if env.ID != want[i] {
			t.Fatalf("environment %d is %d, want %d", i, env.ID, want[i])
		}
	}
}

func TestDB_PlatformByOwner(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now)
	id := storetest.Platform(t, w)
	p, err := db.PlatformByOwner(ctx, "test:"+id)
	if err != nil || p == nil || p.ID != id || p.Subscription.Status != dream.StatusNone || p.CreatedAt.IsZero() {
		t.Fatalf("got %+v, %v", p, err)
	}
	if p, err := db.Platform(ctx, id); err != nil || p == nil {
		t.Fatalf("by id: %+v, %v", p, err)
	}
	if p, err := db.PlatformByOwner(ctx, "nobody"); p != nil || err != nil {
		t.Fatalf("unknown owner: %+v, %v", p, err)
	}
	err = w.Write(ctx, dream.CreatePlatform{ID: dream.NewID("plt_"), Owner: "test:" + id}, nil)
	if dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("second platform for one owner: %v", err)
	}
}
