package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogram_Buckets(t *testing.T) {
	t.Run("EveryValueFallsInItsBucket", func(t *testing.T) {
		for _, ns := range []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 999_999, 1 << 20, 1<<40 + 12345} {
			low, high := bucketRange(bucketOf(ns))
			if ns < low || ns > high {
				t.Errorf("%d ns falls in bucket %d of [%d, %d]", ns, bucketOf(ns), low, high)
			}
		}
	})
	t.Run("BucketsAreContiguous", func(t *testing.T) {
		for i := 1; i < bucketCount; i++ {
			_, prevHigh := bucketRange(i - 1)
			low, _ := bucketRange(i)
			if low != prevHigh+1 {
				t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, low, i-1, prevHigh)
			}
		}
	})
	t.Run("WithinOnePercent", func(t *testing.T) {
		for i := subBuckets; i < bucketCount; i++ {
			low, high := bucketRange(i)
			if float64(high-low) > float64(low)/100 {
				t.Fatalf("bucket %d is [%d, %d], wider than 1%%", i, low, high)
			}
		}
	})
	t.Run("BeyondTheRangeIsTheLastBucket", func(t *testing.T) {
		if got := bucketOf(1 << 62); got != bucketCount-1 {
			t.Fatalf("bucket %d, want %d", got, bucketCount-1)
		}
	})
}

func TestHistogram_Percentile(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		var h Histogram
		if h.Percentile(0.99) != 0 || h.Count() != 0 {
			t.Fatal("an empty histogram reports latencies")
		}
	})
	t.Run("OneToHundredMilliseconds", func(t *testing.T) {
		var h Histogram
		for i := 100; i >= 1; i-- {
			h.Record(time.Duration(i) * time.Millisecond)
		}
		for _, c := range []struct {
			q    float64
			want time.Duration
		}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
			if got := h.Percentile(c.q); !near(got, c.want) {
				t.Errorf("p%v = %s, want %s", c.q*100, got, c.want)
			}
		}
	})
	t.Run("MatchesSortedSamples", func(t *testing.T) {
		var h Histogram
		r := rand.New(rand.NewPCG(1, 2))
		samples := make([]time.Duration, 100_000)
		for i := range samples {
			// Log-normal-ish latencies from microseconds to a second.
			samples[i] = time.Duration(r.ExpFloat64() * r.ExpFloat64() * float64(time.Millisecond))
			h.Record(samples[i])
		}
		slices.Sort(samples)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			want := samples[int(q*float64(len(samples)))-1]
			if got := h.Percentile(q); !near(got, want) {
				t.Errorf("p%v = %s, want %s", q*100, got, want)
			}
		}
	})
	t.Run("NeverOutsideWhatWasSeen", func(t *testing.T) {
		var h Histogram
		h.Record(1234567 * time.Nanosecond)
		if got := h.Percentile(0.5); got != 1234567*time.Nanosecond {
			t.Fatalf("one latency of 1234567ns reads as %s", got)
		}
	})
}

func TestHistogram_Merge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{})
	if merged != all {
		t.Fatalf("merged: %d latencies, p99 %s; recorded together: %d, %s",
			merged.Count(), merged.Percentile(0.99), all.Count(), all.Percentile(0.99))
	}
}

// near reports whether got is within one percent of want.
func near(got, want time.Duration) bool {
	diff := float64(got - want)
	return diff <= float64(want)/100 && -diff <= float64(want)/100
}
