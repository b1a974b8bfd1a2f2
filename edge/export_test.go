package edge

import "time"

// SetRefreshWait shortens how long /refresh waits, for the test of its
// timeout, and returns the function that restores it.
func SetRefreshWait(d time.Duration) (restore func()) {
	old := refreshWait
	refreshWait = d
	return func() { refreshWait = old }
}
