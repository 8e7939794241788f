package api

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/serialine/serialine/line/auth"
)

// routeOnly satisfies the interfaces New needs; routing never calls them.
type routeOnly struct {
	Controller
	AuditTrail
}

// TestOpenAPIMatchesRoutes walks openapi.yaml: every documented operation
// reaches a route of its own (not the "no such endpoint" catch-all), and
// every route the server registers is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, err := New(Options{Controller: routeOnly{}, Auth: &auth.Service{}, Audit: routeOnly{}, Gatherer: prometheus.NewRegistry(), Aggregation: aggRouteOnly{}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("openapi.yaml has no paths")
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	reached := map[string]bool{}
	for path, ops := range doc.Paths {
		concrete := []string{path}
		if strings.Contains(path, "{command}") {
			concrete = nil
			for _, cmd := range Commands() {
				concrete = append(concrete, strings.ReplaceAll(path, "{command}", cmd))
			}
			if !strings.Contains(string(mustYAML(t, ops["parameters"])), strings.Join(Commands(), ", ")) {
				t.Errorf("%s: the command enum does not list %v", path, Commands())
			}
		}
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			for _, p := range concrete {
				p = param.ReplaceAllString(p, "X1")
				req := httptest.NewRequest(strings.ToUpper(method), p, nil)
				_, pattern := s.mux.Handler(req)
				if !slices.Contains(s.patterns, pattern) {
					t.Errorf("documented %s %s reaches %q, not a route of its own", strings.ToUpper(method), p, pattern)
					continue
				}
				reached[pattern] = true
			}
		}
	}
	for _, p := range s.patterns {
		if !reached[p] {
			t.Errorf("route %q is not documented in openapi.yaml", p)
		}
	}
}

func mustYAML(t *testing.T, n yaml.Node) []byte {
	t.Helper()
	b, err := yaml.Marshal(&n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
