package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one bench run measured: load runs compared with the
// bare server, other figures, the headline metrics and the problems that
// make a result untrustworthy.
type Report struct {
	Loads   []LoadRow
	Figures []Figure
	Metrics []Metric
	// Problems are failures of the measurement itself, such as answers
	// that were errors or counts that do not add up; a run with any fails.
	Problems []string
	// Notes say what the reader must know to trust the figures: a section
	// that did not run, a machine that was busy.
	Notes []string
}

// LoadRow is one load run.
type LoadRow struct {
	Scenario string
	Node     string
	Result   Result
	// Ratio is the run's req/s over the bare server's, 0 when the run is
	// not compared with it.
	Ratio  float64
	Target *Target
}

// Figure is a measured value other than a load run.
type Figure struct {
	Name  string
	Value float64
	// Unit is "ms", "s", "MB", "B", "/s", "ratio" or "" for a count.
	Unit   string
	Target *Target
	// Note says what the figure is compared with or why it has no target.
	Note string
}

// Metric is a headline figure printed as a "metric <name> <value>" line.
type Metric struct {
	Name, Value string
}

// Target is the goal of a figure: at least or at most Goal.
type Target struct {
	// Of names what the goal bounds, "ratio" in a load row.
	Of      string
	AtLeast bool
	Goal    float64
	Unit    string
}

// atLeast and atMost are the two kinds of target.
func atLeast(of string, goal float64, unit string) *Target {
	return &Target{Of: of, AtLeast: true, Goal: goal, Unit: unit}
}

func atMost(of string, goal float64, unit string) *Target {
	return &Target{Of: of, Goal: goal, Unit: unit}
}

func (t *Target) String() string {
	if t == nil {
		return "—"
	}
	op := "≤"
	if t.AtLeast {
		op = "≥"
	}
	return strings.TrimSpace(t.Of + " " + op + " " + formatValue(t.Goal, t.Unit))
}

// Verdict says whether v meets the target and, if not, by how much it
// misses, absolutely and as a share of the goal.
func (t *Target) Verdict(v float64) string {
	if t == nil {
		return ""
	}
	gap := v - t.Goal
	if t.AtLeast {
		gap = t.Goal - v
	}
	if gap <= 0 {
		return "ok"
	}
	return fmt.Sprintf("MISS by %s (%.0f%%)", formatValue(gap, t.Unit), 100*gap/t.Goal)
}

// AddLoad adds a load run, noting a problem when any of its answers was an
// error.
func (rep *Report) AddLoad(row LoadRow) {
	rep.Loads = append(rep.Loads, row)
	if row.Result.Errors > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s at %s: %d of %d answers were errors; the first: %s",
			row.Scenario, row.Node, row.Result.Errors, row.Result.Requests, row.Result.FirstError))
	}
	if row.Result.Requests == 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s at %s: no answer in the measuring window", row.Scenario, row.Node))
	}
}

// AddFigure adds a figure.
func (rep *Report) AddFigure(f Figure) { rep.Figures = append(rep.Figures, f) }

// AddMetric adds a headline metric line.
func (rep *Report) AddMetric(name, value string) {
	rep.Metrics = append(rep.Metrics, Metric{Name: name, Value: value})
}

// Note adds what the reader must know to trust the figures.
func (rep *Report) Note(format string, args ...any) {
	rep.Notes = append(rep.Notes, fmt.Sprintf(format, args...))
}

// Problem notes a failure of the measurement.
func (rep *Report) Problem(format string, args ...any) {
	rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
}

// Print writes the tables, as Markdown so that they paste into
// docs/BENCHMARKS.md, the problems and then the metric lines.
func (rep *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|") }
	row("scenario", "node", "req/s", "p50", "p99", "p99.9", "errors", "server CPU/req", "ratio", "target", "verdict")
	row(slices.Repeat([]string{"---"}, 11)...)
	for i := range rep.Loads {
		r := &rep.Loads[i]
		ratio := "—"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		verdict := r.Target.Verdict(r.Ratio)
		if r.Result.Errors > 0 {
			verdict = strings.TrimSpace("ERRORS " + verdict)
		}
		h := &r.Result.Latency
		row(r.Scenario, r.Node, thousands(r.Result.PerSecond()), formatDuration(h.Percentile(0.5)), formatDuration(h.Percentile(0.99)),
			formatDuration(h.Percentile(0.999)), strconv.FormatUint(r.Result.Errors, 10),
			fmt.Sprintf("%.0f µs", float64(r.Result.CPUPerRequest())/float64(time.Microsecond)), ratio, r.Target.String(), verdict)
	}
	tw.Flush()
	if len(rep.Figures) > 0 {
		fmt.Fprintln(w)
		row("figure", "value", "target", "verdict", "note")
		row(slices.Repeat([]string{"---"}, 5)...)
		for _, f := range rep.Figures {
			row(f.Name, formatValue(f.Value, f.Unit), f.Target.String(), f.Target.Verdict(f.Value), f.Note)
		}
		tw.Flush()
	}
	if len(rep.Problems)+len(rep.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range rep.Notes {
			fmt.Fprintln(w, "NOTE:", n)
		}
		for _, p := range rep.Problems {
			fmt.Fprintln(w, "PROBLEM:", p)
		}
	}
	fmt.Fprintln(w)
	for _, m := range rep.Metrics {
		fmt.Fprintf(w, "metric %s %s\n", m.Name, m.Value)
	}
}

// milliseconds is d in milliseconds.
func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// formatDuration writes a latency in milliseconds with two decimals.
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", milliseconds(d))
}

// formatValue writes v in its unit: milliseconds, seconds and ratios with
// two decimals (ratios under 0.1 with three), megabytes with one, rates,
// bytes and counts whole.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "s":
		return fmt.Sprintf("%.2f s", v)
	case "B":
		return thousands(v) + " B"
	case "MB":
		return fmt.Sprintf("%.1f MB", v)
	case "/s":
		return thousands(v) + "/s"
	case "ratio":
		if math.Round(v*100) < 10 {
			return fmt.Sprintf("%.3f", v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	return thousands(v)
}

// thousands writes v rounded to a whole number with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
