// Package batch is the loop behind group commits: one goroutine takes what
// is queued, as much as has queued up to a bound, and hands it over in one
// call, so that one expensive commit serves every item that waited for it.
package batch

import (
	"runtime"
	"sync"
)

// gatherRounds bounds how many times Run yields to let more items arrive
// before a commit.
const gatherRounds = 20

// Run takes items from queue and calls commit with each batch: the first
// item that arrives and whatever else is queued by then, at most max. Once
// closing is closed, it commits the items still queued, each on its own,
// and returns. The caller must not queue items after closing is closed.
//
// A first item found with others queued behind it means producers are
// running concurrently, and more are likely on their way: Run then yields
// its processor and takes what arrived meanwhile, again while items keep
// arriving, up to gatherRounds times, so that one commit serves them too.
// The wait is a few scheduler turns, far shorter than a commit, and a lone
// item is committed at once.
func Run[T any](queue <-chan T, closing <-chan struct{}, max int, commit func([]T)) {
	for {
		// Closing wins over a queued item: a select picks at random
		// between cases that are both ready.
		select {
		case <-closing:
			commitEach(queue, commit)
			return
		default:
		}
		var first T
		select {
		case first = <-queue:
		case <-closing:
			commitEach(queue, commit)
			return
		}
		items := drain(queue, []T{first}, max)
		for round := 0; round < gatherRounds && len(items) > 1 && len(items) < max; round++ {
			n := len(items)
			runtime.Gosched()
			if items = drain(queue, items, max); len(items) == n {
				break
			}
		}
		commit(items)
	}
}

// commitEach commits what is queued now, each item on its own.
func commitEach[T any](queue <-chan T, commit func([]T)) {
	for {
		select {
		case item := <-queue:
			commit([]T{item})
		default:
			return
		}
	}
}

// drain appends to items what is queued now, until items holds max.
func drain[T any](queue <-chan T, items []T, max int) []T {
	for len(items) < max {
		select {
		case item := <-queue:
			items = append(items, item)
		default:
			return items
		}
	}
	return items
}

// Loop is Run behind a queue that can be closed, the whole of a group
// commit's plumbing: Put hands it an item, Close stops it taking items
// once those queued are committed.
type Loop[T any] struct {
	queue chan T
	// mu guards closed: items are queued under the read lock and Close
	// takes the write lock, so no item is queued once Run may return.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{}
	done    chan struct{}
}

// Start runs commit on batches of at most max items in a goroutine of
// its own until Close.
func Start[T any](max int, commit func([]T)) *Loop[T] {
	l := &Loop[T]{queue: make(chan T, max), closing: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		Run(l.queue, l.closing, max, commit)
	}()
	return l
}

// Put queues item for a commit and reports true; after Close it queues
// nothing and reports false.
func (l *Loop[T]) Put(item T) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	l.queue <- item
	return true
}

// Closing is closed once Close is called, for work that stops with the
// loop.
func (l *Loop[T]) Closing() <-chan struct{} { return l.closing }

// Close stops taking items and returns once every item queued is
// committed. Calling it again waits the same way.
func (l *Loop[T]) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.closing)
	}
	l.mu.Unlock()
	<-l.done
}
