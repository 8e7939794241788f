package line

import (
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
)

// verdictRefused reports whether a failed verdict write (Decide, or a
// DecideBatch's *devices.VerdictError) certainly did not take effect at
// the PLC: every cause in the error tree is a refusal the PLC answered
// with (a Modbus exception response: the request was not executed; an OPC
// UA Bad status for the write) or says the request never left the
// controller (ErrNotConnected, ErrClosed), and at least one such cause is
// there. Anything else (a timeout, an I/O error, a lost reply, a context
// that ended mid-request, an unexplained ErrDisconnected) leaves the
// verdict unknown: the write may have reached the PLC.
func verdictRefused(err error) bool {
	if err == nil {
		return false
	}
	refused, unknown := 0, 0
	var walk func(e error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				if x != nil {
					walk(x)
				}
			}
			return
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
				return
			}
		}
		// a leaf
		if _, ok := modbus.ExceptionCode(e); ok {
			refused++
			return
		}
		if st, ok := e.(ua.StatusCode); ok && st != ua.StatusOK {
			refused++
			return
		}
		switch e {
		case devices.ErrNotConnected, devices.ErrClosed:
			refused++
		case devices.ErrDisconnected:
			// a marker the drivers add to every failure: says nothing alone
		default:
			unknown++
		}
	}
	walk(err)
	return refused > 0 && unknown == 0
}
