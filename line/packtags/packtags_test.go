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

// TestPackTagsOverOPCUA reads the tags with gopcua's client over a real
// OPC UA session on loopback while the (fake) line runs a batch.
func TestPackTagsOverOPCUA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := apitest.New(nil, apitest.GTIN, 500)
	srv, err := packtags.Start(ctx, packtags.Options{Source: fake, Addr: "127.0.0.1:0", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	c, err := opcua.NewClient(srv.Endpoint(), opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())

	read := func() map[string]any {
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
			out[packtags.Tags()[i]] = r.Value.Value()
		}
		return out
	}
	v := read()
	if v["PackTags.Status.StateCurrentName"] != "Idle" || v["PackTags.Status.StateCurrent"] != int32(4) || v["Serialine.PoolAvailable"] != int32(500) {
		t.Fatalf("idle tags: %v", v)
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
	fake.SetDevice("camera", api.LinkDown, "")
	if err := srv.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	v = read()
	want := map[string]any{
		"PackTags.Status.StateCurrent":      int32(6),
		"PackTags.Status.StateCurrentName":  "Execute",
		"PackTags.Status.CurMachSpeed":      float32(300),
		"PackTags.Admin.ProdProcessedCount": int32(20),
		"PackTags.Admin.ProdDefectiveCount": int32(4),
		"PackTags.Admin.ProdGoodCount":      int32(16),
		"Serialine.BatchID":                 "B1",
		"Serialine.BatchTarget":             int32(100),
		"Serialine.PoolAvailable":           int32(480),
		"Serialine.DevicesDown":             int32(1),
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %#v, want %#v", k, v[k], w)
		}
	}
	if err := fake.Command(ctx, "B1", api.Command{Name: api.CmdHold}, op); err != nil {
		t.Fatal(err)
	}
	srv.Refresh(ctx)
	if v := read(); v["PackTags.Status.StateCurrent"] != int32(11) {
		t.Fatalf("held: %v", v["PackTags.Status.StateCurrent"])
	}

	// read-only: an anonymous client can overwrite nothing — not a tag, not
	// a node of the server's own namespace — and a write to an unknown
	// namespace is refused (gopcua's own handler would crash the process)
	wreq := &ua.WriteRequest{}
	for _, n := range []*ua.NodeID{srv.NodeID("PackTags.Status.StateCurrent"), ua.NewNumericNodeID(0, 2256 /* Server_ServerStatus */), ua.NewStringNodeID(99, "x")} {
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
	if v := read(); v["PackTags.Status.StateCurrent"] != int32(11) {
		t.Fatalf("after a refused write: %v", v["PackTags.Status.StateCurrent"])
	}
	aresp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: srv.NodeID("Serialine.BatchID"), AttributeID: ua.AttributeIDAccessLevel}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := aresp.Results[0]; r.Status != ua.StatusOK || r.Value.Value() != uint8(ua.AccessLevelTypeCurrentRead) {
		t.Errorf("access level: %v %v, want CurrentRead only", r.Status, r.Value.Value())
	}
}
