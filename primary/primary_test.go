package primary_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

var ctx = context.Background()

// fixture is a primary over a fresh database with one SaaS project whose
// free tier allows 100 units.
func fixture(t *testing.T, now func() time.Time) (*primary.Primary, *store.DB, storetest.Project) {
	t.Helper()
	db := storetest.Open(t)
	p := primary.New(db, now, nil)
	return p, db, storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
}

func TestPrimary_TrackUsage(t *testing.T) {
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	p, db, proj := fixture(t, func() time.Time { return now })

	t.Run("CountsAgainstTokenPlan", func(t *testing.T) {
		u, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID, UserID: "u1", Email: "a@example.com", TokenPlan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		if u.UserID != "u1" || u.Plan != "pro" || u.Count != 1 || u.Limit != 10_000 || u.Period.StartString() != "2025-01-15" {
			t.Fatalf("the first unit of u1 with a pro token: usage %+v, want u1 on pro, count 1 of 10000, period from 2025-01-15", u)
		}
	})
	t.Run("LimitReached", func(t *testing.T) {
		for i := 0; i < 100; i++ {
			if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID, UserID: "u2"}); err != nil {
				t.Fatalf("unit %d of the free plan's 100: error %v, want it counted", i+1, err)
			}
		}
		_, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID, UserID: "u2"})
		var e *dream.Error
		if !errors.As(err, &e) || e.Code != "Tier limit reached" || e.Fields["usageCount"] != int64(100) || e.Fields["limit"] != dream.Limit(100) {
			t.Fatalf("the 101st unit of the free plan's 100: %v, want Tier limit reached with usageCount 100 and limit 100", err)
		}
		state, _ := db.UserState(ctx, proj.Test.EnvironmentID, "u2")
		if state.Counter.Count != 100 {
			t.Fatalf("after the refused unit the stored count is %d, want 100", state.Counter.Count)
		}
	})
	t.Run("EnvironmentsAreSeparate", func(t *testing.T) {
		u, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Live.EnvironmentID, UserID: "u2"})
		if err != nil || u.Count != 1 {
			t.Fatalf("u2's first unit in the live environment: usage %+v, error %v; want count 1", u, err)
		}
	})
	t.Run("NeedsUser", func(t *testing.T) {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID}); dream.ErrorKind(err) != dream.KindInvalid {
			t.Fatalf("tracking usage without an end user: error %v, want it refused as invalid", err)
		}
	})
	t.Run("UnknownEnvironment", func(t *testing.T) {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: 9999, UserID: "u"}); dream.ErrorKind(err) != dream.KindNotFound {
			t.Fatalf("tracking usage in an unknown environment: error %v, want not found", err)
		}
	})
}

// TestPrimary_TrackUsage_ConcurrentAtLimit is the atomicity guarantee: 50
// tracks racing at one unit below the limit admit exactly one.
func TestPrimary_TrackUsage_ConcurrentAtLimit(t *testing.T) {
	p, _, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	for i := 0; i < 99; i++ {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "racer"}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	var wg sync.WaitGroup
	results := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "racer"})
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	admitted, refused := 0, 0
	for err := range results {
		var e *dream.Error
		switch {
		case err == nil:
			admitted++
		case errors.As(err, &e) && e.Code == "Tier limit reached":
			refused++
		default:
			t.Fatalf("a racing unit at the limit failed with %v, want it admitted or refused with Tier limit reached", err)
		}
	}
	if admitted != 1 || refused != n-1 {
		t.Fatalf("admitted %d and refused %d of %d, want 1 and %d", admitted, refused, n, n-1)
	}
}

func TestPrimary_WriteID(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	w := dream.TrackUsage{WriteID: "edge-1:42", EnvironmentID: env, UserID: "u1"}
	first, err := dream.Apply(ctx, p, w)
	if err != nil {
		t.Fatal(err)
	}
	again, err := dream.Apply(ctx, p, w)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("a retry with the same write id answered %+v, want the first answer %+v", again, first)
	}
	state, _ := db.UserState(ctx, env, "u1")
	if state.Counter.Count != 1 {
		t.Fatalf("a retried write was applied %d times, want once", state.Counter.Count)
	}
	w.WriteID = "edge-1:43"
	if u, err := dream.Apply(ctx, p, w); err != nil || u.Count != 2 {
		t.Fatalf("a write with the next write id: usage %+v, error %v; want count 2", u, err)
	}
}

func TestPrimary_WriteID_RefusalNotRecorded(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	for i := 0; i < 100; i++ {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
	}
	w := dream.TrackUsage{WriteID: "edge-1:1", EnvironmentID: env, UserID: "u1"}
	if _, err := dream.Apply(ctx, p, w); dream.ErrorKind(err) != dream.KindForbidden {
		t.Fatalf("a unit past the free plan's limit: error %v, want it refused as forbidden", err)
	}
	// A refusal changed nothing, so its retry decides afresh: after an
	// upgrade the same write is admitted.
	w.TokenPlan = "pro"
	u, err := dream.Apply(ctx, p, w)
	if err != nil || u.Count != 101 {
		t.Fatalf("retrying the refused write on a pro token: usage %+v, error %v; want count 101", u, err)
	}
	state, _ := db.UserState(ctx, env, "u1")
	if state.Counter.Count != 101 {
		t.Fatalf("after the retry the stored count is %d, want 101", state.Counter.Count)
	}
}

