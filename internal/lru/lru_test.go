package lru

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// order is the cache's keys from the most recently used, read without
// marking any used.
func order[K comparable, V any](c *Cache[K, V]) []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []K
	for i, n := c.head, 0; i != none && (n == 0 || i != c.head); i, n = c.nodes[i].next, n+1 {
		keys = append(keys, c.nodes[i].key)
	}
	return keys
}

func TestNewRefusesSizesBelowOne(t *testing.T) {
	for _, size := range []int{0, -1} {
		if _, err := New[int, int](size); err == nil {
			t.Errorf("New(%d) made a cache, want an error", size)
		}
	}
}

func TestTheLeastRecentlyUsedGoesFirst(t *testing.T) {
	c, _ := New[string, int](3)
	c.Add("a", 1)
	c.Add("b", 2)
	c.Add("c", 3)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v; want 1, true", v, ok)
	}
	// b is now the least recently used; Peek and Contains do not use.
	c.Peek("b")
	c.Contains("b")
	c.Add("d", 4)
	if c.Contains("b") {
		t.Error("b was kept, want it dropped as the least recently used")
	}
	if got, want := order(c), []string{"d", "a", "c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	c.Add("a", 10)
	if v, _ := c.Peek("a"); v != 10 || c.Len() != 3 {
		t.Errorf("after adding a again: a = %d, %d entries; want 10, 3", v, c.Len())
	}
	if got, want := order(c), []string{"a", "d", "c"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestSizeOne(t *testing.T) {
	c, _ := New[int, int](1)
	for i := range 5 {
		c.Add(i, i)
		if v, ok := c.Get(i); !ok || v != i || c.Len() != 1 {
			t.Fatalf("after Add(%d): Get = %v, %v with %d entries; want %d, true with 1", i, v, ok, c.Len(), i)
		}
	}
	c.Remove(4)
	if c.Len() != 0 || len(order(c)) != 0 {
		t.Fatalf("after removing the only entry: %d entries, order %v", c.Len(), order(c))
	}
	c.Add(7, 7)
	if got := order(c); !slices.Equal(got, []int{7}) {
		t.Fatalf("order %v, want [7]", got)
	}
}

func TestUpdateCreatesAndChangesInPlace(t *testing.T) {
	c, _ := New[string, int](2)
	c.Update("a", func(v *int, found bool) {
		if found || *v != 0 {
			t.Errorf("a new entry: found %v, value %d; want false, 0", found, *v)
		}
		*v = 5
	})
	c.Add("b", 1)
	c.Update("a", func(v *int, found bool) {
		if !found || *v != 5 {
			t.Errorf("an existing entry: found %v, value %d; want true, 5", found, *v)
		}
		*v++
	})
	if v, _ := c.Peek("a"); v != 6 {
		t.Errorf("a = %d after the update, want 6", v)
	}
	// The update used a: b goes first.
	c.Add("c", 1)
	if c.Contains("b") || !c.Contains("a") {
		t.Errorf("after an update of a and a new entry: keys %v, want a kept and b dropped", order(c))
	}
}

func TestRemovedSlotsAreReused(t *testing.T) {
	c, _ := New[int, *int](4)
	for i := range 4 {
		c.Add(i, new(i))
	}
	if !c.Remove(1) || !c.Remove(2) || c.Remove(2) {
		t.Fatal("Remove reported wrongly whether there was an entry")
	}
	c.Add(8, new(8))
	c.Add(9, new(9))
	if len(c.nodes) != 4 || c.Len() != 4 {
		t.Fatalf("%d slots for %d entries, want the 2 freed reused", len(c.nodes), c.Len())
	}
	if got, want := order(c), []int{9, 8, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	c.RemoveIf(func(k int, v *int) bool { return *v%2 == 0 })
	if got, want := order(c), []int{9, 3}; !slices.Equal(got, want) {
		t.Errorf("after removing the even values: order %v, want %v", got, want)
	}
	c.Purge()
	if c.Len() != 0 || c.Contains(9) {
		t.Error("Purge left entries")
	}
	c.Add(1, new(1))
	if v, ok := c.Get(1); !ok || *v != 1 {
		t.Error("a purged cache does not take entries")
	}
}

// A full cache of keys and values without pointers is a few objects to
// the collector, not one or more per entry.
func TestEntriesAreNoObjectsOfTheirOwn(t *testing.T) {
	const n = 100_000
	c, _ := New[[16]byte, [4]int64](n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		c.Add([16]byte{byte(i), byte(i >> 8), byte(i >> 16)}, [4]int64{int64(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	if objects := int64(after.HeapObjects) - int64(before.HeapObjects); objects > n/100 {
		t.Errorf("%d entries are %d heap objects, want at most %d", n, objects, n/100)
	}
}

// Concurrent use is safe (run with -race) and keeps the bound.
func TestConcurrentUse(t *testing.T) {
	c, _ := New[string, int](100)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2_000 {
				k := fmt.Sprint((w*7919 + i) % 300)
				switch i % 4 {
				case 0:
					c.Add(k, i)
				case 1:
					c.Get(k)
				case 2:
					c.Update(k, func(v *int, _ bool) { *v++ })
				case 3:
					c.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 100 || len(order(c)) != n {
		t.Fatalf("%d entries, %d in the list; want at most 100, all in it", n, len(order(c)))
	}
}

func TestAllGoesFromTheMostRecentlyUsed(t *testing.T) {
	c, _ := New[string, int](4)
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		c.Add(k, i)
	}
	c.Get("c")
	c.Remove("d")
	var keys []string
	var values []int
	for k, v := range c.All() {
		keys, values = append(keys, k), append(values, v)
	}
	if want := order(c); !slices.Equal(keys, want) || !slices.Equal(keys, []string{"c", "e", "b"}) {
		t.Errorf("All gave %v, want %v, the list from its head", keys, want)
	}
	if !slices.Equal(values, []int{2, 4, 1}) {
		t.Errorf("All gave the values %v, want [2 4 1]", values)
	}
	for k := range c.All() {
		if k != "c" {
			t.Errorf("All went on to %q after the loop broke", k)
		}
		break
	}
	empty, _ := New[string, int](1)
	for k := range empty.All() {
		t.Errorf("an empty cache yielded %q", k)
	}
}
