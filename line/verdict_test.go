package line

import (
	"context"
	"errors"
	"fmt"
	"testing"

	gb "github.com/goburrow/modbus"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
)

// TestVerdictRefused: only a failure the PLC clearly answered (exception,
// Bad status) or a write that never left counts as "not applied"; anything
// that may have reached the PLC leaves the verdict unknown.
func TestVerdictRefused(t *testing.T) {
	exc := &gb.ModbusError{FunctionCode: 0x90, ExceptionCode: 4}
	drop := func(cause error) error {
		return fmt.Errorf("plc: write verdict for product 7: %w: %w", devices.ErrDisconnected, cause)
	}
	timeout := errors.New("modbus: read reply: i/o timeout")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"exception", drop(exc), true},
		{"opc ua bad status", fmt.Errorf("write node: %w", ua.StatusBadDeviceFailure), true},
		{"not connected", fmt.Errorf("plc: %w", devices.ErrNotConnected), true},
		{"closed", devices.ErrClosed, true},
		{"timeout", drop(timeout), false},
		{"bare disconnected", fmt.Errorf("plc: %w (next reconnect in 1s)", devices.ErrDisconnected), false},
		{"context", context.DeadlineExceeded, false},
		{"retry refused, first timed out", errors.Join(drop(exc), fmt.Errorf("first attempt: %w", drop(timeout))), false},
		{"both refused", errors.Join(drop(exc), fmt.Errorf("first attempt: %w", drop(exc))), true},
		{"batch: refused", &devices.VerdictError{Undelivered: []uint64{1, 2}, Err: drop(exc)}, true},
		{"batch: timeout", &devices.VerdictError{Undelivered: []uint64{1, 2}, Err: drop(timeout)}, false},
	} {
		if got := verdictRefused(tc.err); got != tc.want {
			t.Errorf("%s: verdictRefused(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
