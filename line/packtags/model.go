package packtags

//go:generate go run ./internal/gen -nodeset ../../../shared/reference/opcua/Opc.Ua.PackML.NodeSet2.xml -rev a2d4ae8 -out model_gen.go

// tnode is one node of the OPC 30050 type model (model_gen.go).
type tnode struct {
	ID       string // node id as in the node set ("ns=1;i=5", "i=58")
	Class    string // Object, Variable, Method, ObjectType, DataType, ReferenceType
	NS       uint16 // namespace index of the browse name (1 = PackML)
	Name     string // browse name
	Display  string // display name when it differs from Name
	Desc     string
	Doc      string // link to the specification's text
	DataType string // variables: data type node id
	Rank     int32  // variables: value rank
	Dims     string // variables: array dimensions ("0", "0,0")
	Abstract bool
	// reference types
	Symmetric bool
	Inverse   string
	Refs      []tref
	Value     any // string, uint32, []targ, []tenum
	Def       []tfield
}

// tref is a reference: type, direction, target (node ids).
type tref struct {
	Type    string
	Forward bool
	Target  string
}

// targ is a method argument.
type targ struct {
	Name     string
	DataType string
	Rank     int32
	Dims     []uint32
	Desc     string
}

// tenum is one EnumValues entry.
type tenum struct {
	Value int64
	Name  string
	Desc  string
}

// tfield is one field of a data type definition (Value for enumerations).
type tfield struct {
	Name     string
	DataType string
	Rank     int32
	Value    int64
	Desc     string
}
