package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
)

// TestUnitGradeJSON: an F (0.0) is a grade and is sent; an ungraded unit
// has no grade field at all, so the two are never confused.
func TestUnitGradeJSON(t *testing.T) {
	f := 0.0
	b, _ := json.Marshal(api.Unit{Serial: "S1", Grade: &f})
	if !strings.Contains(string(b), `"grade":0,`) {
		t.Errorf("grade F: %s", b)
	}
	b, _ = json.Marshal(api.Unit{Serial: "S2"})
	if strings.Contains(string(b), `"grade"`) {
		t.Errorf("ungraded: %s", b)
	}
}
