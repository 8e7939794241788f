package opcua

import (
	"fmt"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
)

// Trigger modes.
const (
	// TriggerCounter monitors NodeMap.ProductSeq, the PLC's product
	// sequence id (consecutive). Every id between two notifications is a
	// trigger, so values the server coalesces are not lost.
	TriggerCounter = "counter"
	// TriggerEdge monitors NodeMap.ProductPresent (Boolean): each rising
	// edge is a trigger; the sequence id is read from ProductSeq when set
	// (gaps count as missed), else counted locally.
	TriggerEdge = "edge"
)

// NodeMap is the declarative node layout of one PLC. Node ids use the
// standard string form ("ns=1;s=Conveyor.ProductSeq", "ns=2;i=1001").
// Namespace indexes are the server's: check them against its namespace
// array. Slot tables are node-id templates with one %d for the slot index,
// 0-based: slot = seq mod Slots.
type NodeMap struct {
	// Trigger is "counter" or "edge".
	Trigger string `yaml:"trigger"`
	// ProductSeq is the product sequence id (unsigned integer, SeqWidth
	// bits, wraps): monitored in counter mode, read on each edge in edge
	// mode (optional there).
	ProductSeq string `yaml:"product_seq"`
	// SeqWidth is the width of ProductSeq in bits: 16, 32 or 64.
	SeqWidth int `yaml:"seq_width"`
	// ProductPresent is the Boolean product sensor (edge mode only).
	ProductPresent string `yaml:"product_present"`
	// PLCHeartbeat is a value the PLC keeps changing (monitored).
	PLCHeartbeat string `yaml:"plc_heartbeat"`
	// ControllerHeartbeat is written by the controller (UInt16, +1 each
	// interval) so the PLC sees it stall.
	ControllerHeartbeat string `yaml:"controller_heartbeat"`
	// Decisions is the verdict slot template (UInt64 written:
	// seq<<8 | verdict, verdict 1 accept 2 reject).
	Decisions string `yaml:"decisions"`
	// Confirmations is the gate result slot template (UInt64 read:
	// seq<<8 | result, result 0 pending 1 passed 2 confirmed 3 unconfirmed).
	Confirmations string `yaml:"confirmations"`
	// Slots is the number of decision/confirmation slots (1..4096).
	Slots int `yaml:"slots"`
	// LineStop is the line-stop/hold request (Boolean, written).
	LineStop string `yaml:"line_stop"`
	// Light is the stack light (UInt16 0 off 1 green 2 amber 3 red, written).
	Light string `yaml:"light"`
	// Horn is the alarm horn (Boolean, written).
	Horn string `yaml:"horn"`
}

// DefaultNodeMap is the map plcsim serves (namespace 1).
func DefaultNodeMap() NodeMap {
	return NodeMap{
		Trigger:             TriggerCounter,
		ProductSeq:          "ns=1;s=Conveyor.ProductSeq",
		SeqWidth:            32,
		ProductPresent:      "ns=1;s=Conveyor.ProductPresent",
		PLCHeartbeat:        "ns=1;s=PLC.Heartbeat",
		ControllerHeartbeat: "ns=1;s=Controller.Heartbeat",
		Decisions:           "ns=1;s=Gate.Decision.%d",
		Confirmations:       "ns=1;s=Gate.Confirmation.%d",
		Slots:               64,
		LineStop:            "ns=1;s=Interlock.LineStop",
		Light:               "ns=1;s=Interlock.Light",
		Horn:                "ns=1;s=Interlock.Horn",
	}
}

func checkNode(p *configs.Problems, path, s string, required bool) {
	if s == "" {
		if required {
			p.Add(path, "must be set (node id like ns=1;s=Name)")
		}
		return
	}
	if _, err := ua.ParseNodeID(s); err != nil {
		p.Add(path, "bad node id %q: %v", s, err)
	}
}

