package packtags

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// Root is the string node id of the line's PackML machine object (of type
// PackMLBaseObjectType, organized by the PackMLObjects folder); its members'
// node ids are their browse paths below it, "PackTags.Status.CurMachSpeed",
// "PackTags.BaseStateMachine.MachineState.ExecuteState.CurrentState".
const Root = "PackTags"

// The type model's node ids (namespace index 1 in the node set).
const (
	pkBaseObjectType  = 6
	pkModeEnum        = 11
	pkCountDataType   = 14
	pkAlarmDataType   = 15
	pkObjectsFolder   = 72
	pkHierarchicalSup = 47 // the PackML reference types are subtypes of HasComponent
)

// optional lists the optional members of the OPC 30050 types the line
// serves, by browse path below the machine object. Every mandatory member
// is served.
var optional = map[string]bool{
	"PackMLVersion": true, "TagID": true,
	"Status.StateChangeInProcess": true,
	"Admin.ProdProcessedCount":    true, "Admin.ProdDefectiveCount": true, "Admin.ProdConsumedCount": true,
	"Admin.MachDesignSpeed": true, "Admin.Alarm": true, "Admin.AlarmExtent": true,
	"Admin.Warning": true, "Admin.WarningExtent": true,
	"BaseStateMachine.Abort": true, "BaseStateMachine.Clear": true,
	"BaseStateMachine.MachineState.Stop": true, "BaseStateMachine.MachineState.Reset": true,
	"BaseStateMachine.MachineState.ExecuteState.Start": true, "BaseStateMachine.MachineState.ExecuteState.Hold": true,
	"BaseStateMachine.MachineState.ExecuteState.Unhold": true, "BaseStateMachine.MachineState.ExecuteState.Suspend": true,
	"BaseStateMachine.MachineState.ExecuteState.Unsuspend": true, "BaseStateMachine.MachineState.ExecuteState.ToComplete": true,
	"BaseStateMachine.MachineState.ExecuteState.Reset": true,
}

// model is the built address space: the PackML type namespace, the line's
// namespace and the instance's nodes by browse path.
type model struct {
	pk, ln  *space
	types   map[string]*tnode // node set id -> node
	paths   map[string]*entry // browse path below Root ("" = Root) -> node
	methods map[string]string // method node id string -> browse path
}

// pkID maps a node set node id ("ns=1;i=5", "i=58") onto the server's
// namespace indexes.
func (m *model) pkID(s string) *ua.NodeID {
	if rest, ok := strings.CutPrefix(s, "ns=1;"); ok {
		s = fmt.Sprintf("ns=%d;%s", m.pk.id, rest)
	}
	return ua.MustParseNodeID(s)
}

func (m *model) pkNum(n uint32) *ua.NodeID { return ua.NewNumericNodeID(m.pk.id, n) }

func nodeClass(c string) ua.NodeClass {
	switch c {
	case "Object":
		return ua.NodeClassObject
	case "Variable":
		return ua.NodeClassVariable
	case "Method":
		return ua.NodeClassMethod
	case "ObjectType":
		return ua.NodeClassObjectType
	case "VariableType":
		return ua.NodeClassVariableType
	case "DataType":
		return ua.NodeClassDataType
	case "ReferenceType":
		return ua.NodeClassReferenceType
	}
	return ua.NodeClassUnspecified
}

func dims(s string) []uint32 {
	if s == "" {
		return []uint32{}
	}
	var out []uint32
	for _, p := range strings.Split(s, ",") {
		v, _ := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
		out = append(out, uint32(v))
	}
	return out
}

