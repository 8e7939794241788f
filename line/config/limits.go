package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/configs"
)

// Limits the configuration must respect beyond each block's own rules.
const (
	// MaxHangDetection is the longest a hung device (connection open, no
	// answers: a printer, camera or PLC that froze) may go unnoticed.
	// Each device's worst case follows from its settings (HangDetection)
	// and must fit in it; then the device's driver reports the hang through
	// its usual errors and the line holds.
	MaxHangDetection = 2 * time.Second
	// MinKeepAlive is the shortest printer keep_alive.
	MinKeepAlive = 100 * time.Millisecond
	// MinCheckInterval is the shortest pools.check_interval.
	MinCheckInterval = 10 * time.Millisecond
	// MinForwardInterval is the shortest upstream.forward_interval (the
	// outbox retry period while the site server is down).
	MinForwardInterval = 100 * time.Millisecond
	// MinPackTagsInterval is the shortest packtags.interval.
	MinPackTagsInterval = 10 * time.Millisecond
)

// HangDetection is the longest a hung printer goes unnoticed: silence
// for keep_alive, then no reply to GST within reply_timeout. 0 when the
// keep-alive is off (a hang is then found only by the next command).
func (c Printer) HangDetection() time.Duration {
	if c.KeepAlive <= 0 {
		return 0
	}
	return c.KeepAlive + c.ReplyTimeout
}

// HangDetection is the longest a hung camera goes unnoticed: silence for
// keep_alive, then no answer to the probe within command_timeout. 0 when
// the driver cannot probe (DMCC in silent mode answers no command).
func (c Camera) HangDetection() time.Duration {
	switch {
	case c.Driver == "dmcc" && c.DMCC != nil:
		if ka := c.DMCC.EffectiveKeepAlive(); ka > 0 {
			return ka + c.DMCC.EffectiveCommandTimeout()
		}
	case c.Driver == "keyence" && c.Keyence != nil:
		return c.Keyence.EffectiveKeepAlive() + c.Keyence.EffectiveCommandTimeout()
	}
	return 0
}

// HangDetection is the longest a hung PLC goes unnoticed, and what bounds
// it. Modbus: a poll every poll_interval, each bounded by timeout (a PLC
// that stops answering), and the PLC heartbeat checked at each poll (a PLC
// program that stops). OPC UA: the monitored PLC heartbeat, checked every
// heartbeat_timeout/4, arrives at most every publish_interval (a server
// that stops publishing or a program that stops).
func (c PLC) HangDetection() (time.Duration, string) {
	switch {
	case c.Protocol == "modbus" && c.Modbus != nil:
		m := c.Modbus
		if m.HeartbeatTimeout > m.Timeout {
			return m.PollInterval + m.HeartbeatTimeout, fmt.Sprintf("poll_interval (%s) + heartbeat_timeout (%s)", m.PollInterval, m.HeartbeatTimeout)
		}
		return m.PollInterval + m.Timeout, fmt.Sprintf("poll_interval (%s) + timeout (%s)", m.PollInterval, m.Timeout)
	case c.Protocol == "opcua" && c.OPCUA != nil:
		u := c.OPCUA
		return u.PublishInterval + u.HeartbeatTimeout + u.HeartbeatTimeout/4,
			fmt.Sprintf("publish_interval (%s) + heartbeat_timeout (%s) + heartbeat_timeout/4", u.PublishInterval, u.HeartbeatTimeout)
	}
	return 0, ""
}

