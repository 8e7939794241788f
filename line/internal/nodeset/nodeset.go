// Package nodeset reads an OPC UA NodeSet2 XML file (UANodeSet schema,
// OPC 10000-6 Annex F) into plain Go values: every node with its class,
// browse name, data type, value rank, references (aliases resolved to node
// ids), simple values, method arguments, enumeration values and data type
// definitions. It is what the PackTags and Open-SCS generators and the
// tests that hold the served address space against a companion
// specification's node set read; it does not build an address space
// itself.
package nodeset

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error about a malformed node set.
var ErrInvalid = errors.New("nodeset: invalid node set")

// Standard node ids (namespace 0) the package and its users refer to.
const (
	Organizes          = "i=35"
	HasModellingRule   = "i=37"
	HasEncoding        = "i=38"
	HasTypeDefinition  = "i=40"
	HasSubtype         = "i=45"
	HasProperty        = "i=46"
	HasComponent       = "i=47"
	HasSubStateMachine = "i=117"
	FromState          = "i=51"
	ToState            = "i=52"
	HasCause           = "i=53"

	Mandatory = "i=78"
	Optional  = "i=80"
	// OptionalPlaceholder and MandatoryPlaceholder mark placeholders.
	OptionalPlaceholder  = "i=11508"
	MandatoryPlaceholder = "i=11510"
)

// Class is a node class as NodeSet2 spells it (the element name without
// "UA").
type Class string

// The node classes.
const (
	Object        Class = "Object"
	Variable      Class = "Variable"
	Method        Class = "Method"
	ObjectType    Class = "ObjectType"
	VariableType  Class = "VariableType"
	DataType      Class = "DataType"
	ReferenceType Class = "ReferenceType"
	View          Class = "View"
)

// Ref is one reference of a node.
type Ref struct {
	Type    string // reference type node id ("i=47", "ns=1;i=22")
	Forward bool
	Target  string // node id
}

// Argument is one method argument (an InputArguments/OutputArguments
// property value).
type Argument struct {
	Name            string
	DataType        string // node id
	ValueRank       int
	ArrayDimensions []uint32
	Description     string
}

// EnumValue is one entry of an EnumValues property.
type EnumValue struct {
	Value       int64
	DisplayName string
	Description string
}

// Field is one field of a data type definition (structure or enumeration).
type Field struct {
	Name            string
	DataType        string // node id ("" for enumeration fields)
	ValueRank       int
	ArrayDimensions string
	Value           int64 // enumeration value
	IsOptional      bool
	Description     string
}

// Definition is a data type's definition.
type Definition struct {
	Name    string
	IsUnion bool
	Fields  []Field
}

// Node is one node of the set.
type Node struct {
	ID              string
	Class           Class
	BrowseNS        int    // namespace index of the browse name (0 when unqualified)
	Name            string // browse name without the namespace prefix
	SymbolicName    string
	DisplayName     string
	Description     string
	Documentation   string
	Parent          string
	DataType        string // node id (variables and variable types)
	ValueRank       int    // -1 scalar when absent
	ArrayDimensions string
	IsAbstract      bool
	Symmetric       bool
	InverseName     string
	EventNotifier   uint8
	AccessLevel     uint8 // 1 (CurrentRead) when absent
	Refs            []Ref
	Definition      *Definition
	// Value of a variable whose value the set gives, decoded for the kinds
	// in use: string, bool, int32, uint32, float64 ("Double"/"Float"),
	// []Argument (method arguments), []EnumValue; nil otherwise.
	Value any
}

// Set is a loaded node set.
type Set struct {
	// URIs are the set's namespace URIs: URIs[0] is namespace index 1 in
	// the file's node ids.
	URIs []string
	// Model is the first model's URI, version and publication date.
	ModelURI, ModelVersion, PublicationDate string
	// Aliases maps an alias to its node id.
	Aliases map[string]string
	// Nodes by node id, and the ids in file order.
	Nodes map[string]*Node
	Order []string
}

// Load reads a NodeSet2 XML file.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nodeset: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("nodeset: %s: %w", path, err)
	}
	return s, nil
}

type xmlSet struct {
	URIs   []string `xml:"NamespaceUris>Uri"`
	Models []struct {
		URI     string `xml:"ModelUri,attr"`
		Version string `xml:"Version,attr"`
		Date    string `xml:"PublicationDate,attr"`
	} `xml:"Models>Model"`
	Aliases []struct {
		Name string `xml:"Alias,attr"`
		ID   string `xml:",chardata"`
	} `xml:"Aliases>Alias"`
	Nodes []xmlNode `xml:",any"`
}

