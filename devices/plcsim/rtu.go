package plcsim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	sv "github.com/simonvetter/modbus"
)

// crc16 is the Modbus RTU CRC (poly 0xA001, init 0xFFFF), sent low byte
// first.
func crc16(b []byte) uint16 {
	crc := uint16(0xffff)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func appendCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

var errCode = map[error]byte{
	sv.ErrIllegalFunction: 1, sv.ErrIllegalDataAddress: 2, sv.ErrIllegalDataValue: 3,
	sv.ErrServerDeviceFailure: 4, sv.ErrAcknowledge: 5, sv.ErrServerDeviceBusy: 6,
	sv.ErrMemoryParityError: 8, sv.ErrGWPathUnavailable: 10, sv.ErrGWTargetFailedToRespond: 11,
}

// ServeRTU answers Modbus RTU requests for unit on rw (a serial port, or a
// pty master in tests) from the same register bank and faults as Modbus
// TCP. Function codes 3, 6 and 16. Frames are delimited by their length
// (not by line silence); a frame with a bad CRC is dropped, as a slave
// does. Returns when reading rw fails: close rw to stop it.
func (s *Sim) ServeRTU(rw io.ReadWriter, unit byte) error {
	r := bufio.NewReader(rw)
	h := &handler{s: s}
	for {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return fmt.Errorf("plcsim: rtu: %w", err)
		}
		var body []byte
		switch hdr[1] {
		case 3, 6:
			body = make([]byte, 6) // addr, qty|value, crc
		case 16:
			pre := make([]byte, 5) // addr, qty, byte count
			if _, err := io.ReadFull(r, pre); err != nil {
				return fmt.Errorf("plcsim: rtu: %w", err)
			}
			rest := make([]byte, int(pre[4])+2)
			if _, err := io.ReadFull(r, rest); err != nil {
				return fmt.Errorf("plcsim: rtu: %w", err)
			}
			body = append(pre, rest...)
		default:
			// unknown function: resynchronise by dropping what is buffered
			r.Discard(r.Buffered())
			continue
		}
		if hdr[1] != 16 {
			if _, err := io.ReadFull(r, body); err != nil {
				return fmt.Errorf("plcsim: rtu: %w", err)
			}
		}
		frame := append(hdr, body...)
		n := len(frame)
		if crc16(frame[:n-2]) != binary.LittleEndian.Uint16(frame[n-2:]) || frame[0] != unit {
			continue // not for us, or garbled: a slave stays silent
		}
		addr := binary.BigEndian.Uint16(frame[2:])
		var resp []byte
		var err error
		switch frame[1] {
		case 3:
			qty := binary.BigEndian.Uint16(frame[4:])
			var regs []uint16
			if qty == 0 || qty > 125 {
				err = sv.ErrIllegalDataValue
			} else {
				regs, err = h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{UnitId: unit, Addr: addr, Quantity: qty})
			}
			if err == nil {
				resp = []byte{unit, 3, byte(2 * len(regs))}
				for _, v := range regs {
					resp = binary.BigEndian.AppendUint16(resp, v)
				}
			}
		case 6:
			v := binary.BigEndian.Uint16(frame[4:])
			_, err = h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{UnitId: unit, Addr: addr, Quantity: 1, IsWrite: true, Args: []uint16{v}})
			if err == nil {
				resp = append([]byte(nil), frame[:6]...)
			}
		case 16:
			qty := binary.BigEndian.Uint16(frame[4:])
			if int(frame[6]) != 2*int(qty) {
				err = sv.ErrIllegalDataValue
				break
			}
			args := make([]uint16, qty)
			for i := range args {
				args[i] = binary.BigEndian.Uint16(frame[7+2*i:])
			}
			_, err = h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{UnitId: unit, Addr: addr, Quantity: qty, IsWrite: true, Args: args})
			if err == nil {
				resp = append([]byte(nil), frame[:6]...)
			}
		}
		if err != nil {
			code, ok := errCode[err]
			if !ok {
				code = 4
			}
			resp = []byte{unit, frame[1] | 0x80, code}
		}
		if _, werr := rw.Write(appendCRC(resp)); werr != nil {
			return fmt.Errorf("plcsim: rtu: write: %w", werr)
		}
	}
}
