package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoInteractive: `serialine demo --interactive` has no simulated
// operator: a person (here the CLI) defines the batch from the seeded
// product master, confirms the line clearance and starts it; a hold stays
// held after the simulated technician fixed the devices until the person
// unholds; Ctrl-C ends the demo.
func TestDemoInteractive(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	out, lines := watchLines(t)
	errw, errLines := watchLines(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	done := make(chan int, 1)
	go func() {
		done <- cmdDemo(dctx, lineTestEnv(out, errw), []string{"--interactive", "--faults=false", "--rate", "600", "--db", db,
			"--listen", "127.0.0.1:0", "--packtags", ""})
		out.Close()
		errw.Close()
	}()
	first := waitLine(ctx, t, errLines, "one-time password")
	pw := regexp.MustCompile(`one-time password (\S+)`).FindStringSubmatch(first)[1]
	page := waitLine(ctx, t, lines, "operator page: http://")
	waitLine(ctx, t, lines, "interactive: no simulated operator")
	t.Setenv("SERIALINE_API", strings.TrimSuffix(strings.TrimPrefix(page, "operator page: "), "/"))
	// the first login must change the one-time password: through the API
	cl := &apiClient{base: strings.TrimSuffix(strings.TrimPrefix(page, "operator page: "), "/")}
	cl.http = &http.Client{Timeout: 30 * time.Second}
	var lr struct {
		Token string `json:"token"`
	}
	if err := cl.do(ctx, "POST", "/api/v1/login", map[string]string{"user": "admin", "password": pw}, &lr, nil); err != nil {
		t.Fatal(err)
	}
	cl.token = lr.Token
	if err := cl.do(ctx, "POST", "/api/v1/password", map[string]string{"old": pw, "new": "Kestrel-Line-77"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERIALINE_USER", "admin")
	t.Setenv("SERIALINE_PASSWORD", "Kestrel-Line-77")
	cli := func(args ...string) string {
		t.Helper()
		code, o, e := runClient(t, args...)
		if code != exitOK {
			t.Fatalf("%v: %d %q %q", args, code, o, e)
		}
		return o
	}
	if o := cli("status"); !strings.Contains(o, "no batch") {
		t.Fatalf("a batch appeared without a person: %q", o)
	}
	cli("batch", "create", "--id", "INT-1", "--gtin", "09501101530003", "--lot", "I1", "--expiry", time.Now().AddDate(2, 0, 0).Format("060102"), "--target", "500")
	cli("batch", "clearance", "INT-1", "--all")
	cli("batch", "start", "INT-1") // Start tops the serial pool up itself before it checks the start minimum
	cli("batch", "hold", "INT-1", "--reason-code", "quality-check")
	waitLine(ctx, t, lines, "technician: the devices behind the hold are fixed")
	if o := cli("status"); !strings.Contains(o, "state Held") {
		t.Fatalf("something unheld the line: %q", o)
	}
	cli("batch", "unhold", "INT-1")
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("demo exit %d", code)
	}
}