func checkTemplate(p *configs.Problems, path, s string) {
	if strings.Count(s, "%d") != 1 || strings.Count(s, "%") != 1 {
		p.Add(path, "must be a node id template with exactly one %%d for the slot, got %q", s)
		return
	}
	if _, err := ua.ParseNodeID(fmt.Sprintf(s, 0)); err != nil {
		p.Add(path, "bad node id template %q: %v", s, err)
	}
}

// Validate reports every mistake in the map (paths relative to it).
func (m NodeMap) Validate() configs.Problems {
	var p configs.Problems
	switch m.Trigger {
	case TriggerCounter:
		checkNode(&p, "product_seq", m.ProductSeq, true)
	case TriggerEdge:
		checkNode(&p, "product_present", m.ProductPresent, true)
		checkNode(&p, "product_seq", m.ProductSeq, false)
	default:
		p.Add("trigger", `must be "counter" or "edge", got %q`, m.Trigger)
	}
	if m.SeqWidth != 16 && m.SeqWidth != 32 && m.SeqWidth != 64 {
		p.Add("seq_width", "must be 16, 32 or 64, got %d", m.SeqWidth)
	}
	checkNode(&p, "plc_heartbeat", m.PLCHeartbeat, true)
	checkNode(&p, "controller_heartbeat", m.ControllerHeartbeat, true)
	checkTemplate(&p, "decisions", m.Decisions)
	checkTemplate(&p, "confirmations", m.Confirmations)
	if m.Slots < 1 || m.Slots > 4096 {
		p.Add("slots", "must be 1..4096, got %d", m.Slots)
	}
	checkNode(&p, "line_stop", m.LineStop, true)
	checkNode(&p, "light", m.Light, true)
	checkNode(&p, "horn", m.Horn, true)
	return p
}

// Security policies and auth modes.
const (
	PolicyNone           = "None"
	PolicyBasic256Sha256 = "Basic256Sha256"
	AuthAnonymous        = "anonymous"
	AuthUsername         = "username"
)

// Config is one OPC UA PLC connection (yaml, decoded strictly).
type Config struct {
	// Session is the endpoint and its security (endpoint,
	// security_policy, security_mode, certificate, private_key, auth,
	// username, password at this level).
	Session `yaml:",inline"`
	// Timeout bounds each request and the dial.
	Timeout time.Duration `yaml:"timeout"`
	// PublishInterval is the subscription publishing interval (>= 1ms).
	PublishInterval time.Duration `yaml:"publish_interval"`
	// MaxBacklog is how many sequence ids one notification may turn into
	// triggers; beyond it they are reported as Missed (0 means 256).
	MaxBacklog int `yaml:"max_backlog"`
	// Timing is the heartbeat, confirmation and reconnect timing
	// (heartbeat_interval, heartbeat_timeout, confirm_window, confirm_poll,
	// backoff at this level).
	devices.Timing `yaml:",inline"`
	// Nodes is the node map.
	Nodes NodeMap `yaml:"nodes"`
}

// DefaultConfig is an anonymous, security-None config for endpoint with
// DefaultNodeMap.
func DefaultConfig(endpoint string) Config {
	return Config{
		Session: AnonymousSession(endpoint), Timeout: 2 * time.Second, PublishInterval: 5 * time.Millisecond,
		Timing: devices.DefaultTiming(), Nodes: DefaultNodeMap(),
	}
}

// Validate reports every mistake at once (paths relative to the block).
func (c Config) Validate() configs.Problems {
	p := c.Session.Validate()
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			p.Add(name, "must be > 0")
		}
	}
	pos("timeout", c.Timeout)
	if c.PublishInterval < time.Millisecond {
		p.Add("publish_interval", "must be >= 1ms")
	}
	p.Merge("", c.ValidateDurations())
	if c.MaxBacklog < 0 {
		p.Add("max_backlog", "must be >= 0")
	}
	p.Merge("backoff", c.Backoff.Validate())
	p.Merge("nodes", c.Nodes.Validate())
	return p
}
