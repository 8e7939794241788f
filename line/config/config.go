// Package config is the whole controller configuration: plain structs with
// yaml tags, decoded strictly (unknown keys are errors) and validated at once
// (every problem reported with its dotted path). It composes the device
// config structs of the device packages (devices/modbus, devices/opcua,
// devices/serialport, vision/grade, vision/pattern) so one file describes the
// whole line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/line/upstream/openscs"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/grade"
	"github.com/serialine/serialine/vision/keyence"
)

// Config is the controller's configuration file.
type Config struct {
	// Line identifies the line and its EPCIS location.
	Line Line `yaml:"line"`
	// Journal is where the unit journal lives.
	Journal Journal `yaml:"journal"`
	// Upstream is the site server (serial pools, event reporting).
	Upstream Upstream `yaml:"upstream"`
	// Pools are the local serial pool rules.
	Pools Pools `yaml:"pools"`
	// Cycle tunes the unit cycle.
	Cycle Cycle `yaml:"cycle"`
	// Devices are the PLC, printer and camera.
	Devices Devices `yaml:"devices"`
	// Grading is the print-quality policy per market profile.
	Grading grade.Config `yaml:"grading"`
	// Verify tunes matching camera reads to units.
	Verify Verify `yaml:"verify"`
	// API is the operator/HTTP interface.
	API API `yaml:"api"`
	// PackTags is the read-only OPC UA PackTags server (PackML state and
	// counters) for the plant's SCADA; off by default.
	PackTags PackTags `yaml:"packtags"`
	// Clock watches the wall clock (jumps, synchronisation); service.go.
	Clock Clock `yaml:"clock"`
	// Shift is how a shift runs on the line: line clearance checklist,
	// command reason codes, unit action policy, language (shift.go).
	Shift Shift `yaml:"shift"`
	// Aggregation packs units into cases and pallets (aggregation.go); off
	// by default.
	Aggregation Aggregation `yaml:"aggregation"`
}

