package plcsim

import "github.com/serialine/serialine/devices/modbus"

func modbusSlot(r []uint16, order string) (uint32, uint16) {
	return modbus.Words32(r[0], r[1], order), r[2]
}