// TestPrimary_RefusalLogsNoChange: a write undone by its savepoint leaves
// nothing in the change log either, though it touched an end user before
// it was refused; otherwise every refused track at a limit would have
// every node read the user's counter again.
func TestPrimary_RefusalLogsNoChange(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	for i := 0; i < 100; i++ {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := db.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"u1", "u2-new"} {
		w := dream.TrackUsage{EnvironmentID: env, UserID: user}
		if user != "u1" {
			// A new end user, registered by the write before it is refused.
			storetest.Exec(t, db, `UPDATE tiers SET usage_limit = 0 WHERE environment_id = ?`, env)
		}
		if _, err := dream.Apply(ctx, p, w); dream.ErrorKind(err) != dream.KindForbidden {
			t.Fatalf("a unit of %s past the limit: error %v, want it refused as forbidden", user, err)
		}
		if now, err := db.LastChange(ctx); err != nil || now != last {
			t.Fatalf("the refused unit of %s moved the change log from %d to %d (error %v), want it left at %d", user, last, now, err, last)
		}
	}
}

func TestPrimary_CreateProject(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	valid := func() dream.CreateProject {
		_, hash := dream.NewSecretKey(dream.ModeTest)
		return dream.CreateProject{ID: dream.NewID("prj_"), PlatformID: proj.PlatformID, Name: "New", Type: dream.ProjectStore,
			Environments: []dream.NewEnvironment{{Mode: dream.ModeTest, PublishableKey: dream.NewPublishableKey(dream.ModeTest), SecretKeyHash: hash,
				Tiers: []dream.Tier{{Slug: "mug", DisplayName: "Mug", BillingMode: dream.BillingOneOff, PriceCents: 100}}}}}
	}
	for _, tt := range []struct {
		name   string
		change func(*dream.CreateProject)
		kind   dream.Kind
	}{
		{"Valid", func(*dream.CreateProject) {}, -1},
		{"NoName", func(w *dream.CreateProject) { w.Name = "" }, dream.KindInvalid},
		{"UnknownType", func(w *dream.CreateProject) { w.Type = "blog" }, dream.KindInvalid},
		{"KeyOfOtherMode", func(w *dream.CreateProject) {
			w.Environments[0].PublishableKey = dream.NewPublishableKey(dream.ModeLive)
		}, dream.KindInvalid},
		{"NegativePrice", func(w *dream.CreateProject) { w.Environments[0].Tiers[0].PriceCents = -1 }, dream.KindInvalid},
		{"UnknownBillingMode", func(w *dream.CreateProject) { w.Environments[0].Tiers[0].BillingMode = "weekly" }, dream.KindInvalid},
		{"UnknownPlatform", func(w *dream.CreateProject) { w.PlatformID = "plt_nope" }, dream.KindInvalid},
		{"ExistingPublishableKey", func(w *dream.CreateProject) { w.Environments[0].PublishableKey = proj.Test.PublishableKey }, dream.KindConflict},
		{"LongName", func(w *dream.CreateProject) { w.Name = strings.Repeat("n", dream.MaxName+1) }, dream.KindInvalid},
		{"LongSlug", func(w *dream.CreateProject) { w.Environments[0].Tiers[0].Slug = strings.Repeat("s", dream.MaxSlug+1) }, dream.KindInvalid},
		{"LongDisplayName", func(w *dream.CreateProject) {
			w.Environments[0].Tiers[0].DisplayName = strings.Repeat("d", dream.MaxName+1)
		}, dream.KindInvalid},
		{"LongDescription", func(w *dream.CreateProject) {
			w.Environments[0].Tiers[0].Description = strings.Repeat("d", dream.MaxDescription+1)
		}, dream.KindInvalid},
		{"LongFeature", func(w *dream.CreateProject) {
			w.Environments[0].Tiers[0].Features = []string{strings.Repeat("f", dream.MaxName+1)}
		}, dream.KindInvalid},
		{"DuplicateTierRollsBack", func(w *dream.CreateProject) {
			w.Environments[0].Tiers = append(w.Environments[0].Tiers, w.Environments[0].Tiers[0])
		}, dream.KindInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := valid()
			tt.change(&w)
			err := p.Write(ctx, w, nil)
			if tt.kind < 0 {
				if err != nil {
					t.Fatalf("creating a valid project: error %v, want it created", err)
				}
				return
			}
			if dream.ErrorKind(err) != tt.kind {
				t.Fatalf("creating the project: error %v (kind %d), want kind %d", err, dream.ErrorKind(err), tt.kind)
			}
			// Nothing of a refused project is left behind.
			env, err := db.EnvironmentByPublishableKey(ctx, w.Environments[0].PublishableKey)
			if err != nil {
				t.Fatal(err)
			}
			if env != nil && env.Project.ID == w.ID {
				t.Fatalf("a refused project left its environment %+v behind, want nothing stored", env)
			}
		})
	}
}

