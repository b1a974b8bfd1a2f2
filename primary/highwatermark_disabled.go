//go:build nohighwatermark

package primary

// checkHighWaterMark is off in this build: units sent again are counted
// again. It exists only so that the chaos test in e2e/cluster can show it
// catches the loss of exactly-once application; never ship it.
const checkHighWaterMark = false
