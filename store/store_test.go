package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
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
	w := primary.New(db, time.Now, nil)
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
		w := primary.New(db, time.Now, nil)
		p := storetest.CreateProject(t, db, w, storetest.Platform(t, w), dream.ProjectStore, nil)
		db.Close()

		db, err = store.Open(path, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		env, err := db.EnvironmentByPublishableKey(ctx, p.Live.PublishableKey)
		if err != nil || env == nil || env.Project.Type != dream.ProjectStore {
			t.Fatalf("after reopening the database read-only, the live publishable key found environment %+v "+
				"(error %v), want the store project's", env, err)
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
			t.Fatal("Begin on a read-only database succeeded, want an error")
		}
		if _, err := db.Migrate(ctx); err == nil {
			t.Fatal("Migrate on a read-only database succeeded, want an error")
		}
	})
	t.Run("ReadOnlyNeedsTheFile", func(t *testing.T) {
		if _, err := store.Open(filepath.Join(t.TempDir(), "missing.db"), true); err == nil {
			t.Fatal("opening a missing database file read-only succeeded, want an error")
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
		t.Fatalf("a second migration of the database applied %v (error %v), want nothing", again, err)
	}
	pending, err := db.PendingMigrations(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("after migrating the database, migrations %v are pending (error %v), want none", pending, err)
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
		t.Fatalf("the test publishable key found environment %+v, "+
			"want the SaaS project's test environment with no rate limit of its own", env)
	}
	if env, err := db.EnvironmentByPublishableKey(ctx, dream.NewPublishableKey(dream.ModeTest)); env != nil || err != nil {
		t.Fatalf("an unknown publishable key found environment %+v (error %v), want nil and no error", env, err)
	}
}

func TestDB_SecretKey(t *testing.T) {
	db, p := fixture(t)
	hash := dream.HashSecretKey(p.Live.SecretKey)
	key, err := db.SecretKey(ctx, hash)
	if err != nil || key == nil {
		t.Fatalf("the live secret key's hash found %+v (error %v), want the key", key, err)
	}
	if !key.Hash.Equal(hash) || key.Environment.ID != p.Live.EnvironmentID || key.Environment.Mode != dream.ModeLive ||
		!key.ExpiresAt.IsZero() {
		t.Fatalf("the live secret key is %+v, "+
			"want its hash in the SaaS project's live environment with no expiry", key)
	}
	if key, err := db.SecretKey(ctx, dream.HashSecretKey(p.Live.SecretKey+"0")); key != nil || err != nil {
		t.Fatalf("an unknown secret key found %+v (error %v), want nil and no error", key, err)
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
			t.Fatalf("looking up a secret key found %+v (error %v), want the key", k, err)
		}
		return k.ExpiresAt
	}

	second := rotate(now.Add(24 * time.Hour))
	if got := expiry(old); !got.Equal(now.Add(24 * time.Hour)) {
		t.Fatalf("after the rotation the old secret key expires %v, want %v", got, now.Add(24*time.Hour))
	}
	if !expiry(second).IsZero() {
		t.Fatal("the new secret key has an expiry, want none")
	}
	// Rotating again at once ends both earlier keys now: a later rotation
	// never extends an earlier one's life.
	third := rotate(time.Time{})
	if got := expiry(old); !got.Equal(now) {
		t.Fatalf("after the second rotation the first secret key expires %v, want %v (now)", got, now)
	}
	if got := expiry(second); !got.Equal(now) {
		t.Fatalf("after the second rotation the second secret key expires %v, want %v (now)", got, now)
	}
	if !expiry(third).IsZero() {
		t.Fatal("the newest secret key has an expiry, want none")
	}

	tx := begin(t, db)
	_, hash := dream.NewSecretKey(dream.ModeTest)
	err := tx.RotateSecretKey(ctx, dream.RotateSecretKey{EnvironmentID: 9999, NewHash: hash}, now)
	if dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("rotating the secret key of an unknown environment returned %v, want a not-found error", err)
	}
}

