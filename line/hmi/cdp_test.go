package hmi_test

// A tiny Chrome DevTools Protocol client over a minimal RFC 6455 websocket
// client, enough to drive headless Chromium from tests without new modules.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/serialine/serialine/configs/reference"
)

type wsConn struct {
	c  net.Conn
	br *bufio.Reader
}

func wsDial(ctx context.Context, raw string) (*wsConn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	kb := make([]byte, 16)
	rand.Read(kb)
	key := base64.StdEncoding.EncodeToString(kb)
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1<<16)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		c.Close()
		return nil, err
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		c.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &wsConn{c: c, br: br}, nil
}

func (w *wsConn) writeFrame(op byte, p []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(p); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	buf := make([]byte, len(p))
	for i := range p {
		buf[i] = p[i] ^ mask[i%4]
	}
	_, err := w.c.Write(append(hdr, buf...))
	return err
}

// read returns the next text or binary message.
func (w *wsConn) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		var mask []byte
		if h[1]&0x80 != 0 {
			mask = make([]byte, 4)
			if _, err := io.ReadFull(w.br, mask); err != nil {
				return nil, err
			}
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(w.br, p); err != nil {
			return nil, err
		}
		if mask != nil {
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		switch op {
		case 0x8:
			return nil, errors.New("websocket closed by peer")
		case 0x9:
			if err := w.writeFrame(0xA, p); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		msg = append(msg, p...)
		if fin {
			return msg, nil
		}
	}
}

// cdp is a DevTools session on one page target.
type cdp struct {
	t    *testing.T
	ws   *wsConn
	next int
}

func (c *cdp) call(ctx context.Context, method string, params any, result any) error {
	c.next++
	id := c.next
	b, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	dl, _ := ctx.Deadline() // zero: none
	c.ws.c.SetDeadline(dl)
	if err := c.ws.writeFrame(0x1, b); err != nil {
		return err
	}
	for {
		m, err := c.ws.read()
		if err != nil {
			return fmt.Errorf("cdp %s: %w", method, err)
		}
		var r struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m, &r); err != nil {
			return err
		}
		if r.ID != id {
			continue // an event or an old reply
		}
		if r.Error != nil {
			return fmt.Errorf("cdp %s: %d %s", method, r.Error.Code, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	}
}

// eval evaluates a JS expression (awaiting promises) and decodes its value.
func (c *cdp) eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("js: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// waitFor waits, inside the page, until the JS condition holds; the page
// re-checks it on every animation frame. The test's context bounds it.
// It survives navigations (the evaluation is simply retried).
func (c *cdp) waitFor(ctx context.Context, what, cond string) {
	c.t.Helper()
	c.waitDoc(ctx, what, `document.documentElement.dataset.ready === "1" && (`+cond+`)`)
}

// waitDoc is waitFor for any page (not only the HMI's, which set
// data-ready once their script ran).
func (c *cdp) waitDoc(ctx context.Context, what, cond string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cond = `document.readyState === "complete" && (` + cond + `)`
	expr := `new Promise(res => { const f = () => { let ok = false; try { ok = !!(` + cond + `); } catch (e) {} ; if (ok) res(true); else requestAnimationFrame(f); }; f(); })`
	for {
		var ok bool
		err := c.eval(ctx, expr, &ok)
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			var body string
			c.eval(context.Background(), "document.body ? document.body.innerText : ''", &body)
			c.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, cond, ctx.Err(), body)
		}
		if err != nil && !strings.Contains(err.Error(), "navigat") && !strings.Contains(err.Error(), "context") && !strings.Contains(err.Error(), "destroyed") {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// stepTimeout bounds one waitFor: generous, for a loaded 2-core machine
// running the race detector. The waits are on conditions, never fixed.
const stepTimeout = 60 * time.Second

// browserContext bounds a whole browser test: at most 5 minutes, and ends
// 30s before go test's -timeout so that the failure names the step that
// hung instead of dumping goroutines.
func browserContext(t *testing.T) context.Context {
	dl := time.Now().Add(5 * time.Minute)
	if td, ok := t.Deadline(); ok && td.Add(-30*time.Second).Before(dl) {
		dl = td.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	t.Cleanup(cancel)
	return ctx
}

// click clicks the element sel, failing the test when it is missing or
// disabled.
func (c *cdp) click(ctx context.Context, sel string) {
	c.t.Helper()
	if err := c.eval(ctx, `(() => { const el = document.querySelector(`+js(sel)+`); if (!el || el.disabled) throw new Error("not clickable: " + `+js(sel)+`); el.click(); return true })()`, nil); err != nil {
		c.t.Fatal(err)
	}
}

// fill sets the fields (selector, value pairs) and submits form.
func (c *cdp) fill(ctx context.Context, form string, kv ...string) {
	c.t.Helper()
	var sb strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		sb.WriteString(`document.querySelector(` + js(kv[i]) + `).value = ` + js(kv[i+1]) + `;`)
	}
	sb.WriteString(`document.querySelector(` + js(form) + `).requestSubmit(); true`)
	if err := c.eval(ctx, sb.String(), nil); err != nil {
		c.t.Fatal(err)
	}
}

// text returns the trimmed text of the element sel ("" when missing).
func (c *cdp) text(ctx context.Context, sel string) string {
	c.t.Helper()
	var s string
	if err := c.eval(ctx, `(document.querySelector(`+js(sel)+`) || {}).textContent || ""`, &s); err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// login logs in on the HMI at base and waits for the line page.
func (c *cdp) login(ctx context.Context, base, user, pw string) {
	c.t.Helper()
	c.navigate(ctx, base+"/login")
	c.waitFor(ctx, "login form", `document.querySelector("#login-form")`)
	c.fill(ctx, "#login-form", "#login-user", user, "#login-password", pw)
	c.waitFor(ctx, "line page after login", `location.pathname === "/" && document.querySelector("#line") && document.querySelector("#user").textContent === `+js(user))
}

// browser starts headless Chromium and returns a DevTools session on its
// page. Chromium is killed at cleanup.
func browser(t *testing.T, ctx context.Context) *cdp {
	t.Helper()
	return browserSized(t, ctx, 1280, 800)
}

// browserSized is browser with a w×h viewport.
func browserSized(t *testing.T, ctx context.Context, w, h int) *cdp {
	t.Helper()
	bin := reference.Tool(t, "chromium")
	dir := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--hide-scrollbars", "--user-data-dir="+dir, fmt.Sprintf("--window-size=%d,%d", w, h), "--lang=en-US", "--font-render-hinting=none", "--remote-debugging-port=0",
		"--remote-debugging-address=127.0.0.1", "about:blank")
	// /usr/bin/chromium is a wrapper script that starts the browser as its
	// child: run it in its own process group and end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		wg.Wait()
		cmd.Wait()
	})
	found := make(chan string, 1)
	wg.Add(1)
	go func() { // owns stderr until Chromium exits
		defer wg.Done()
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		var log strings.Builder
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			} else if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
		}
		close(found)
		if os.Getenv("SERIALINE_CHROMIUM_LOG") != "" {
			fmt.Fprint(os.Stderr, log.String())
		}
	}()
	var wsURL string
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatal("chromium exited without a DevTools address")
		}
		wsURL = u
	case <-ctx.Done():
		t.Fatal("chromium did not start")
	}
	u, _ := url.Parse(wsURL)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+u.Host+"/json/list", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	var pageWS string
	for _, tg := range targets {
		if tg.Type == "page" {
			pageWS = tg.WebSocketDebuggerURL
		}
	}
	if pageWS == "" {
		t.Fatalf("no page target: %+v", targets)
	}
	ws, err := wsDial(ctx, pageWS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.c.Close() })
	c := &cdp{t: t, ws: ws}
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(ctx, "Page.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cdp) navigate(ctx context.Context, u string) {
	c.t.Helper()
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": u}, nil); err != nil {
		c.t.Fatal(err)
	}
}

// resize changes the viewport.
func (c *cdp) resize(ctx context.Context, w, h int) {
	c.t.Helper()
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cdp) screenshot(ctx context.Context, path string) {
	c.t.Helper()
	var r struct{ Data string }
	if err := c.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		c.t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s", path)
}
