package openscs

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gopcua/opcua/ua"
)

// The structures below are the Open-SCS DataTypes the pool and event
// manager methods take and return, with the binary encoding of the node
// set's type dictionary (OpenSCS_BinarySchema): strings as UA String,
// enumerations as Int32, arrays as an Int32 length (-1 = null) and their
// elements, nested structures inline.

// KeyValue is OPENSCSKeyValueDataType: one pool selection criterion or
// event context entry.
type KeyValue struct {
	Key   string
	Value string
}

// SNCollection is OPENSCSSNCollectionDataType (the fields of the abstract
// OPENSCSCollectionDataType).
type SNCollection struct {
	// ID identifies the collection (usually a packaging level of a product).
	ID string
	// Description is free text.
	Description string
	// State of the serial numbers in the collection.
	State SerialState
	// AssociatedPoolID names the pool the serial numbers came from.
	AssociatedPoolID string
	// SerialNumbers are the serial numbers (the SNFormat of the call says
	// how they are written).
	SerialNumbers []string
}

// Label is OPENSCSLabelDataType: one serial number on a label (or SID)
// with its properties.
type Label struct {
	ID         string
	Properties []KeyValue
}

// LabelCollection is OPENSCSLabelCollectionDataType: a collection plus its
// labels and the optional collection properties.
type LabelCollection struct {
	SNCollection
	Labels []Label
	// Properties is the optional LabelCollectionProperties (nil = not
	// specified: encoding mask bit 0 clear).
	Properties []KeyValue
}

// SerialState is OPENSCSSerialNumberStateEnum.
type SerialState int32

// Serial number states (OPENSCSSerialNumberStateEnum).
const (
	Unassigned    SerialState = 0
	Unallocated   SerialState = 1
	Allocated     SerialState = 2
	SNInvalid     SerialState = 3
	Encoded       SerialState = 4
	LabelSampled  SerialState = 5
	LabelScrapped SerialState = 6
	Commissioned  SerialState = 7
	Sampled       SerialState = 8
	Inactive      SerialState = 9
	Destroyed     SerialState = 10
	Released      SerialState = 11
)

func (s SerialState) String() string {
	if v, ok := enumValue(OPENSCSSerialNumberStateEnumValues, int32(s)); ok {
		return v.Name
	}
	return fmt.Sprintf("SerialState(%d)", int32(s))
}

// Status is OPENSCSReturnEnum, the ReturnStatus of every method.
type Status int32

// Return statuses (OPENSCSReturnEnum).
const (
	StatusUndefined                     Status = 0
	StatusNoError                       Status = 1
	StatusInvalidSerialNumberCollection Status = 2
	StatusInsufficientSerialNumbers     Status = 3
	StatusInvalidSerialNumbersFormat    Status = 4
	StatusInvalidRequestToken           Status = 5
	StatusInvalidSelectionCriteria      Status = 6
	StatusUnableToAcceptSNEvents        Status = 7
	StatusUnableToAcceptLabelEvents     Status = 8
	StatusUnableToAcceptSIDEvents       Status = 9
	StatusUnknownAggregationSID         Status = 10
	StatusInsufficientPrivilege         Status = 11
)

func (s Status) String() string {
	if v, ok := enumValue(OPENSCSReturnEnumValues, int32(s)); ok {
		return v.Name
	}
	return fmt.Sprintf("Status(%d)", int32(s))
}

// Description is the node set's description of the status.
func (s Status) Description() string {
	if v, ok := enumValue(OPENSCSReturnEnumValues, int32(s)); ok {
		return v.Description
	}
	return "unknown return status"
}

// enumValue finds value v in an enumeration of the node set.
func enumValue(values []EnumValue, v int32) (EnumValue, bool) {
	for _, e := range values {
		if e.Value == v {
			return e, true
		}
	}
	return EnumValue{}, false
}

// maxArray bounds decoded array lengths (a garbled length must not make us
// allocate gigabytes).
const maxArray = 1 << 20

var errArray = errors.New("openscs: array length out of range")