// PackTags configures the OPC UA PackTags server (OPC 30050 PackML model,
// line/packtags). gopcua's server offers message security None only, so
// put it on the control network; with commands on, PackML methods need a
// user name and password of the line's users, which clients encrypt with
// the server's certificate.
//
//	packtags:
//	  enabled: true
//	  listen: 10.0.10.5:4841
//	  interval: 1s
//	  design_speed: 600     # units/min: Admin.MachDesignSpeed, EURange of the speeds
//	  speed: 300            # units/min: Status.MachSpeed (the PLC's set point)
//	  commands: true        # PackML methods (Start, Hold, …, SetUnitMode) for logged-in users
//	  cert_file: /etc/serialine/packtags.der   # DER or PEM certificate (required with commands)
//	  key_file: /etc/serialine/packtags.key    # PEM RSA key
type PackTags struct {
	// Enabled switches the PackTags server on (default off).
	Enabled bool `yaml:"enabled"`
	// Listen is the server's host:port; required when enabled (port 0
	// picks a free port).
	Listen string `yaml:"listen"`
	// Interval is how often the line status is read into the tags and
	// subscribers notified (0 = default 1s).
	Interval time.Duration `yaml:"interval"`
	// DesignSpeed is the line's design speed in units per minute
	// (Admin.MachDesignSpeed); 0 = unknown.
	DesignSpeed float64 `yaml:"design_speed"`
	// Speed is the nominal line speed in units per minute
	// (Status.MachSpeed); 0 = design_speed.
	Speed float64 `yaml:"speed"`
	// Commands serves the PackML methods (state commands, SetUnitMode) to
	// sessions logged in with the line's users (the operator API's user
	// file, so api.listen must be set); default off (read-only).
	Commands bool `yaml:"commands"`
	// CertFile and KeyFile are the server's certificate (DER or PEM) and
	// RSA private key (PEM): clients encrypt their password with it.
	// Required with commands.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Validate reports every problem with its path relative to the section.
func (pt PackTags) Validate() configs.Problems {
	var p configs.Problems
	if pt.Interval < 0 {
		p.Add("interval", "must be >= 0")
	}
	if pt.DesignSpeed < 0 {
		p.Add("design_speed", "must be >= 0 (units per minute), got %v", pt.DesignSpeed)
	}
	if pt.Speed < 0 {
		p.Add("speed", "must be >= 0 (units per minute), got %v", pt.Speed)
	}
	if (pt.CertFile == "") != (pt.KeyFile == "") {
		p.Add("cert_file", "cert_file and key_file go together")
	}
	if !pt.Enabled {
		return p
	}
	if pt.Listen == "" {
		p.Add("listen", "must be set when enabled (host:port)")
	} else if _, _, err := net.SplitHostPort(pt.Listen); err != nil {
		p.Add("listen", "%q is not host:port: %v", pt.Listen, err)
	}
	if pt.Commands && pt.CertFile == "" {
		p.Add("commands", "needs cert_file and key_file (clients encrypt their password with the certificate)")
	}
	return p
}

// Line identifies the line.
type Line struct {
	// Name of the line (shown on the HMI, sent upstream).
	Name string `yaml:"name"`
	// CompanyPrefixLen is one GS1 company prefix length (6..12) for every
	// GTIN this line packs, used to build SGTIN EPCs, tried last; 0 = not
	// set (then the product master, CompanyPrefixes or GCPFile must know
	// each GTIN: there is no default, and a batch of a GTIN nobody knows is
	// refused at its definition).
	CompanyPrefixLen int `yaml:"company_prefix_len"`
	// CompanyPrefixes are per-product lengths: GTIN-14 -> length (6..12),
	// tried after the product master's gcp_length.
	CompanyPrefixes map[string]int `yaml:"company_prefixes"`
	// GCPFile is GS1's GCP prefix format list (XML or JSON), loaded at start.
	GCPFile string `yaml:"gcp_file"`
	// EPCFormat is "sgtin" (urn:epc:id:sgtin, default) or "dl" (GS1
	// Digital Link URIs as EPCs).
	EPCFormat string `yaml:"epc_format"`
	// DLBase is the Digital Link domain for epc_format dl (default
	// https://id.gs1.org).
	DLBase string `yaml:"dl_base"`
	// ReadPoint is the EPCIS readPoint (an SGLN URN), optional.
	ReadPoint string `yaml:"read_point"`
	// BizLocation is the EPCIS bizLocation (an SGLN URN), optional.
	BizLocation string `yaml:"biz_location"`
	// Shifts are the local shift start times ("06:00", "14:00", "22:00")
	// used to reconcile per shift; empty = one shift per day.
	Shifts []string `yaml:"shifts"`
	// Timezone of the shift times (IANA name), default UTC.
	Timezone string `yaml:"timezone"`
	// DesignSpeed is the line's design speed in units per minute (PackML
	// MachDesignSpeed); needed when cycle.gate_travel is a product count.
	DesignSpeed float64 `yaml:"design_speed"`
}

// Journal is where the unit journal lives.
type Journal struct {
	// Path of the bbolt file.
	Path string `yaml:"path"`
	// MinFreeMB: the line holds, and Start and Unhold are refused, while
	// the journal's file system has less room than this (MiB); 0 = no
	// check. Default 512.
	MinFreeMB int `yaml:"min_free_mb"`
	// Archive: closed batches out of the live journal (service.go).
	Archive JournalArchive `yaml:"archive"`
	// Backup: periodic online copies of the live journal (service.go).
	Backup JournalBackup `yaml:"backup"`
}

// Upstream is the site server.
type Upstream struct {
	// Driver is "http" (the JSON API, default) or "open-scs" (OPC 30260
	// over OPC UA, block open_scs).
	Driver string `yaml:"driver"`
	// OpenSCS is the Open-SCS site server (driver open-scs).
	OpenSCS *openscs.Config `yaml:"open_scs"`
	// Events is where EPCIS documents go: "site" (the driver, default) or
	// "capture" (an EPCIS 2.0 repository, block capture).
	Events string `yaml:"events"`
	// Capture is the EPCIS 2.0 capture interface (events capture).
	Capture Capture `yaml:"capture"`
	// HealthInterval is how often the site server's health is checked.
	HealthInterval time.Duration `yaml:"health_interval"`
	// URL of the site server (https://…); "" = offline line fed by pools
	// imported by hand (driver http).
	URL string `yaml:"url"`
	// Token is the bearer token (prefer TokenFile).
	Token string `yaml:"token"`
	// TokenFile holds the bearer token.
	TokenFile string `yaml:"token_file"`
	// CAFile is a PEM file of CAs trusted for the site server's certificate.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is the number of tries per call (>= 1).
	Attempts int `yaml:"attempts"`
	// ForwardInterval is how often the outbox is retried while upstream is down.
	ForwardInterval time.Duration `yaml:"forward_interval"`
	// ShutdownDrain bounds how long `serialine run` keeps sending the outbox
	// at shutdown before it reports what is left (default 10s; 0 = only
	// report).
	ShutdownDrain time.Duration `yaml:"shutdown_drain"`
}

// Pools are the local serial pool rules.
type Pools struct {
	// RequestSize is how many serials one upstream request asks for.
	RequestSize int `yaml:"request_size"`
	// LowWater: replenish in the background below this many available.
	LowWater int `yaml:"low_water"`
	// MinStart: Start refuses when fewer are available (and upstream cannot
	// provide them at once).
	MinStart int `yaml:"min_start"`
	// HoldBelow: the batch holds when fewer than this many are left (drawn
	// buffer included), before running dry.
	HoldBelow int `yaml:"hold_below"`
	// CheckInterval is how often the pool level is checked.
	CheckInterval time.Duration `yaml:"check_interval"`
	// ReturnUnusedAtEnd hands the GTIN's unused serials back upstream when
	// a batch ends.
	ReturnUnusedAtEnd bool `yaml:"return_unused_at_end"`
}

// Cycle tunes the unit cycle.
type Cycle struct {
	// DrawGroup is how many serials one journal Draw takes.
	DrawGroup int `yaml:"draw_group"`
	// DrawAhead is how many drawn serials are kept ready for the printer.
	DrawAhead int `yaml:"draw_ahead"`
	// PrinterDepth is how many records are kept in the printer's queue.
	PrinterDepth int `yaml:"printer_depth"`
	// DecisionDeadline is the longest a printed unit may wait for its
	// camera read before it is rejected (late).
	DecisionDeadline time.Duration `yaml:"decision_deadline"`
	// DrainTimeout bounds how long Holding, Completing and Stopping wait
	// for units in flight to be decided and to pass the gate.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// GateTravel is how far downstream of the trigger point (the print
	// head) the reject gate is: the time a product takes to get there at
	// line speed ("400ms"), or the number of products between them ("40
	// products": the PLC's shift register length). Each product's verdict
	// must be in the PLC by then; a verdict that cannot make it is sent as
	// a reject (the unit becomes Rejected, reason late-verdict). Required.
	GateTravel GateTravel `yaml:"gate_travel"`
	// VerdictMargin is the part of the gate travel kept for the verdict
	// write to reach the PLC (the verdict path): a verdict is late when
	// less than this is left (default 5ms).
	VerdictMargin time.Duration `yaml:"verdict_margin"`
	// MaxLateVerdicts late verdicts in a row hold the line with an alarm
	// (default 3).
	MaxLateVerdicts int `yaml:"max_late_verdicts"`
	// PairWindow bounds how much later than a product's PLC trigger the
	// printer's report of it (print or missed print) may come: a later
	// one means reports were lost or held up, so which product got which
	// print is not certain; the line holds and the units paired until it
	// has realigned are uncertain (default 250ms).
	PairWindow time.Duration `yaml:"pair_window"`
	// MaxTriggerBacklog bounds the PLC triggers waiting for their prints;
	// beyond it the oldest are dropped as stale (default 4096).
	MaxTriggerBacklog int `yaml:"max_trigger_backlog"`
}

// GateTravel is the distance from the trigger point to the reject gate as
// a time at line speed or as a product count. In YAML: a duration
// ("400ms") or "<n> products".
type GateTravel struct {
	// Time at line speed (0 when given as products).
	Time time.Duration
	// Products between trigger and gate (0 when given as a time).
	Products int
}

// IsZero reports whether no gate travel was given.
func (g GateTravel) IsZero() bool { return g.Time == 0 && g.Products == 0 }

func (g GateTravel) String() string {
	if g.Products > 0 {
		return fmt.Sprintf("%d products", g.Products)
	}
	return g.Time.String()
}

// ParseGateTravel parses "400ms" or "40 products" ("1 product").
func ParseGateTravel(s string) (GateTravel, error) {
	s = strings.TrimSpace(s)
	if f := strings.Fields(s); len(f) == 2 && (f[1] == "products" || f[1] == "product") {
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return GateTravel{}, fmt.Errorf("%q: the product count must be a whole number >= 1", s)
		}
		return GateTravel{Products: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return GateTravel{}, fmt.Errorf("%q: want a time (400ms) or a product count (40 products)", s)
	}
	return GateTravel{Time: d}, nil
}

// UnmarshalText implements encoding.TextUnmarshaler (YAML scalars).
func (g *GateTravel) UnmarshalText(b []byte) error {
	v, err := ParseGateTravel(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (g GateTravel) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// TimeAt is the gate travel as a time at line speed perMin units/min (the
// Time itself when given as a time; 0 when neither is known).
func (g GateTravel) TimeAt(perMin float64) time.Duration {
	if g.Time > 0 {
		return g.Time
	}
	if perMin <= 0 {
		return 0
	}
	return time.Duration(float64(g.Products) / (perMin / 60) * float64(time.Second))
}

// Devices are the line's devices.
type Devices struct {
	PLC     PLC     `yaml:"plc"`
	Printer Printer `yaml:"printer"`
	Camera  Camera  `yaml:"camera"`
}

// PLC is the PLC connection: exactly one of Modbus or OPCUA per Protocol.
type PLC struct {
	// Protocol is "modbus" or "opcua".
	Protocol string `yaml:"protocol"`
	// Modbus is used with protocol modbus.
	Modbus *modbus.Config `yaml:"modbus"`
	// OPCUA is used with protocol opcua.
	OPCUA *opcua.Config `yaml:"opcua"`
}

// Printer is the printer connection (text protocol, TCP or RS-232).
type Printer struct {
	// Driver is "tij" (CLARiTY-class text protocol).
	Driver string `yaml:"driver"`
	// Address is host:port (TCP); empty with Serial set.
	Address string `yaml:"address"`
	// Serial is the RS-232 port when Address is empty.
	Serial *serialport.Config `yaml:"serial"`
	// Job is the printer job (message) selected at connect.
	Job string `yaml:"job"`
	// IDField is the job field that carries the serial (record id).
	IDField string `yaml:"id_field"`
	// Fields maps job field names to what they carry: one of "element_string",
	// "serial", "gtin", "lot", "expiry", "hri_serial", "nhrn".
	Fields map[string]string `yaml:"fields"`
	// Enqueue is "JDI" (default) or "SLI".
	Enqueue string `yaml:"enqueue"`
	// ClearOnConnect clears records left in the printer at connect.
	ClearOnConnect bool `yaml:"clear_on_connect"`
	// ReplyTimeout bounds each command's reply (default 1s).
	ReplyTimeout time.Duration `yaml:"reply_timeout"`
	// KeepAlive is the silence after which the printer's state is asked
	// (GST), so that a hung printer is found while the line is idle
	// (default 500ms; keep_alive + reply_timeout must fit in
	// MaxHangDetection).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// Backoff is the reconnect policy.
	Backoff devices.Backoff `yaml:"backoff"`
}

// Field sources for Printer.Fields.
var FieldSources = []string{"element_string", "serial", "gtin", "lot", "expiry", "hri", "nhrn"}

// Camera is the camera connection: exactly one block per Driver.
type Camera struct {
	// Driver is "dmcc" (Cognex DataMan) or "keyence" (SR series).
	Driver string `yaml:"driver"`
	// DMCC is used with driver dmcc.
	DMCC *dmcc.Config `yaml:"dmcc"`
	// Keyence is used with driver keyence.
	Keyence *keyence.Config `yaml:"keyence"`
	// Backoff is the reconnect policy.
	Backoff devices.Backoff `yaml:"backoff"`
}

// Verify tunes the read-to-unit matching.
type Verify struct {
	// Window: how many awaiting units a read may match (default 3).
	Window int `yaml:"window"`
	// MaxNoReads in a row hold the line (default 3; -1 never).
	MaxNoReads int `yaml:"max_no_reads"`
	// MaxLowGrades in a row hold the line (default 3; -1 never).
	MaxLowGrades int `yaml:"max_low_grades"`
}

// API is the operator interface.
type API struct {
	// Listen address of the HTTP API and HMI ("" = off).
	Listen string `yaml:"listen"`
	// CertFile and KeyFile switch TLS on.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the TLS key.
	KeyFile string `yaml:"key_file"`
	// UsersFile is where users are stored (line/auth).
	UsersFile string `yaml:"users_file"`
}

// Defaults returns a Config with every default filled in; Load decodes over it.
func Defaults() Config {
	return Config{
		Journal: Journal{MinFreeMB: 512, Backup: JournalBackup{Keep: 7}},
		Clock:   defaultClock(),
		Upstream: Upstream{Timeout: 10 * time.Second, Attempts: 5, ForwardInterval: 2 * time.Second, HealthInterval: 5 * time.Second,
			ShutdownDrain: 10 * time.Second, Capture: Capture{PollInterval: 500 * time.Millisecond, JobTimeout: time.Minute}},
		Pools: Pools{RequestSize: 5000, LowWater: 2000, MinStart: 100, HoldBelow: 20,
			CheckInterval: time.Second},
		Cycle: Cycle{DrawGroup: 64, DrawAhead: 256, PrinterDepth: 4, DecisionDeadline: time.Second,
			DrainTimeout: 5 * time.Second, VerdictMargin: 5 * time.Millisecond, MaxLateVerdicts: 3,
			PairWindow: 250 * time.Millisecond, MaxTriggerBacklog: 4096},
		Devices: Devices{
			Printer: Printer{Driver: "tij", Enqueue: "JDI", ReplyTimeout: time.Second, KeepAlive: 500 * time.Millisecond,
				Backoff: devices.DefaultBackoff()},
			Camera: Camera{Backoff: devices.DefaultBackoff()},
		},
	}
}

// Load reads, strictly decodes (over Defaults) and validates a config file.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse strictly decodes data (named name in errors) over Defaults and
// validates it.
func Parse(name string, data []byte) (Config, error) {
	c := Defaults()
	if err := configs.DecodeStrict(name, bytes.NewReader(data), &c); err != nil {
		// Every key that did decode is validated too, so one run lists
		// every problem (a misspelt key does not hide a bad time zone).
		var de *configs.DecodeError
		if errors.As(err, &de) {
			for _, p := range c.Validate() {
				de.Errors = append(de.Errors, p.String())
			}
		}
		return Config{}, err
	}
	if err := c.Validate().Err(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Decode strictly decodes r over Defaults without validating.
func Decode(name string, r io.Reader) (Config, error) {
	c := Defaults()
	if err := configs.DecodeStrict(name, r, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem with its dotted path.
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	// line
	if strings.TrimSpace(c.Line.Name) == "" {
		p.Add("line.name", "must be set")
	}
	c.validateEPCs(&p)
	c.validateUpstreamDrivers(&p)
	for _, f := range []struct{ path, v string }{{"line.read_point", c.Line.ReadPoint}, {"line.biz_location", c.Line.BizLocation}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || u.Scheme == "" || strings.ContainsAny(f.v, " \t") {
			p.Add(f.path, "must be a URI (urn:epc:id:sgln:…), got %q", f.v)
		}
	}
	c.Shift.validate(&p)
	seenShift := map[string]int{}
	for i, s := range c.Line.Shifts {
		t, err := time.Parse("15:04", s)
		if err != nil {
			p.Add(fmt.Sprintf("line.shifts[%d]", i), "must be HH:MM, got %q", s)
			continue
		}
		k := t.Format("15:04")
		if j, ok := seenShift[k]; ok {
			p.Add(fmt.Sprintf("line.shifts[%d]", i), "%s given twice (also line.shifts[%d])", s, j)
		}
		seenShift[k] = i
	}
	if c.Line.Timezone != "" {
		if _, err := time.LoadLocation(c.Line.Timezone); err != nil {
			p.Add("line.timezone", "unknown time zone %q", c.Line.Timezone)
		}
	}
	// journal
	if strings.TrimSpace(c.Journal.Path) == "" {
		p.Add("journal.path", "must be set")
	}
	// upstream
	u := c.Upstream
	if u.URL != "" {
		pu, err := url.Parse(u.URL)
		switch {
		case err != nil || (pu.Scheme != "http" && pu.Scheme != "https"):
			p.Add("upstream.url", "must start with https:// (or http://), got %q", u.URL)
		case pu.Host == "":
			p.Add("upstream.url", "must name a host, got %q", u.URL)
		case pu.Port() != "" && configs.CheckHostPort(pu.Host) != nil:
			p.Add("upstream.url", "%v", configs.CheckHostPort(pu.Host))
		case pu.Scheme == "http" && (u.Token != "" || u.TokenFile != "") && !loopback(pu.Hostname()):
			p.Add("upstream.url", "must be https:// when a token is set (the bearer token would cross the network in clear), got %q", u.URL)
		case pu.Scheme == "http" && u.CAFile != "":
			p.Add("upstream.ca_file", "needs an https:// url (got %q)", u.URL)
		}
	} else if u.Token != "" || u.TokenFile != "" || u.CAFile != "" {
		p.Add("upstream.url", "must be set when token, token_file or ca_file is (or remove them for an offline line)")
	}
	if u.Token != "" && u.TokenFile != "" {
		p.Add("upstream.token_file", "set token or token_file, not both")
	}
	if u.Timeout <= 0 {
		p.Add("upstream.timeout", "must be > 0")
	}
	if u.Attempts < 1 {
		p.Add("upstream.attempts", "must be >= 1")
	}
	if u.ForwardInterval <= 0 {
		p.Add("upstream.forward_interval", "must be > 0")
	}
	if u.ShutdownDrain < 0 {
		p.Add("upstream.shutdown_drain", "must be >= 0 (0 = report what is left without sending)")
	}
	// pools
	po := c.Pools
	if po.RequestSize < 1 {
		p.Add("pools.request_size", "must be >= 1")
	}
	if po.LowWater < 0 {
		p.Add("pools.low_water", "must be >= 0")
	}
	if po.MinStart < 0 {
		p.Add("pools.min_start", "must be >= 0")
	}
	if po.HoldBelow < 0 {
		p.Add("pools.hold_below", "must be >= 0")
	}
	if po.HoldBelow > po.LowWater && po.LowWater > 0 {
		p.Add("pools.hold_below", "must be <= low_water (%d): replenish before holding", po.LowWater)
	}
	if po.CheckInterval <= 0 {
		p.Add("pools.check_interval", "must be > 0")
	}
	// cycle
	cy := c.Cycle
	if cy.DrawGroup < 1 {
		p.Add("cycle.draw_group", "must be >= 1")
	}
	if cy.DrawAhead < cy.DrawGroup {
		p.Add("cycle.draw_ahead", "must be >= draw_group (%d)", cy.DrawGroup)
	}
	if cy.PrinterDepth < 1 || cy.PrinterDepth > 1024 {
		p.Add("cycle.printer_depth", "must be 1..1024, got %d", cy.PrinterDepth)
	}
	if cy.DecisionDeadline <= 0 {
		p.Add("cycle.decision_deadline", "must be > 0")
	}
	if cy.DrainTimeout <= 0 {
		p.Add("cycle.drain_timeout", "must be > 0")
	}
	switch travel := cy.GateTravel.TimeAt(c.Line.DesignSpeed); {
	case cy.GateTravel.IsZero():
		p.Add("cycle.gate_travel", `must be set: the time from the print head to the reject gate at line speed ("400ms") or the products between them ("40 products")`)
	case travel == 0:
		p.Add("cycle.gate_travel", "%s: set line.design_speed (units/min) so the decision deadline and the verdict margin can be checked against it", cy.GateTravel)
	case cy.DecisionDeadline > 0 && cy.DecisionDeadline+cy.VerdictMargin >= travel:
		p.Add("cycle.decision_deadline", "%s plus verdict_margin %s must be shorter than the gate travel (%s = %s at %.0f units/min): a verdict decided that late cannot reach the gate",
			cy.DecisionDeadline, cy.VerdictMargin, cy.GateTravel, travel.Round(time.Millisecond), c.Line.DesignSpeed)
	}
	if cy.VerdictMargin <= 0 {
		p.Add("cycle.verdict_margin", "must be > 0")
	}
	if cy.MaxLateVerdicts < 1 {
		p.Add("cycle.max_late_verdicts", "must be >= 1")
	}
	if cy.PairWindow <= 0 {
		p.Add("cycle.pair_window", "must be > 0")
	}
	if cy.MaxTriggerBacklog < 1 {
		p.Add("cycle.max_trigger_backlog", "must be >= 1")
	}
	// devices
	p.Merge("devices.plc", c.Devices.PLC.Validate())
	p = append(p, c.gateProblems()...) // gate.go
	p.Merge("devices.printer", c.Devices.Printer.Validate())
	p.Merge("devices.camera", c.Devices.Camera.Validate())
	p.Merge("grading", c.Grading.Validate())
	p.Merge("packtags", c.PackTags.Validate())
	p.Merge("", c.serviceProblems())
	if c.PackTags.Enabled && c.PackTags.Commands && c.API.Listen == "" {
		p.Add("packtags.commands", "needs api.listen (the OPC UA logins are the operator API's users)")
	}
	p.Merge("aggregation", c.Aggregation.Validate())
	if c.Verify.Window < 0 {
		p.Add("verify.window", "must be >= 0 (0 = default 3)")
	}
	if c.Verify.MaxNoReads < -1 {
		p.Add("verify.max_no_reads", "must be >= -1 (-1 = never hold, 0 = default 3), got %d", c.Verify.MaxNoReads)
	}
	if c.Verify.MaxLowGrades < -1 {
		p.Add("verify.max_low_grades", "must be >= -1 (-1 = never hold, 0 = default 3), got %d", c.Verify.MaxLowGrades)
	}
	if c.API.Listen != "" {
		// A listen address may leave the host out (":8080", all interfaces).
		if _, port, err := net.SplitHostPort(c.API.Listen); err != nil {
			p.Add("api.listen", "must be host:port, got %q", c.API.Listen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.Add("api.listen", "bad port %q (want 0..65535)", port)
		}
	}
	if (c.API.CertFile == "") != (c.API.KeyFile == "") {
		p.Add("api.cert_file", "cert_file and key_file go together")
	}
	p = append(p, c.limitProblems()...) // limits.go
	return p
}

// Validate checks the PLC block.
func (c PLC) Validate() configs.Problems {
	var p configs.Problems
	switch c.Protocol {
	case "modbus":
		if c.Modbus == nil {
			p.Add("modbus", "must be set with protocol modbus")
		} else {
			p.Merge("modbus", c.Modbus.Validate())
		}
		if c.OPCUA != nil {
			p.Add("opcua", "must not be set with protocol modbus")
		}
	case "opcua":
		if c.OPCUA == nil {
			p.Add("opcua", "must be set with protocol opcua")
		} else {
			p.Merge("opcua", c.OPCUA.Validate())
		}
		if c.Modbus != nil {
			p.Add("modbus", "must not be set with protocol opcua")
		}
	default:
		p.Add("protocol", `must be "modbus" or "opcua", got %q`, c.Protocol)
	}
	return p
}

// Validate checks the printer block.
func (c Printer) Validate() configs.Problems {
	var p configs.Problems
	if c.Driver != "tij" {
		p.Add("driver", `must be "tij", got %q`, c.Driver)
	}
	switch {
	case c.Address == "" && c.Serial == nil:
		p.Add("address", "must be host:port (or set serial for RS-232)")
	case c.Address != "" && c.Serial != nil:
		p.Add("serial", "set address (TCP) or serial (RS-232), not both")
	case c.Address != "":
		if err := configs.CheckHostPort(c.Address); err != nil {
			p.Add("address", "must be host:port: %v", err)
		}
	default:
		p.Merge("serial", c.Serial.Validate())
	}
	if c.Job == "" {
		p.Add("job", "must be set")
	}
	if len(c.Fields) == 0 {
		p.Add("fields", "must map at least one job field (e.g. GS1: element_string)")
	}
	hasData := false
	for _, k := range sortedKeys(c.Fields) {
		v := c.Fields[k]
		if !slices.Contains(FieldSources, v) {
			p.Add("fields."+k, "must be one of %s, got %q", strings.Join(FieldSources, ", "), v)
		}
		if v == "element_string" {
			hasData = true
		}
	}
	if len(c.Fields) > 0 && !hasData {
		p.Add("fields", "one field must carry element_string (the DataMatrix content)")
	}
	if c.Enqueue != "JDI" && c.Enqueue != "SLI" {
		p.Add("enqueue", `must be "JDI" or "SLI", got %q`, c.Enqueue)
	}
	if c.ReplyTimeout <= 0 {
		p.Add("reply_timeout", "must be > 0")
	}
	p.Merge("backoff", c.Backoff.Validate())
	return p
}

// Validate checks the camera block.
func (c Camera) Validate() configs.Problems {
	var p configs.Problems
	switch c.Driver {
	case "dmcc":
		if c.DMCC == nil {
			p.Add("dmcc", "must be set with driver dmcc")
		} else {
			p.Merge("dmcc", c.DMCC.Validate())
		}
		if c.Keyence != nil {
			p.Add("keyence", "must not be set with driver dmcc")
		}
	case "keyence":
		if c.Keyence == nil {
			p.Add("keyence", "must be set with driver keyence")
		} else {
			p.Merge("keyence", c.Keyence.Validate())
		}
		if c.DMCC != nil {
			p.Add("dmcc", "must not be set with driver keyence")
		}
	default:
		p.Add("driver", `must be "dmcc" or "keyence", got %q`, c.Driver)
	}
	p.Merge("backoff", c.Backoff.Validate())
	return p
}

// loopback reports whether host is a loopback name or address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