func TestDB_Tiers(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now, nil)
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
		t.Fatalf("the membership project's tiers are %+v, want mug, poster and member in that order", tiers)
	}
	mug, poster, member := tiers[0], tiers[1], tiers[2]
	if *mug.Inventory != 5 || mug.SoldOut() || mug.Currency != "usd" || mug.ImageURL == "" || mug.StripePriceID != "price_mug" ||
		!mug.Limit.Unlimited() || len(mug.Features) != 0 || mug.Description != "Big" {
		t.Errorf("tier mug is %+v, want 5 in stock, usd, its image, price_mug, unlimited, "+
			"no features and description Big", mug)
	}
	if !poster.SoldOut() || poster.StripePriceID != "" {
		t.Errorf("tier poster is %+v, want it sold out with no Stripe price", poster)
	}
	if member.Limit != 0 || member.TrialDays != 7 || !member.Popular || len(member.Features) != 2 || member.Inventory != nil {
		t.Errorf("tier member is %+v, want limit 0, a 7-day trial, popular, 2 features and no inventory", member)
	}
	if other, err := db.Tiers(ctx, 9999); err != nil || len(other) != 0 {
		t.Fatalf("an unknown environment has tiers %+v (error %v), want none", other, err)
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
			t.Fatalf("end user u1's first usage unit gave counter %+v, admitted %v; "+
				"want 1 unit admitted in 2025-01-15..2025-02-13", c, ok)
		}
	})
	t.Run("CountsUpToLimit", func(t *testing.T) {
		inc("u1", 3, now)
		c, ok := inc("u1", 3, now)
		if !ok || c.Count != 3 {
			t.Fatalf("the third usage unit under limit 3 gave counter %+v, admitted %v; want 3 units admitted", c, ok)
		}
		c, ok = inc("u1", 3, now)
		if ok || c.Count != 3 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("a usage unit past limit 3 gave counter %+v, admitted %v; "+
				"want it refused with 3 units kept in the period from 2025-01-15", c, ok)
		}
	})
	t.Run("PlanChangeKeepsCount", func(t *testing.T) {
		c, ok := inc("u1", 10, now.Add(time.Hour))
		if !ok || c.Count != 4 {
			t.Fatalf("a usage unit after a plan change to limit 10 gave counter %+v, admitted %v; "+
				"want 4 units admitted: the count is kept", c, ok)
		}
	})
	t.Run("LastDayOfPeriodStillCounts", func(t *testing.T) {
		c, ok := inc("u1", 10, time.Date(2025, 2, 13, 23, 59, 0, 0, time.UTC))
		if !ok || c.Count != 5 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("a usage unit on the period's last day gave counter %+v, admitted %v; "+
				"want 5 units admitted in the period from 2025-01-15", c, ok)
		}
	})
	t.Run("EndedPeriodRestartsToday", func(t *testing.T) {
		later := time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
		c, ok := inc("u1", 3, later)
		if !ok || c.Count != 1 || c.Period.StartString() != "2025-03-02" || c.Period.EndString() != "2025-03-31" {
			t.Fatalf("a usage unit after the period ended gave counter %+v, admitted %v; "+
				"want 1 unit admitted in 2025-03-02..2025-03-31", c, ok)
		}
	})
	t.Run("EndedPeriodAtLimitRestarts", func(t *testing.T) {
		register("u2")
		inc("u2", 1, now)
		if _, ok := inc("u2", 1, now); ok {
			t.Fatal("end user u2's second usage unit under limit 1 was admitted, want it refused")
		}
		c, ok := inc("u2", 1, now.AddDate(0, 0, 30))
		if !ok || c.Count != 1 {
			t.Fatalf("end user u2's first usage unit of a new period gave counter %+v, admitted %v; "+
				"want 1 unit admitted", c, ok)
		}
	})
	t.Run("ZeroLimitNeverCounts", func(t *testing.T) {
		register("u3")
		c, ok := inc("u3", 0, now)
		if ok || c.Count != 0 || c.Period.StartString() != "2025-01-15" {
			t.Fatalf("a usage unit under limit 0 gave counter %+v, admitted %v; "+
				"want it refused with 0 units in the period from 2025-01-15", c, ok)
		}
		if st, _ := tx.UserState(ctx, env, "u3"); st.Counter != nil {
			t.Fatalf("a refused first usage unit stored counter %+v, want no counter", st.Counter)
		}
	})
	t.Run("Unlimited", func(t *testing.T) {
		register("u4")
		for i := 1; i <= 50; i++ {
			if c, ok := inc("u4", dream.Unlimited, now); !ok || c.Count != int64(i) {
				t.Fatalf("unlimited usage unit %d gave counter %+v, admitted %v; want it admitted with count %d",
					i, c, ok, i)
			}
		}
	})
	t.Run("UnregisteredUserRefused", func(t *testing.T) {
		if _, _, err := tx.IncrementUsage(ctx, env, "ghost", dream.Plan{Name: "free", Limit: 5}, now); err == nil {
			t.Fatal("a usage unit of an unregistered end user was counted, want an error")
		}
	})
}

