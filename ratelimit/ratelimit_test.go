package ratelimit_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream/ratelimit"
)

// t0 is a fixed instant so every test controls time completely.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// tolerance absorbs float rounding in rate's token arithmetic; it is far
// below anything a client could observe through Retry-After.
const tolerance = time.Microsecond

func newLimiter(tb testing.TB, size int) *ratelimit.Limiter {
	tb.Helper()
	l, err := ratelimit.New(size)
	if err != nil {
		tb.Fatalf("New(%d) returned %v, want a rate limiter of %d keys", size, err, size)
	}
	return l
}

// drain spends every token of key's bucket at now and returns the last
// admitted decision.
func drain(t *testing.T, l *ratelimit.Limiter, key string, perMinute int, now time.Time) ratelimit.Decision {
	t.Helper()
	var d ratelimit.Decision
	for i := range perMinute {
		d = l.Allow(key, perMinute, now)
		if !d.Allowed {
			t.Fatalf("request %d of a burst of %d was refused: %+v, want it allowed", i+1, perMinute, d)
		}
	}
	return d
}

func near(got, want time.Duration) bool {
	diff := got - want
	return diff >= -tolerance && diff <= tolerance
}

func TestNew(t *testing.T) {
	for _, size := range []int{0, -1, -100} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			if l, err := ratelimit.New(size); err == nil {
				t.Fatalf("New(%d) = %v, want error", size, l)
			}
		})
	}
	if _, err := ratelimit.New(1); err != nil {
		t.Fatalf("New(1) returned %v, want a rate limiter of one key", err)
	}
}