// buildTypes serves the OPC 30050 type model (model_gen.go) in its own
// namespace, with its references into namespace 0 (HasSubtype from the
// base types, Organizes from Objects to PackMLObjects) made browsable from
// both ends.
func (m *model) buildTypes(rt *refTypes) {
	m.types = map[string]*tnode{}
	for i := range typeModel {
		t := &typeModel[i]
		m.types[t.ID] = t
	}
	for i := range typeModel {
		t := &typeModel[i]
		nid := m.pkID(t.ID)
		cls := nodeClass(t.Class)
		attrs := map[ua.AttributeID]*ua.DataValue{}
		switch cls {
		case ua.NodeClassVariable, ua.NodeClassVariableType:
			attrs[ua.AttributeIDDataType] = server.DataValueFromValue(m.pkID(t.DataType))
			attrs[ua.AttributeIDValueRank] = server.DataValueFromValue(t.Rank)
			attrs[ua.AttributeIDArrayDimensions] = server.DataValueFromValue(dims(t.Dims))
		case ua.NodeClassMethod:
			attrs[ua.AttributeIDExecutable] = server.DataValueFromValue(false) // declarations are not callable
			attrs[ua.AttributeIDUserExecutable] = server.DataValueFromValue(false)
		case ua.NodeClassReferenceType:
			attrs[ua.AttributeIDSymmetric] = server.DataValueFromValue(t.Symmetric)
			attrs[ua.AttributeIDInverseName] = server.DataValueFromValue(lt(t.Inverse))
		case ua.NodeClassDataType:
			if def := m.definition(t); def != nil {
				attrs[ua.AttributeIDDataTypeDefinition] = server.DataValueFromValue(def)
			}
		}
		if t.Abstract {
			attrs[ua.AttributeIDIsAbstract] = server.DataValueFromValue(true)
		}
		desc := t.Desc
		e := m.pk.add(nid, cls, &ua.QualifiedName{NamespaceIndex: nsOf(t.NS, m.pk.id), Name: t.Name}, t.Display, desc, attrs)
		if v := m.staticValue(t.Value); v != nil {
			dv := server.DataValueFromValue(v)
			e.value = func() *ua.DataValue { return dv }
		}
		if cls == ua.NodeClassReferenceType {
			for _, r := range t.Refs {
				if r.Type == "i=45" && !r.Forward {
					rt.add(nid, m.pkID(r.Target))
				}
			}
		}
	}
	// References, each once, from whichever end lists it.
	type triple struct{ a, t, b string }
	seen := map[triple]bool{}
	for i := range typeModel {
		t := &typeModel[i]
		for _, r := range t.Refs {
			tr := triple{t.ID, r.Type, r.Target}
			if !r.Forward {
				tr = triple{r.Target, r.Type, t.ID}
			}
			if seen[tr] {
				continue
			}
			seen[tr] = true
			rtID := m.pkID(tr.t)
			if a := m.pk.get(m.pkID(tr.a)); a != nil {
				m.pk.ref(a, rtID.IntID(), rtID.Namespace(), m.pkID(tr.b), true)
			} else if b := m.pk.get(m.pkID(tr.b)); b != nil {
				m.pk.ref(b, rtID.IntID(), rtID.Namespace(), m.pkID(tr.a), false)
			}
		}
	}
}

func nsOf(ns, pk uint16) uint16 {
	if ns == 1 {
		return pk
	}
	return ns
}

// definition is a data type's DataTypeDefinition attribute (OPC UA 1.04):
// clients decode PackMLCountDataType and the other structures from it.
func (m *model) definition(t *tnode) *ua.ExtensionObject {
	if len(t.Def) == 0 {
		return nil
	}
	enum := true
	for _, f := range t.Def {
		if f.DataType != "" {
			enum = false
		}
	}
	if enum {
		d := &ua.EnumDefinition{}
		for _, f := range t.Def {
			d.Fields = append(d.Fields, &ua.EnumField{Value: f.Value, DisplayName: lt(f.Name), Description: lt(f.Desc), Name: f.Name})
		}
		return ua.NewExtensionObject(d)
	}
	d := &ua.StructureDefinition{BaseDataType: ua.NewNumericNodeID(0, id.Structure), StructureType: ua.StructureTypeStructure}
	for _, r := range t.Refs {
		if r.Type == "i=38" && r.Forward {
			if enc := m.types[r.Target]; enc != nil && enc.Name == "Default Binary" {
				d.DefaultEncodingID = m.pkID(r.Target)
			}
		}
	}
	for _, f := range t.Def {
		d.Fields = append(d.Fields, &ua.StructureField{Name: f.Name, Description: lt(f.Desc), DataType: m.pkID(f.DataType),
			ValueRank: f.Rank, ArrayDimensions: []uint32{}})
	}
	return ua.NewExtensionObject(d)
}

