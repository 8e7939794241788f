package packtags_test

import (
	"context"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/packtags"
)

// countRead decodes PackMLCountDataType on the client side (gopcua's
// client knows no PackML types).
type countRead struct {
	ID       int32
	Name     string
	Unit     *ua.EUInformation
	Count    int32
	AccCount int32
}

func init() {
	// PackMLCountDataType's Default Binary encoding (ns=1;i=69): the
	// PackML namespace is the server's first after namespace 0
	// (TestAddressSpaceNamespaces checks it).
	ua.RegisterExtensionObject(ua.NewNumericNodeID(1, 69), new(countRead))
}

// startServer starts a PackTags server on a loopback port, publishing
// every hour (the tests read on demand), and closes it when the test ends.
func startServer(ctx context.Context, t *testing.T, o packtags.Options) *packtags.Server {
	t.Helper()
	o.Addr, o.Interval = "127.0.0.1:0", time.Hour
	srv, err := packtags.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func connect(ctx context.Context, t *testing.T, endpoint string, opts ...opcua.Option) *opcua.Client {
	t.Helper()
	c, err := opcua.NewClient(endpoint, append([]opcua.Option{opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func readTags(ctx context.Context, t *testing.T, c *opcua.Client, srv *packtags.Server) map[string]any {
	t.Helper()
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
	for _, tag := range packtags.Tags() {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: srv.NodeID(tag), AttributeID: ua.AttributeIDValue})
	}
	resp, err := c.Read(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for i, r := range resp.Results {
		if r.Status != ua.StatusOK {
			t.Fatalf("%s: %v", packtags.Tags()[i], r.Status)
		}
		v := r.Value.Value()
		switch x := v.(type) {
		case *ua.LocalizedText:
			v = x.Text
		case *ua.NodeID:
			v = x.String()
		case []*ua.ExtensionObject:
			if len(x) == 1 {
				if cr, ok := x[0].Value.(*countRead); ok {
					v = *cr
				}
			}
		}
		out[packtags.Tags()[i]] = v
	}
	return out
}

// TestPackTagsOverOPCUA reads the tags with gopcua's client over a real
// OPC UA session on loopback while the (fake) line runs a batch: states of
// the three nested state machines, unit mode, speeds, counts as
// PackMLCountDataType structures, starved and blocked; and nothing is
// writable.
func TestPackTagsOverOPCUA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel) // last: the server stops serving when ctx ends
	fake := apitest.New(nil, apitest.GTIN, 500)
	srv := startServer(ctx, t, packtags.Options{Source: fake, DesignSpeed: 600, Speed: 300}) // after the client's cleanup
	c := connect(ctx, t, srv.Endpoint())

	v := readTags(ctx, t, c, srv)
	want := map[string]any{
		"Serialine.StateCurrentName":                                 "Idle",
		"Serialine.StateCurrent":                                     int32(4),
		"Serialine.PoolAvailable":                                    int32(500),
		"Status.UnitModeCurrent":                                     int32(1),
		"Status.MachSpeed":                                           float32(300),
		"BaseStateMachine.CurrentState":                              "Cleared",
		"BaseStateMachine.CurrentState.Id":                           "ns=1;i=71",
		"BaseStateMachine.MachineState.CurrentState":                 "Running",
		"BaseStateMachine.MachineState.ExecuteState.CurrentState":    "Idle",
		"BaseStateMachine.MachineState.ExecuteState.CurrentState.Id": "ns=1;i=28",
		"Status.EquipmentStarved":                                    false,
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("idle: %s = %#v, want %#v", k, v[k], w)
		}
	}
	if tr, _ := v["BaseStateMachine.MachineState.ExecuteState.AvailableTransitions"].([]*ua.NodeID); len(tr) != 1 || tr[0].String() != "ns=1;i=40" {
		t.Errorf("Idle's available transitions: %v, want IdleToStarting ns=1;i=40", tr)
	}

	op := api.Actor{User: "otto", Role: "operator"}
	if _, err := fake.CreateBatch(ctx, api.BatchDef{ID: "B1", GTIN: apitest.GTIN, Lot: "L", Expiry: "281231", Target: 100}, op); err != nil {
		t.Fatal(err)
	}
	if err := fake.Command(ctx, "B1", api.Command{Name: api.CmdStart}, op); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Produce(20, 5); err != nil {
		t.Fatal(err)
	}
	fake.SetDevice("plc", api.LinkDown, "")
	if err := srv.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	v = readTags(ctx, t, c, srv)
	want = map[string]any{
		"Serialine.StateCurrent":                                  int32(6),
		"BaseStateMachine.MachineState.ExecuteState.CurrentState": "Execute",
		"Status.CurMachSpeed":                                     float32(300),
		"Serialine.ProdGoodCount":                                 int32(16),
		"Serialine.BatchID":                                       "B1",
		"Serialine.BatchTarget":                                   int32(100),
		"Serialine.PoolAvailable":                                 int32(480),
		"Serialine.DevicesDown":                                   int32(1),
		"Status.EquipmentBlocked":                                 true,
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("execute: %s = %#v, want %#v", k, v[k], w)
		}
	}
	for tag, n := range map[string]int32{"Admin.ProdProcessedCount": 20, "Admin.ProdDefectiveCount": 4, "Admin.ProdConsumedCount": 20} {
		cr, ok := v[tag].(countRead)
		if !ok || cr.Count != n || cr.AccCount != n || cr.ID != 1 || cr.Unit == nil || cr.Unit.UnitID != 4732983 || cr.Name == "" {
			t.Errorf("%s = %#v, want one PackMLCountDataType with Count %d, unit piece (H87)", tag, v[tag], n)
		}
	}
	if err := fake.Command(ctx, "B1", api.Command{Name: api.CmdHold}, op); err != nil {
		t.Fatal(err)
	}
	srv.Refresh(ctx)
	if v := readTags(ctx, t, c, srv); v["BaseStateMachine.MachineState.ExecuteState.CurrentState"] != "Held" || v["Serialine.StateCurrent"] != int32(11) {
		t.Fatalf("held: %v", v["BaseStateMachine.MachineState.ExecuteState.CurrentState"])
	}
	if err := fake.Command(ctx, "B1", api.Command{Name: api.CmdAbort}, api.Actor{User: "sam", Role: "supervisor"}); err != nil {
		t.Fatal(err)
	}
	srv.Refresh(ctx)
	v = readTags(ctx, t, c, srv)
	if v["BaseStateMachine.CurrentState"] != "Aborted" || v["BaseStateMachine.MachineState.CurrentState"] != "" ||
		v["BaseStateMachine.MachineState.ExecuteState.CurrentState.Id"] != "i=0" {
		t.Errorf("aborted: base %v machine %q execute id %v", v["BaseStateMachine.CurrentState"],
			v["BaseStateMachine.MachineState.CurrentState"], v["BaseStateMachine.MachineState.ExecuteState.CurrentState.Id"])
	}

	// read-only: an anonymous client can overwrite nothing — not a tag, not
	// a node of the server's own namespace — and a write to an unknown
	// namespace is refused (gopcua's own handler would crash the process)
	wreq := &ua.WriteRequest{}
	for _, n := range []*ua.NodeID{srv.NodeID("Serialine.StateCurrent"), ua.NewNumericNodeID(0, 2256 /* Server_ServerStatus */), ua.NewStringNodeID(99, "x")} {
		wreq.NodesToWrite = append(wreq.NodesToWrite, &ua.WriteValue{NodeID: n, AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(int32(6))}})
	}
	wresp, err := c.Write(ctx, wreq)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range wresp.Results {
		if st != ua.StatusBadNotWritable {
			t.Errorf("write %s: %v, want BadNotWritable", wreq.NodesToWrite[i].NodeID, st)
		}
	}
	aresp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: srv.NodeID("Serialine.BatchID"), AttributeID: ua.AttributeIDAccessLevel}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := aresp.Results[0]; r.Status != ua.StatusOK || r.Value.Value() != uint8(ua.AccessLevelTypeCurrentRead) {
		t.Errorf("access level: %v %v, want CurrentRead only", r.Status, r.Value.Value())
	}
}
