// Package batch is the loop behind group commits: one goroutine takes what
// is queued, as much as has queued up to a bound, and hands it over in one
// call, so that one expensive commit serves every item that waited for it.
package batch

// Run takes items from queue and calls commit with each batch: the first
// item that arrives and whatever else is queued by then, at most max. Once
// closing is closed, it commits the items still queued, each on its own,
// and returns. The caller must not queue items after closing is closed.
func Run[T any](queue <-chan T, closing <-chan struct{}, max int, commit func([]T)) {
	for {
		var first T
		select {
		case first = <-queue:
		case <-closing:
			for {
				select {
				case item := <-queue:
					commit([]T{item})
				default:
					return
				}
			}
		}
		items := []T{first}
	fill:
		for len(items) < max {
			select {
			case item := <-queue:
				items = append(items, item)
			default:
				break fill
			}
		}
		commit(items)
	}
}