// staticValue turns a generated value into a variant value.
func (m *model) staticValue(v any) any {
	switch x := v.(type) {
	case string, uint32, int32, bool:
		return x
	case []targ:
		out := make([]*ua.ExtensionObject, len(x))
		for i, a := range x {
			dims := a.Dims
			if dims == nil {
				dims = []uint32{}
			}
			out[i] = ua.NewExtensionObject(&ua.Argument{Name: a.Name, DataType: m.pkID(a.DataType), ValueRank: a.Rank,
				ArrayDimensions: dims, Description: lt(a.Desc)})
		}
		return out
	case []tenum:
		out := make([]*ua.ExtensionObject, len(x))
		for i, e := range x {
			out[i] = ua.NewExtensionObject(&ua.EnumValueType{Value: e.Value, DisplayName: lt(e.Name), Description: lt(e.Desc)})
		}
		return out
	}
	return nil
}

// hierarchical: the reference types of instance declarations.
func (m *model) hierarchical(t string) bool {
	switch t {
	case "i=46", "i=47", "i=35", "i=49":
		return true
	}
	if n := m.types[t]; n != nil && n.Class == "ReferenceType" {
		for _, r := range n.Refs {
			if r.Type == "i=45" && !r.Forward {
				return m.hierarchical(r.Target)
			}
		}
	}
	return false
}

func rule(t *tnode) string {
	for _, r := range t.Refs {
		if r.Type == "i=37" && r.Forward {
			return r.Target
		}
	}
	return ""
}

func typeDef(t *tnode) string {
	for _, r := range t.Refs {
		if r.Type == "i=40" && r.Forward {
			return r.Target
		}
	}
	return ""
}

// member is one instance declaration: the reference from its parent and
// the declaration node.
type member struct {
	ref  string
	decl *tnode
}

// members lists the instance declarations below node t (a type or an
// instance declaration) with a modelling rule, in node set order.
func (m *model) members(t *tnode) []member {
	var out []member
	for _, r := range t.Refs {
		if !r.Forward || !m.hierarchical(r.Type) {
			continue
		}
		if d := m.types[r.Target]; d != nil && rule(d) != "" {
			out = append(out, member{r.Type, d})
		}
	}
	return out
}

// typeMembers are the instance declarations of a PackML type and its PackML
// supertypes (the namespace 0 supertypes add no member a PackML
// declaration does not already declare).
func (m *model) typeMembers(typeID string) []member {
	t := m.types[typeID]
	if t == nil {
		return nil
	}
	out := m.members(t)
	for _, r := range t.Refs {
		if r.Type == "i=45" && !r.Forward {
			out = append(out, m.typeMembers(r.Target)...)
		}
	}
	return out
}

// instantiate creates the instance of declaration decl below parent
// (browse path path), with the declaration's own members and those of its
// type definition not declared again, mandatory ones always and optional
// ones when listed in optional.
func (m *model) instantiate(parent *entry, refType string, path string, decl *tnode) {
	nid := ua.NewStringNodeID(m.ln.id, Root+"."+path)
	cls := nodeClass(decl.Class)
	attrs := map[ua.AttributeID]*ua.DataValue{}
	if cls == ua.NodeClassVariable {
		dt := m.pkID(decl.DataType)
		if path == "Status.UnitModeCurrent" {
			dt = m.pkNum(pkModeEnum) // the concrete enumeration (a subtype of the declared Enumeration)
		}
		attrs[ua.AttributeIDDataType] = server.DataValueFromValue(dt)
		attrs[ua.AttributeIDValueRank] = server.DataValueFromValue(decl.Rank)
		attrs[ua.AttributeIDArrayDimensions] = server.DataValueFromValue(dims(decl.Dims))
	}
	if cls == ua.NodeClassMethod {
		attrs[ua.AttributeIDExecutable] = server.DataValueFromValue(true)
		attrs[ua.AttributeIDUserExecutable] = server.DataValueFromValue(true)
		m.methods[nid.String()] = path
	}
	e := m.ln.add(nid, cls, &ua.QualifiedName{NamespaceIndex: nsOf(decl.NS, m.pk.id), Name: decl.Name}, decl.Display, decl.Desc, attrs)
	if v := m.staticValue(decl.Value); v != nil {
		dv := server.DataValueFromValue(v)
		e.value = func() *ua.DataValue { return dv }
	}
	m.paths[path] = e
	if td := typeDef(decl); td != "" {
		m.ln.ref(e, id.HasTypeDefinition, 0, m.pkID(td), true)
	}
	rt := m.pkID(refType)
	m.ln.ref(parent, rt.IntID(), rt.Namespace(), nid, true)
	done := map[string]bool{}
	for _, mem := range append(m.members(decl), m.typeMembers(typeDef(decl))...) {
		if done[mem.decl.Name] {
			continue
		}
		done[mem.decl.Name] = true
		p := mem.decl.Name
		if path != "" {
			p = path + "." + p
		}
		switch rule(mem.decl) {
		case "i=78": // Mandatory
		case "i=80": // Optional
			if !optional[p] {
				continue
			}
		default:
			continue
		}
		m.instantiate(e, mem.ref, p, mem.decl)
	}
}

