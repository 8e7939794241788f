package aggregate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/logistic"
	"github.com/serialine/serialine/printer/zpl"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/pattern"
)

// Devices are the stations' drivers built from a config.
type Devices struct {
	Case           *CaseDevices
	Pallet         *PalletDevices
	ManualLabeller printer.Driver
	ManualScanner  func(ctx context.Context) (ScannerPort, error)
}

// NewDevices builds (does not connect) the drivers of the configured
// stations: Modbus for the case line PLC, DMCC or Keyence for the cameras
// and scanners (the case camera reads whole multi-read lines), ZPL for the
// labellers (the logistic label's stored format), the handheld's serial port.
func NewDevices(c config.Aggregation, log *slog.Logger, now func() time.Time) (Devices, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	var d Devices
	if !c.Enabled {
		return d, nil
	}
	if cs := c.CaseStation; cs != nil {
		plc, err := modbus.New(cs.PLC, modbus.Options{Logger: log.With("device", "case-plc"), Now: now})
		if err != nil {
			return d, fmt.Errorf("aggregation.case_station.plc: %w", err)
		}
		f, err := CameraFormat(cs.Multi)
		if err != nil {
			return d, fmt.Errorf("aggregation.case_station.multi: %w", err)
		}
		cam, err := camera(cs.Camera, f, log.With("device", "case-camera"), now)
		if err != nil {
			return d, fmt.Errorf("aggregation.case_station.camera: %w", err)
		}
		sc, err := camera(cs.Scanner, nil, log.With("device", "case-scanner"), now)
		if err != nil {
			return d, fmt.Errorf("aggregation.case_station.scanner: %w", err)
		}
		lab, err := Labeller(cs.Labeller, log.With("device", "case-labeller"), now)
		if err != nil {
			return d, fmt.Errorf("aggregation.case_station.labeller: %w", err)
		}
		d.Case = &CaseDevices{PLC: plc, Camera: cam, Labeller: lab, Scanner: sc}
	}
	if ps := c.PalletStation; ps != nil {
		sc, err := camera(ps.Scanner, nil, log.With("device", "pallet-scanner"), now)
		if err != nil {
			return d, fmt.Errorf("aggregation.pallet_station.scanner: %w", err)
		}
		lab, err := Labeller(ps.Labeller, log.With("device", "pallet-labeller"), now)
		if err != nil {
			return d, fmt.Errorf("aggregation.pallet_station.labeller: %w", err)
		}
		d.Pallet = &PalletDevices{Scanner: sc, Labeller: lab}
	}
	if ms := c.ManualStation; ms != nil {
		if ms.Labeller != nil {
			lab, err := Labeller(*ms.Labeller, log.With("device", "manual-labeller"), now)
			if err != nil {
				return d, fmt.Errorf("aggregation.manual_station.labeller: %w", err)
			}
			d.ManualLabeller = lab
		}
		if ms.Scanner != nil {
			sc := *ms.Scanner
			d.ManualScanner = func(context.Context) (ScannerPort, error) { return serialport.Open(sc) }
		}
	}
	return d, nil
}

// camera builds a DMCC or Keyence driver; format, when set, replaces the
// configured result format.
func camera(c config.Camera, format *pattern.Format, log *slog.Logger, now func() time.Time) (vision.Camera, error) {
	switch c.Driver {
	case "dmcc":
		o, err := c.DMCC.Options()
		if err != nil {
			return nil, err
		}
		if format != nil {
			o.Format = format
		}
		o.Logger, o.Now = log, now
		return dmcc.New(o), nil
	case "keyence":
		o, err := c.Keyence.Options()
		if err != nil {
			return nil, err
		}
		if format != nil {
			o.Format = format
		}
		o.Logger, o.Now = log, now
		return keyence.New(o), nil
	}
	return nil, fmt.Errorf("driver %q: want dmcc or keyence", c.Driver)
}

// Labeller builds the ZPL driver of a labeller: the logistic label's
// stored format, recalled per label.
func Labeller(c config.Labeller, log *slog.Logger, now func() time.Time) (printer.Driver, error) {
	o := zpl.Options{Addr: c.Address, FormatName: "R:SSCC.ZPL", Format: logistic.Format(logistic.Options{DataMatrix: c.DataMatrix}),
		Fields: logistic.Fields, IDField: logistic.FieldID, MaxQueue: 16, PollInterval: 200 * time.Millisecond, Logger: log, Now: now}
	if c.Serial != nil {
		sc := *c.Serial
		o.Dial = func(context.Context) (io.ReadWriteCloser, error) { return serialport.Open(sc) }
	}
	return zpl.New(o)
}
