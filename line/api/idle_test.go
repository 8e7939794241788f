package api_test

import (
	"bufio"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestIdleLogoutDespiteBackgroundTraffic: an unattended HMI (event stream
// open, background list refreshes) is logged out after the idle timeout
// (15 min); the stream ends with an unauthorized error event.
func TestIdleLogoutDespiteBackgroundTraffic(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)}
	e := apitest.NewEnv(t, apitest.EnvOptions{Now: clk.Now})
	tok := e.Tokens["otto"]
	req, _ := http.NewRequest("GET", e.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && sc.Text() != "event: status" {
	}
	background := func() int {
		req, _ := http.NewRequest("GET", e.URL+"/api/v1/alarms", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set(api.BackgroundHeader, "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 3; i++ { // 3 × 5 min of background traffic only
		clk.Add(5 * time.Minute)
		if code := background(); code != 200 && i < 2 {
			t.Fatalf("background request at %d min: %d", 5*(i+1), code)
		}
	}
	if code := background(); code != http.StatusUnauthorized {
		t.Fatalf("after 15 idle minutes: %d", code)
	}
	ended := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"code":"unauthorized"`) {
			ended = true
		}
	}
	if !ended {
		t.Fatal("event stream did not end with an unauthorized error")
	}
	// a user action does keep the session alive
	tok2 := e.Login(t, "sam", apitest.SupervisorPassword)
	for i := 0; i < 4; i++ {
		clk.Add(10 * time.Minute)
		e.MustDo(t, tok2, "GET", "/api/v1/status", nil, 200, nil)
	}
}