func writeStrings(b *ua.Buffer, ss []string) {
	if ss == nil {
		b.WriteInt32(-1)
		return
	}
	b.WriteInt32(int32(len(ss)))
	for _, s := range ss {
		b.WriteString(s)
	}
}

func readLen(b *ua.Buffer) (int, error) {
	n := b.ReadInt32()
	if b.Error() != nil {
		return 0, b.Error()
	}
	if n < -1 || n > maxArray {
		return 0, fmt.Errorf("%w: %d", errArray, n)
	}
	return int(n), nil
}

func readStrings(b *ua.Buffer) ([]string, error) {
	n, err := readLen(b)
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]string, 0, min(n, 4096))
	for range n {
		out = append(out, b.ReadString())
		if b.Error() != nil {
			return nil, b.Error()
		}
	}
	return out, nil
}

func writeKVs(b *ua.Buffer, kvs []KeyValue) {
	if kvs == nil {
		b.WriteInt32(-1)
		return
	}
	b.WriteInt32(int32(len(kvs)))
	for _, kv := range kvs {
		b.WriteString(kv.Key)
		b.WriteString(kv.Value)
	}
}

func readKVs(b *ua.Buffer) ([]KeyValue, error) {
	n, err := readLen(b)
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]KeyValue, 0, min(n, 4096))
	for range n {
		kv := KeyValue{Key: b.ReadString(), Value: b.ReadString()}
		if b.Error() != nil {
			return nil, b.Error()
		}
		out = append(out, kv)
	}
	return out, nil
}

// Encode implements ua.BinaryEncoder.
func (kv *KeyValue) Encode() ([]byte, error) {
	b := ua.NewBuffer(nil)
	b.WriteString(kv.Key)
	b.WriteString(kv.Value)
	return b.Bytes(), b.Error()
}

// Decode implements ua.BinaryDecoder.
func (kv *KeyValue) Decode(data []byte) (int, error) {
	b := ua.NewBuffer(data)
	kv.Key, kv.Value = b.ReadString(), b.ReadString()
	return b.Pos(), b.Error()
}

func (c *SNCollection) write(b *ua.Buffer) {
	b.WriteString(c.ID)
	b.WriteString(c.Description)
	b.WriteInt32(int32(c.State))
	b.WriteString(c.AssociatedPoolID)
	writeStrings(b, c.SerialNumbers)
}

func (c *SNCollection) read(b *ua.Buffer) error {
	c.ID, c.Description = b.ReadString(), b.ReadString()
	c.State = SerialState(b.ReadInt32())
	c.AssociatedPoolID = b.ReadString()
	if b.Error() != nil {
		return b.Error()
	}
	var err error
	c.SerialNumbers, err = readStrings(b)
	return err
}

// Encode implements ua.BinaryEncoder.
func (c *SNCollection) Encode() ([]byte, error) {
	b := ua.NewBuffer(nil)
	c.write(b)
	return b.Bytes(), b.Error()
}

// Decode implements ua.BinaryDecoder.
func (c *SNCollection) Decode(data []byte) (int, error) {
	b := ua.NewBuffer(data)
	if err := c.read(b); err != nil {
		return b.Pos(), fmt.Errorf("openscs: decode SNCollection: %w", err)
	}
	return b.Pos(), nil
}

// Encode implements ua.BinaryEncoder: the encoding mask (bit 0:
// LabelCollectionProperties specified), the collection's fields, the
// labels, the optional properties.
func (c *LabelCollection) Encode() ([]byte, error) {
	b := ua.NewBuffer(nil)
	var mask uint32
	if c.Properties != nil {
		mask = 1
	}
	b.WriteUint32(mask)
	c.SNCollection.write(b)
	if c.Labels == nil {
		b.WriteInt32(-1)
	} else {
		b.WriteInt32(int32(len(c.Labels)))
		for _, l := range c.Labels {
			b.WriteString(l.ID)
			writeKVs(b, l.Properties)
		}
	}
	if mask&1 != 0 {
		writeKVs(b, c.Properties)
	}
	return b.Bytes(), b.Error()
}

