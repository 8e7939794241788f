package api_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

type flaky struct {
	*apitest.Fake
	fail atomic.Bool
}

func (f *flaky) Status(ctx context.Context) (api.Status, error) {
	if f.fail.Load() {
		return api.Status{}, errors.New("journal busy")
	}
	return f.Fake.Status(ctx)
}

// TestEventStreamKeepAliveAndError: with nothing changing the stream sends
// keep-alive comments; when the controller cannot answer it sends an error
// event and keeps the stream open, resuming status events afterwards.
func TestEventStreamKeepAliveAndError(t *testing.T) {
	fl := &flaky{}
	e := apitest.NewEnv(t, apitest.EnvOptions{StatusInterval: time.Millisecond, Heartbeat: time.Millisecond,
		Wrap: func(f *apitest.Fake) api.Controller { fl.Fake = f; return fl }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Tokens["otto"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	until := func(what string, match func(string) bool) {
		t.Helper()
		for sc.Scan() {
			if match(sc.Text()) {
				return
			}
		}
		t.Fatalf("stream ended before %s: %v", what, sc.Err())
	}
	until("first status", func(l string) bool { return l == "event: status" })
	until("keep-alive", func(l string) bool { return l == ": keep-alive" })
	fl.fail.Store(true)
	until("error event", func(l string) bool { return l == "event: error" })
	until("error data", func(l string) bool {
		return strings.HasPrefix(l, "data: ") && strings.Contains(l, `"code":"unavailable"`) && strings.Contains(l, "journal busy")
	})
	fl.fail.Store(false)
	until("status after recovery", func(l string) bool { return l == "event: status" })
}