func TestPrimary_RotateSecretKey(t *testing.T) {
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	p, db, proj := fixture(t, func() time.Time { return now })
	sk, hash := dream.NewSecretKey(dream.ModeLive)
	if err := p.Write(ctx, dream.RotateSecretKey{EnvironmentID: proj.Live.EnvironmentID, NewHash: hash}, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := db.SecretKey(ctx, dream.HashSecretKey(proj.Live.SecretKey))
	if old.ValidAt(now) {
		t.Fatal("after rotating the live secret key the old key is still valid, want it expired")
	}
	fresh, _ := db.SecretKey(ctx, dream.HashSecretKey(sk))
	if fresh == nil || !fresh.ValidAt(now) || fresh.Environment.ID != proj.Live.EnvironmentID {
		t.Fatalf("after rotating, the new secret key is %+v, want it valid now for the live environment", fresh)
	}
}

// TestPrimary_GroupCommit sends many writes at once, some of which fail:
// they share transactions, and a failing write undoes only itself.
func TestPrimary_GroupCommit(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := dream.TrackUsage{EnvironmentID: env, UserID: fmt.Sprintf("user_%d", i%10)}
			if i%7 == 0 {
				w.EnvironmentID = 9999 // fails: no such environment
			}
			_, errs[i] = dream.Apply(ctx, p, w)
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		switch {
		case i%7 == 0 && dream.ErrorKind(err) != dream.KindNotFound:
			t.Fatalf("write %d to an unknown environment: error %v, want not found", i, err)
		case i%7 == 0:
			failed++
		case err != nil:
			t.Fatalf("write %d to the test environment: error %v, want it applied", i, err)
		}
	}
	var total int64
	for u := 0; u < 10; u++ {
		state, _ := db.UserState(ctx, env, fmt.Sprintf("user_%d", u))
		total += state.Counter.Count
	}
	if total != int64(n-failed) {
		t.Fatalf("counted %d units, want %d", total, n-failed)
	}
}

func TestPrimary_CanceledBeforeItsTurn(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := dream.Apply(canceled, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID, UserID: "u"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write with a canceled context: error %v, want context.Canceled", err)
	}
	if state, _ := db.UserState(ctx, proj.Test.EnvironmentID, "u"); state.Counter != nil {
		t.Fatal("a write given up on before its turn was applied, want no usage counted")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: proj.Test.EnvironmentID, UserID: "u"}); dream.ErrorKind(err) != dream.KindUnavailable {
		t.Fatalf("a write to a closed primary: error %v, want unavailable", err)
	}
}

func TestForForwarding(t *testing.T) {
	t.Run("AWriteIDIsGivenOnce", func(t *testing.T) {
		w, catchUp, err := primary.ForForwarding(dream.AssignPlan{EnvironmentID: 1, UserID: "u"})
		assign, _ := w.(dream.AssignPlan)
		if err != nil || assign.WriteID == "" || !catchUp {
			t.Fatalf("got %+v, catch up %v, %v; want a new write id, waited for", w, catchUp, err)
		}
		again, _, _ := primary.ForForwarding(assign)
		if again.(dream.AssignPlan).WriteID != assign.WriteID {
			t.Fatalf("forwarding again changed the write id from %s to %s, want it kept", assign.WriteID, again.(dream.AssignPlan).WriteID)
		}
	})
	t.Run("AClientsIDIsKept", func(t *testing.T) {
		w, _, _ := primary.ForForwarding(dream.TrackUsage{WriteID: "idem_1", UserID: "u"})
		if id := w.(dream.TrackUsage).WriteID; id != "idem_1" {
			t.Fatalf("write id %q, want the client's idem_1", id)
		}
	})
	t.Run("ABatchIsIdempotentByItsSequence", func(t *testing.T) {
		w, catchUp, err := primary.ForForwarding(dream.ApplyIncrements{NodeID: "n"})
		if err != nil || catchUp {
			t.Fatalf("got %+v, catch up %v, %v; want the batch as it is, not waited for", w, catchUp, err)
		}
	})
}

// A write alone in its group commit runs without a savepoint of its own:
// when it fails, what it did before failing is rolled back with the
// transaction. A track refused at the limit would have changed the end
// user's email first.
func TestPrimary_AWriteThatFailsAloneLeavesNothing(t *testing.T) {
	p, db, proj := fixture(t, time.Now)
	env := proj.Test.EnvironmentID
	for range 100 {
		if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "u", Email: "old@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "u", Email: "new@example.com"})
	var e *dream.Error
	if !errors.As(err, &e) || e.Code != "Tier limit reached" {
		t.Fatalf("the 101st unit of the free tier: error %v, want the limit reached", err)
	}
	u, err := db.EndUser(ctx, env, "u")
	if err != nil || u == nil || u.Email != "old@example.com" {
		t.Fatalf("after a refused track with a new email the end user is %+v (error %v), want the old email kept", u, err)
	}
}
