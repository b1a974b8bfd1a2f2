package primary_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

func TestPrimary_ApplyIncrements(t *testing.T) {
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	p, db, proj := fixture(t, func() time.Time { return now })
	env := proj.Test.EnvironmentID
	unit := func(seq int64, user string, at time.Time) dream.Increment {
		return dream.Increment{Seq: seq, EnvironmentID: env, UserID: user, Plan: "free", At: at.UnixMilli()}
	}
	count := func(user string) dream.UsageCounter {
		t.Helper()
		state, err := db.UserState(ctx, env, user)
		if err != nil {
			t.Fatal(err)
		}
		return state.Counter.At(now)
	}

	t.Run("NoLimitAndTheMarkSkipsWhatWasApplied", func(t *testing.T) {
		var items []dream.Increment
		for seq := int64(1); seq <= 150; seq++ {
			items = append(items, unit(seq, "a", now))
		}
		// Past the free tier's 100: the node decided these units.
		res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n1", Items: items})
		if err != nil || res.Applied != 150 || res.Mark != 150 {
			t.Fatalf("n1's batch of 150 units: result %+v, error %v; want 150 applied, mark 150", res, err)
		}
		// The same batch again, and one overlapping it.
		res, err = dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n1", Items: items})
		if err != nil || res.Applied != 0 || res.Mark != 150 {
			t.Fatalf("the same batch again: result %+v, error %v; want 0 applied, mark 150", res, err)
		}
		res, err = dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n1", Items: []dream.Increment{unit(149, "a", now), unit(150, "a", now), unit(151, "a", now)}})
		if err != nil || res.Applied != 1 || res.Mark != 151 {
			t.Fatalf("a batch overlapping the mark: result %+v, error %v; want 1 applied, mark 151", res, err)
		}
		if c := count("a"); c.Count != 151 {
			t.Fatalf("end user a has %d units, want 151", c.Count)
		}
		// Another node's sequences are its own.
		res, err = dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n2", Items: []dream.Increment{unit(1, "a", now)}})
		if err != nil || res.Applied != 1 || res.Mark != 1 {
			t.Fatalf("n2's first unit: result %+v, error %v; want 1 applied, mark 1 of its own", res, err)
		}
		if mark, err := db.EdgeMark(ctx, "n1"); err != nil || mark != 151 {
			t.Fatalf("n1's stored mark is %d, error %v; want 151, untouched by n2", mark, err)
		}
	})

	t.Run("AWriteIDCountsOnceAcrossNodes", func(t *testing.T) {
		first := unit(1, "b", now)
		first.WriteID = "idem_1"
		retry := unit(7, "b", now)
		retry.WriteID = "idem_1"
		if res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n3", Items: []dream.Increment{first}}); err != nil || res.Applied != 1 {
			t.Fatalf("n3's unit with write id idem_1: result %+v, error %v; want 1 applied", res, err)
		}
		// The client retried at another node, which acknowledged it too.
		res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n4", Items: []dream.Increment{retry}})
		if err != nil || res.Applied != 0 || res.Mark != 7 {
			t.Fatalf("the retry of idem_1 at n4: result %+v, error %v; want 0 applied, mark 7", res, err)
		}
		if c := count("b"); c.Count != 1 {
			t.Fatalf("end user b has %d units after a retry at another node, want 1", c.Count)
		}
	})

	t.Run("EachUnitCountsInThePeriodItWasAcknowledgedIn", func(t *testing.T) {
		// A unit of the 30th day of a period, then units after it ended.
		start := now.AddDate(0, 0, -29)
		if _, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n5", Items: []dream.Increment{
			unit(1, "c", start), unit(2, "c", now), unit(3, "c", now.AddDate(0, 0, 1)), unit(4, "c", now.AddDate(0, 0, 1)),
		}}); err != nil {
			t.Fatal(err)
		}
		state, _ := db.UserState(ctx, env, "c")
		if c := state.Counter; c.Count != 2 || c.Period.StartString() != "2025-01-16" {
			t.Fatalf("counter %+v, want 2 units in the period from 2025-01-16", c)
		}
	})

	t.Run("ADeletedEnvironmentDoesNotBlockTheNode", func(t *testing.T) {
		gone := storetest.CreateProject(t, db, p, storetest.Platform(t, p), dream.ProjectSaaS, storetest.SaaSTiers())
		storetest.Exec(t, db, `DELETE FROM environments WHERE id = ?`, gone.Test.EnvironmentID)
		items := []dream.Increment{unit(1, "d", now), {Seq: 2, EnvironmentID: gone.Test.EnvironmentID, UserID: "d", At: now.UnixMilli()}}
		res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n6", Items: items})
		if err != nil || res.Applied != 1 || res.Mark != 2 {
			t.Fatalf("a batch with a unit of a deleted environment: result %+v, error %v; want 1 applied, mark 2", res, err)
		}
	})

	t.Run("TheChangeHoldsTheUsersCountersAndTheMark", func(t *testing.T) {
		last, err := db.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Exec(t, db, `INSERT INTO end_users (environment_id, user_id, created_at, updated_at) VALUES (?, 'f', 0, 0)`, env)
		storetest.Exec(t, db, `INSERT INTO usage_counters (environment_id, user_id, period_start, period_end, count, plan, updated_at)
			VALUES (?, 'f', ?, ?, 40, 'pro', 0)`, env, dream.PeriodStartingAt(now).StartString(), dream.PeriodStartingAt(now).EndString())
		if _, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n7", Items: []dream.Increment{
			unit(1, "e", now), unit(2, "f", now), unit(3, "e", now.AddDate(0, 0, 1)), unit(4, "e", now.AddDate(0, 0, 1))}}); err != nil {
			t.Fatal(err)
		}
		changes, err := db.ChangesSince(ctx, last)
		if err != nil || len(changes) != 1 || changes[0].Kind != store.ChangeUsage {
			t.Fatalf("changes after the batch: %+v, error %v; want one usage change", changes, err)
		}
		users, e, err := store.ParseUsage(changes[0].Key)
		if err != nil || e == nil {
			t.Fatalf("the usage change %s reads as batch %+v (error %v), want the batch's", changes[0].Key, e, err)
		}
		if len(users) != 2 {
			t.Errorf("the usage change names %v, want e and f", users)
		}
		slices.SortFunc(e.Counters, func(a, b store.UserCounter) int { return strings.Compare(a.User.UserID, b.User.UserID) })
		if e.NodeID != "n7" || e.Mark != 4 || len(e.Counters) != 2 {
			t.Fatalf("the batch's usage change is %+v, want node n7, mark 4 and the counters of e and f", e)
		}
		// Each counter is the one the database holds after the batch.
		for _, c := range e.Counters {
			var stored dream.UsageCounter
			err := db.Counters(ctx, "n7", []store.UserRef{c.User}, func(_ store.UserRef, got *dream.UsageCounter, mark int64) {
				stored = *got
				if mark != e.Mark {
					t.Errorf("the node's mark is %d, want the change's %d", mark, e.Mark)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.User.EnvironmentID != env || c.Counter != stored {
				t.Errorf("the change gives %+v, want %+v as the database holds it", c, stored)
			}
		}
		if e.Counters[0].Counter.Count != 3 || e.Counters[1].Counter.Count != 41 {
			t.Errorf("the change counts e %d and f %d, want 3 and 41", e.Counters[0].Counter.Count, e.Counters[1].Counter.Count)
		}
	})

	t.Run("InvalidBatches", func(t *testing.T) {
		for name, w := range map[string]dream.ApplyIncrements{
			"no node":        {Items: []dream.Increment{unit(1, "g", now)}},
			"no units":       {NodeID: "n8"},
			"out of order":   {NodeID: "n8", Items: []dream.Increment{unit(2, "g", now), unit(1, "g", now)}},
			"repeated seq":   {NodeID: "n8", Items: []dream.Increment{unit(1, "g", now), unit(1, "g", now)}},
			"no user":        {NodeID: "n8", Items: []dream.Increment{unit(1, "", now)}},
			"no time":        {NodeID: "n8", Items: []dream.Increment{{Seq: 1, EnvironmentID: env, UserID: "g"}}},
			"no environment": {NodeID: "n8", Items: []dream.Increment{{Seq: 1, UserID: "g", At: 1}}},
		} {
			_, err := dream.Apply(ctx, p, w)
			var e *dream.Error
			if !errors.As(err, &e) || e.Kind != dream.KindInvalid {
				t.Errorf("a batch with %s: error %v, want it refused as invalid", name, err)
			}
		}
	})
}

