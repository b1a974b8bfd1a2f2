//go:build !nohighwatermark

package primary

// checkHighWaterMark makes ApplyIncrements skip the units at or below a
// node's high-water mark. Only the chaos test's deliberately broken build
// (tag nohighwatermark) turns it off, to show that the test notices.
const checkHighWaterMark = true
