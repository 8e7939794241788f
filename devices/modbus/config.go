package modbus

import (
	"fmt"
	"sort"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
)

// Addressing names how register addresses in a RegisterMap are numbered.
const (
	// ZeroBased: addresses are the protocol (PDU) addresses, 0..65535, as
	// sent on the wire.
	ZeroBased = "0-based"
	// OneBased: addresses are register numbers starting at 1 as many PLC
	// manuals print them ("holding register 1" = PDU address 0). Not the
	// 40001 notation: drop the leading 4.
	OneBased = "1-based"
)

// Word orders for 32-bit values spread over two registers.
const (
	HighWordFirst = "high_first" // big-endian words (Modicon convention)
	LowWordFirst  = "low_first"  // little-endian words
)

// RegisterMap is the declarative holding-register layout of one PLC. Every
// value lives in holding registers (function codes 3, 6 and 16). 32-bit
// values take two consecutive registers in WordOrder.
type RegisterMap struct {
	// Addressing states how the addresses below are numbered: "0-based"
	// (PDU addresses) or "1-based" (register numbers, 1 = PDU address 0).
	// Required: there is no default, because guessing is the classic
	// off-by-one.
	Addressing string `yaml:"addressing"`
	// WordOrder of 32-bit values: "high_first" or "low_first".
	WordOrder string `yaml:"word_order"`
	// Counter is the product counter (read): it increments once per product
	// at the trigger point and wraps at CounterWidth bits.
	Counter uint16 `yaml:"counter"`
	// CounterWidth is 16 (one register) or 32 (two registers).
	CounterWidth int `yaml:"counter_width"`
	// SeqRing is the first register of the product sequence-id ring (read):
	// SeqRingLen 32-bit entries; the product counted as counter value c has
	// its sequence id in entry c mod SeqRingLen. Ignored when SeqRingLen is
	// 0; then the sequence id is the counter value itself, extended past
	// wraps.
	SeqRing uint16 `yaml:"seq_ring"`
	// SeqRingLen is the number of ring entries (0 = no ring, max 58).
	SeqRingLen int `yaml:"seq_ring_len"`
	// PLCHeartbeat is the register the PLC keeps changing (read).
	PLCHeartbeat uint16 `yaml:"plc_heartbeat"`
	// ControllerHeartbeat is the register the controller keeps changing
	// (written) so the PLC can see the controller stall.
	ControllerHeartbeat uint16 `yaml:"controller_heartbeat"`
	// Decisions is the first register of the verdict table (written):
	// Slots slots of 3 registers [seq high/low word per WordOrder, verdict]
	// for product seq in slot seq mod Slots. Verdict 1 accept, 2 reject.
	// The controller writes one slot per FC 16 request (Decide) or the
	// slots of consecutive products in one FC 16 request (DecideBatch: up
	// to 41 adjacent slots, never wrapping from the last slot to the
	// first); the PLC takes each slot's verdict when its verdict register
	// is written, and executes an FC 16 request whole or not at all.
	Decisions uint16 `yaml:"decisions"`
	// Confirmations is the first register of the gate result table (read):
	// Slots slots of 3 registers [seq (2 words), result] for product seq in
	// slot seq mod Slots, written by the PLC when the product has passed
	// the gate. Result bits 0..3: 0 pending, 1 passed, 2 pushed off and
	// confirmed, 3 pushed off but not confirmed by the sensor; bit 4
	// (devices.GateNoVerdict) set when the product reached the gate
	// without a verdict (fail-safe reject).
	Confirmations uint16 `yaml:"confirmations"`
	// Slots is the number of decision/confirmation slots (1..2000); it
	// must exceed the number of products between the trigger point and
	// the gate, plus those that pass the gate between two reads of the
	// confirmation table (confirm_poll).
	Slots int `yaml:"slots"`
	// LineStop is the line-stop/hold request register (written, 0/1).
	LineStop uint16 `yaml:"line_stop"`
	// Light is the stack-light register (written, 0 off 1 green 2 amber 3 red).
	Light uint16 `yaml:"light"`
	// Horn is the alarm horn register (written, 0/1).
	Horn uint16 `yaml:"horn"`
}

