package packtags_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/internal/nodeset"
	"github.com/serialine/serialine/line/packtags"
)

// nodeView is what testdata/nodeclient/browse.js (node-opcua's client)
// reports of the server.
type nodeView struct {
	Namespaces []string `json:"namespaces"`
	Nodes      map[string]struct {
		BrowseName     string `json:"browseName"`
		NodeClass      string `json:"nodeClass"`
		DataType       string `json:"dataType"`
		ValueRank      int    `json:"valueRank"`
		TypeDefinition string `json:"typeDefinition"`
	} `json:"nodes"`
	Values map[string]json.RawMessage `json:"values"`
	Calls  map[string]string          `json:"calls"`
}

// nodeClient runs browse.js against endpoint with env (PACKTAGS_USER,
// PACKTAGS_PASS, PACKTAGS_CALLS). node comes from PATH, node-opcua from
// `make tools` (npm ci in testdata/nodeclient): missing ones skip the
// test, or fail it under CI=true.
func nodeClient(ctx context.Context, t *testing.T, endpoint string, env ...string) nodeView {
	t.Helper()
	node := reference.Tool(t, "node")
	dir := filepath.Join("testdata", "nodeclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-opcua-client")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("line/packtags/testdata/nodeclient/node_modules missing (run `make tools`) (CI=true: required)")
		}
		t.Skip("line/packtags/testdata/nodeclient/node_modules missing (run `make tools`)")
	}
	cmd := exec.CommandContext(ctx, node, "browse.js", endpoint)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node browse.js: %v\n%s", err, stderr.String())
	}
	var v nodeView
	_, answer, _ := bytes.Cut(stdout.Bytes(), []byte("\npacktags-json "))
	answer, _, _ = bytes.Cut(answer, []byte("\n"))
	if err := json.Unmarshal(answer, &v); err != nil {
		t.Fatalf("browse.js output: %v\n%s", err, stdout.String())
	}
	return v
}

