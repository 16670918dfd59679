package stationui

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks that the hand-written OpenAPI document
// describes exactly the routes Gin serves, with the same methods, and names
// the roles each one declares (x-roles).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t, nil)
	b, err := webFS.ReadFile("web/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	served := map[string]bool{}
	declared := map[string]string{}
	for _, r := range f.srv.engine.Routes() {
		if r.Method == "HEAD" {
			continue // Gin's StaticFS adds HEAD next to GET
		}
		k := strings.ToLower(r.Method) + " " + param.ReplaceAllString(r.Path, "{$1}")
		served[k] = true
		if a, ok := f.srv.RouteAccess(r.Method, r.Path); ok {
			declared[k] = strings.Join(a.Names(), ",")
		}
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, raw := range ops {
			k := m + " " + p
			documented[k] = true
			var op struct {
				Roles []string `json:"x-roles"`
			}
			json.Unmarshal(raw, &op)
			sort.Strings(op.Roles)
			if got := strings.Join(op.Roles, ","); served[k] && got != declared[k] {
				t.Errorf("%s: openapi.json x-roles %q, the route declares %q", k, got, declared[k])
			}
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not in openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json paths not served: %v", extra)
	}
	if len(served) < 25 {
		t.Errorf("only %d routes registered", len(served))
	}
}
