package packtags

import (
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// space is one namespace of the PackTags address space (the PackML type
// model, or the line's instance). It implements gopcua's server.NameSpace
// itself instead of using server.NodeNameSpace, because that one, in
// v0.8.0, cannot serve what the companion specification needs: its Browse
// reports a variable's data type as the reference's TypeDefinition, its
// nodes have no ValueRank, ArrayDimensions, IsAbstract or
// DataTypeDefinition attributes, and its Read answers attributes a node
// class does not have.
type space struct {
	srv  *server.Server
	uri  string
	id   uint16
	refs *refTypes

	mu    sync.RWMutex
	nodes map[string]*entry // by NodeID.String()
}

// entry is one node of a space.
type entry struct {
	id    *ua.NodeID
	class ua.NodeClass
	attrs map[ua.AttributeID]*ua.DataValue // static attributes (Value excluded)
	value func() *ua.DataValue             // variables
	refs  []*ua.ReferenceDescription
	// typeDef is the target of the node's HasTypeDefinition reference.
	typeDef *ua.ExpandedNodeID
	// gopcua's view of the node, for the server's own cross-namespace
	// look-ups (Browse of namespace 0 asks it for type definitions).
	node *server.Node
}

func newSpace(srv *server.Server, uri string, rt *refTypes) *space {
	s := &space{srv: srv, uri: uri, refs: rt, nodes: map[string]*entry{}}
	srv.AddNamespace(s)
	return s
}

// server.NameSpace

func (s *space) Name() string          { return s.uri }
func (s *space) ID() uint16            { return s.id }
func (s *space) SetID(id uint16)       { s.id = id }
func (s *space) Objects() *server.Node { return nil }
func (s *space) Root() *server.Node    { return nil }

// AddNode is part of server.NameSpace; the PackTags spaces are built with
// add, so nodes handed in from outside are refused (nil).
func (s *space) AddNode(*server.Node) *server.Node { return nil }

func (s *space) Node(nid *ua.NodeID) *server.Node {
	if e := s.get(nid); e != nil {
		return e.node
	}
	return nil
}

func (s *space) get(nid *ua.NodeID) *entry {
	if nid == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes[nid.String()]
}

// add creates a node; attrs are its static attributes beyond NodeId,
// NodeClass, BrowseName, DisplayName, Description.
func (s *space) add(nid *ua.NodeID, class ua.NodeClass, browse *ua.QualifiedName, display, desc string, attrs map[ua.AttributeID]*ua.DataValue) *entry {
	if attrs == nil {
		attrs = map[ua.AttributeID]*ua.DataValue{}
	}
	if display == "" {
		display = browse.Name
	}
	attrs[ua.AttributeIDNodeClass] = server.DataValueFromValue(int32(class))
	attrs[ua.AttributeIDBrowseName] = server.DataValueFromValue(browse)
	attrs[ua.AttributeIDDisplayName] = server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: display})
	attrs[ua.AttributeIDDescription] = server.DataValueFromValue(lt(desc))
	attrs[ua.AttributeIDWriteMask] = server.DataValueFromValue(uint32(0))
	attrs[ua.AttributeIDUserWriteMask] = server.DataValueFromValue(uint32(0))
	switch class {
	case ua.NodeClassObject:
		attrs[ua.AttributeIDEventNotifier] = server.DataValueFromValue(uint8(0))
	case ua.NodeClassVariable:
		ro := server.DataValueFromValue(uint8(ua.AccessLevelTypeCurrentRead))
		attrs[ua.AttributeIDAccessLevel] = ro
		attrs[ua.AttributeIDUserAccessLevel] = ro
		attrs[ua.AttributeIDMinimumSamplingInterval] = server.DataValueFromValue(float64(0))
		attrs[ua.AttributeIDHistorizing] = server.DataValueFromValue(false)
	case ua.NodeClassObjectType, ua.NodeClassVariableType, ua.NodeClassDataType, ua.NodeClassReferenceType:
		if attrs[ua.AttributeIDIsAbstract] == nil {
			attrs[ua.AttributeIDIsAbstract] = server.DataValueFromValue(false)
		}
	}
	e := &entry{id: nid, class: class, attrs: attrs}
	// gopcua's Node wants uint32 node classes and reads a type definition
	// from its own references.
	gattrs := map[ua.AttributeID]*ua.DataValue{}
	for k, v := range attrs {
		gattrs[k] = v
	}
	gattrs[ua.AttributeIDNodeClass] = server.DataValueFromValue(uint32(class))
	if class == ua.NodeClassVariable {
		gattrs[ua.AttributeIDAccessLevel] = server.DataValueFromValue(uint8(ua.AccessLevelTypeCurrentRead))
	}
	e.node = server.NewNode(nid, gattrs, nil, func() *ua.DataValue { return e.read() })
	s.mu.Lock()
	s.nodes[nid.String()] = e
	s.mu.Unlock()
	return e
}

