package modbus

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	gb "github.com/goburrow/modbus"
	"github.com/goburrow/serial"

	"github.com/serialine/serialine/devices"
)

// judge tells a connection's backoff gate what a failed request says
// about the PLC: a Modbus exception is a valid reply (the PLC is there and
// speaks Modbus: the backoff resets, though the connection is still closed
// for the late-reply trap); a timeout or an I/O error ends the connection
// (a failed attempt only if no valid reply came on it); anything else is a
// reply that is not Modbus (wrong transaction or protocol id, bad length,
// undecodable registers): garbage, a failed attempt whatever came before.
func judge(g *devices.Gate, err error) {
	var me *gb.ModbusError
	var ne net.Error
	switch {
	case errors.As(err, &me):
		g.Succeeded()
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.Is(err, serial.ErrTimeout):
		g.Dropped()
	default:
		g.Failed()
	}
}