// limitProblems reports what no single block can judge alone: names that
// would break the printer protocol, intervals below their minimum, and
// devices whose hang would go unnoticed for longer than MaxHangDetection.
func (c Config) limitProblems() configs.Problems {
	var p configs.Problems
	checkName(&p, "line.name", c.Line.Name, "")
	pr := c.Devices.Printer
	checkName(&p, "devices.printer.job", pr.Job, "|")
	checkName(&p, "devices.printer.id_field", pr.IDField, "|=")
	for _, k := range sortedKeys(pr.Fields) {
		path := "devices.printer.fields." + k
		if strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
			path = fmt.Sprintf("devices.printer.fields[%q]", k)
		}
		checkName(&p, path, k, "|=")
	}
	if c.Pools.CheckInterval > 0 && c.Pools.CheckInterval < MinCheckInterval {
		p.Add("pools.check_interval", "must be >= %s, got %s", MinCheckInterval, c.Pools.CheckInterval)
	}
	if c.Upstream.ForwardInterval > 0 && c.Upstream.ForwardInterval < MinForwardInterval {
		p.Add("upstream.forward_interval", "must be >= %s (the retry period while the site server is down), got %s",
			MinForwardInterval, c.Upstream.ForwardInterval)
	}
	if c.PackTags.Interval > 0 && c.PackTags.Interval < MinPackTagsInterval {
		p.Add("packtags.interval", "must be 0 (default 1s) or >= %s, got %s", MinPackTagsInterval, c.PackTags.Interval)
	}
	// hung devices
	switch {
	case pr.KeepAlive <= 0:
		p.Add("devices.printer.keep_alive", "must be > 0: without it a printer that hangs while the line is idle goes unnoticed")
	case pr.KeepAlive < MinKeepAlive:
		p.Add("devices.printer.keep_alive", "must be >= %s, got %s", MinKeepAlive, pr.KeepAlive)
	case pr.ReplyTimeout > 0 && pr.HangDetection() > MaxHangDetection:
		p.Add("devices.printer", "a hung printer must be found within %s: keep_alive (%s) + reply_timeout (%s) = %s; lower them",
			MaxHangDetection, pr.KeepAlive, pr.ReplyTimeout, pr.HangDetection())
	}
	cam := c.Devices.Camera
	switch d := cam.HangDetection(); {
	case cam.Driver == "dmcc" && cam.DMCC != nil && !cam.DMCC.Extended:
		p.Add("devices.camera.dmcc.extended", "must be true: in silent mode the reader answers no command, so a hung reader cannot be found")
	case d > MaxHangDetection && cam.DMCC != nil:
		p.Add("devices.camera.dmcc", "a hung camera must be found within %s: keep_alive (%s) + command_timeout (%s) = %s; lower them",
			MaxHangDetection, cam.DMCC.EffectiveKeepAlive(), cam.DMCC.EffectiveCommandTimeout(), d)
	case d > MaxHangDetection && cam.Keyence != nil:
		p.Add("devices.camera.keyence", "a hung camera must be found within %s: keep_alive (%s) + command_timeout (%s) = %s; lower them",
			MaxHangDetection, cam.Keyence.EffectiveKeepAlive(), cam.Keyence.EffectiveCommandTimeout(), d)
	}
	if d, what := c.Devices.PLC.HangDetection(); d > MaxHangDetection {
		p.Add("devices.plc."+c.Devices.PLC.Protocol, "a hung PLC must be found within %s: %s = %s; lower them", MaxHangDetection, what, d)
	}
	return p
}

// checkName reports a name holding a control character (NUL, CR, LF, …),
// a byte outside printable ASCII, or one of the protocol delimiters in
// delims: the printer protocol frames commands with CR and separates
// fields with '|' (and field=value with '='), so such a name would split a
// command or smuggle in another.
func checkName(p *configs.Problems, path, name, delims string) {
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case b == 0:
			p.Add(path, "contains NUL at byte %d", i+1)
			return
		case b < 0x20 || b == 0x7f:
			p.Add(path, "contains control character 0x%02x at byte %d", b, i+1)
			return
		case b > 0x7e:
			p.Add(path, "byte %d is 0x%02x: names are printable ASCII", i+1, b)
			return
		case strings.IndexByte(delims, b) >= 0:
			p.Add(path, "contains the protocol delimiter %q at byte %d", b, i+1)
			return
		}
	}
	if name != strings.TrimSpace(name) {
		p.Add(path, "has leading or trailing spaces")
	}
}
