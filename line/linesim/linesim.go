// Package linesim assembles a whole simulated packaging line on loopback:
// the reference site server (line/upstreamsim, HTTP), a simulated PLC
// (devices/plcsim, Modbus TCP), a simulated TIJ printer
// (printer/printersim, text protocol over TCP) whose photo-eye is the PLC's
// product event, a simulated camera (vision/camerasim, DMCC over TCP) that
// decodes every printed symbol image for real, a journal and the
// controller talking to all of them over their real protocols. The demo,
// the end-to-end tests and the line benchmark use it.
package linesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/upstream/openscs"
	"github.com/serialine/serialine/line/upstreamsim"
	openscssim "github.com/serialine/serialine/line/upstreamsim/openscs"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/camerasim"
)

// Options configure a simulated line.
type Options struct {
	// DBPath is the journal file; "" = line.db in Dir.
	DBPath string
	// Dir holds the journal when DBPath is empty; required then.
	Dir string
	// Rate is products per second at the PLC (default 5 = 300/min).
	Rate float64
	// GateDistance is the PLC's conveyor length to the reject gate in
	// products (default DefaultGateDistance(Rate)). The controller's cycle.gate_travel is set to
	// it and line.design_speed to Rate; the PLC's verdict and
	// confirmation tables are sized for it.
	GateDistance int
	// Realistic turns on device delays and jitter (printer acks 2–10 ms,
	// print 10–15 ms, camera latency 5 ms) as in the demo.
	Realistic bool
	// Faults are random faults injected by the printer sim (defects, wrong
	// records, duplicate acks); zero = none.
	Faults PrinterFaults
	// PLCProtocol is "modbus" (default) or "opcua": the protocol the
	// controller talks to the simulated PLC with.
	PLCProtocol string
	// Config is the base config (default: configs/demo.yaml); device
	// addresses and the journal path are replaced.
	Config *config.Config
	// NoSync opens the journal without fsync (benchmarks of the non-durable
	// path only; never for the demo).
	NoSync bool
	// Upstream configures the site server sim (token is taken from Config).
	Upstream upstreamsim.Options
	// UpstreamServer, when set, is a running site server sim to use instead
	// of starting one (Upstream is then ignored; Close leaves it running):
	// a test restarting the controller keeps the site server's state.
	UpstreamServer *upstreamsim.Server
	// UpstreamDriver is "http" (default) or "open-scs": serial pools from
	// the simulated Open-SCS site server (line/upstreamsim/openscs) over
	// OPC UA; events then go to it too unless Events is "capture".
	UpstreamDriver string
	// Events is "site" (default: through the upstream driver) or
	// "capture": EPCIS documents go to the HTTP site-server sim's EPCIS
	// 2.0 capture interface (POST /capture, capture jobs).
	Events string
	// WrapPLC, when set, decorates the controller's PLC driver (tests inject
	// faults behind the real protocol client with it); nil = none.
	WrapPLC func(line.PLC) line.PLC
	// Aggregate, when set, adds the simulated end of line (case packer,
	// case line, labellers, scanners, palletiser) and the aggregation
	// controller (aggregate.go).
	Aggregate *AggregateOptions
	// Metrics for the controller; nil = none.
	Metrics *metrics.Metrics
	// Logger; nil discards.
	Logger *slog.Logger
	// Controller, when set, adjusts the controller's options before New
	// (tests inject the host checks: disk, clock).
	Controller func(*line.Options)
}

// PrinterFaults are the printer simulator's random fault rates.
type PrinterFaults struct {
	DefectRate        float64 // probability of a print defect (grades drop, some no-reads)
	MaxDefectSeverity float64 // 0..1
	WrongRecordRate   float64 // prints the second queued record (the printer reports it)
	DuplicateAckRate  float64 // a print reported twice (print-start and print-complete)
}

// Line is a running simulated line.
type Line struct {
	Config   config.Config
	Upstream *upstreamsim.Server
	// OpenSCS is the simulated Open-SCS site server (UpstreamDriver open-scs).
	OpenSCS    *openscssim.Server
	PLC        *plcsim.Sim
	Printer    *printersim.Server
	Camera     *camerasim.Server
	Journal    *journal.Journal
	Controller *line.Controller
	// Aggregator and Cases are set with Options.Aggregate.
	Aggregator *aggregate.Aggregator
	Cases      *caseLine

	cancel context.CancelFunc
	wg     sync.WaitGroup

	gates *GateLog

	sharedUpstream bool // Upstream came from Options.UpstreamServer: not closed here
	rctx           context.Context
	log            *slog.Logger
	errMu          sync.Mutex
	errs           []error
}