type xmlNode struct {
	XMLName       xml.Name
	ID            string `xml:"NodeId,attr"`
	BrowseName    string `xml:"BrowseName,attr"`
	SymbolicName  string `xml:"SymbolicName,attr"`
	Parent        string `xml:"ParentNodeId,attr"`
	DataType      string `xml:"DataType,attr"`
	ValueRank     string `xml:"ValueRank,attr"`
	ArrayDims     string `xml:"ArrayDimensions,attr"`
	IsAbstract    string `xml:"IsAbstract,attr"`
	Symmetric     string `xml:"Symmetric,attr"`
	EventNotifier string `xml:"EventNotifier,attr"`
	AccessLevel   string `xml:"AccessLevel,attr"`
	DisplayName   string `xml:"DisplayName"`
	Description   string `xml:"Description"`
	Documentation string `xml:"Documentation"`
	InverseName   string `xml:"InverseName"`
	Refs          []struct {
		Type    string `xml:"ReferenceType,attr"`
		Forward string `xml:"IsForward,attr"`
		Target  string `xml:",chardata"`
	} `xml:"References>Reference"`
	Definition *struct {
		Name    string     `xml:"Name,attr"`
		IsUnion string     `xml:"IsUnion,attr"`
		Fields  []xmlField `xml:"Field"`
	} `xml:"Definition"`
	Value *xmlValue `xml:"Value"`
}

type xmlField struct {
	Name       string `xml:"Name,attr"`
	DataType   string `xml:"DataType,attr"`
	ValueRank  string `xml:"ValueRank,attr"`
	ArrayDims  string `xml:"ArrayDimensions,attr"`
	Value      string `xml:"Value,attr"`
	IsOptional string `xml:"IsOptional,attr"`
	Desc       string `xml:"Description"`
}

type xmlValue struct {
	Inner []byte `xml:",innerxml"`
}

type xmlScalars struct {
	String  *string `xml:"String"`
	Boolean *string `xml:"Boolean"`
	Int32   *string `xml:"Int32"`
	UInt32  *string `xml:"UInt32"`
	Double  *string `xml:"Double"`
	Float   *string `xml:"Float"`
	List    *struct {
		EOs []struct {
			Arg *struct {
				Name      string `xml:"Name"`
				DataType  string `xml:"DataType>Identifier"`
				ValueRank string `xml:"ValueRank"`
				ArrayDims []struct {
					V string `xml:"UInt32"`
				} `xml:"ArrayDimensions"`
				Desc string `xml:"Description>Text"`
			} `xml:"Body>Argument"`
			Enum *struct {
				Value string `xml:"Value"`
				Name  string `xml:"DisplayName>Text"`
				Desc  string `xml:"Description>Text"`
			} `xml:"Body>EnumValueType"`
		} `xml:"ExtensionObject"`
	} `xml:"ListOfExtensionObject"`
}

// Parse decodes NodeSet2 XML.
func Parse(b []byte) (*Set, error) {
	var x xmlSet
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s := &Set{URIs: x.URIs, Aliases: map[string]string{}, Nodes: map[string]*Node{}}
	if len(x.Models) > 0 {
		s.ModelURI, s.ModelVersion, s.PublicationDate = x.Models[0].URI, x.Models[0].Version, x.Models[0].Date
	}
	for _, a := range x.Aliases {
		s.Aliases[a.Name] = strings.TrimSpace(a.ID)
	}
	for _, xn := range x.Nodes {
		name := xn.XMLName.Local
		if !strings.HasPrefix(name, "UA") || xn.ID == "" {
			continue
		}
		n, err := s.node(xn)
		if err != nil {
			return nil, err
		}
		if _, dup := s.Nodes[n.ID]; dup {
			return nil, fmt.Errorf("%w: node %s defined twice", ErrInvalid, n.ID)
		}
		s.Nodes[n.ID] = n
		s.Order = append(s.Order, n.ID)
	}
	return s, nil
}

// resolve turns an alias or a node id into a node id.
func (s *Set) resolve(v string) string {
	v = strings.TrimSpace(v)
	if id, ok := s.Aliases[v]; ok {
		return id
	}
	return v
}

