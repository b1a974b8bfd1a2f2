package main

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets is how many buckets split each power of two of a histogram's
// range: a recorded latency is known to within 1/subBuckets (under 1%).
const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits
	// maxExponent caps the range at 2^(maxExponent+subBucketBits) ns, some
	// 36 minutes; anything longer is recorded as that.
	maxExponent = 34
	bucketCount = (maxExponent + 2) * subBuckets
)

// Histogram counts latencies in log-linear buckets, so that a run of any
// length takes the same fixed memory and its percentiles are exact to
// within one bucket. The zero value is empty and ready; it is not safe for
// concurrent use: each load worker keeps its own and they are merged.
type Histogram struct {
	counts   [bucketCount]uint64
	total    uint64
	min, max time.Duration
}

// bucketOf is the bucket of a latency of ns nanoseconds. Below subBuckets
// every nanosecond has its own bucket; above, each power of two is split
// into subBuckets equal parts.
func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exponent := bits.Len64(ns) - subBucketBits - 1
	if exponent > maxExponent {
		return bucketCount - 1
	}
	return (exponent+1)*subBuckets + int(ns>>exponent) - subBuckets
}

// bucketRange is the smallest and largest latency, in ns, that fall in
// bucket i.
func bucketRange(i int) (low, high uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i)
	}
	exponent := i/subBuckets - 1
	mantissa := uint64(i%subBuckets + subBuckets)
	return mantissa << exponent, (mantissa+1)<<exponent - 1
}

// Record counts one latency.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	if h.total == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.counts[bucketOf(uint64(d))]++
	h.total++
}

// Merge adds every latency of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// Count is how many latencies were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Percentile is the latency that q (0 to 1) of the recorded ones do not
// exceed: the middle of its bucket, kept within the smallest and largest
// latency seen. It is zero for an empty histogram.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	// The rank of the latency asked for, counting from 1; the epsilon
	// keeps 0.99 of 100 at rank 99 despite floating point.
	rank := uint64(math.Ceil(q*float64(h.total) - 1e-9))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			low, high := bucketRange(i)
			d := time.Duration(low + (high-low)/2)
			return min(max(d, h.min), h.max)
		}
	}
	return h.max
}