// DefaultRegisterMap is the map plcsim serves by default (0-based):
//
//	0-1      counter (32-bit, high word first)
//	2        PLC heartbeat
//	4-67     sequence-id ring, 32 entries of 2 registers
//	100      controller heartbeat
//	101-103  line stop, stack light, horn
//	200-322  decision table, 41 slots of 3
//	400-522  confirmation table, 41 slots of 3
func DefaultRegisterMap() RegisterMap {
	return RegisterMap{
		Addressing: ZeroBased, WordOrder: HighWordFirst,
		Counter: 0, CounterWidth: 32, PLCHeartbeat: 2,
		SeqRing: 4, SeqRingLen: 32,
		ControllerHeartbeat: 100, LineStop: 101, Light: 102, Horn: 103,
		Decisions: 200, Confirmations: 400, Slots: 41,
	}
}

// span is one register range claimed by a map entry.
type span struct {
	name       string
	start, len int // in the map's own numbering
}

func (m RegisterMap) spans() []span {
	cw := 1
	if m.CounterWidth == 32 {
		cw = 2
	}
	s := []span{
		{"counter", int(m.Counter), cw},
		{"plc_heartbeat", int(m.PLCHeartbeat), 1},
		{"controller_heartbeat", int(m.ControllerHeartbeat), 1},
		{"decisions", int(m.Decisions), 3 * max(m.Slots, 0)},
		{"confirmations", int(m.Confirmations), 3 * max(m.Slots, 0)},
		{"line_stop", int(m.LineStop), 1},
		{"light", int(m.Light), 1},
		{"horn", int(m.Horn), 1},
	}
	if m.SeqRingLen > 0 {
		s = append(s, span{"seq_ring", int(m.SeqRing), 2 * m.SeqRingLen})
	}
	return s
}