func TestLimiter_Allow(t *testing.T) {
	t.Run("BurstThenRefuse", func(t *testing.T) {
		for _, perMinute := range []int{1, 3, 7, 20, 60, 1000} {
			t.Run(strconv.Itoa(perMinute), func(t *testing.T) {
				l := newLimiter(t, 10)
				interval := time.Minute / time.Duration(perMinute)
				for i := range perMinute {
					d := l.Allow("u", perMinute, t0)
					if !d.Allowed || d.Limit != perMinute || d.Remaining != perMinute-1-i || d.RetryAfter != 0 {
						t.Fatalf("request %d: got %+v, want allowed, limit %d, remaining %d", i+1, d, perMinute, perMinute-1-i)
					}
					if want := time.Duration(i+1) * interval; !near(d.Reset, want) {
						t.Fatalf("request %d: reset %v, want %v", i+1, d.Reset, want)
					}
				}
				d := l.Allow("u", perMinute, t0)
				if d.Allowed || d.Limit != perMinute || d.Remaining != 0 {
					t.Fatalf("over the limit: got %+v, want refused with limit %d, remaining 0", d, perMinute)
				}
				if !near(d.RetryAfter, interval) {
					t.Fatalf("retry after %v, want %v", d.RetryAfter, interval)
				}
				if !near(d.Reset, time.Minute) {
					t.Fatalf("reset %v, want %v", d.Reset, time.Minute)
				}
			})
		}
	})

	t.Run("Refill", func(t *testing.T) {
		const perMinute = 20
		l := newLimiter(t, 10)
		interval := time.Minute / perMinute
		drain(t, l, "u", perMinute, t0)

		if d := l.Allow("u", perMinute, t0.Add(interval/2)); d.Allowed {
			t.Fatalf("half an interval later: got %+v, want refused", d)
		}
		d := l.Allow("u", perMinute, t0.Add(interval))
		if !d.Allowed || d.Remaining != 0 || !near(d.Reset, time.Minute) {
			t.Fatalf("one interval later: got %+v, want allowed, remaining 0, reset 1m", d)
		}
		if d := l.Allow("u", perMinute, t0.Add(interval)); d.Allowed {
			t.Fatalf("second request one interval later: got %+v, want refused", d)
		}

		// Waiting out Reset must leave the bucket exactly full: a whole
		// burst again, and no more.
		full := t0.Add(interval).Add(d.Reset)
		last := drain(t, l, "u", perMinute, full)
		if last.Remaining != 0 {
			t.Fatalf("after the burst at full: remaining %d, want 0", last.Remaining)
		}
		if d := l.Allow("u", perMinute, full); d.Allowed {
			t.Fatalf("request beyond a full bucket: got %+v, want refused", d)
		}
	})

	t.Run("FullAfterMinute", func(t *testing.T) {
		const perMinute = 20
		l := newLimiter(t, 10)
		drain(t, l, "u", perMinute, t0)
		// Long idle must not bank more than one bucketful.
		for _, idle := range []time.Duration{time.Minute, time.Hour} {
			d := l.Allow("u", perMinute, t0.Add(idle))
			if !d.Allowed || d.Remaining != perMinute-1 || !near(d.Reset, time.Minute/perMinute) {
				t.Fatalf("after %v: got %+v, want allowed, remaining %d, reset %v", idle, d, perMinute-1, time.Minute/perMinute)
			}
		}
	})

	t.Run("RetryAfterIsEnough", func(t *testing.T) {
		// A client that waits exactly RetryAfter must get in, whatever the
		// rate and however far into a refill it was refused; rounding the
		// wait down fails this for about one refusal in a thousand.
		r := rand.New(rand.NewPCG(1, 2))
		for range 20_000 {
			perMinute := 1 + r.IntN(60)
			interval := time.Minute / time.Duration(perMinute)
			l := newLimiter(t, 1)
			drain(t, l, "u", perMinute, t0)
			now := t0.Add(time.Duration(r.Int64N(int64(interval))))
			d := l.Allow("u", perMinute, now)
			if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > interval {
				t.Fatalf("perMinute %d, %v in: got %+v, want refused with RetryAfter in (0, %v]", perMinute, now.Sub(t0), d, interval)
			}
			if again := l.Allow("u", perMinute, now.Add(d.RetryAfter)); !again.Allowed {
				t.Fatalf("perMinute %d, %v in: refused again after waiting RetryAfter %v: %+v, want it allowed",
					perMinute, now.Sub(t0), d.RetryAfter, again)
			}
		}
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		const perMinute = 5
		l := newLimiter(t, 10)
		drain(t, l, "a", perMinute, t0)
		if d := l.Allow("a", perMinute, t0); d.Allowed {
			t.Fatalf("a over the limit: got %+v, want refused", d)
		}
		d := l.Allow("b", perMinute, t0)
		if !d.Allowed || d.Remaining != perMinute-1 {
			t.Fatalf("b after a drained: got %+v, want allowed, remaining %d", d, perMinute-1)
		}
		if got := l.Len(); got != 2 {
			t.Fatalf("Len = %d, want 2", got)
		}
	})

	t.Run("NoLimit", func(t *testing.T) {
		for _, perMinute := range []int{0, -1, -60} {
			t.Run(strconv.Itoa(perMinute), func(t *testing.T) {
				l := newLimiter(t, 10)
				for i := range 1000 {
					if d := l.Allow("u", perMinute, t0); d != (ratelimit.Decision{Allowed: true}) {
						t.Fatalf("request %d: got %+v, want only Allowed", i+1, d)
					}
				}
				if got := l.Len(); got != 0 {
					t.Fatalf("Len = %d, want 0", got)
				}
			})
		}
	})

	t.Run("ChangePerMinute", func(t *testing.T) {
		tests := []struct {
			name      string
			from, to  int
			spent     int // requests made at the old setting
			remaining int // after the first request at the new setting
			refused   bool
		}{
			// Raising the limit keeps what was spent rather than handing
			// out a fresh, larger burst.
			{name: "Raise", from: 10, to: 20, spent: 10, refused: true},
			{name: "RaisePartlySpent", from: 10, to: 20, spent: 4, remaining: 5},
			// Lowering it caps what is left at the new size.
			{name: "Lower", from: 20, to: 5, spent: 1, remaining: 4},
			{name: "LowerSpent", from: 20, to: 5, spent: 20, refused: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				l := newLimiter(t, 10)
				for range tt.spent {
					l.Allow("u", tt.from, t0)
				}
				d := l.Allow("u", tt.to, t0)
				if d.Allowed == tt.refused || d.Limit != tt.to || d.Remaining != tt.remaining {
					t.Fatalf("first request at %d/min: got %+v, want refused=%v, limit %d, remaining %d", tt.to, d, tt.refused, tt.to, tt.remaining)
				}
				if tt.refused && !near(d.RetryAfter, time.Minute/time.Duration(tt.to)) {
					t.Fatalf("retry after %v, want the new interval %v", d.RetryAfter, time.Minute/time.Duration(tt.to))
				}
				if got := l.Len(); got != 1 {
					t.Fatalf("Len = %d, want 1: the bucket must be adjusted, not replaced", got)
				}

				// A minute later the bucket has the new size, at the new rate.
				later := t0.Add(time.Minute)
				last := drain(t, l, "u", tt.to, later)
				if !near(last.Reset, time.Minute) {
					t.Fatalf("reset when empty %v, want 1m", last.Reset)
				}
				if d := l.Allow("u", tt.to, later); d.Allowed || !near(d.RetryAfter, time.Minute/time.Duration(tt.to)) {
					t.Fatalf("beyond the new size: got %+v, want refused, retry after %v", d, time.Minute/time.Duration(tt.to))
				}
			})
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		const perMinute = 2
		l := newLimiter(t, 3)
		drain(t, l, "key0", perMinute, t0)
		for i := range 10 {
			l.Allow("key"+strconv.Itoa(i), perMinute, t0)
			if got := l.Len(); got > 3 {
				t.Fatalf("after %d keys: Len = %d, want <= 3", i+1, got)
			}
		}
		// key0 was evicted, so it comes back with a full bucket.
		if d := l.Allow("key0", perMinute, t0); !d.Allowed || d.Remaining != perMinute-1 {
			t.Fatalf("evicted key: got %+v, want allowed, remaining %d", d, perMinute-1)
		}
	})

	t.Run("RecentlyUsedKept", func(t *testing.T) {
		const perMinute = 2
		l := newLimiter(t, 2)
		drain(t, l, "hot", perMinute, t0)
		for i := range 10 {
			// Touching hot between newcomers keeps it from being the least
			// recently used, so its spent bucket survives.
			if d := l.Allow("hot", perMinute, t0); d.Allowed {
				t.Fatalf("hot after %d other keys: got %+v, want refused", i, d)
			}
			l.Allow("cold"+strconv.Itoa(i), perMinute, t0)
		}
	})
}