func TestUserState(t *testing.T) {
	db, p := fixture(t)
	env := p.Live.EnvironmentID
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

	state, err := db.UserState(ctx, env, "nobody")
	if err != nil || state.Counter != nil || state.Subscription != nil || state.AssignedPlan != "" {
		t.Fatalf("an unknown end user has state %+v (error %v), "+
			"want no counter, subscription or assigned plan", state, err)
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
		t.Fatalf("end user u1 has state %+v, "+
			"want plan enterprise assigned and 1 usage unit in the period from 2025-06-01", state)
	}
	s := state.Subscription
	if s == nil || s.Plan != "pro" || s.PriceID != "price_pro" || s.Status != dream.StatusActive || !s.CancelAtPeriodEnd ||
		!s.CurrentPeriodEnd.Equal(now.AddDate(0, 1, 0)) {
		t.Fatalf("end user u1 has subscription %+v, "+
			"want pro on price_pro, active, canceling at the period end %v", s, now.AddDate(0, 1, 0))
	}
	// Another environment of the same project sees none of it.
	if other, err := db.UserState(ctx, p.Test.EnvironmentID, "u1"); err != nil || other.Counter != nil || other.Subscription != nil {
		t.Fatalf("the test environment sees end user u1 as %+v (error %v), "+
			"want none of the live environment's counter or subscription", other, err)
	}
}