// Validate reports every mistake in the map (paths relative to it).
func (m RegisterMap) Validate() configs.Problems {
	var p configs.Problems
	base := -1
	switch m.Addressing {
	case ZeroBased:
		base = 0
	case OneBased:
		base = 1
	case "":
		p.Add("addressing", `must be set to "0-based" (PDU addresses) or "1-based" (register numbers)`)
	default:
		p.Add("addressing", `must be "0-based" or "1-based", got %q`, m.Addressing)
	}
	switch m.WordOrder {
	case HighWordFirst, LowWordFirst:
	default:
		p.Add("word_order", `must be "high_first" or "low_first", got %q`, m.WordOrder)
	}
	if m.CounterWidth != 16 && m.CounterWidth != 32 {
		p.Add("counter_width", "must be 16 or 32, got %d", m.CounterWidth)
	}
	if m.SeqRingLen < 0 || m.SeqRingLen > 58 {
		p.Add("seq_ring_len", "must be 0..58 (0 = no ring), got %d", m.SeqRingLen)
	}
	if m.Slots < 1 || m.Slots > maxSlots {
		p.Add("slots", "must be 1..%d, got %d", maxSlots, m.Slots)
	}
	spans := m.spans()
	for _, s := range spans {
		if s.len == 0 {
			continue
		}
		if base == 1 && s.start < 1 {
			p.Add(s.name, "register 0 does not exist in 1-based addressing")
		}
		lim := 65536
		if base == 1 {
			lim = 65537
		}
		if s.start+s.len > lim {
			p.Add(s.name, "range %d..%d runs past the end of the register space", s.start, s.start+s.len-1)
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		for j := 0; j < i; j++ {
			a, b := spans[j], spans[i]
			if a.len > 0 && b.len > 0 && b.start < a.start+a.len {
				p.Add(b.name, "register %d overlaps %s (%d..%d)", b.start, a.name, a.start, a.start+a.len-1)
			}
		}
	}
	return p
}

// maxSlots bounds RegisterMap.Slots (two tables of 3 registers a slot).
const maxSlots = 2000

// pdu converts a map address to the protocol address.
func (m RegisterMap) pdu(addr uint16) uint16 {
	if m.Addressing == OneBased {
		return addr - 1
	}
	return addr
}

// Config is one Modbus PLC connection (yaml, decoded strictly).
type Config struct {
	// Transport is "tcp" (Modbus TCP) or "rtu" (Modbus RTU over RS-232/485).
	Transport string `yaml:"transport"`
	// Address is host:port of the Modbus TCP server (tcp only).
	Address string `yaml:"address"`
	// Serial is the serial port (rtu only).
	Serial serialport.Config `yaml:"serial"`
	// UnitID is the Modbus unit (slave) id: 1..247 for rtu, 0..255 for tcp.
	UnitID int `yaml:"unit_id"`
	// Timeout bounds each request (connect included). After a timeout the
	// connection is closed so a late reply cannot be taken for the next.
	Timeout time.Duration `yaml:"timeout"`
	// PollInterval is how often NextTrigger reads the counter.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxBacklog is how many counts one poll may turn into triggers when
	// the map has no sequence-id ring; counts beyond it are reported as
	// Trigger.Missed (those products are already past the printer). With
	// a ring the ring length is the limit. 0 means 16.
	MaxBacklog int `yaml:"max_backlog"`
	// Timing is the heartbeat, confirmation and reconnect timing
	// (heartbeat_interval, heartbeat_timeout, confirm_window, confirm_poll,
	// backoff at this level).
	devices.Timing `yaml:",inline"`
	// GateConnection (tcp only) opens a second Modbus TCP connection for
	// verdict writes and confirmation reads, so a verdict never waits
	// behind the round trip of a trigger poll. The PLC must accept two
	// connections from the controller. Default false: one connection.
	GateConnection bool `yaml:"gate_connection"`
	// Registers is the register map.
	Registers RegisterMap `yaml:"registers"`
}

// DefaultConfig is a Modbus TCP config for addr with DefaultRegisterMap.
func DefaultConfig(addr string) Config {
	return Config{
		Transport: "tcp", Address: addr, UnitID: 1,
		Timeout: time.Second, PollInterval: 5 * time.Millisecond,
		Timing: devices.DefaultTiming(), Registers: DefaultRegisterMap(),
	}
}

// Validate reports every mistake at once (paths relative to the block).
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	switch c.Transport {
	case "tcp":
		if err := configs.CheckHostPort(c.Address); err != nil {
			p.Add("address", "%v", err)
		}
		if c.UnitID < 0 || c.UnitID > 255 {
			p.Add("unit_id", "must be 0..255, got %d", c.UnitID)
		}
	case "rtu":
		p.Merge("serial", c.Serial.Validate())
		if c.GateConnection {
			p.Add("gate_connection", "tcp only: an RTU bus has one master connection")
		}
		if c.UnitID < 1 || c.UnitID > 247 {
			p.Add("unit_id", "must be 1..247 for rtu, got %d", c.UnitID)
		}
	default:
		p.Add("transport", `must be "tcp" or "rtu", got %q`, c.Transport)
	}
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			p.Add(name, "must be > 0")
		}
	}
	pos("timeout", c.Timeout)
	pos("poll_interval", c.PollInterval)
	devices.CheckInterval(&p, "poll_interval", c.PollInterval)
	p.Merge("", c.ValidateDurations())
	if c.HeartbeatTimeout > 0 && c.HeartbeatTimeout <= c.PollInterval {
		p.Add("heartbeat_timeout", "must be longer than poll_interval (%s)", c.PollInterval)
	}
	if c.MaxBacklog < 0 {
		p.Add("max_backlog", "must be >= 0")
	}
	p.Merge("backoff", c.Backoff.Validate())
	p.Merge("registers", c.Registers.Validate())
	return p
}

func (c Config) backlog() int {
	if c.Registers.SeqRingLen > 0 {
		return c.Registers.SeqRingLen
	}
	if c.MaxBacklog > 0 {
		return c.MaxBacklog
	}
	return 16
}

func (c Config) String() string {
	if c.Transport == "rtu" {
		return fmt.Sprintf("modbus-rtu %s unit %d", c.Serial.Device, c.UnitID)
	}
	return fmt.Sprintf("modbus-tcp %s unit %d", c.Address, c.UnitID)
}
