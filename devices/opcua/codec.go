package opcua

import (
	"fmt"
	"math"

	"github.com/serialine/serialine/devices"
)

// PackSlot encodes a decision or confirmation slot value: seq<<8 | code.
// seq is truncated to 56 bits.
func PackSlot(seq uint64, code uint8) uint64 { return seq<<8 | uint64(code) }

// UnpackSlot decodes a slot value.
func UnpackSlot(v uint64) (seq uint64, code uint8) { return v >> 8, uint8(v) }

// Uint decodes a PLC value of any integer (or Boolean) variant type into
// an unsigned integer of at most width bits. Negative values, floats,
// strings and values wider than width are ErrBadValue.
func Uint(v any, width int) (uint64, error) {
	var u uint64
	switch x := v.(type) {
	case bool:
		if x {
			u = 1
		}
	case uint8:
		u = uint64(x)
	case uint16:
		u = uint64(x)
	case uint32:
		u = uint64(x)
	case uint64:
		u = x
	case int8, int16, int32, int64:
		var i int64
		switch y := x.(type) {
		case int8:
			i = int64(y)
		case int16:
			i = int64(y)
		case int32:
			i = int64(y)
		case int64:
			i = y
		}
		if i < 0 {
			return 0, fmt.Errorf("%w: negative value %d", devices.ErrBadValue, i)
		}
		u = uint64(i)
	case nil:
		return 0, fmt.Errorf("%w: empty value", devices.ErrBadValue)
	default:
		return 0, fmt.Errorf("%w: %T is not an integer", devices.ErrBadValue, v)
	}
	if width < 64 && u > math.MaxUint64>>(64-width) {
		return 0, fmt.Errorf("%w: %d does not fit %d bits", devices.ErrBadValue, u, width)
	}
	return u, nil
}

// Bool decodes a Boolean PLC value (Boolean, or an integer 0/1).
func Bool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	u, err := Uint(v, 64)
	if err != nil {
		return false, err
	}
	if u > 1 {
		return false, fmt.Errorf("%w: %d is not a Boolean", devices.ErrBadValue, u)
	}
	return u == 1, nil
}
