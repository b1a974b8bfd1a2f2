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
	"hash/maphash"
	"math"
	"time"

	"github.com/dream-api/dream/internal/lru"
)

// Limiter holds one token bucket per key in a bounded LRU cache. It is safe
// for concurrent use: it sits in front of every end-user request.
type Limiter struct {
	buckets *lru.Cache[key, bucket]
	// seeds hash keys: each node hashes with seeds of its own, so no one
	// can choose two keys that share a bucket.
	seeds [2]maphash.Seed
}

// key is a bucket's key hashed to 128 bits: a node keeps hundreds of
// thousands of buckets, and a key of a project and a user id held as a
// string was an object per bucket for the collector to follow.
type key [2]uint64

// BucketBytes is what one key's bucket costs in memory: its hashed key,
// the token bucket and the cache's bookkeeping, as TestBucketBytes measures
// it.
const BucketBytes = 110

// bucket is a token bucket: it holds perMinute tokens when full and
// refills at perMinute a minute, continuously. It holds no pointer, so
// the cache of buckets is nothing for the collector to scan.
type bucket struct {
	perMinute int
	// tokens is what the bucket held at, in Unix nanoseconds.
	tokens float64
	at     int64
}

// New returns a Limiter that keeps at most size buckets; the least recently
// used bucket is dropped first (an evicted key starts again with a full
// bucket).
func New(size int) (*Limiter, error) {
	buckets, err := lru.New[key, bucket](size)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: size %d: %w", size, err)
	}
	return &Limiter{buckets: buckets, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}, nil
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
func (l *Limiter) Allow(k string, perMinute int, now time.Time) Decision {
	if perMinute <= 0 {
		return Decision{Allowed: true}
	}
	var d Decision
	at := now.UnixNano()
	// The take and the read of what is left are one step under the
	// cache's lock: two concurrent requests are never told the same
	// Remaining, and a change of rate never lands between them.
	l.buckets.Update(key{maphash.String(l.seeds[0], k), maphash.String(l.seeds[1], k)}, func(b *bucket, found bool) {
		switch {
		case !found:
			*b = bucket{perMinute: perMinute, tokens: float64(perMinute), at: at}
		case b.perMinute != perMinute:
			// What the bucket holds now at its old rate and size, then
			// refilled and bounded at the new ones.
			b.tokens, b.at, b.perMinute = b.tokensAt(at), at, perMinute
		}
		left := b.tokensAt(at)
		d = Decision{Allowed: left >= 1, Limit: perMinute}
		if d.Allowed {
			left--
			b.tokens, b.at = left, at
		}
		// left is never negative: a refusal takes nothing rather than
		// borrow against the future, so truncating is flooring.
		d.Remaining = int(left)
		d.Reset = refillTime(float64(perMinute)-left, perMinute)
		if !d.Allowed {
			// Fewer than one token is left, so the wait is always
			// positive.
			d.RetryAfter = refillTime(1-left, perMinute)
		}
	})
	return d
}

// tokensAt is what the bucket holds at, in Unix nanoseconds: what it held
// refilled since, up to its size. A time before its last count counts
// nothing, so a clock that steps back never takes tokens away.
func (b *bucket) tokensAt(at int64) float64 {
	elapsed := time.Duration(max(at-b.at, 0))
	return min(b.tokens+elapsed.Seconds()*float64(b.perMinute)/60, float64(b.perMinute))
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	return l.buckets.Len()
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