func lt(text string) *ua.LocalizedText {
	l := &ua.LocalizedText{Text: text}
	l.UpdateMask()
	return l
}

func (e *entry) read() *ua.DataValue {
	if e.value == nil {
		return nil
	}
	return e.value()
}

// browseName of a node of any namespace (nil when unknown).
func (s *space) describe(nid *ua.NodeID) (*ua.QualifiedName, *ua.LocalizedText, ua.NodeClass, *ua.ExpandedNodeID) {
	ns, err := s.srv.Namespace(int(nid.Namespace()))
	if err != nil {
		return nil, nil, 0, nil
	}
	if sp, ok := ns.(*space); ok {
		e := sp.get(nid)
		if e == nil {
			return nil, nil, 0, nil
		}
		bn, _ := e.attrs[ua.AttributeIDBrowseName].Value.Value().(*ua.QualifiedName)
		dn, _ := e.attrs[ua.AttributeIDDisplayName].Value.Value().(*ua.LocalizedText)
		td := e.typeDef
		if td == nil {
			td = ua.NewTwoByteExpandedNodeID(0)
		}
		return bn, dn, e.class, td
	}
	n := ns.Node(nid)
	if n == nil {
		return nil, nil, 0, nil
	}
	return n.BrowseName(), n.DisplayName(), n.NodeClass(), ua.NewTwoByteExpandedNodeID(0)
}

// ref adds a reference from a (a node of s) to b (any namespace) and, when
// b is in a PackTags space, the inverse one on b; for b in gopcua's own
// namespace 0 the inverse is added to gopcua's node (AddRef).
func (s *space) ref(a *entry, rt uint32, rtNS uint16, b *ua.NodeID, forward bool) {
	bn, dn, cls, td := s.describe(b)
	if bn == nil {
		return // a target the server does not have (e.g. a namespace 0 node gopcua lacks)
	}
	rid := ua.NewNumericNodeID(rtNS, rt)
	a.refs = append(a.refs, &ua.ReferenceDescription{ReferenceTypeID: rid, IsForward: forward,
		NodeID: ua.NewExpandedNodeID(b, "", 0), BrowseName: bn, DisplayName: dn, NodeClass: cls, TypeDefinition: td})
	if forward && rtNS == 0 && rt == id.HasTypeDefinition {
		a.typeDef = ua.NewExpandedNodeID(b, "", 0)
	}
	ns, err := s.srv.Namespace(int(b.Namespace()))
	if err != nil {
		return
	}
	abn, _ := a.attrs[ua.AttributeIDBrowseName].Value.Value().(*ua.QualifiedName)
	adn, _ := a.attrs[ua.AttributeIDDisplayName].Value.Value().(*ua.LocalizedText)
	atd := a.typeDef
	if atd == nil {
		atd = ua.NewTwoByteExpandedNodeID(0)
	}
	if rtNS == 0 && (rt == id.HasTypeDefinition || rt == id.HasModellingRule) {
		return // not browsable backwards from the type (as most servers do)
	}
	if sp, ok := ns.(*space); ok {
		if e := sp.get(b); e != nil {
			sp.mu.Lock()
			e.refs = append(e.refs, &ua.ReferenceDescription{ReferenceTypeID: rid, IsForward: !forward,
				NodeID: ua.NewExpandedNodeID(a.id, "", 0), BrowseName: abn, DisplayName: adn, NodeClass: a.class, TypeDefinition: atd})
			sp.mu.Unlock()
		}
		return
	}
	if n := ns.Node(b); n != nil && rtNS == 0 {
		n.AddRef(a.node, server.RefType(rt), !forward)
	}
}

