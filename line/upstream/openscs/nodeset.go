package openscs

//go:generate go run ./internal/gen -nodeset ../../../../shared/reference/opcua/Opc.Ua.OPENSCS.NodeSet2.xml -out nodeset_gen.go

// EnumValue is one field of an enumeration of the node set.
type EnumValue struct {
	Value       int32
	Name        string
	Description string
}

// ArgDef is one method argument as the node set declares it.
type ArgDef struct {
	Name string
	// DataType is the numeric id of the argument's data type: in the
	// Open-SCS namespace when Local, else in namespace 0.
	DataType uint32
	Local    bool
	// ValueRank is -1 for a scalar, 1 for a one-dimensional array.
	ValueRank   int32
	Description string
}

// MethodDef is one method of an Open-SCS object type.
type MethodDef struct {
	Name string
	// ID is the method's node id in the type (Open-SCS namespace).
	ID uint32
	// Owner is the object type without its "OPENSCS" prefix
	// (PoolManagerObjectType, EventManagerObjectType, …).
	Owner string
	// Mandatory: modelling rule Mandatory (else Optional).
	Mandatory bool
	In, Out   []ArgDef
}

// PropertyDef is one property of an Open-SCS object type.
type PropertyDef struct {
	Name      string
	ID        uint32
	Owner     string
	DataType  uint32
	Local     bool
	ValueRank int32
	Mandatory bool
}

// Method returns the definition of the named method of owner (nil if none).
func Method(owner, name string) *MethodDef {
	for i := range Methods {
		if Methods[i].Owner == owner && Methods[i].Name == name {
			return &Methods[i]
		}
	}
	return nil
}
