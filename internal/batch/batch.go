// Package batch is the loop behind group commits: one goroutine takes what
// is queued, as much as has queued up to a bound, and hands it over in one
// call, so that one expensive commit serves every item that waited for it.
package batch

import "runtime"

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
