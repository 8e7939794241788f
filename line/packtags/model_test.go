package packtags_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/internal/nodeset"
	"github.com/serialine/serialine/line/packtags"
)

// uaNode is what a client sees of one node.
type uaNode struct {
	id        *ua.NodeID
	name      *ua.QualifiedName
	class     ua.NodeClass
	typeDef   string // node id string ("" for none)
	dataType  string
	valueRank int32
}

type browser struct {
	t   *testing.T
	ctx context.Context
	c   *opcua.Client
	pk  uint16 // the PackML namespace index on the server
}

// children returns the targets of n's forward hierarchical references by
// browse name.
func (b *browser) children(n *ua.NodeID) map[string]*ua.ReferenceDescription {
	b.t.Helper()
	resp, err := b.c.Browse(b.ctx, &ua.BrowseRequest{NodesToBrowse: []*ua.BrowseDescription{{NodeID: n,
		BrowseDirection: ua.BrowseDirectionForward, ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
		IncludeSubtypes: true, ResultMask: uint32(ua.BrowseResultMaskAll)}}})
	if err != nil || resp.Results[0].StatusCode != ua.StatusGood {
		b.t.Fatalf("browse %s: %v %v", n, err, resp)
	}
	out := map[string]*ua.ReferenceDescription{}
	for _, r := range resp.Results[0].References {
		out[r.BrowseName.Name] = r
	}
	return out
}

func (b *browser) node(n *ua.NodeID) uaNode {
	b.t.Helper()
	attrs := []ua.AttributeID{ua.AttributeIDBrowseName, ua.AttributeIDNodeClass, ua.AttributeIDDataType, ua.AttributeIDValueRank}
	req := &ua.ReadRequest{}
	for _, a := range attrs {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: n, AttributeID: a})
	}
	resp, err := b.c.Read(b.ctx, req)
	if err != nil {
		b.t.Fatalf("read %s: %v", n, err)
	}
	u := uaNode{id: n, valueRank: -99}
	if r := resp.Results[0]; r.Status == ua.StatusOK {
		u.name, _ = r.Value.Value().(*ua.QualifiedName)
	}
	if r := resp.Results[1]; r.Status == ua.StatusOK {
		v, _ := r.Value.Value().(int32)
		u.class = ua.NodeClass(v)
	}
	if r := resp.Results[2]; r.Status == ua.StatusOK {
		if d, ok := r.Value.Value().(*ua.NodeID); ok {
			u.dataType = d.String()
		}
	}
	if r := resp.Results[3]; r.Status == ua.StatusOK {
		u.valueRank, _ = r.Value.Value().(int32)
	}
	br, err := b.c.Browse(b.ctx, &ua.BrowseRequest{NodesToBrowse: []*ua.BrowseDescription{{NodeID: n,
		BrowseDirection: ua.BrowseDirectionForward, ReferenceTypeID: ua.NewNumericNodeID(0, id.HasTypeDefinition)}}})
	if err != nil {
		b.t.Fatalf("browse %s: %v", n, err)
	}
	if refs := br.Results[0].References; len(refs) > 0 {
		u.typeDef = refs[0].NodeID.NodeID.String()
	}
	return u
}

// server returns the node set's node id as the server numbers it.
func (b *browser) server(nsID string) string {
	if rest, ok := strings.CutPrefix(nsID, "ns=1;"); ok {
		return fmt.Sprintf("ns=%d;%s", b.pk, rest)
	}
	return nsID
}

// mandatory lists the mandatory instance declarations below decl (a type
// or an instance declaration): its own and those of its type definition and
// the type's PackML supertypes, by browse name.
func mandatory(s *nodeset.Set, decl *nodeset.Node) map[string]*nodeset.Node {
	out := map[string]*nodeset.Node{}
	add := func(n *nodeset.Node) {
		for _, r := range s.Children(n) {
			c := s.Node(r.Target)
			if c != nil && c.ModellingRule() == nodeset.Mandatory && out[c.Name] == nil {
				out[c.Name] = c
			}
		}
	}
	add(decl)
	for t := s.Node(decl.TypeDefinition()); t != nil; t = s.Node(t.SuperType()) {
		add(t)
	}
	for t := s.Node(decl.SuperType()); t != nil; t = s.Node(t.SuperType()) {
		add(t)
	}
	return out
}