func (s *Set) node(xn xmlNode) (*Node, error) {
	n := &Node{ID: strings.TrimSpace(xn.ID), Class: Class(strings.TrimPrefix(xn.XMLName.Local, "UA")),
		SymbolicName: xn.SymbolicName, DisplayName: strings.TrimSpace(xn.DisplayName),
		Description: strings.TrimSpace(xn.Description), Documentation: strings.TrimSpace(xn.Documentation),
		Parent: xn.Parent, DataType: s.resolve(xn.DataType), ValueRank: -1, ArrayDimensions: xn.ArrayDims,
		InverseName: strings.TrimSpace(xn.InverseName), AccessLevel: 1}
	bad := func(what string, err error) error {
		return fmt.Errorf("%w: node %s: %s: %v", ErrInvalid, n.ID, what, err)
	}
	n.Name = xn.BrowseName
	if i := strings.IndexByte(xn.BrowseName, ':'); i > 0 {
		if v, err := strconv.Atoi(xn.BrowseName[:i]); err == nil {
			n.BrowseNS, n.Name = v, xn.BrowseName[i+1:]
		}
	}
	if n.Class == Variable || n.Class == VariableType {
		if n.DataType == "" {
			n.DataType = "i=24" // BaseDataType
		}
	}
	if xn.ValueRank != "" {
		v, err := strconv.Atoi(xn.ValueRank)
		if err != nil {
			return nil, bad("ValueRank", err)
		}
		n.ValueRank = v
	}
	n.IsAbstract = xn.IsAbstract == "true"
	n.Symmetric = xn.Symmetric == "true"
	if xn.EventNotifier != "" {
		v, err := strconv.ParseUint(xn.EventNotifier, 10, 8)
		if err != nil {
			return nil, bad("EventNotifier", err)
		}
		n.EventNotifier = uint8(v)
	}
	if xn.AccessLevel != "" {
		v, err := strconv.ParseUint(xn.AccessLevel, 10, 8)
		if err != nil {
			return nil, bad("AccessLevel", err)
		}
		n.AccessLevel = uint8(v)
	}
	for _, r := range xn.Refs {
		n.Refs = append(n.Refs, Ref{Type: s.resolve(r.Type), Forward: r.Forward != "false", Target: s.resolve(r.Target)})
	}
	if d := xn.Definition; d != nil {
		def := &Definition{Name: d.Name, IsUnion: d.IsUnion == "true"}
		for _, f := range d.Fields {
			fd := Field{Name: f.Name, DataType: s.resolve(f.DataType), ValueRank: -1, ArrayDimensions: f.ArrayDims,
				IsOptional: f.IsOptional == "true", Description: strings.TrimSpace(f.Desc)}
			if f.ValueRank != "" {
				v, err := strconv.Atoi(f.ValueRank)
				if err != nil {
					return nil, bad("field "+f.Name+" ValueRank", err)
				}
				fd.ValueRank = v
			}
			if f.Value != "" {
				v, err := strconv.ParseInt(f.Value, 10, 64)
				if err != nil {
					return nil, bad("field "+f.Name+" Value", err)
				}
				fd.Value = v
			}
			if fd.DataType == "" && n.Class == DataType && !isEnumDef(d.Fields) {
				fd.DataType = "i=24"
			}
			def.Fields = append(def.Fields, fd)
		}
		n.Definition = def
	}
	if xn.Value != nil {
		v, err := s.value(xn.Value.Inner)
		if err != nil {
			return nil, bad("Value", err)
		}
		n.Value = v
	}
	return n, nil
}

// isEnumDef: an enumeration's fields carry values, a structure's do not.
func isEnumDef(fs []xmlField) bool {
	for _, f := range fs {
		if f.Value != "" {
			return true
		}
	}
	return false
}

