package edge_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/store/storetest"
)

// ship waits until the primary has applied every unit the server
// acknowledged and the server's copy counts them, shipping them itself if
// the harness holds them back.
func (h *harness) ship() {
	h.t.Helper()
	ctx := context.Background()
	if h.gate != nil {
		h.gate.open.Store(true)
		defer h.gate.open.Store(false)
		if err := h.current().Flush(ctx); err != nil {
			h.t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.refresh()
		mark, err := h.db.EdgeMark(ctx, h.outbox.NodeID())
		if err != nil {
			h.t.Fatal(err)
		}
		left, err := h.outbox.Units(ctx, mark, 1)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("usage units from seq %d on are unapplied after 10 s, want all applied by the primary", left[0].Seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until the server's change watcher has seen the last write,
// so that its statements do not land in a count of the request path's.
func (h *harness) settle() {
	h.t.Helper()
	time.Sleep(50 * time.Millisecond) // five of the watcher's polls
	h.refresh()
}

// stored is the count the database holds for a user.
func (h *harness) stored(envID int64, userID string) int64 {
	h.t.Helper()
	state, err := h.db.UserState(context.Background(), envID, userID)
	if err != nil {
		h.t.Fatal(err)
	}
	if state.Counter == nil {
		return 0
	}
	return state.Counter.Count
}

func TestWarmPathRunsNoQueries(t *testing.T) {
	h := newHarness(t, harnessOptions{noShip: true})
	pk, sk := h.saas.Test.PublishableKey, h.saas.Test.SecretKey
	tok, user, err := h.issuer.IssueToken(pk, "warm@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		method, path string
		headers      []string
	}{
		{"GET", "/api/tiers", []string{"X-Publishable-Key", pk}},
		{"GET", "/api/products", []string{"X-Publishable-Key", pk}},
		{"GET", "/api/tiers", []string{"Authorization", "Bearer " + sk}},
		{"GET", "/api/usage", []string{"X-Publishable-Key", pk, "X-Clerk-Token", tok}},
		{"POST", "/api/data", []string{"X-Publishable-Key", pk, "X-Clerk-Token", tok}},
	}
	send := func() {
		t.Helper()
		for _, r := range requests {
			if res := h.do(r.method, r.path, "", r.headers...); res.status != 200 {
				t.Fatalf("%s %s answered %d %s, want 200", r.method, r.path, res.status, res.raw)
			}
		}
	}
	send() // warm
	before := h.db.ReadStatements()
	for i := 0; i < 20; i++ {
		send()
	}
	if n := h.db.ReadStatements() - before; n != 0 {
		t.Fatalf("the warm path ran %d statements on the database, want 0", n)
	}
	res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok)
	if res.body["usageCount"] != float64(21) {
		t.Fatalf("usage is %v, want usageCount 21", res.body)
	}

	// Once the units are applied, the node reads the user's new counter
	// in the background, once for the batch: the requests still run none.
	h.ship()
	if got := h.stored(h.saas.Test.EnvironmentID, user); got != 21 {
		t.Fatalf("the database counts %d, want 21", got)
	}
	h.settle()
	before = h.db.ReadStatements()
	send()
	if n := h.db.ReadStatements() - before; n != 0 {
		t.Fatalf("after the units were applied, %d statements, want 0", n)
	}
	if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok); res.body["usageCount"] != float64(22) {
		t.Fatalf("usage is %v, want usageCount 22", res.body)
	}

	// A plan change names the user: their state is read again, once.
	if err := h.primary.Write(context.Background(), dream.AssignPlan{EnvironmentID: h.saas.Test.EnvironmentID, UserID: user, Plan: "pro"}, nil); err != nil {
		t.Fatal(err)
	}
	h.settle()
	before = h.db.ReadStatements()
	send()
	if n := h.db.ReadStatements() - before; n != 1 {
		t.Fatalf("after the plan changed, %d statements, want 1 (the user's state)", n)
	}
	if res := h.do("GET", "/api/usage", "", "X-Publishable-Key", pk, "X-Clerk-Token", tok); res.body["plan"] != "pro" {
		t.Fatalf("usage is %v, want plan pro", res.body)
	}
}

// saasUser is an end user of the SaaS project's test environment, with
// the calls the tests below make as them.
type saasUser struct {
	h      *harness
	token  string
	userID string
}

func (h *harness) saasUser(email, plan string) saasUser {
	h.t.Helper()
	token, userID, err := h.issuer.IssueToken(h.saas.Test.PublishableKey, email, plan)
	if err != nil {
		h.t.Fatal(err)
	}
	return saasUser{h: h, token: token, userID: userID}
}

// track is POST /api/data as the user, with headers added.
func (u saasUser) track(headers ...string) response {
	return u.h.do("POST", "/api/data", "", append([]string{"X-Publishable-Key", u.h.saas.Test.PublishableKey, "X-Clerk-Token", u.token}, headers...)...)
}

// usage is GET /api/usage as the user.
func (u saasUser) usage() response {
	return u.h.do("GET", "/api/usage", "", "X-Publishable-Key", u.h.saas.Test.PublishableKey, "X-Clerk-Token", u.token)
}

// stored is the user's count in the database, shipped units only.
func (u saasUser) stored() int64 {
	return u.h.stored(u.h.saas.Test.EnvironmentID, u.userID)
}

func TestUsageAcknowledgedAtTheEdge(t *testing.T) {
	t.Run("CountsNeverJumpWhileUnitsShip", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		u := h.saasUser("steady@example.com", "pro")
		// The shipper and the change watcher run meanwhile: every answer
		// must count exactly the units before it, whichever of the
		// outbox and the database holds them at that moment.
		for i := 1; i <= 300; i++ {
			res := u.track()
			if res.status != 200 || res.body["usage"].(map[string]any)["count"] != float64(i) {
				t.Fatalf("track %d answered %d %s, want 200 with count %d", i, res.status, res.raw, i)
			}
			if i%7 == 0 {
				time.Sleep(time.Millisecond)
			}
			if res := u.usage(); res.body["usageCount"] != float64(i) {
				t.Fatalf("usage after %d tracks is %s, want usageCount %d", i, res.raw, i)
			}
		}
		h.ship()
		if got := u.stored(); got != 300 {
			t.Fatalf("the database counts %d, want 300", got)
		}
	})

	t.Run("LimitIsExactAtOneNode", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		u := h.saasUser("limit@example.com", "")
		for i := 0; i < 60; i++ {
			if res := u.track(); res.status != 200 {
				t.Fatalf("track %d answered %d %s, want 200", i, res.status, res.raw)
			}
		}
		h.ship()
		for i := 60; i < 99; i++ {
			if res := u.track(); res.status != 200 {
				t.Fatalf("track %d answered %d %s, want 200", i, res.status, res.raw)
			}
		}
		// 50 at once for the last unit of the free tier's 100: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := u.track()
				mu.Lock()
				statuses[res.status]++
				mu.Unlock()
				if res.status == 403 && (res.body["error"] != "Tier limit reached" || res.body["usageCount"] != float64(100)) {
					t.Errorf("a track refused with 403 answered %s, want Tier limit reached at usageCount 100", res.raw)
				}
			}()
		}
		wg.Wait()
		if statuses[200] != 1 || statuses[403] != 49 {
			t.Fatalf("statuses %v, want one 200 and 49 of 403", statuses)
		}
		h.ship()
		if got := u.stored(); got != 100 {
			t.Fatalf("the database counts %d, want 100", got)
		}
	})

	t.Run("IdempotencyKeyCountsOnce", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		u := h.saasUser("retry@example.com", "")
		for i := 0; i < 3; i++ {
			res := u.track("Idempotency-Key", "call-1")
			if res.status != 200 || res.body["usage"].(map[string]any)["count"] != float64(1) {
				t.Fatalf("attempt %d with idempotency key call-1 answered %d %s, want 200 with count 1", i, res.status, res.raw)
			}
		}
		u.track("Idempotency-Key", "call-2")
		h.ship()
		if res := u.track("Idempotency-Key", "call-1"); res.body["usage"].(map[string]any)["count"] != float64(2) {
			t.Fatalf("a retry of call-1 after shipping answered %s, want count 2", res.raw)
		}
		if got := u.stored(); got != 2 {
			t.Fatalf("the database counts %d, want 2", got)
		}
	})

	t.Run("StrictLimitsDecideAtThePrimary", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		storetest.SetStrictLimits(t, h.db, h.saas.ID, true)
		h.refresh()
		u := h.saasUser("strict@example.com", "")
		for i := 1; i <= 3; i++ {
			if res := u.track(); res.status != 200 {
				t.Fatalf("strict track %d answered %d %s, want 200", i, res.status, res.raw)
			}
			// In the database at once, nothing in the outbox.
			if got := u.stored(); got != int64(i) {
				t.Fatalf("after %d strict tracks the database counts %d, want %d", i, got, i)
			}
			if res := u.usage(); res.body["usageCount"] != float64(i) {
				t.Fatalf("usage after %d strict tracks is %s, want usageCount %d", i, res.raw, i)
			}
		}
		if n, _, err := h.outbox.Backlog(context.Background()); err != nil || n != 0 {
			t.Fatalf("the outbox holds %d units (error %v), want 0 with strict limits", n, err)
		}
	})

	t.Run("UnitsSurviveARestart", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		u := h.saasUser("restart@example.com", "")
		for i := 0; i < 5; i++ {
			u.track()
		}
		// A new server on the same outbox and database, as after a crash
		// before anything was shipped: the units still count, once.
		h.restart()
		if res := u.usage(); res.body["usageCount"] != float64(5) {
			t.Fatalf("usage after the restart is %s, want usageCount 5", res.raw)
		}
		h.ship()
		h.restart()
		if res := u.usage(); res.body["usageCount"] != float64(5) {
			t.Fatalf("usage after shipping and restarting is %s, want usageCount 5", res.raw)
		}
		if got := u.stored(); got != 5 {
			t.Fatalf("the database counts %d, want 5", got)
		}
	})

	t.Run("UnitsSurviveAWarmRestart", func(t *testing.T) {
		// Stopped with units it could not ship, the node comes back with
		// the view it kept, read afresh, and the units in its outbox on
		// top of it, once.
		h := newHarness(t, harnessOptions{noShip: true, warm: true})
		u := h.saasUser("warm@example.com", "")
		for i := 0; i < 3; i++ {
			u.track()
		}
		h.stopAndStart()
		if logs := h.logs.String(); !strings.Contains(logs, `"msg":"restored the end users kept before the restart"`) ||
			!strings.Contains(logs, `"tokens":1,"usage_views":1`) {
			t.Fatalf("the restarted node did not restore the end user's token and view; logs:\n%s", logs)
		}
		if res := u.usage(); res.body["usageCount"] != float64(3) {
			t.Fatalf("usage after the restart is %s, want usageCount 3", res.raw)
		}
		u.track()
		h.ship()
		h.stopAndStart()
		if res := u.usage(); res.body["usageCount"] != float64(4) {
			t.Fatalf("usage after shipping and restarting is %s, want usageCount 4", res.raw)
		}
		if got := u.stored(); got != 4 {
			t.Fatalf("the database counts %d, want 4", got)
		}
	})

	t.Run("UnitsHeldAreBounded", func(t *testing.T) {
		// The primary unreachable for long: the node holds at most
		// maxPending units it has not seen applied, refuses more with a
		// 503 that counts nothing, and takes tracks again once they ship.
		h := newHarness(t, harnessOptions{noShip: true, maxPending: 5})
		u := h.saasUser("backlog@example.com", "")
		for i := 0; i < 5; i++ {
			if res := u.track(); res.status != 200 {
				t.Fatalf("track %d answered %d %s, want 200", i, res.status, res.raw)
			}
		}
		refused := func(when string) {
			t.Helper()
			if res := u.track(); res.status != 503 || res.body["error"] != "service_unavailable" {
				t.Fatalf("a track past the full backlog %s answered %d %s, want 503 service_unavailable", when, res.status, res.raw)
			}
		}
		refused("")
		// A restart reloads the units from the outbox, and the bound with
		// them.
		h.restart()
		refused("after a restart")
		if res := u.usage(); res.body["usageCount"] != float64(5) {
			t.Fatalf("usage with the backlog full is %s, want usageCount 5", res.raw)
		}
		h.ship()
		if res := u.track(); res.status != 200 || res.body["usage"].(map[string]any)["count"] != float64(6) {
			t.Fatalf("a track once the units shipped answered %d %s, want 200 with count 6", res.status, res.raw)
		}
		h.ship()
		if got := u.stored(); got != 6 {
			t.Fatalf("the database counts %d, want 6", got)
		}
	})

	t.Run("CloseShipsEverything", func(t *testing.T) {
		// A node that shuts down hands its units to the primary, in case it
		// never comes back.
		h := newHarness(t, harnessOptions{noShip: true})
		u := h.saasUser("drain@example.com", "")
		for i := 0; i < 7; i++ {
			u.track()
		}
		h.gate.open.Store(true)
		if err := h.current().Close(); err != nil {
			t.Fatal(err)
		}
		if got := u.stored(); got != 7 {
			t.Fatalf("the database counts %d after the node closed, want the 7 units it acknowledged", got)
		}
	})

	t.Run("ABatchSentTwiceCountsOnce", func(t *testing.T) {
		h := newHarness(t, harnessOptions{noShip: true})
		u := h.saasUser("twice@example.com", "")
		for i := 0; i < 4; i++ {
			u.track()
		}
		units, err := h.outbox.Units(context.Background(), 0, 100)
		if err != nil || len(units) != 4 {
			t.Fatalf("the outbox holds units %v (error %v), want 4", units, err)
		}
		// The primary applied the batch but the node never heard, and
		// sends it again before its copy shows the first.
		batch := dream.ApplyIncrements{NodeID: h.outbox.NodeID(), Items: units}
		for i, want := range []int{4, 0} {
			res, err := dream.Apply(context.Background(), h.primary, batch)
			if err != nil || res.Applied != want || res.Mark != units[3].Seq {
				t.Fatalf("delivery %d of the batch gave %+v (error %v), want %d applied and mark %d",
					i+1, res, err, want, units[3].Seq)
			}
		}
		h.ship()
		if got := u.stored(); got != 4 {
			t.Fatalf("the database counts %d, want 4", got)
		}
	})
}
