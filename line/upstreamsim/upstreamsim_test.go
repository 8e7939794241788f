package upstreamsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/upstream"
)

func TestSequential(t *testing.T) {
	s, err := New(Options{Mode: Sequential, SerialLength: 8, Prefix: "L1"})
	if err != nil {
		t.Fatal(err)
	}
	got := s.generate("09501101530003", 3)
	want := []string{"L1000001", "L1000002", "L1000003"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestRandomUniqueAndAlphabet(t *testing.T) {
	s, err := New(Options{SerialLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	got := s.generate("09501101530003", 5000)
	seen := map[string]bool{}
	for _, v := range got {
		if len(v) != 6 || strings.Trim(v, randomAlphabet) != "" {
			t.Fatalf("serial %q: wrong length or character", v)
		}
		if seen[v] {
			t.Fatalf("duplicate %q", v)
		}
		seen[v] = true
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{{Mode: "odd"}, {SerialLength: 21}, {SerialLength: 3, Prefix: "ABC"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestCheckGTIN(t *testing.T) {
	cases := map[string]bool{"09501101530003": true, "09501101530004": false, "0950110153000": false, "0950110153000A": false}
	for g, ok := range cases {
		if (checkGTIN(g) == "") != ok {
			t.Errorf("checkGTIN(%s) = %q", g, checkGTIN(g))
		}
	}
}

// A request the serial space cannot cover is refused (409 exhausted), never
// answered with serials longer than asked (sequential) or an endless search
// for unused values under the lock (random).
func TestExhausted(t *testing.T) {
	const gtin = "09501101530003"
	for _, c := range []struct {
		name string
		o    Options
		room int
	}{
		{"sequential", Options{Mode: Sequential, SerialLength: 3, Prefix: "L"}, 99},
		{"random", Options{Mode: Random, SerialLength: 1}, len(randomAlphabet)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.o)
			if err != nil {
				t.Fatal(err)
			}
			h := s.Handler()
			ask := func(id string, n int) *httptest.ResponseRecorder {
				body := fmt.Sprintf(`{"request_id":%q,"gtin":%q,"count":%d}`, id, gtin, n)
				r := httptest.NewRequest(http.MethodPost, "/v1/serials/requests", strings.NewReader(body))
				r.Header.Set("Idempotency-Key", id)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w
			}
			if w := ask("r1", c.room+1); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "exhausted") {
				t.Fatalf("%d serials of a space of %d: %d %s", c.room+1, c.room, w.Code, w.Body)
			}
			w := ask("r2", c.room)
			if w.Code != http.StatusOK {
				t.Fatalf("the whole space: %d %s", w.Code, w.Body)
			}
			var p upstream.Pool
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || len(p.Serials) != c.room {
				t.Fatalf("pool %v, %v", p, err)
			}
			for _, v := range p.Serials {
				if len(v) != c.o.SerialLength {
					t.Fatalf("serial %q is not %d characters", v, c.o.SerialLength)
				}
			}
			if w := ask("r3", 1); w.Code != http.StatusConflict {
				t.Fatalf("one more after the space is used: %d %s", w.Code, w.Body)
			}
			if w := ask("r2", c.room); w.Code != http.StatusOK {
				t.Fatalf("retry of a served request id: %d %s", w.Code, w.Body)
			}
		})
	}
}