// buildInstance creates the machine object below PackMLObjects and its
// members, and the Serialine object with the line's own tags.
func (m *model) buildInstance(name string) {
	m.paths = map[string]*entry{}
	m.methods = map[string]string{}
	folder := m.pk.get(m.pkNum(pkObjectsFolder))
	rootID := ua.NewStringNodeID(m.ln.id, Root)
	root := m.ln.add(rootID, ua.NodeClassObject, &ua.QualifiedName{NamespaceIndex: m.ln.id, Name: name}, name,
		"PackML machine (OPC 30050 PackMLBaseObjectType) of the serialization line", nil)
	m.paths[""] = root
	m.ln.ref(root, id.HasTypeDefinition, 0, m.pkNum(pkBaseObjectType), true)
	m.pk.ref(folder, id.Organizes, 0, rootID, true)
	base := m.types["ns=1;i=6"]
	for _, mem := range m.typeMembers(base.ID) {
		switch r := rule(mem.decl); {
		case r == "i=78", r == "i=80" && optional[mem.decl.Name]:
			m.instantiate(root, mem.ref, mem.decl.Name, mem.decl)
		}
	}
	// The line's own tags, beside the standard ones.
	sid := ua.NewStringNodeID(m.ln.id, Root+".Serialine")
	so := m.ln.add(sid, ua.NodeClassObject, &ua.QualifiedName{NamespaceIndex: m.ln.id, Name: "Serialine"}, "",
		"Serialization tags of the line (not part of OPC 30050)", nil)
	m.ln.ref(so, id.HasTypeDefinition, 0, ua.NewNumericNodeID(0, id.BaseObjectType), true)
	m.ln.ref(root, id.HasComponent, 0, sid, true)
	m.paths["Serialine"] = so
	for _, t := range serialineTags {
		vid := ua.NewStringNodeID(m.ln.id, Root+".Serialine."+t.name)
		e := m.ln.add(vid, ua.NodeClassVariable, &ua.QualifiedName{NamespaceIndex: m.ln.id, Name: t.name}, "", t.desc,
			map[ua.AttributeID]*ua.DataValue{
				ua.AttributeIDDataType:        server.DataValueFromValue(ua.NewNumericNodeID(0, t.dataType)),
				ua.AttributeIDValueRank:       server.DataValueFromValue(int32(-1)),
				ua.AttributeIDArrayDimensions: server.DataValueFromValue([]uint32{}),
			})
		m.ln.ref(e, id.HasTypeDefinition, 0, ua.NewNumericNodeID(0, id.BaseDataVariableType), true)
		m.ln.ref(so, id.HasComponent, 0, vid, true)
		m.paths["Serialine."+t.name] = e
	}
}

// serialineTags are the line's own variables below PackTags.Serialine.
var serialineTags = []struct {
	name     string
	dataType uint32
	desc     string
}{
	{"StateCurrent", id.Int32, "PackML state number of ISA-TR88.00.02 (Idle 4, Execute 6, Held 11, Complete 17…)"},
	{"StateCurrentName", id.String, "PackML state name"},
	{"UnitModeCurrentName", id.String, "unit mode name (Production, Maintenance, Manual)"},
	{"BatchID", id.String, "current batch"},
	{"BatchTarget", id.Int32, "target quantity of the current batch"},
	{"ProdGoodCount", id.Int32, "commissioned units of the current batch"},
	{"PrinterQueue", id.Int32, "records in the printer queue"},
	{"PoolAvailable", id.Int32, "serial numbers available locally for the batch's GTIN"},
	{"DevicesDown", id.Int32, "devices whose link is not up"},
	{"AlarmCount", id.Int32, "active or unacknowledged alarms"},
}
