package batch

import (
	"runtime"
	"slices"
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
// it yields, instead of committing without them.
func TestRunGathersConcurrentProducers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
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
	go Run(queue, closing, 10, func(items []int) { batches <- items })
	if got := <-batches; !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("first batch %v, want the producer's items in it", got)
	}
	close(closing)
}
