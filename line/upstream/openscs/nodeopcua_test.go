package openscs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/upstream"
	scs "github.com/serialine/serialine/line/upstream/openscs"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// scsServer is testdata/scsserver/server.js (node-opcua) as a child
// process: an OPC UA implementation independent of gopcua that loads the
// Open-SCS node set itself and decodes our method arguments with its own
// codec.
type scsServer struct {
	ep    string
	mu    sync.Mutex
	lines []string
	stdin io.WriteCloser
	gone  chan struct{}
}

const (
	scsUser = "line1"
	scsPass = "s3cret-Pass"
)

func startNodeSCS(t *testing.T) *scsServer {
	t.Helper()
	node := reference.Tool(t, "node")
	nodeset := reference.File(t, "opcua/Opc.Ua.OPENSCS.NodeSet2.xml")
	dir := filepath.Join("testdata", "scsserver")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-opcua-server")); err != nil {
		msg := "line/upstream/openscs/testdata/scsserver/node_modules missing (run `make tools`)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: required)")
		}
		t.Skip(msg)
	}
	s := &scsServer{gone: make(chan struct{})}
	cmd := exec.Command(node, "server.js", "0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SCS_NODESET="+nodeset, "SCS_USER="+scsUser, "SCS_PASS="+scsPass, "SCS_PKI="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
		cmd.Wait()
		close(s.gone)
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		cmd.Process.Kill()
		<-s.gone
		if t.Failed() {
			t.Logf("scsserver stderr:\n%s", stderr.String())
		}
	})
	s.wait(t, "endpoint", func(l string) bool {
		ep, ok := strings.CutPrefix(l, "endpoint ")
		if ok {
			s.ep = ep
		}
		return ok
	})
	return s
}

// wait polls the output lines until one matches (no wall-clock bound of
// its own: the test's context ends it).
func (s *scsServer) wait(t *testing.T, what string, match func(string) bool) {
	t.Helper()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for {
		s.mu.Lock()
		ok := slices.ContainsFunc(s.lines, match)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("scsserver: %s never happened", what)
		case <-s.gone:
			t.Fatalf("scsserver exited before %s", what)
		case <-tk.C:
		}
	}
}

func (s *scsServer) calls(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(prefix)
}

// callsLocked is calls with s.mu held (inside wait's match).
func (s *scsServer) callsLocked(prefix string) []string {
	var out []string
	for _, l := range s.lines {
		if strings.HasPrefix(l, "call "+prefix) {
			out = append(out, l)
		}
	}
	return out
}

func eventID(t *testing.T, doc []byte) string {
	var d epcis.Document
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Body.EventList[0].EventID
}

// TestNodeOPCUAOpenSCS proves the method calls and arguments against
// node-opcua: the pool request with its criteria and RequestToken pages,
// a return in parts of MaxSNReturnable with one unknown serial found by
// bisection, and EPCIS documents reported as SNtoEncoded +
// SIDCommissioningEvent / LabelsScrappingEvent with their LabelCollection
// and event context — with security None, Basic256Sha256 Sign and
// SignAndEncrypt with a user name; a wrong password is refused.
func TestNodeOPCUAOpenSCS(t *testing.T) {
	srv := startNodeSCS(t)
	for _, mode := range []string{"None", "SignAndEncrypt", "Sign"} {
		t.Run(mode, func(t *testing.T) {
			c := newClient(t, srv.ep, func(cfg *scs.Config) {
				cfg.Criteria.Request = ""
				cfg.Timeout = 10 * time.Second
				if mode != "None" {
					cfg.SecurityPolicy, cfg.SecurityMode = opcua.PolicyBasic256Sha256, mode
					cfg.Auth, cfg.Username, cfg.Password = opcua.AuthUsername, scsUser, scsPass
				}
			})
			before := len(srv.calls("SNRequestAllocated"))
			p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R-" + mode, GTIN: gtin, Lot: "L9", Order: "B9", Count: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Serials) != 7 {
				t.Fatalf("%d serials, want 7", len(p.Serials))
			}
			srv.wait(t, "3 request pages", func(string) bool { return len(srv.callsLocked("SNRequestAllocated")) >= before+3 })
			reqs := srv.calls("SNRequestAllocated")[before:]
			if len(reqs) != 3 || !strings.Contains(reqs[0], "GTIN="+gtin) || !strings.Contains(reqs[0], "LotNumber=L9") || !strings.Contains(reqs[0], "OrderID=B9") {
				t.Fatalf("request calls %q: want 3 pages with the criteria", reqs)
			}
			if mode != "None" {
				srv.wait(t, "secure session", func(l string) bool { return l == "session Basic256Sha256 "+mode+" "+scsUser })
			}
			ret := append(slices.Clone(p.Serials[:5]), "UNKNOWN")
			res, err := c.ReturnSerials(t.Context(), "ret", gtin, ret)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Accepted, p.Serials[:5]) || len(res.Refused) != 1 || res.Refused[0].Serial != "UNKNOWN" {
				t.Fatalf("return: %+v", res)
			}
			b := epcis.Batch{ID: "B9", GTIN: gtin, Lot: "L9", Expiry: "281231"}
			at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
			for _, k := range []struct {
				kind    epcis.Kind
				serials []string
				method  string
			}{{epcis.Commissioning, p.Serials[5:6], "SIDCommissioningEvent"}, {epcis.LabelScrapping, p.Serials[6:7], "LabelsScrappingEvent"}} {
				docs, err := epcis.Build(k.kind, b, k.serials, at, epcis.Options{Prefixes: gcp.Products{gtin: 9}})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.ReportEvents(t.Context(), "d", docs[0]); err != nil {
					t.Fatalf("%s: %v", k.kind, err)
				}
				id := "EventID=" + eventID(t, docs[0])
				srv.wait(t, k.method, func(l string) bool { return strings.HasPrefix(l, "call "+k.method) && strings.Contains(l, id) })
				calls := srv.calls(k.method)
				last := calls[len(calls)-1]
				if !strings.HasPrefix(last, "call "+k.method+" 1 1 ") || (k.kind == epcis.Commissioning && (!strings.Contains(last, "LotNumber=L9") || !strings.Contains(last, "ExpirationDate=2028-12-31"))) {
					t.Fatalf("%s call %q", k.method, last)
				}
			}
		})
	}
	t.Run("WrongPassword", func(t *testing.T) {
		cfg := scs.DefaultConfig(srv.ep)
		cfg.SecurityPolicy, cfg.SecurityMode = opcua.PolicyBasic256Sha256, "SignAndEncrypt"
		cfg.Auth, cfg.Username, cfg.Password = opcua.AuthUsername, scsUser, "wrong"
		c, err := scs.New(cfg, scs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		_, err = c.RequestPool(t.Context(), upstream.PoolRequest{ID: "x", GTIN: gtin, Count: 1})
		if !errors.Is(err, upstream.ErrUnauthorized) || upstream.IsTransient(err) {
			t.Fatalf("wrong password: %v; want ErrUnauthorized", err)
		}
	})
}