// Decode implements ua.BinaryDecoder.
func (c *LabelCollection) Decode(data []byte) (int, error) {
	b := ua.NewBuffer(data)
	fail := func(err error) (int, error) {
		return b.Pos(), fmt.Errorf("openscs: decode LabelCollection: %w", err)
	}
	mask := b.ReadUint32()
	if err := c.SNCollection.read(b); err != nil {
		return fail(err)
	}
	n, err := readLen(b)
	if err != nil {
		return fail(err)
	}
	c.Labels = nil
	if n >= 0 {
		c.Labels = make([]Label, 0, min(n, 4096))
	}
	for range n {
		l := Label{ID: b.ReadString()}
		if l.Properties, err = readKVs(b); err != nil {
			return fail(err)
		}
		c.Labels = append(c.Labels, l)
	}
	c.Properties = nil
	if mask&1 != 0 {
		if c.Properties, err = readKVs(b); err != nil {
			return fail(err)
		}
		if c.Properties == nil {
			c.Properties = []KeyValue{}
		}
	}
	return b.Pos(), b.Error()
}

// Types are registered with gopcua's process-wide extension object
// registry (the only way its decoder finds a structure's Go type), once per
// namespace index the Open-SCS namespace has on some server.
var (
	regMu   sync.Mutex
	regDone = map[uint16]bool{}
)

// Register makes gopcua decode the Open-SCS structures of namespace index
// ns into KeyValue, SNCollection and LabelCollection. Safe to call more than
// once; an id another package registered for a different Go type is an
// error.
func Register(ns uint16) (err error) {
	regMu.Lock()
	defer regMu.Unlock()
	if regDone[ns] {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("openscs: register data types in namespace %d: %v", ns, r)
		}
	}()
	ua.RegisterExtensionObject(ua.NewNumericNodeID(ns, OPENSCSKeyValueDataTypeBinaryID), new(KeyValue))
	ua.RegisterExtensionObject(ua.NewNumericNodeID(ns, OPENSCSSNCollectionDataTypeBinaryID), new(SNCollection))
	ua.RegisterExtensionObject(ua.NewNumericNodeID(ns, OPENSCSLabelCollectionDataTypeBinaryID), new(LabelCollection))
	regDone[ns] = true
	return nil
}

func extID(ns uint16, enc uint32) *ua.ExpandedNodeID {
	return &ua.ExpandedNodeID{NodeID: ua.NewNumericNodeID(ns, enc)}
}

// KeyValuesVariant is an OPENSCSKeyValueDataType array argument.
func KeyValuesVariant(ns uint16, kvs []KeyValue) *ua.Variant {
	eos := make([]*ua.ExtensionObject, len(kvs))
	for i := range kvs {
		eos[i] = &ua.ExtensionObject{EncodingMask: ua.ExtensionObjectBinary, TypeID: extID(ns, OPENSCSKeyValueDataTypeBinaryID), Value: &kvs[i]}
	}
	return ua.MustVariant(eos)
}

// SNCollectionVariant is an OPENSCSSNCollectionDataType argument.
func SNCollectionVariant(ns uint16, c *SNCollection) *ua.Variant {
	return ua.MustVariant(&ua.ExtensionObject{EncodingMask: ua.ExtensionObjectBinary, TypeID: extID(ns, OPENSCSSNCollectionDataTypeBinaryID), Value: c})
}

// LabelCollectionVariant is an OPENSCSLabelCollectionDataType argument.
func LabelCollectionVariant(ns uint16, c *LabelCollection) *ua.Variant {
	return ua.MustVariant(&ua.ExtensionObject{EncodingMask: ua.ExtensionObjectBinary, TypeID: extID(ns, OPENSCSLabelCollectionDataTypeBinaryID), Value: c})
}

// StatusVariant is a ReturnStatus output argument (enumerations are Int32).
func StatusVariant(s Status) *ua.Variant { return ua.MustVariant(int32(s)) }

// ErrArgument is wrapped by the errors of the argument readers below.
var ErrArgument = errors.New("openscs: bad argument")