func TestPrimary_ApplyIncrementsAfterADeletion(t *testing.T) {
	now := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	p, db, proj := fixture(t, func() time.Time { return now })
	env := proj.Test.EnvironmentID
	if _, err := dream.Apply(ctx, p, dream.TrackUsage{EnvironmentID: env, UserID: "gone"}); err != nil {
		t.Fatal(err)
	}
	if existed, err := dream.Apply(ctx, p, dream.DeleteCustomer{EnvironmentID: env, UserID: "gone"}); err != nil || !existed {
		t.Fatalf("deleting the customer: deleted %v, error %v; want deleted, no error", existed, err)
	}
	// A node acknowledged a unit just before the deletion and ships it
	// after: it must not bring the customer back.
	before := dream.Increment{Seq: 1, EnvironmentID: env, UserID: "gone", Plan: "free", At: now.Add(-time.Second).UnixMilli()}
	res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n1", Items: []dream.Increment{before}})
	if err != nil || res.Applied != 0 || res.Mark != 1 {
		t.Fatalf("a unit from before the deletion: result %+v, error %v; want 0 applied, mark 1", res, err)
	}
	if state, _ := db.UserState(ctx, env, "gone"); state.Counter != nil {
		t.Fatalf("a unit from before the deletion brought the customer back: %+v, want no usage", state)
	}
	// Using the API again later is a new start.
	after := dream.Increment{Seq: 2, EnvironmentID: env, UserID: "gone", Plan: "free", At: now.Add(time.Second).UnixMilli()}
	if res, err := dream.Apply(ctx, p, dream.ApplyIncrements{NodeID: "n1", Items: []dream.Increment{after}}); err != nil || res.Applied != 1 {
		t.Fatalf("a unit from after the deletion: result %+v, error %v; want 1 applied", res, err)
	}
	if state, _ := db.UserState(ctx, env, "gone"); state.Counter == nil || state.Counter.Count != 1 {
		t.Fatalf("after using the API again the counter is %+v, want a fresh count of 1", state.Counter)
	}
}
