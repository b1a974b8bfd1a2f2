package batch

import (
	"runtime"
	"slices"
	"sync"
	"testing"
)

func TestRun(t *testing.T) {
	queue := make(chan int, 10)
	closing := make(chan struct{})
	for i := 1; i <= 7; i++ {
		queue <- i
	}
	var batches [][]int
	done := make(chan struct{})
	go func() {
		Run(queue, closing, 3, func(items []int) {
			batches = append(batches, items)
			if len(batches) == 3 {
				// Queued before closing: committed after it, one by one.
				queue <- 8
				queue <- 9
				close(closing)
			}
		})
		close(done)
	}()
	<-done
	want := [][]int{{1, 2, 3}, {4, 5, 6}, {7}, {8}, {9}}
	if !slices.EqualFunc(batches, want, slices.Equal[[]int]) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
}

// A batch that finds company gathers what concurrent producers send while
// it yields, instead of committing without them. On one processor Run
// runs before the producer it was started after, so without gathering
// its first batch is [1 2] every time; with it, the producer's items are
// in it unless the scheduler's fairness check happens to resume Run
// first (about one yield in sixty), hence a majority of attempts.
func TestRunGathersConcurrentProducers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const attempts = 20
	gathered := 0
	for range attempts {
		queue := make(chan int, 10)
		closing := make(chan struct{})
		queue <- 1
		queue <- 2
		go func() {
			for i := 3; i <= 5; i++ {
				queue <- i
			}
		}()
		batches := make(chan []int, 5)
		done := make(chan struct{})
		go func() { Run(queue, closing, 10, func(items []int) { batches <- items }); close(done) }()
		if got := <-batches; slices.Equal(got, []int{1, 2, 3, 4, 5}) {
			gathered++
		}
		close(closing)
		<-done
	}
	if gathered < attempts/2 {
		t.Fatalf("the first batch held the producer's items in %d of %d attempts, want at least %d",
			gathered, attempts, attempts/2)
	}
}

// A Loop commits every item put before Close, takes none after, and can be
// closed twice.
func TestLoop(t *testing.T) {
	var mu sync.Mutex
	var committed []int
	l := Start(4, func(items []int) {
		mu.Lock()
		committed = append(committed, items...)
		mu.Unlock()
	})
	for i := 1; i <= 6; i++ {
		if !l.Put(i) {
			t.Fatalf("put %d before Close was refused, want it taken", i)
		}
	}
	l.Close()
	select {
	case <-l.Closing():
	default:
		t.Fatal("Closing is still open after Close, want it closed")
	}
	if l.Put(7) {
		t.Fatal("a put after Close was taken, want it refused")
	}
	l.Close()
	slices.Sort(committed)
	if !slices.Equal(committed, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("committed %v, want every item put before Close", committed)
	}
}