// TestNodeOPCUABrowse: node-opcua's client browses the machine object
// recursively and finds every mandatory member of the OPC 30050 types with
// the node set's browse name, node class, type definition, data type (or a
// subtype) and value rank; it decodes the PackMLCountDataType counts from
// the server's DataTypeDefinition and reads the states, the unit mode and
// the speeds.
func TestNodeOPCUABrowse(t *testing.T) {
	s, err := nodeset.Load(reference.File(t, "opcua/Opc.Ua.PackML.NodeSet2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	fake := apitest.New(nil, apitest.GTIN, 500)
	op := api.Actor{User: "otto", Role: "operator"}
	if _, err := fake.CreateBatch(ctx, api.BatchDef{ID: "B1", GTIN: apitest.GTIN, Lot: "L", Expiry: "281231", Target: 100}, op); err != nil {
		t.Fatal(err)
	}
	if err := fake.Command(ctx, "B1", api.Command{Name: api.CmdStart}, op); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Produce(10, 5); err != nil {
		t.Fatal(err)
	}
	srv := startServer(ctx, t, packtags.Options{Source: fake, DesignSpeed: 1200, Speed: 600})
	v := nodeClient(ctx, t, srv.Endpoint())
	if len(v.Namespaces) != 3 || v.Namespaces[1] != packtags.PackMLNamespace || v.Namespaces[2] != packtags.Namespace {
		t.Fatalf("namespaces %v", v.Namespaces)
	}
	norm := func(id string) string { return strings.TrimPrefix(id, "ns=0;") }
	var check func(path string, decl *nodeset.Node)
	n := 0
	check = func(path string, decl *nodeset.Node) {
		for name, m := range mandatory(s, decl) {
			p := strings.TrimPrefix(path+"."+name, ".")
			got, ok := v.Nodes[p]
			if !ok {
				t.Errorf("node-opcua: mandatory %s %s missing", m.Class, p)
				continue
			}
			n++
			wantName := m.Name
			if m.BrowseNS == 1 {
				wantName = "1:" + m.Name
			}
			if got.BrowseName != wantName || got.NodeClass != string(m.Class) {
				t.Errorf("node-opcua: %s is %s %s, want %s %s", p, got.NodeClass, got.BrowseName, m.Class, wantName)
			}
			if td := m.TypeDefinition(); td != "" && norm(got.TypeDefinition) != td {
				t.Errorf("node-opcua: %s type definition %s, want %s", p, got.TypeDefinition, td)
			}
			if m.Class == nodeset.Variable {
				dt := norm(got.DataType)
				if dt != m.DataType && s.Node(dt).SuperType() != m.DataType {
					t.Errorf("node-opcua: %s data type %s, want %s or a subtype", p, got.DataType, m.DataType)
				}
				if got.ValueRank != m.ValueRank {
					t.Errorf("node-opcua: %s value rank %d, want %d", p, got.ValueRank, m.ValueRank)
				}
			}
			check(p, m)
		}
	}
	if root := v.Nodes[""]; root.TypeDefinition != "ns=1;i=6" || root.NodeClass != "Object" {
		t.Fatalf("node-opcua: machine object %+v", root)
	}
	check("", s.Node("ns=1;i=6"))
	if n != 33 {
		t.Errorf("node-opcua: %d mandatory members checked, want 33", n)
	}
	var counts []struct {
		ID       int    `json:"ID"`
		Name     string `json:"name"`
		Count    int    `json:"count"`
		AccCount int    `json:"accCount"`
		Unit     struct {
			UnitID int `json:"unitId"`
		} `json:"unit"`
	}
	if err := json.Unmarshal(v.Values["Admin.ProdDefectiveCount"], &counts); err != nil || len(counts) != 1 ||
		counts[0].Count != 2 || counts[0].AccCount != 2 || counts[0].Unit.UnitID != 4732983 || !strings.Contains(counts[0].Name, apitest.GTIN) {
		t.Errorf("node-opcua: ProdDefectiveCount %s (%v)", v.Values["Admin.ProdDefectiveCount"], err)
	}
	for path, want := range map[string]string{
		"BaseStateMachine.MachineState.ExecuteState.CurrentState":    `{"text":"Execute"}`,
		"BaseStateMachine.MachineState.ExecuteState.CurrentState.Id": `"ns=1;i=36"`,
		"Status.UnitModeCurrent":                                     `1`,
		"Status.UnitSupportedModes":                                  `"ns=1;i=11"`,
		"Status.MachSpeed":                                           `600`,
		"Status.MachSpeed.EURange":                                   `{"low":0,"high":1200}`,
		"Admin.MachDesignSpeed":                                      `1200`,
		"PackMLVersion":                                              `"TR88.00.02-2015"`,
		"Serialine.BatchID":                                          `"B1"`,
	} {
		if got := string(v.Values[path]); got != want {
			t.Errorf("node-opcua: %s = %s, want %s", path, got, want)
		}
	}
}

// TestNodeOPCUACommands: node-opcua's client logs in with a user name and
// password (encrypted with the server's certificate) and calls the PackML
// methods; the roles apply as with gopcua's client.
func TestNodeOPCUACommands(t *testing.T) {
	ctx, e, srv := commandEnv(t)
	v := nodeClient(ctx, t, srv.Endpoint(), "PACKTAGS_USER=otto", "PACKTAGS_PASS="+apitest.OperatorPassword,
		"PACKTAGS_CALLS="+execState+".Hold,SetUnitMode=2")
	if v.Calls[execState+".Hold"] != "Good" || v.Calls["SetUnitMode=2"] != "BadUserAccessDenied" {
		t.Errorf("otto's calls: %v", v.Calls)
	}
	v = nodeClient(ctx, t, srv.Endpoint(), "PACKTAGS_USER=sam", "PACKTAGS_PASS="+apitest.SupervisorPassword,
		"PACKTAGS_CALLS=SetUnitMode=2,"+execState+".Unhold")
	if v.Calls["SetUnitMode=2"] != "Good" || v.Calls[execState+".Unhold"] != "BadInvalidState" {
		t.Errorf("sam's calls: %v", v.Calls)
	}
	if string(v.Values["Status.UnitModeCurrent"]) != "1" { // read before the calls
		t.Errorf("mode before sam's calls: %s", v.Values["Status.UnitModeCurrent"])
	}
	if st, _ := e.Fake.Status(ctx); st.State != "Held" || st.UnitMode != "Maintenance" {
		t.Errorf("after node-opcua's calls: %s %s", st.State, st.UnitMode)
	}
}