// subtypeOf reports whether data type got is want or one of its subtypes
// in the node set.
func subtypeOf(s *nodeset.Set, b *browser, got, want string) bool {
	for n := 0; n < 8; n++ {
		if got == b.server(want) {
			return true
		}
		t := s.Node(strings.Replace(got, fmt.Sprintf("ns=%d;", b.pk), "ns=1;", 1))
		if t == nil {
			return false
		}
		got = b.server(t.SuperType())
	}
	return false
}

// checkMembers holds the instance below n against declaration decl:
// every mandatory member present with its browse name, node class, type
// definition, data type (or a subtype) and value rank, recursively.
func checkMembers(t *testing.T, s *nodeset.Set, b *browser, n *ua.NodeID, decl *nodeset.Node, path string, count *int) {
	kids := b.children(n)
	for name, m := range mandatory(s, decl) {
		p := path + "." + name
		r, ok := kids[name]
		if !ok {
			t.Errorf("%s: mandatory %s %s missing", p, m.Class, name)
			continue
		}
		*count++
		got := b.node(r.NodeID.NodeID)
		wantNS := uint16(0)
		if m.BrowseNS == 1 {
			wantNS = b.pk
		}
		if got.name == nil || got.name.NamespaceIndex != wantNS {
			t.Errorf("%s: browse name %v, want namespace %d", p, got.name, wantNS)
		}
		if string(m.Class) != strings.TrimPrefix(got.class.String(), "NodeClass") {
			t.Errorf("%s: node class %v, want %s", p, got.class, m.Class)
		}
		if td := m.TypeDefinition(); td != "" && got.typeDef != b.server(td) {
			t.Errorf("%s: type definition %s, want %s", p, got.typeDef, b.server(td))
		}
		if m.Class == nodeset.Variable {
			if !subtypeOf(s, b, got.dataType, m.DataType) {
				t.Errorf("%s: data type %s, want %s or a subtype", p, got.dataType, b.server(m.DataType))
			}
			if int(got.valueRank) != m.ValueRank {
				t.Errorf("%s: value rank %d, want %d", p, got.valueRank, m.ValueRank)
			}
		}
		checkMembers(t, s, b, r.NodeID.NodeID, m, p, count)
	}
}