func TestLimiter_Concurrent(t *testing.T) {
	t.Run("OneKey", func(t *testing.T) {
		const (
			perMinute  = 20
			goroutines = 50
		)
		// Several rounds, each on a fresh key, so the goroutines also race
		// each other to create the bucket.
		for round := range 20 {
			l := newLimiter(t, 10)
			key := "u" + strconv.Itoa(round)
			start := make(chan struct{})
			decisions := make(chan ratelimit.Decision, goroutines)
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					<-start
					decisions <- l.Allow(key, perMinute, t0)
				})
			}
			close(start)
			wg.Wait()
			close(decisions)

			var seen [perMinute]bool
			allowed := 0
			for d := range decisions {
				if !d.Allowed {
					continue
				}
				allowed++
				if d.Remaining < 0 || d.Remaining >= perMinute || seen[d.Remaining] {
					t.Fatalf("round %d: remaining %d was reported twice or out of range, want each of 0..%d once",
						round, d.Remaining, perMinute-1)
				}
				seen[d.Remaining] = true
			}
			if allowed != perMinute {
				t.Fatalf("round %d: allowed %d of %d, want %d", round, allowed, goroutines, perMinute)
			}
			if got := l.Len(); got != 1 {
				t.Fatalf("round %d: Len = %d, want 1", round, got)
			}
		}
	})

	t.Run("ManyKeysEvicting", func(t *testing.T) {
		const size = 8
		l := newLimiter(t, size)
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 500 {
					l.Allow("k"+strconv.Itoa((g*31+i)%64), 10, t0.Add(time.Duration(i)*time.Millisecond))
				}
			})
		}
		wg.Wait()
		if got := l.Len(); got > size {
			t.Fatalf("Len = %d, want <= %d", got, size)
		}
	})
}

func BenchmarkLimiter_Allow(b *testing.B) {
	// One request per millisecond against 1000 a second keeps the bucket
	// near its steady state, the common case in production.
	const perMinute = 60_000
	l := newLimiter(b, 1024)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		l.Allow("u", perMinute, now)
	}
}

func BenchmarkLimiter_AllowParallel(b *testing.B) {
	const (
		users     = 10_000
		perMinute = 600
	)
	keys := make([]string, users)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	l := newLimiter(b, users)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%users], perMinute, t0.Add(time.Duration(i)*time.Millisecond))
			i += 7
		}
	})
}
