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
	"github.com/serialine/serialine/line/upstream"
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

// NewUpstream builds the site-server client of a validated config; nil
// (and no error) when no upstream URL is configured.
func NewUpstream(cfg config.Config, log *slog.Logger) (*upstream.Client, error) {
	u := cfg.Upstream
	if u.URL == "" {
		return nil, nil
	}
	token := u.Token
	if u.TokenFile != "" {
		b, err := os.ReadFile(u.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	var tc *tls.Config
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream.ca_file %s: no PEM certificate found", u.CAFile)
		}
		tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return upstream.New(upstream.Options{BaseURL: u.URL, Token: token, Line: cfg.Line.Name, TLS: tc, Timeout: u.Timeout,
		Retry: upstream.Retry{Attempts: u.Attempts}, Logger: log})
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