// ArgString reads a String argument (a null string is "").
func ArgString(v *ua.Variant, name string) (string, error) {
	if v == nil || v.Value() == nil {
		return "", nil
	}
	s, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("%w: %s: want String, got %T", ErrArgument, name, v.Value())
	}
	return s, nil
}

// ArgUInt32 reads a UInt32 argument.
func ArgUInt32(v *ua.Variant, name string) (uint32, error) {
	if v != nil {
		if n, ok := v.Value().(uint32); ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: %s: want UInt32, got %s", ErrArgument, name, typeName(v))
}

// ArgStatus reads a ReturnStatus (Int32 enumeration) argument.
func ArgStatus(v *ua.Variant) (Status, error) {
	if v != nil {
		if n, ok := v.Value().(int32); ok {
			return Status(n), nil
		}
	}
	return 0, fmt.Errorf("%w: ReturnStatus: want Int32 (OPENSCSReturnEnum), got %s", ErrArgument, typeName(v))
}

// ArgKeyValues reads an OPENSCSKeyValueDataType array argument (null or
// empty: none).
func ArgKeyValues(v *ua.Variant, name string) ([]KeyValue, error) {
	if v == nil || v.Value() == nil {
		return nil, nil
	}
	switch x := v.Value().(type) {
	case []*ua.ExtensionObject:
		out := make([]KeyValue, 0, len(x))
		for i, e := range x {
			kv, ok := eoValue(e).(*KeyValue)
			if !ok {
				return nil, fmt.Errorf("%w: %s[%d]: want OPENSCSKeyValueDataType, got %s", ErrArgument, name, i, eoType(e))
			}
			out = append(out, *kv)
		}
		return out, nil
	case *ua.ExtensionObject: // a scalar where an array is declared: be lenient
		if kv, ok := eoValue(x).(*KeyValue); ok {
			return []KeyValue{*kv}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: want an array of OPENSCSKeyValueDataType, got %s", ErrArgument, name, typeName(v))
}

// ArgSNCollection reads an OPENSCSSNCollectionDataType argument.
func ArgSNCollection(v *ua.Variant, name string) (*SNCollection, error) {
	if v != nil {
		if e, ok := v.Value().(*ua.ExtensionObject); ok {
			if c, ok := eoValue(e).(*SNCollection); ok {
				return c, nil
			}
			if e.EncodingMask == ua.ExtensionObjectEmpty {
				return &SNCollection{}, nil
			}
			return nil, fmt.Errorf("%w: %s: want OPENSCSSNCollectionDataType, got %s", ErrArgument, name, eoType(e))
		}
	}
	return nil, fmt.Errorf("%w: %s: want OPENSCSSNCollectionDataType, got %s", ErrArgument, name, typeName(v))
}

// ArgLabelCollection reads an OPENSCSLabelCollectionDataType argument.
func ArgLabelCollection(v *ua.Variant, name string) (*LabelCollection, error) {
	if v != nil {
		if e, ok := v.Value().(*ua.ExtensionObject); ok {
			if c, ok := eoValue(e).(*LabelCollection); ok {
				return c, nil
			}
			return nil, fmt.Errorf("%w: %s: want OPENSCSLabelCollectionDataType, got %s", ErrArgument, name, eoType(e))
		}
	}
	return nil, fmt.Errorf("%w: %s: want OPENSCSLabelCollectionDataType, got %s", ErrArgument, name, typeName(v))
}

func eoValue(e *ua.ExtensionObject) any {
	if e == nil {
		return nil
	}
	return e.Value
}

func eoType(e *ua.ExtensionObject) string {
	if e == nil || e.TypeID == nil || e.TypeID.NodeID == nil {
		return "an empty extension object"
	}
	if e.Value == nil {
		return "extension object " + e.TypeID.NodeID.String() + " (unknown type)"
	}
	return fmt.Sprintf("%T (%s)", e.Value, e.TypeID.NodeID)
}

func typeName(v *ua.Variant) string {
	if v == nil || v.Value() == nil {
		return "null"
	}
	return fmt.Sprintf("%T", v.Value())
}