// TestMandatoryMembers loads the OPC 30050 node set and checks, over a real
// OPC UA session, that the served machine object has every mandatory
// member of PackMLBaseObjectType and of the types of its members (Status,
// Admin, the three state machines, their CurrentState with Id, the speeds'
// EURange, SetUnitMode and the other mandatory methods with their
// InputArguments), each with the node set's browse name, node class, type
// definition, data type and value rank; and that every node of the type
// model is served as the node set defines it.
func TestMandatoryMembers(t *testing.T) {
	s, err := nodeset.Load(reference.File(t, "opcua/Opc.Ua.PackML.NodeSet2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	srv := startServer(ctx, t, packtags.Options{Source: apitest.New(nil, apitest.GTIN, 10)})
	c := connect(ctx, t, srv.Endpoint())
	pk, err := c.FindNamespace(ctx, packtags.PackMLNamespace)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, c: c, pk: pk}

	// The machine object is organized by the PackMLObjects folder.
	folder := b.children(ua.NewNumericNodeID(pk, 72))
	if len(folder) != 1 {
		t.Fatalf("PackMLObjects holds %d objects, want the line's one", len(folder))
	}
	for _, r := range folder {
		if r.NodeID.NodeID.String() != srv.NodeID("").String() {
			t.Fatalf("PackMLObjects holds %s, want %s", r.NodeID.NodeID, srv.NodeID(""))
		}
	}
	root := b.node(srv.NodeID(""))
	if root.typeDef != fmt.Sprintf("ns=%d;i=6", pk) {
		t.Fatalf("machine object type %s, want PackMLBaseObjectType", root.typeDef)
	}
	n := 0
	checkMembers(t, s, b, srv.NodeID(""), s.Node("ns=1;i=6"), "PackTags", &n)
	// Admin; BaseStateMachine with AvailableStates, AvailableTransitions,
	// CurrentState, Id and the same five for MachineState and ExecuteState
	// (15); Status with CurMachSpeed, EURange, EquipmentBlocked,
	// EquipmentStarved, MachSpeed, EURange, UnitModeCurrent,
	// UnitSupportedModes (9); SetMachSpeed, SetParameter, SetProduct,
	// SetUnitMode with their InputArguments (8).
	if n != 33 {
		t.Errorf("checked %d mandatory members, want the node set's 33", n)
	}

	// The method arguments are the node set's.
	args := func(path string) []*ua.Argument {
		resp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: srv.NodeID(path + ".InputArguments"), AttributeID: ua.AttributeIDValue}}})
		if err != nil || resp.Results[0].Status != ua.StatusOK {
			t.Fatalf("%s.InputArguments: %v %v", path, err, resp)
		}
		var out []*ua.Argument
		for _, eo := range resp.Results[0].Value.Value().([]*ua.ExtensionObject) {
			out = append(out, eo.Value.(*ua.Argument))
		}
		return out
	}
	if a := args("SetUnitMode"); len(a) != 1 || a[0].Name != "RequestedMode" || a[0].DataType.String() != "i=6" {
		t.Errorf("SetUnitMode arguments %+v", a)
	}
	if a := args("SetMachSpeed"); len(a) != 1 || a[0].Name != "RequestedMachineSpeed" || a[0].DataType.String() != "i=10" {
		t.Errorf("SetMachSpeed arguments %+v", a)
	}

	// Every node of the type model, as the node set has it.
	types := 0
	for _, nid := range s.Order {
		m := s.Node(nid)
		switch m.TypeDefinition() {
		case "i=72", "i=69", "i=11616":
			continue // type dictionaries and namespace metadata: not served
		}
		if p := s.Node(m.Parent); p != nil && (p.TypeDefinition() == "i=72" || p.TypeDefinition() == "i=11616") {
			continue
		}
		got := b.node(ua.MustParseNodeID(b.server(nid)))
		if got.name == nil || got.name.Name != m.Name || string(m.Class) != strings.TrimPrefix(got.class.String(), "NodeClass") {
			t.Errorf("type model %s: %v %v, want %s %s", nid, got.name, got.class, m.Class, m.Name)
			continue
		}
		if m.Class == nodeset.Variable && (got.dataType != b.server(m.DataType) || int(got.valueRank) != m.ValueRank) {
			t.Errorf("type model %s %s: data type %s rank %d, want %s %d", nid, m.Name, got.dataType, got.valueRank, b.server(m.DataType), m.ValueRank)
		}
		types++
	}
	if types != 224 {
		t.Errorf("checked %d type model nodes, want 224 (243 in the node set less 19 of the type dictionaries and namespace metadata)", types)
	}
	// PackMLCountDataType's definition, as clients decode the counts with it.
	resp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.NewNumericNodeID(pk, 14), AttributeID: ua.AttributeIDDataTypeDefinition}}})
	if err != nil || resp.Results[0].Status != ua.StatusOK {
		t.Fatalf("DataTypeDefinition: %v %v", err, resp)
	}
	def, ok := resp.Results[0].Value.Value().(*ua.ExtensionObject).Value.(*ua.StructureDefinition)
	if !ok || len(def.Fields) != 5 || def.Fields[2].Name != "Unit" || def.Fields[2].DataType.String() != "i=887" ||
		def.DefaultEncodingID.String() != fmt.Sprintf("ns=%d;i=69", pk) {
		t.Errorf("PackMLCountDataType definition: %+v", resp.Results[0].Value.Value())
	}
}

// TestAddressSpaceNamespaces: the PackML types are namespace 1 and the
// line namespace 2 (the client-side decoding in these tests relies on it).
func TestAddressSpaceNamespaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	srv := startServer(ctx, t, packtags.Options{Source: apitest.New(nil, apitest.GTIN, 10)})
	c := connect(ctx, t, srv.Endpoint())
	for uri, want := range map[string]uint16{packtags.PackMLNamespace: 1, packtags.Namespace: 2} {
		if got, err := c.FindNamespace(ctx, uri); err != nil || got != want {
			t.Errorf("namespace %s: %d %v, want %d", uri, got, err, want)
		}
	}
}
