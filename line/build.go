package line

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/epcis/capture"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstream/openscs"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/keyence"
)

// Drivers are the device drivers a config describes.
type Drivers struct {
	PLC     PLC
	Printer printer.Driver
	Camera  Camera
}

// NewDrivers builds (does not connect) the PLC, printer and camera drivers
// of a validated config.
func NewDrivers(cfg config.Config, log *slog.Logger, now func() time.Time) (Drivers, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	var d Drivers
	dc := cfg.Devices
	switch dc.PLC.Protocol {
	case "modbus":
		c, err := modbus.New(*dc.PLC.Modbus, modbus.Options{Logger: log.With("device", "plc"), Now: now})
		if err != nil {
			return Drivers{}, fmt.Errorf("devices.plc: %w", err)
		}
		d.PLC = c
	case "opcua":
		c, err := opcua.New(*dc.PLC.OPCUA, opcua.Options{Logger: log.With("device", "plc"), Now: now})
		if err != nil {
			return Drivers{}, fmt.Errorf("devices.plc: %w", err)
		}
		d.PLC = c
	default:
		return Drivers{}, fmt.Errorf("devices.plc.protocol %q", dc.PLC.Protocol)
	}
	pc := dc.Printer
	fields := make([]string, 0, len(pc.Fields))
	for k := range pc.Fields {
		fields = append(fields, k)
	}
	pb := pc.Backoff
	to := tij.Options{Addr: pc.Address, Job: pc.Job, Fields: fields, IDField: pc.IDField, Enqueue: pc.Enqueue,
		ClearOnConnect: pc.ClearOnConnect, ReplyTimeout: pc.ReplyTimeout, KeepAlive: pc.KeepAlive, Backoff: &pb,
		Logger: log.With("device", "printer"), Now: now}
	if pc.Serial != nil {
		to.Dial = tij.SerialDial(*pc.Serial)
	}
	p, err := tij.New(to)
	if err != nil {
		return Drivers{}, fmt.Errorf("devices.printer: %w", err)
	}
	d.Printer = p
	switch dc.Camera.Driver {
	case "dmcc":
		o, err := dc.Camera.DMCC.Options()
		if err != nil {
			return Drivers{}, fmt.Errorf("devices.camera.dmcc: %w", err)
		}
		cb := dc.Camera.Backoff
		o.Logger, o.Now, o.Backoff = log.With("device", "camera"), now, &cb
		d.Camera = dmcc.New(o)
	case "keyence":
		o, err := dc.Camera.Keyence.Options()
		if err != nil {
			return Drivers{}, fmt.Errorf("devices.camera.keyence: %w", err)
		}
		cb := dc.Camera.Backoff
		o.Logger, o.Now, o.Backoff = log.With("device", "camera"), now, &cb
		d.Camera = keyence.New(o)
	default:
		return Drivers{}, fmt.Errorf("devices.camera.driver %q", dc.Camera.Driver)
	}
	return d, nil
}

// NewUpstream builds the site-server driver from cfg.Upstream: the HTTP
// client or the Open-SCS client (upstream.driver), with EPCIS documents
// going to the driver or to an EPCIS 2.0 capture interface
// (upstream.events; with open-scs the documents then go to both, the
// Open-SCS server needing the state changes). nil when no site server is configured (an offline
// line fed by pools imported by hand).
func NewUpstream(cfg config.Config, log *slog.Logger) (Upstream, error) {
	u := cfg.Upstream
	if !u.Configured() {
		return nil, nil
	}
	var site interface {
		upstream.SerialSource
		upstream.EventSink
	}
	switch u.Kind() {
	case config.DriverOpenSCS:
		c, err := openscs.New(*u.OpenSCS, openscs.Options{Line: cfg.Line.Name, Logger: log})
		if err != nil {
			return nil, err
		}
		site = c
	default:
		token, err := readToken("upstream.token_file", u.Token, u.TokenFile)
		if err != nil {
			return nil, err
		}
		tc, err := caConfig("upstream.ca_file", u.CAFile)
		if err != nil {
			return nil, err
		}
		c, err := upstream.New(upstream.Options{BaseURL: u.URL, Token: token, Line: cfg.Line.Name, TLS: tc, Timeout: u.Timeout,
			Retry: upstream.Retry{Attempts: u.Attempts}, Logger: log})
		if err != nil {
			return nil, err
		}
		site = c
	}
	if u.Events != config.EventsCapture {
		return site, nil
	}
	token, err := readToken("upstream.capture.token_file", u.Capture.Token, u.Capture.TokenFile)
	if err != nil {
		return nil, err
	}
	tc, err := caConfig("upstream.capture.ca_file", u.Capture.CAFile)
	if err != nil {
		return nil, err
	}
	cc, err := capture.New(capture.Options{URL: u.Capture.URL, Token: token, TLS: tc, Timeout: u.Timeout,
		PollInterval: u.Capture.PollInterval, JobTimeout: u.Capture.JobTimeout})
	if err != nil {
		return nil, err
	}
	var events upstream.EventSink = cc
	if u.Kind() == config.DriverOpenSCS {
		// The Open-SCS site server must learn the serials' state changes
		// too (commissioned, scrapped…): documents go to both.
		events = upstream.Tee{cc, site}
	}
	return upstream.Split{Serials: site, Events: events}, nil
}

func readToken(path, token, file string) (string, error) {
	if file == "" {
		return token, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func caConfig(path, file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate found", path, file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// message is the GS1 message printed on the unit with serial: (01) GTIN,
// (17) expiry, (10) lot, (21) serial and, when the market profile names a
// national number AI (710-715), the batch's NHRN last.
func (r *run) message(serial string) (gs1.Message, error) {
	el := [5]gs1.Element{{AI: "01", Value: r.def.GTIN}, {AI: "17", Value: r.def.Expiry},
		{AI: "10", Value: r.def.Lot}, {AI: "21", Value: serial}}
	n := 4
	if r.nhrnAI != "" {
		el[4] = gs1.Element{AI: r.nhrnAI, Value: r.def.NHRN}
		n = 5
	}
	return gs1.New(el[:n]...)
}

// pastRun is enough of a run to rebuild the element strings of a batch that
// is not the current one.
func pastRun(def journal.BatchDef) *run {
	r := &run{def: def}
	if p, err := gs1.LookupProfile(def.Profile); err == nil {
		r.nhrnAI = p.NHRN
	}
	return r
}
