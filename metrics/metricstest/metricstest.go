// Package metricstest reads a node's metrics the way Prometheus scrapes
// them, for tests that check what moved.
package metricstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one scrape: the metric families by name.
type Scrape map[string]*dto.MetricFamily

// Get scrapes the metrics handler h as Prometheus would, GET /metrics.
func Get(t testing.TB, h http.Handler) Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics answered %d %s, want 200", rec.Code, rec.Body.String())
	}
	return Parse(t, rec.Body)
}

// Parse reads a scrape in Prometheus's text format.
func Parse(t testing.TB, r io.Reader) Scrape {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the metrics do not parse as Prometheus's text format: %v", err)
	}
	return families
}

// Value is the value of the series of metric name whose labels include
// labels, given as name, value pairs: a counter's or a gauge's value, a
// histogram's count of observations. A series the scrape does not have
// is 0, as a counter that never moved.
func (s Scrape) Value(name string, labels ...string) float64 {
	var sum float64
	for _, m := range s.Series(name, labels...) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// Sum is the sum of the observations of the histogram name in the series
// whose labels include labels.
func (s Scrape) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, m := range s.Series(name, labels...) {
		sum += m.GetHistogram().GetSampleSum()
	}
	return sum
}

// Series are the series of metric name whose labels include labels, given
// as name, value pairs.
func (s Scrape) Series(name string, labels ...string) []*dto.Metric {
	family, ok := s[name]
	if !ok {
		return nil
	}
	var series []*dto.Metric
	for _, m := range family.GetMetric() {
		if hasLabels(m, labels) {
			series = append(series, m)
		}
	}
	return series
}

// LabelValues are the values label takes across the series of metric
// name, each once.
func (s Scrape) LabelValues(name, label string) []string {
	seen := map[string]bool{}
	var values []string
	for _, m := range s.Series(name) {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !seen[l.GetValue()] {
				seen[l.GetValue()] = true
				values = append(values, l.GetValue())
			}
		}
	}
	return values
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