// DemoConfig is the embedded configs/demo.yaml, decoded and validated.
func DemoConfig() (config.Config, error) {
	data, err := configs.Files.ReadFile("demo.yaml")
	if err != nil {
		return config.Config{}, fmt.Errorf("linesim: %w", err)
	}
	return config.Parse("configs/demo.yaml", data)
}

// Start starts the simulators, opens the journal (running its recovery),
// builds the controller and runs everything until ctx ends or Close.
func Start(ctx context.Context, o Options) (l *Line, err error) {
	l, err = startDevices(ctx, o, false)
	if err != nil {
		return l, err
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	cfg, log := l.Config, l.log
	if l.Journal, err = journal.Open(cfg.Journal.Path, &journal.Options{NoSync: o.NoSync, Logger: log.With("part", "journal"),
		ArchiveDir: cfg.Journal.Archive.Dir}); err != nil {
		return l, err
	}
	drv, err := line.NewDrivers(cfg, log, nil)
	if err != nil {
		return l, err
	}
	up, err := line.NewUpstream(cfg, log)
	if err != nil {
		return l, err
	}
	if o.WrapPLC != nil {
		drv.PLC = o.WrapPLC(drv.PLC)
	}
	lo := line.Options{Config: cfg, Journal: l.Journal, PLC: drv.PLC, Printer: drv.Printer,
		Camera: drv.Camera, Upstream: up, Metrics: o.Metrics, Logger: log.With("part", "line")}
	if o.Controller != nil {
		o.Controller(&lo)
	}
	l.Controller, err = line.New(lo)
	if err != nil {
		return l, err
	}
	if o.Aggregate != nil {
		if err := l.startAggregator(l.rctx, l.Controller, cfg, aggregate.SSCCSource(up), log); err != nil {
			return l, err
		}
	}
	l.runPLC()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.Controller.Run(l.rctx); err != nil {
			l.addErr(fmt.Errorf("controller: %w", err))
		}
	}()
	return l, nil
}

// StartDevices starts the simulators only (site server, PLC, printer,
// camera, wired together) and returns the line with Config pointing at
// them and at the journal path; no journal is opened and no controller
// runs (Journal and Controller are nil): a test runs the controller
// elsewhere, e.g. in a child process. Close stops them.
func StartDevices(ctx context.Context, o Options) (*Line, error) { return startDevices(ctx, o, true) }

