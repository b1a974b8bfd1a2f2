// Package ratelimit limits how many requests each end user makes per minute.
// Every user gets a token bucket that refills continuously, so one user's
// burst never slows another and a user who stops refills without any
// background work. The buckets live in a bounded LRU cache because nothing
// bounds how many users there are and memory must not grow with them;
// forgetting the least recently seen user costs only that they start again
// with a full bucket, which an idle user has anyway after a minute.
package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Limiter holds one token bucket per key in a bounded LRU cache. It is safe
// for concurrent use: it sits in front of every end-user request.
type Limiter struct {
	buckets *lru.Cache[string, *bucket]
}

// BucketBytes is what one key's bucket costs in memory: the key, the token
// bucket and the cache's bookkeeping, as TestBucketBytes measures it for an
// end user's key.
const BucketBytes = 360

// bucket pairs a token bucket with the request rate it was last set to.
//
// The rate.Limiter locks itself on every call, but a Decision needs a take
// and a read of what is left to be one step: otherwise two concurrent
// requests could both be told the same Remaining, or a change of rate could
// land between them. mu makes the whole decision atomic per key.
type bucket struct {
	mu        sync.Mutex
	perMinute int
	tokens    *rate.Limiter
}

// New returns a Limiter that keeps at most size buckets; the least recently
// used bucket is dropped first (an evicted key starts again with a full
// bucket).
func New(size int) (*Limiter, error) {
	buckets, err := lru.New[string, *bucket](size)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: size %d: %w", size, err)
	}
	return &Limiter{buckets: buckets}, nil
}

// Decision is the outcome of one request against a key's bucket.
//
// Its fields are what a client needs to pace itself, and map onto the usual
// RateLimit-* and Retry-After response headers.
type Decision struct {
	Allowed    bool
	Limit      int           // the bucket's size: requests per minute
	Remaining  int           // whole requests left right after this one (>= 0)
	Reset      time.Duration // time until the bucket is full again (>= 0)
	RetryAfter time.Duration // when !Allowed: time until one request would be allowed; 0 when allowed
}

// Allow takes one token from key's bucket at time now. The bucket holds
// perMinute tokens and refills at perMinute per minute (continuously).
// perMinute <= 0 means no limit: the result is Allowed with zero
// Limit/Remaining/Reset and no bucket is created. If a key's bucket was
// created with another perMinute (a project's setting changed), the bucket is
// adjusted to the new rate and size rather than replaced, so changing the
// setting neither hands every user a fresh burst nor forgets what they have
// already spent.
//
// Time is taken from now rather than the clock so that callers decide what
// "now" is for a request and tests can step through time exactly.
func (l *Limiter) Allow(key string, perMinute int, now time.Time) Decision {
	if perMinute <= 0 {
		return Decision{Allowed: true}
	}

	b := l.bucket(key, perMinute)
	b.mu.Lock()
	defer b.mu.Unlock()

	if b.perMinute != perMinute {
		b.tokens.SetLimitAt(now, perSecond(perMinute))
		b.tokens.SetBurstAt(now, perMinute)
		b.perMinute = perMinute
	}

	allowed := b.tokens.AllowN(now, 1)
	// left is never negative: AllowN refuses rather than borrow against
	// the future, so truncating is flooring.
	left := b.tokens.TokensAt(now)
	d := Decision{
		Allowed:   allowed,
		Limit:     perMinute,
		Remaining: int(left),
		Reset:     refillTime(float64(perMinute)-left, perMinute),
	}
	if !allowed {
		// A refusal takes nothing, so fewer than one token is left and the
		// wait is always positive.
		d.RetryAfter = refillTime(1-left, perMinute)
	}
	return d
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	return l.buckets.Len()
}

// bucket returns key's bucket, creating a full one for perMinute if there is
// none. Two requests that miss at once must share one bucket, or each would
// be admitted a full burst, so creation goes through PeekOrAdd, which keeps
// whichever bucket got into the cache first.
func (l *Limiter) bucket(key string, perMinute int) *bucket {
	if b, ok := l.buckets.Get(key); ok {
		return b
	}
	b := &bucket{perMinute: perMinute, tokens: rate.NewLimiter(perSecond(perMinute), perMinute)}
	if prev, ok, _ := l.buckets.PeekOrAdd(key, b); ok {
		return prev
	}
	return b
}

// perSecond converts a setting, which users think of per minute, to the
// per-second rate that rate.Limiter counts in.
func perSecond(perMinute int) rate.Limit {
	return rate.Limit(float64(perMinute) / 60)
}

// refillTime is how long a bucket refilling at perMinute takes to gain
// tokens. It rounds up so that a client waiting exactly that long finds the
// tokens there, never a nanosecond short.
func refillTime(tokens float64, perMinute int) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens * float64(time.Minute) / float64(perMinute)))
}
