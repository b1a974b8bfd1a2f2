package store_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

// A batch's usage change reads back as what was logged, and as its users
// to a release that reads each element as an [environment id, user id]
// pair, which takes the batch's first element for nobody.
func TestBatchUsageChange(t *testing.T) {
	db := storetest.Open(t)
	period := dream.PeriodStartingAt(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	batch := store.BatchUsage{NodeID: "node_a", Mark: 42, Counters: []store.UserCounter{
		{User: store.UserRef{EnvironmentID: 7, UserID: "u1"}, Counter: dream.UsageCounter{Count: 3, Period: period}},
		{User: store.UserRef{EnvironmentID: 8, UserID: "u2"}, Counter: dream.UsageCounter{Count: 1_000_000, Period: period}},
	}}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.LogBatchUsage(ctx, batch, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	changes, err := db.ChangesSince(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := changes[len(changes)-1]
	users, got, err := store.ParseUsage(c.Key)
	if err != nil || c.Kind != store.ChangeUsage {
		t.Fatalf("the batch's change %s %s reads with error %v, want a usage change", c.Kind, c.Key, err)
	}
	if got == nil || got.NodeID != batch.NodeID || got.Mark != batch.Mark || !slices.Equal(got.Counters, batch.Counters) {
		t.Errorf("the batch's change reads as %+v, want %+v", got, batch)
	}
	want := []store.UserRef{batch.Counters[0].User, batch.Counters[1].User}
	if !slices.Equal(users, want) {
		t.Errorf("the batch's change names %v, want %v", users, want)
	}

	// As the previous release reads it.
	var pairs [][2]json.RawMessage
	if err := json.Unmarshal([]byte(c.Key), &pairs); err != nil {
		t.Fatal(err)
	}
	var old []store.UserRef
	for _, p := range pairs {
		var u store.UserRef
		if json.Unmarshal(p[0], &u.EnvironmentID) != nil || json.Unmarshal(p[1], &u.UserID) != nil {
			t.Fatalf("the previous release cannot read %s as pairs", c.Key)
		}
		old = append(old, u)
	}
	if !slices.Equal(old, append([]store.UserRef{{}}, want...)) {
		t.Errorf("the previous release reads the users %v, want nobody and %v", old, want)
	}

	// A change of units the primary decided names users alone.
	users, got, err = store.ParseUsage(`[[7,"u1"],[8,"u2"]]`)
	if err != nil || got != nil || !slices.Equal(users, want) {
		t.Errorf("a change of pairs reads as %v and batch %+v (error %v), want %v and no batch", users, got, err, want)
	}
	for _, bad := range []string{`{}`, `[[7]]`, `[[0,"","node_a",1],[7,"u1"]]`, `[[0,"","node_a",1],[7,"u1",3,"2025-06-01","soon"]]`, `[["7","u1"]]`} {
		if _, _, err := store.ParseUsage(bad); err == nil {
			t.Errorf("the usage change %s was read, want an error", bad)
		}
	}
}