// startDevices starts the simulators; the PLC's product flow only when
// runPLC (Start runs it with the controller, as it always did).
func startDevices(ctx context.Context, o Options, runPLC bool) (l *Line, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rate == 0 {
		o.Rate = 5
	}
	if o.GateDistance == 0 {
		o.GateDistance = DefaultGateDistance(o.Rate)
	}
	var cfg config.Config
	if o.Config != nil {
		cfg = *o.Config
	} else if cfg, err = DemoConfig(); err != nil {
		return nil, err
	}
	if o.DBPath == "" {
		if o.Dir == "" {
			return nil, errors.New("linesim: DBPath or Dir is required")
		}
		o.DBPath = filepath.Join(o.Dir, "line.db")
	}
	l = &Line{}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	log := o.Logger

	if o.UpstreamServer != nil {
		l.Upstream, l.sharedUpstream = o.UpstreamServer, true
	} else {
		uo := o.Upstream
		uo.Token = cfg.Upstream.Token
		uo.Logger = log.With("sim", "upstream")
		if l.Upstream, err = upstreamsim.Start(uo); err != nil {
			return l, err
		}
	}
	cfg.Upstream.URL = l.Upstream.URL()
	if o.UpstreamDriver == config.DriverOpenSCS {
		if l.OpenSCS, err = openscssim.Start(openscssim.Options{Logger: log.With("sim", "open-scs")}); err != nil {
			return l, err
		}
		oc := openscs.DefaultConfig(l.OpenSCS.Endpoint())
		oc.Criteria.Request = "RequestID" // the simulator deduplicates requests by it
		cfg.Upstream.Driver, cfg.Upstream.OpenSCS = config.DriverOpenSCS, &oc
	}
	if o.Events == config.EventsCapture {
		cfg.Upstream.Events, cfg.Upstream.Capture.URL = config.EventsCapture, l.Upstream.URL()
		cfg.Upstream.Capture.Token = cfg.Upstream.Token
		cfg.Upstream.Capture.PollInterval = 20 * time.Millisecond
	}

	fitLine(&cfg, o)
	mb := modbus.DefaultConfig("127.0.0.1:0")
	if cfg.Devices.PLC.Modbus != nil {
		mb = *cfg.Devices.PLC.Modbus
	}
	mb.Registers = GateTables(mb.Registers, GateSlots(o.GateDistance, o.Rate, mb.ConfirmPoll))
	ua := opcua.DefaultConfig("opc.tcp://127.0.0.1:0")
	if cfg.Devices.PLC.OPCUA != nil {
		ua = *cfg.Devices.PLC.OPCUA
	}
	ua.Nodes.Slots = max(ua.Nodes.Slots, mb.Registers.Slots)
	if l.PLC, err = plcsim.New(plcsim.Options{Logger: log.With("sim", "plc"), Rate: o.Rate, GateDistance: o.GateDistance, StartStopped: true,
		ControllerTimeout: 3 * time.Second, Registers: &mb.Registers, Nodes: &ua.Nodes}); err != nil {
		return l, err
	}
	switch o.PLCProtocol {
	case "", "modbus":
		if mb.Address, err = l.PLC.StartModbus("127.0.0.1:0"); err != nil {
			return l, err
		}
		cfg.Devices.PLC.Protocol = "modbus"
		cfg.Devices.PLC.Modbus = &mb
		cfg.Devices.PLC.OPCUA = nil
	case "opcua":
		if ua.Endpoint, err = l.PLC.StartOPCUA("127.0.0.1:0"); err != nil {
			return l, err
		}
		cfg.Devices.PLC.Protocol = "opcua"
		cfg.Devices.PLC.OPCUA = &ua
		cfg.Devices.PLC.Modbus = nil
	default:
		return l, fmt.Errorf("linesim: PLC protocol %q: want modbus or opcua", o.PLCProtocol)
	}

	po := printersim.Options{Logger: log.With("sim", "printer"), QueueCap: max(16, cfg.Cycle.PrinterDepth+4),
		IDField: cfg.Devices.Printer.IDField, DefectRate: o.Faults.DefectRate, MaxDefectSeverity: o.Faults.MaxDefectSeverity,
		WrongRecordRate: o.Faults.WrongRecordRate, DuplicateAckRate: o.Faults.DuplicateAckRate, Seed: uint64(time.Now().UnixNano())}
	for f, src := range cfg.Devices.Printer.Fields {
		if src == "element_string" {
			po.DataField = f
		}
	}
	co := camerasim.Options{Logger: log.With("sim", "camera")}
	if o.Realistic {
		po.AckDelay, po.AckJitter = 2*time.Millisecond, 8*time.Millisecond
		po.PrintTime = printTime(o.Rate)
		co.Latency = 5 * time.Millisecond
	}
	if l.Printer, err = printersim.Start(po); err != nil {
		return l, err
	}
	cfg.Devices.Printer.Address = l.Printer.Addr()
	cfg.Devices.Printer.Serial = nil
	if cfg.Devices.Camera.Driver == "keyence" {
		co.Protocol = camerasim.Keyence
	}
	if l.Camera, err = camerasim.New(co); err != nil {
		return l, err
	}
	switch cfg.Devices.Camera.Driver {
	case "keyence":
		k := *cfg.Devices.Camera.Keyence
		k.Address, k.Serial = l.Camera.Addr(), nil
		cfg.Devices.Camera.Keyence = &k
	default:
		d := *cfg.Devices.Camera.DMCC
		d.Address, d.Serial = l.Camera.Addr(), nil
		cfg.Devices.Camera.DMCC = &d
	}
	if o.Aggregate != nil {
		if err := l.startCaseLine(*o.Aggregate, &cfg, log); err != nil {
			return l, err
		}
	}
	// The printer's photo-eye is the PLC's product event; each print goes
	// under the camera; the gate log records what happened to each product.
	l.PLC.OnProductAt(l.Printer.PrintAt)
	l.gates = NewGateLog()
	l.Printer.OnPrint(l.gates.OnPrint)
	l.PLC.OnGate(l.gates.OnGate)
	cam := l.Camera
	l.Printer.OnPrint(func(p printersim.Printed) {
		ds := make([]camerasim.Defect, len(p.Defects))
		for i, d := range p.Defects {
			ds[i] = camerasim.Defect{Kind: d.Kind, Severity: d.Severity}
		}
		cam.Feed(camerasim.Shot{Image: p.Image, Defects: ds, Seq: p.Seq, Ref: p.RecordID})
	})

	cfg.Journal.Path = o.DBPath
	if err := cfg.Validate().Err(); err != nil {
		return l, fmt.Errorf("linesim: config: %w", err)
	}
	l.Config, l.log = cfg, log
	l.rctx, l.cancel = context.WithCancel(ctx)
	if runPLC {
		l.runPLC()
	}
	return l, nil
}