func (s *Set) value(inner []byte) (any, error) {
	var v xmlScalars
	if err := xml.Unmarshal(append(append([]byte("<V>"), inner...), "</V>"...), &v); err != nil {
		return nil, err
	}
	switch {
	case v.String != nil:
		return *v.String, nil
	case v.Boolean != nil:
		return strings.TrimSpace(*v.Boolean) == "true", nil
	case v.Int32 != nil:
		i, err := strconv.ParseInt(strings.TrimSpace(*v.Int32), 10, 32)
		return int32(i), err
	case v.UInt32 != nil:
		i, err := strconv.ParseUint(strings.TrimSpace(*v.UInt32), 10, 32)
		return uint32(i), err
	case v.Double != nil:
		return strconv.ParseFloat(strings.TrimSpace(*v.Double), 64)
	case v.Float != nil:
		return strconv.ParseFloat(strings.TrimSpace(*v.Float), 32)
	case v.List != nil:
		var args []Argument
		var enums []EnumValue
		for _, eo := range v.List.EOs {
			switch {
			case eo.Arg != nil:
				a := Argument{Name: eo.Arg.Name, DataType: s.resolve(eo.Arg.DataType), ValueRank: -1, Description: eo.Arg.Desc}
				if eo.Arg.ValueRank != "" {
					r, err := strconv.Atoi(strings.TrimSpace(eo.Arg.ValueRank))
					if err != nil {
						return nil, err
					}
					a.ValueRank = r
				}
				for _, d := range eo.Arg.ArrayDims {
					if strings.TrimSpace(d.V) == "" {
						continue // <ArrayDimensions /> is no dimension
					}
					u, err := strconv.ParseUint(strings.TrimSpace(d.V), 10, 32)
					if err != nil {
						return nil, err
					}
					a.ArrayDimensions = append(a.ArrayDimensions, uint32(u))
				}
				args = append(args, a)
			case eo.Enum != nil:
				i, err := strconv.ParseInt(strings.TrimSpace(eo.Enum.Value), 10, 64)
				if err != nil {
					return nil, err
				}
				enums = append(enums, EnumValue{Value: i, DisplayName: eo.Enum.Name, Description: eo.Enum.Desc})
			}
		}
		if args != nil {
			return args, nil
		}
		if enums != nil {
			return enums, nil
		}
	}
	return nil, nil
}

// Node returns the node of id (nil when the set has none).
func (s *Set) Node(id string) *Node { return s.Nodes[id] }

// First returns the target of n's first reference of type t in the given
// direction ("" when none).
func (n *Node) First(t string, forward bool) string {
	for _, r := range n.Refs {
		if r.Type == t && r.Forward == forward {
			return r.Target
		}
	}
	return ""
}

// Targets returns the targets of n's references of type t in the given
// direction, in file order.
func (n *Node) Targets(t string, forward bool) []string {
	var out []string
	for _, r := range n.Refs {
		if r.Type == t && r.Forward == forward {
			out = append(out, r.Target)
		}
	}
	return out
}

// ModellingRule is the node's modelling rule node id ("" when none).
func (n *Node) ModellingRule() string { return n.First(HasModellingRule, true) }

// TypeDefinition is the node's type definition node id ("" when none).
func (n *Node) TypeDefinition() string { return n.First(HasTypeDefinition, true) }

// SuperType is the node id of the type n is a subtype of ("" when none).
func (n *Node) SuperType() string { return n.First(HasSubtype, false) }

// Hierarchical reports whether reference type t is hierarchical in this
// set: one of the standard hierarchical references used by node sets
// (Organizes, HasComponent, HasProperty, HasSubStateMachine) or a
// reference type of the set derived from one of them.
func (s *Set) Hierarchical(t string) bool {
	for range 8 {
		switch t {
		case Organizes, HasComponent, HasProperty, HasSubStateMachine, "i=33", "i=34", "i=44", "i=49":
			return true
		}
		n := s.Nodes[t]
		if n == nil || n.Class != ReferenceType {
			return false
		}
		t = n.SuperType()
	}
	return false
}

// Children returns the targets of n's forward hierarchical references, with
// the reference type, sorted by browse name for a stable order.
func (s *Set) Children(n *Node) []Ref {
	var out []Ref
	for _, r := range n.Refs {
		if r.Forward && s.Hierarchical(r.Type) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := s.Nodes[out[i].Target], s.Nodes[out[j].Target]
		if a == nil || b == nil {
			return a != nil
		}
		return a.Name < b.Name
	})
	return out
}

// ParseNodeID splits "ns=1;i=5" / "i=58" into namespace index and numeric
// identifier; ok is false for other forms (string, GUID, opaque ids).
func ParseNodeID(id string) (ns uint16, num uint32, ok bool) {
	rest := id
	if strings.HasPrefix(id, "ns=") {
		i := strings.IndexByte(id, ';')
		if i < 0 {
			return 0, 0, false
		}
		v, err := strconv.ParseUint(id[3:i], 10, 16)
		if err != nil {
			return 0, 0, false
		}
		ns, rest = uint16(v), id[i+1:]
	}
	if !strings.HasPrefix(rest, "i=") {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(rest[2:], 10, 32)
	if err != nil {
		return 0, 0, false
	}
	return ns, uint32(v), true
}