// Browse implements server.NameSpace: every reference of the node that
// matches the direction, reference type (with subtypes) and node class
// mask, HasTypeDefinition first; no continuation points (BrowseNext is not
// served by gopcua v0.8.0), so all references come in one answer.
func (s *space) Browse(bd *ua.BrowseDescription) *ua.BrowseResult {
	e := s.get(bd.NodeID)
	if e == nil {
		return &ua.BrowseResult{StatusCode: ua.StatusBadNodeIDUnknown}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*ua.ReferenceDescription
	for _, r := range e.refs {
		switch bd.BrowseDirection {
		case ua.BrowseDirectionForward:
			if !r.IsForward {
				continue
			}
		case ua.BrowseDirectionInverse:
			if r.IsForward {
				continue
			}
		}
		if !s.refs.matches(bd.ReferenceTypeID, r.ReferenceTypeID, bd.IncludeSubtypes) {
			continue
		}
		if bd.NodeClassMask != 0 && bd.NodeClassMask&uint32(r.NodeClass) == 0 {
			continue
		}
		rd := *r
		if r.ReferenceTypeID.Namespace() == 0 && r.ReferenceTypeID.IntID() == id.HasTypeDefinition && r.IsForward {
			out = append([]*ua.ReferenceDescription{&rd}, out...)
			continue
		}
		out = append(out, &rd)
	}
	return &ua.BrowseResult{StatusCode: ua.StatusGood, References: out}
}

// Attribute implements server.NameSpace: the node's attributes, the Value
// of variables from their value function; attributes a node does not have
// are BadAttributeIdInvalid.
func (s *space) Attribute(nid *ua.NodeID, attr ua.AttributeID) *ua.DataValue {
	e := s.get(nid)
	if e == nil {
		return bad(ua.StatusBadNodeIDUnknown)
	}
	switch attr {
	case ua.AttributeIDNodeID:
		return server.DataValueFromValue(e.id)
	case ua.AttributeIDValue:
		if e.class != ua.NodeClassVariable && e.class != ua.NodeClassVariableType {
			return bad(ua.StatusBadAttributeIDInvalid)
		}
		v := e.read()
		if v == nil {
			return bad(ua.StatusBadAttributeIDInvalid)
		}
		return v
	}
	s.mu.RLock()
	v := e.attrs[attr]
	s.mu.RUnlock()
	if v == nil {
		return bad(ua.StatusBadAttributeIDInvalid)
	}
	return v
}

// SetAttribute implements server.NameSpace: nothing is writable (the Write
// service is answered by refuseWrites before it gets here).
func (s *space) SetAttribute(*ua.NodeID, ua.AttributeID, *ua.DataValue) ua.StatusCode {
	return ua.StatusBadNotWritable
}

func bad(code ua.StatusCode) *ua.DataValue {
	return &ua.DataValue{EncodingMask: ua.DataValueServerTimestamp | ua.DataValueStatusCode, ServerTimestamp: time.Now(), Status: code}
}

// refTypes is the reference type hierarchy Browse filters with: namespace
// 0's standard reference types and the PackML ones.
type refTypes struct {
	parent map[string]*ua.NodeID // reference type -> its supertype
}

func newRefTypes() *refTypes {
	rt := &refTypes{parent: map[string]*ua.NodeID{}}
	for child, parent := range map[uint32]uint32{
		id.HierarchicalReferences: id.References, id.NonHierarchicalReferences: id.References,
		id.HasChild: id.HierarchicalReferences, id.Organizes: id.HierarchicalReferences,
		id.HasEventSource: id.HierarchicalReferences, id.Aggregates: id.HasChild, id.HasSubtype: id.HasChild,
		id.HasComponent: id.Aggregates, id.HasProperty: id.Aggregates, id.HasOrderedComponent: id.HasComponent,
		id.HasTypeDefinition: id.NonHierarchicalReferences, id.HasModellingRule: id.NonHierarchicalReferences,
		id.HasEncoding: id.NonHierarchicalReferences, id.HasDescription: id.NonHierarchicalReferences,
		id.GeneratesEvent: id.NonHierarchicalReferences, id.FromState: id.NonHierarchicalReferences,
		id.ToState: id.NonHierarchicalReferences, id.HasCause: id.NonHierarchicalReferences,
		id.HasEffect: id.NonHierarchicalReferences, id.HasSubStateMachine: id.NonHierarchicalReferences,
	} {
		rt.parent[ua.NewNumericNodeID(0, child).String()] = ua.NewNumericNodeID(0, parent)
	}
	return rt
}

func (rt *refTypes) add(child, parent *ua.NodeID) { rt.parent[child.String()] = parent }

// matches reports whether reference type got is want or (with subtypes) a
// subtype of it; a null want matches everything.
func (rt *refTypes) matches(want, got *ua.NodeID, subtypes bool) bool {
	if want == nil || (want.Namespace() == 0 && want.IntID() == 0) {
		return true
	}
	for n, t := 0, got; t != nil && n < 16; n++ {
		if t.String() == want.String() {
			return true
		}
		if !subtypes {
			return false
		}
		t = rt.parent[t.String()]
	}
	return false
}