// UserStates reads in bulk what UserStateAndMark reads of each user, past
// the users of one statement.
func TestUserStates(t *testing.T) {
	db, p := fixture(t)
	env := p.Live.EnvironmentID
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var users []store.UserRef
	for i := range 600 {
		id := fmt.Sprintf("u%d", i)
		users = append(users, store.UserRef{EnvironmentID: env, UserID: id})
		if i%3 == 0 {
			continue // never seen
		}
		if err := tx.RegisterEndUser(ctx, env, id, id+"@example.com", now); err != nil {
			t.Fatal(err)
		}
		for range i % 5 {
			if _, _, err := tx.IncrementUsage(ctx, env, id, dream.Plan{Name: "pro", Limit: 10}, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.SetEdgeMark(ctx, "node_a", 42, now); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, db, `UPDATE end_users SET plan = 'enterprise' WHERE user_id = 'u2'`)
	storetest.Exec(t, db, `INSERT INTO subscriptions (environment_id, user_id, stripe_subscription_id, stripe_price_id, plan,
			status, cancel_at_period_end, current_period_end, stripe_version, created_at, updated_at)
		VALUES (?, 'u4', 'sub_1', 'price_pro', 'pro', 'active', 1, ?, 0, 0, 0)`, env, now.AddDate(0, 1, 0).UnixMilli())
	// The same user in the other environment is another user.
	users = append(users, store.UserRef{EnvironmentID: p.Test.EnvironmentID, UserID: "u1"})

	var got []store.UserRef
	err = db.UserStates(ctx, "node_a", users, func(u store.UserRef, state dream.UserState, mark int64) {
		got = append(got, u)
		want, wantMark, err := db.UserStateAndMark(ctx, u.EnvironmentID, u.UserID, "node_a")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(state, want) || mark != wantMark || mark != 42 {
			t.Errorf("UserStates read %v as %+v with mark %d, want %+v with mark %d as UserStateAndMark reads it",
				u, state, mark, want, wantMark)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	byUser := func(a, b store.UserRef) int {
		return cmp.Or(cmp.Compare(a.EnvironmentID, b.EnvironmentID), cmp.Compare(a.UserID, b.UserID))
	}
	slices.SortFunc(got, byUser)
	slices.SortFunc(users, byUser)
	if !slices.Equal(got, users) {
		t.Fatalf("UserStates read %d users, want each of the %d asked for once", len(got), len(users))
	}
	if err := db.UserStates(ctx, "node_a", nil, func(store.UserRef, dream.UserState, int64) { t.Error("called for no users") }); err != nil {
		t.Fatal(err)
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
		t.Fatalf("the new end user has email %q, updated at %d; want no email, updated at %d",
			email, updated, t0.UnixMilli())
	}
	register("ada@example.com", t0.Add(time.Minute))
	if email, updated := updatedAt(); email != "ada@example.com" || updated != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("after registering with an email the end user has email %q, updated at %d; "+
			"want ada@example.com, updated at %d", email, updated, t0.Add(time.Minute).UnixMilli())
	}
	register("ada@example.com", t0.Add(time.Hour))
	register("", t0.Add(2*time.Hour))
	if email, updated := updatedAt(); email != "ada@example.com" || updated != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("after registering again with the same email and none, the end user has email %q, "+
			"updated at %d; want ada@example.com still updated at %d", email, updated, t0.Add(time.Minute).UnixMilli())
	}
	tx := begin(t, db)
	if err := tx.RegisterEndUser(ctx, 9999, "u1", "", t0); dream.ErrorKind(err) != dream.KindNotFound {
		t.Fatalf("registering an end user in an unknown environment returned %v, want a not-found error", err)
	}
}

func TestTx_AppliedWrite(t *testing.T) {
	db := storetest.Open(t)
	tx := begin(t, db)
	if _, ok, err := tx.AppliedWrite(ctx, "w1"); ok || err != nil {
		t.Fatalf("an unknown write id was found %v (error %v), want it not found", ok, err)
	}
	if err := tx.RecordWrite(ctx, "w1", []byte(`{"n":1}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	got, ok, err := tx.AppliedWrite(ctx, "w1")
	if err != nil || !ok || string(got) != `{"n":1}` {
		t.Fatalf(`write id w1 holds %s, found %v (error %v); want it found holding {"n":1}`, got, ok, err)
	}
	if err := tx.RecordWrite(ctx, "w1", []byte(`{}`), time.Now()); err == nil {
		t.Fatal("recording write id w1 a second time succeeded, want an error")
	}
}

func TestDB_Environments(t *testing.T) {
	db := storetest.Open(t)
	w := primary.New(db, time.Now, nil)
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
	w := primary.New(db, time.Now, nil)
	id := storetest.Platform(t, w)
	p, err := db.PlatformByOwner(ctx, "test:"+id)
	if err != nil || p == nil || p.ID != id || p.Subscription.Status != dream.StatusNone || p.CreatedAt.IsZero() {
		t.Fatalf("the platform's owner found %+v (error %v), "+
			"want platform %s with no subscription and a creation time", p, err, id)
	}
	if p, err := db.Platform(ctx, id); err != nil || p == nil {
		t.Fatalf("platform %s by id found %+v (error %v), want it", id, p, err)
	}
	if p, err := db.PlatformByOwner(ctx, "nobody"); p != nil || err != nil {
		t.Fatalf("an unknown owner found platform %+v (error %v), want nil and no error", p, err)
	}
	err = w.Write(ctx, dream.CreatePlatform{ID: dream.NewID("plt_"), Owner: "test:" + id}, nil)
	if dream.ErrorKind(err) != dream.KindConflict {
		t.Fatalf("creating a second platform for one owner returned %v, want a conflict", err)
	}
}
