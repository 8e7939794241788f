package upstream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstreamsim"
	"go.yaml.in/yaml/v3"
)

// spec is the part of openapi.yaml the contract test walks.
type spec struct {
	Paths map[string]map[string]struct {
		OperationID string           `yaml:"operationId"`
		Security    *[]any           `yaml:"security"`
		Parameters  []map[string]any `yaml:"parameters"`
		RequestBody *struct {
			Required bool                      `yaml:"required"`
			Content  map[string]map[string]any `yaml:"content"`
		} `yaml:"requestBody"`
		Responses map[string]struct {
			Ref     string                    `yaml:"$ref"`
			Content map[string]map[string]any `yaml:"content"`
		} `yaml:"responses"`
	} `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Required             []string       `yaml:"required"`
			AdditionalProperties *bool          `yaml:"additionalProperties"`
			Properties           map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

// exchange is one request the client made and the reply it got.
type exchange struct {
	method, path, ctype, key, auth string
	body                           []byte
	status                         int
	reply                          []byte
}

type recorder struct {
	mu  sync.Mutex
	got []exchange
}

func (rc *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, r)
		rc.mu.Lock()
		rc.got = append(rc.got, exchange{method: r.Method, path: r.URL.Path, ctype: r.Header.Get("Content-Type"),
			key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization"), body: body,
			status: rw.Code, reply: rw.Body.Bytes()})
		rc.mu.Unlock()
		for k, v := range rw.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rw.Code)
		_, _ = w.Write(rw.Body.Bytes())
	})
}

// TestOpenAPIContract walks openapi.yaml against the client and the
// reference server: every operation is used by the client (or is the
// token-free health check), every request the client sends and every reply
// the server gives (success and each error the test provokes) is an
// operation, content type, status and schema the file documents, and the
// Go types carry exactly the documented JSON fields.
func TestOpenAPIContract(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sp spec
	if err := yaml.Unmarshal(raw, &sp); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	schemas := compileSchemas(t, raw)

	// Go types <-> component schemas: the same JSON field names, required
	// fields among them.
	for name, typ := range map[string]any{"SerialRequest": upstream.SerialRequest{}, "Pool": upstream.Pool{},
		"ReturnRequest": upstream.ReturnRequest{}, "ReturnReply": upstream.ReturnReply{}, "Error": upstream.ErrorReply{}} {
		sc, ok := sp.Components.Schemas[name]
		if !ok {
			t.Errorf("components.schemas.%s missing", name)
			continue
		}
		fields := jsonFields(typ)
		var props []string
		for p := range sc.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		if !slices.Equal(fields, props) {
			t.Errorf("components.schemas.%s properties %v, Go type %T has %v", name, props, typ, fields)
		}
		for _, r := range sc.Required {
			if !slices.Contains(fields, r) {
				t.Errorf("components.schemas.%s requires %q, which %T lacks", name, r, typ)
			}
		}
	}

	const token = "T0KEN"
	sim := start(t, upstreamsim.Options{Token: token, Mode: upstreamsim.Sequential, SerialLength: 8})
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	ctx := t.Context()
	c := client(t, srv.URL, token)

	// Successes.
	p, err := c.RequestSerials(ctx, gtin, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.ReturnSerials(ctx, "ret-1", gtin, p.Serials[:2]); err != nil || len(res.Accepted) != 2 {
		t.Fatal(res, err)
	}
	if err := c.ReportEvents(ctx, "evt-1", []byte(`{"type":"EPCISDocument","schemaVersion":"2.0"}`)); err != nil {
		t.Fatal(err)
	}
	// Errors the client meets: 400 (bad GTIN), a refused serial (returned
	// twice or never issued), 401 (wrong token), 503 (down; the client retries).
	if _, err := c.RequestSerials(ctx, "09501101530004", 5); err == nil {
		t.Error("bad GTIN accepted")
	}
	if res, err := c.ReturnSerials(ctx, "ret-2", gtin, p.Serials[:1]); err != nil || len(res.Refused) != 1 || len(res.Accepted) != 0 {
		t.Errorf("a serial returned twice: %+v, %v; want it refused", res, err)
	}
	if _, err := client(t, srv.URL, "wrong").RequestSerials(ctx, gtin, 1); err == nil {
		t.Error("wrong token accepted")
	}
	sim.FailNext(1)
	if _, err := c.RequestSerials(ctx, gtin, 1); err != nil {
		t.Errorf("one 503 then success: %v", err)
	}
	// SSCCs for cases and pallets: a pool, then one of them back.
	sp2, err := c.RequestSSCCsWithID(ctx, "sscc-req-1", 3)
	if err != nil || len(sp2.SSCCs) != 3 {
		t.Fatalf("RequestSSCCsWithID: %+v %v", sp2, err)
	}
	if again, err := c.RequestSSCCsWithID(ctx, "sscc-req-1", 3); err != nil || again.SSCCs[0] != sp2.SSCCs[0] {
		t.Errorf("same request id again: %+v %v", again, err)
	}
	if err := c.ReturnSSCCs(ctx, sp2.SSCCs[2:]); err != nil {
		t.Errorf("ReturnSSCCs: %v", err)
	}
	// The health check, without a token.
	resp, err := http.Get(srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	rec.mu.Lock()
	got := append([]exchange(nil), rec.got...)
	rec.mu.Unlock()
	used := map[string]bool{}
	statuses := map[int]bool{}
	for _, x := range got {
		ops, ok := sp.Paths[x.path]
		if !ok {
			t.Errorf("%s %s: path not in openapi.yaml", x.method, x.path)
			continue
		}
		op, ok := ops[strings.ToLower(x.method)]
		if !ok {
			t.Errorf("%s %s: method not in openapi.yaml", x.method, x.path)
			continue
		}
		where := fmt.Sprintf("%s %s (%s)", x.method, x.path, op.OperationID)
		used[x.method+" "+x.path] = true
		statuses[x.status] = true
		if op.Security == nil && x.auth == "" {
			t.Errorf("%s: sent without the bearer token", where)
		}
		for _, prm := range op.Parameters {
			if prm["$ref"] == "#/components/parameters/IdempotencyKey" && x.key == "" {
				t.Errorf("%s: no Idempotency-Key header", where)
			}
		}
		if op.RequestBody != nil {
			media, ok := op.RequestBody.Content[x.ctype]
			if !ok {
				t.Errorf("%s: content type %q not documented", where, x.ctype)
			} else if ref, _ := media["schema"].(map[string]any)["$ref"].(string); ref != "" {
				validateAgainst(t, schemas, ref, x.body, where+" request")
				var rid struct {
					RequestID string `json:"request_id"`
				}
				if json.Unmarshal(x.body, &rid) == nil && rid.RequestID != x.key {
					t.Errorf("%s: request_id %q differs from Idempotency-Key %q", where, rid.RequestID, x.key)
				}
			}
		}
		r, ok := op.Responses[strconv.Itoa(x.status)]
		if !ok {
			t.Errorf("%s: status %d not documented", where, x.status)
			continue
		}
		ref := "#/components/schemas/Error"
		if r.Ref == "" {
			ref = ""
			if m, ok := r.Content["application/json"]; ok {
				ref, _ = m["schema"].(map[string]any)["$ref"].(string)
			}
		}
		if ref != "" {
			validateAgainst(t, schemas, ref, x.reply, fmt.Sprintf("%s reply %d", where, x.status))
		}
	}
	for path, ops := range sp.Paths {
		for m := range ops {
			if !used[strings.ToUpper(m)+" "+path] {
				t.Errorf("%s %s in openapi.yaml is never used by the client (or the health check)", strings.ToUpper(m), path)
			}
		}
	}
	for _, code := range []int{200, 202, 400, 401, 503} {
		if !statuses[code] {
			t.Errorf("the walk never saw status %d", code)
		}
	}
}

// compileSchemas compiles openapi.yaml as one JSON document so that its
// component schemas (plain JSON Schema here) validate bodies by $ref.
func compileSchemas(t *testing.T, raw []byte) *jsonschema.Compiler {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource("https://serialine.invalid/openapi.json", inst); err != nil {
		t.Fatal(err)
	}
	return c
}

func validateAgainst(t *testing.T, c *jsonschema.Compiler, ref string, body []byte, where string) {
	t.Helper()
	s, err := c.Compile("https://serialine.invalid/openapi.json" + ref)
	if err != nil {
		t.Fatalf("%s: compile %s: %v", where, ref, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: not JSON: %v\n%s", where, err, body)
		return
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s: does not match %s: %v\n%s", where, ref, err, body)
	}
}

// jsonFields lists a struct's JSON field names, sorted.
func jsonFields(v any) []string {
	rt := reflect.TypeOf(v)
	var out []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
