package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTarget_Verdict(t *testing.T) {
	for _, c := range []struct {
		target *Target
		value  float64
		want   string
	}{
		{atLeast("ratio", 0.6, "ratio"), 0.72, "ok"},
		{atLeast("ratio", 0.6, "ratio"), 0.6, "ok"},
		{atLeast("ratio", 0.6, "ratio"), 0.45, "MISS by 0.15 (25%)"},
		{atMost("", 2, "ms"), 1.5, "ok"},
		{atMost("", 2, "ms"), 3.1, "MISS by 1.10 ms (55%)"},
		{atMost("", 0.05, "ratio"), 0.012, "ok"},
		{atMost("", 0.05, "ratio"), 0.08, "MISS by 0.030 (60%)"},
		{atLeast("", 20_000, "/s"), 15_000, "MISS by 5,000/s (25%)"},
		{atMost("", 150, "MB"), 180, "MISS by 30.0 MB (20%)"},
		{nil, 12, ""},
	} {
		if got := c.target.Verdict(c.value); got != c.want {
			t.Errorf("%s with %v: %q, want %q", c.target, c.value, got, c.want)
		}
	}
}

func TestTarget_String(t *testing.T) {
	for target, want := range map[*Target]string{
		atLeast("ratio", 0.6, "ratio"): "ratio ≥ 0.60",
		atMost("", 0.05, "ratio"):      "≤ 0.050",
		atMost("", 100, "ms"):          "≤ 100.00 ms",
		nil:                            "—",
	} {
		if got := target.String(); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4321: "-4,321"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestReport_Print(t *testing.T) {
	var rep Report
	var h Histogram
	h.Record(2 * time.Millisecond)
	rep.AddLoad(LoadRow{Scenario: "tiers", Node: "single (dev)", Ratio: 0.5, Target: atLeast("ratio", 0.6, "ratio"),
		Result: Result{Requests: 10, Errors: 1, FirstError: "GET /api/tiers: 500", Elapsed: time.Second, Latency: h}})
	rep.AddMetric("ratio_tiers", "0.50")
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"ERRORS MISS by 0.10 (17%)", "PROBLEM: tiers at single (dev): 1 of 10 answers were errors", "\nmetric ratio_tiers 0.50\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBareBody(t *testing.T) {
	for _, size := range []int{12, 13, 1497} {
		if got := len(bareBody(size)); got != size {
			t.Errorf("bareBody(%d) is %d bytes", size, got)
		}
	}
}