func (l *Line) runPLC() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.PLC.Run(l.rctx); err != nil {
			l.addErr(fmt.Errorf("plcsim: %w", err))
		}
	}()
}

func (l *Line) addErr(err error) {
	l.errMu.Lock()
	l.errs = append(l.errs, err)
	l.errMu.Unlock()
}

// Close stops the controller and the simulators, waits for them and closes
// the journal. It returns the errors the running parts reported.
func (l *Line) Close() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	var errs []error
	if l.Journal != nil {
		errs = append(errs, l.Journal.Close())
	}
	if l.OpenSCS != nil {
		errs = append(errs, l.OpenSCS.Close())
	}
	if l.Cases != nil {
		errs = append(errs, l.Cases.close())
	}
	for _, c := range []interface{ Close() error }{l.Camera, l.Printer, l.PLC, l.Upstream} {
		switch v := c.(type) {
		case *camerasim.Server:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *printersim.Server:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *plcsim.Sim:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *upstreamsim.Server:
			if v != nil && !l.sharedUpstream {
				errs = append(errs, v.Close())
			}
		}
	}
	l.errMu.Lock()
	errs = append(errs, l.errs...)
	l.errMu.Unlock()
	return errors.Join(errs...)
}

// The simulated conveyor's geometry: products every productPitchMM, each
// carrying a code codeWidthMM wide. The conveyor speed follows the line
// rate (pitch × rate), so a code takes codeWidthMM/productPitchMM of the
// product interval to pass under the print head.
const (
	productPitchMM = 120.0
	codeWidthMM    = 12.0
)

// printTime is how long the print head takes for one code at rate
// products per second.
func printTime(rate float64) time.Duration {
	return printersim.PrintTimeAt(codeWidthMM, productPitchMM*rate)
}

// fitLine sets the config's line geometry to the simulated line's: the
// gate travel in products and the design speed; the decision deadline is
// kept inside the gate travel; the printer queue holds what arrives
// during the printer's reply latency.
func fitLine(cfg *config.Config, o Options) {
	cfg.Cycle.GateTravel = config.GateTravel{Products: o.GateDistance}
	cfg.Line.DesignSpeed = o.Rate * 60
	travel := cfg.Cycle.GateTravel.TimeAt(cfg.Line.DesignSpeed)
	if cfg.Cycle.DecisionDeadline+cfg.Cycle.VerdictMargin >= travel {
		cfg.Cycle.DecisionDeadline = max(time.Millisecond, (travel-cfg.Cycle.VerdictMargin)*2/3)
	}
	cfg.Cycle.PrinterDepth = min(1024, max(cfg.Cycle.PrinterDepth, int(o.Rate*0.08)+8))
	cfg.Cycle.DrawAhead = max(cfg.Cycle.DrawAhead, 2*cfg.Cycle.PrinterDepth)
}

// DefaultGateDistance is the simulated line's gate distance at rate
// products/s: half a second of travel from the print head to the reject
// gate, at least 8 products.
func DefaultGateDistance(rate float64) int { return max(8, int(rate/2)) }
