// Package lru is a bounded cache that drops its least recently used entry
// to make room for a new one. It holds the caches a node keeps per end user
// (verified tokens, usage views, rate-limit buckets), of which a node keeps
// hundreds of thousands: every entry lives in one slab of nodes linked by
// index, and the index is a map from key to slot, so that a full cache is a
// few objects to the garbage collector however many entries it holds, and
// none it must scan when its keys and values hold no pointers. A cache of
// one allocated object per entry, linked by pointers, made the collector
// follow every entry on every cycle, which at 100,000 end users took a
// quarter of a node's CPU.
package lru

import (
	"fmt"
	"iter"
	"math"
	"sync"
)

// Cache is a bounded LRU cache, safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	index map[K]int32
	// nodes are the slots, allocated as entries arrive up to size. The
	// entries in use form a circular list from head, the most recently
	// used, whose prev is the least recently used; free slots are chained
	// from free through next.
	nodes []node[K, V]
	head  int32
	free  int32
	size  int
}

// node is a slot of the slab.
type node[K comparable, V any] struct {
	key        K
	value      V
	prev, next int32
}

// none is the index of no slot.
const none = -1

// New returns a cache of at most size entries.
func New[K comparable, V any](size int) (*Cache[K, V], error) {
	if size < 1 || size > math.MaxInt32 {
		return nil, fmt.Errorf("lru: size %d is not between 1 and %d", size, math.MaxInt32)
	}
	return &Cache[K, V]{index: make(map[K]int32), head: none, free: none, size: size}, nil
}

// Get returns the value of key and marks it the most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	return c.lookup(key, true)
}

// Peek returns the value of key without marking it used.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	return c.lookup(key, false)
}

// lookup returns the value of key, marking it the most recently used when
// use is set.
func (c *Cache[K, V]) lookup(key K, use bool) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[key]
	if !ok {
		var zero V
		return zero, false
	}
	if use {
		c.toFront(i)
	}
	return c.nodes[i].value, true
}

// Contains reports whether key has an entry, without marking it used.
func (c *Cache[K, V]) Contains(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[key]
	return ok
}

// Add sets the value of key and marks it the most recently used, dropping
// the least recently used entry when the cache is full.
func (c *Cache[K, V]) Add(key K, value V) {
	c.Update(key, func(v *V, _ bool) { *v = value })
}

// Update calls fn under the cache's lock with the entry of key, which it
// creates with the zero value when there is none (found is then false),
// and marks it the most recently used. What fn sets is the entry's value:
// a read and a change of one entry happen as one step.
func (c *Cache[K, V]) Update(key K, fn func(value *V, found bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := c.index[key]
	if found {
		c.toFront(i)
	} else {
		i = c.slot(key)
	}
	fn(&c.nodes[i].value, found)
}

// Remove drops the entry of key and reports whether there was one.
func (c *Cache[K, V]) Remove(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[key]
	if ok {
		c.remove(i)
	}
	return ok
}

// RemoveIf drops every entry whose key and value match.
func (c *Cache[K, V]) RemoveIf(match func(key K, value V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, i := range c.index {
		if match(k, c.nodes[i].value) {
			c.remove(i)
		}
	}
}

// All yields the entries from the most recently used to the least, under
// the cache's lock: the loop must not use the cache.
func (c *Cache[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := c.head, 0; i != none && n < len(c.index); i, n = c.nodes[i].next, n+1 {
			if !yield(c.nodes[i].key, c.nodes[i].value) {
				return
			}
		}
	}
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// Purge drops every entry and frees the slab.
func (c *Cache[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index = make(map[K]int32)
	c.nodes, c.head, c.free = nil, none, none
}

// slot returns the slot of a new entry of key, at the front of the list:
// a free slot, a new one, or the least recently used entry's, whose key
// is dropped. mu must be held and key must have no entry.
func (c *Cache[K, V]) slot(key K) int32 {
	var i int32
	switch {
	case c.free != none:
		i = c.free
		c.free = c.nodes[i].next
	case len(c.nodes) < c.size:
		// The slab doubles as entries arrive, up to exactly size: a full
		// cache holds no spare slots.
		if len(c.nodes) == cap(c.nodes) {
			grown := make([]node[K, V], len(c.nodes), min(max(2*cap(c.nodes), 16), c.size))
			copy(grown, c.nodes)
			c.nodes = grown
		}
		c.nodes = c.nodes[:len(c.nodes)+1]
		i = int32(len(c.nodes) - 1)
	default:
		i = c.nodes[c.head].prev
		delete(c.index, c.nodes[i].key)
		c.unlink(i)
	}
	c.nodes[i] = node[K, V]{key: key, prev: i, next: i}
	c.index[key] = i
	c.pushFront(i)
	return i
}

// remove drops the entry in slot i. mu must be held.
func (c *Cache[K, V]) remove(i int32) {
	delete(c.index, c.nodes[i].key)
	c.unlink(i)
	// The slot keeps nothing alive once free.
	c.nodes[i] = node[K, V]{next: c.free}
	c.free = i
}

// toFront marks slot i the most recently used.
func (c *Cache[K, V]) toFront(i int32) {
	if i == c.head {
		return
	}
	c.unlink(i)
	c.pushFront(i)
}

// pushFront puts the unlinked slot i at the front of the list.
func (c *Cache[K, V]) pushFront(i int32) {
	if c.head == none {
		c.nodes[i].prev, c.nodes[i].next = i, i
	} else {
		tail := c.nodes[c.head].prev
		c.nodes[i].prev, c.nodes[i].next = tail, c.head
		c.nodes[tail].next = i
		c.nodes[c.head].prev = i
	}
	c.head = i
}

// unlink takes slot i out of the list.
func (c *Cache[K, V]) unlink(i int32) {
	n := &c.nodes[i]
	if n.next == i {
		c.head = none
		return
	}
	c.nodes[n.prev].next = n.next
	c.nodes[n.next].prev = n.prev
	if c.head == i {
		c.head = n.next
	}
}
