package edge_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dream-api/dream/docs"
	"github.com/dream-api/dream/forward"
)

// TestOpenAPI holds docs/openapi.json to the router's own table: every
// route mounted has an entry, and every entry a route. Cluster-internal
// routes are not part of the API; the dashboard's pages are documented
// together, as /dashboard/{page}.
func TestOpenAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("docs/openapi.json does not decode as an OpenAPI 3.1 document: %v", err)
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		for method := range methods {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	param := regexp.MustCompile(`[:*]([a-zA-Z]+)`)
	mounted := map[string]bool{}
	for _, r := range h.current().Routes() {
		if strings.HasPrefix(r.Path, forward.WritesPath) {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		if strings.HasPrefix(path, "/dashboard/") {
			path = "/dashboard/{page}"
		}
		mounted[r.Method+" "+path] = true
	}
	for _, route := range sorted(mounted) {
		if !documented[route] {
			t.Errorf("route %s has no entry in docs/openapi.json", route)
		}
	}
	for _, entry := range sorted(documented) {
		if !mounted[entry] {
			t.Errorf("docs/openapi.json documents %s, which no route serves", entry)
		}
	}
	if res := h.do("GET", "/openapi.json", ""); res.status != 200 || res.body["openapi"] != "3.1.0" {
		t.Fatalf("GET /openapi.json answered %d, want the document", res.status)
	}
}

func sorted(set map[string]bool) []string {
	var list []string
	for k := range set {
		list = append(list, k)
	}
	slices.Sort(list)
	return list
}
