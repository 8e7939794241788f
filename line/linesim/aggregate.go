package linesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/serialine/serialine/devices/casepacker"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer/labelsim"
	"github.com/serialine/serialine/printer/logistic"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/casecam"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/multiread"
	"github.com/serialine/serialine/vision/pattern"
)

// AggregateOptions switch on the simulated end of line: case packer, case
// conveyor PLC (Modbus TCP), aggregation camera (DMCC multi-read), case
// labeller (ZPL), label scanner (DMCC), palletiser with its scanner
// (Keyence) and pallet labeller (ZPL), a manual station labeller (ZPL),
// and the aggregation controller talking to all of them.
type AggregateOptions struct {
	// GTIN of the batches aggregated (default the demo's).
	GTIN string
	// CaseSize and PalletSize (defaults 20 and 5).
	CaseSize, PalletSize int
	// Pitch of the case conveyor (default 60ms; labeller 8, scanner 14,
	// gate 24 pitches after the camera).
	Pitch time.Duration
	// SSCC is the SSCC source (default: pools from the site server sim).
	SSCC *config.SSCCSource
	// Orphans is the batch policy ("allow" default, "decommission").
	Orphans string
	// FromMaster leaves the aggregation config without products: the
	// packaging levels come from the product master (the caller puts GTIN
	// there with levels case CaseSize and pallet PalletSize, as the demo's
	// SeedProduct does).
	FromMaster bool
}

// caseLine is the simulated end of line.
type caseLine struct {
	PLC            *plcsim.Sim
	Camera         *casecam.Server
	Labeller       *labelsim.Server
	Scanner        *camerasim.Server
	PalletScanner  *camerasim.Server
	PalletLabeller *labelsim.Server
	ManualLabeller *labelsim.Server
	Packer         *casepacker.Sim

	caseSize int // packs per case (AggregateOptions.CaseSize)
}

func (c *caseLine) close() error {
	var errs []error
	for _, cl := range []interface{ Close() error }{c.Camera, c.Scanner, c.PalletScanner, c.Labeller, c.PalletLabeller, c.ManualLabeller, c.PLC} {
		switch v := cl.(type) {
		case *casecam.Server:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *camerasim.Server:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *labelsim.Server:
			if v != nil {
				errs = append(errs, v.Close())
			}
		case *plcsim.Sim:
			if v != nil {
				errs = append(errs, v.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// startCaseLine starts the end-of-line simulators and writes the
// aggregation section of cfg. It must run before the camera's print hook
// is registered: the packer learns what was printed on a product before
// anything downstream can decide it.
func (l *Line) startCaseLine(ao AggregateOptions, cfg *config.Config, log *slog.Logger) (err error) {
	if ao.GTIN == "" {
		ao.GTIN = "09501101530003"
	}
	if ao.CaseSize <= 0 {
		ao.CaseSize = 20
	}
	if ao.PalletSize <= 0 {
		ao.PalletSize = 5
	}
	if ao.Pitch <= 0 {
		ao.Pitch = 60 * time.Millisecond
	}
	cl := &caseLine{caseSize: ao.CaseSize}
	l.Cases = cl
	const gate = 24
	if cl.PLC, err = plcsim.New(plcsim.Options{Logger: log.With("sim", "case-plc"), GateDistance: gate, ControllerTimeout: 3 * time.Second}); err != nil {
		return err
	}
	plcAddr, err := cl.PLC.StartModbus("127.0.0.1:0")
	if err != nil {
		return err
	}
	mr := multiread.Config{}
	if cl.Camera, err = casecam.New(casecam.Options{Format: mr, Logger: log.With("sim", "case-camera")}); err != nil {
		return err
	}
	for _, p := range []**labelsim.Server{&cl.Labeller, &cl.PalletLabeller, &cl.ManualLabeller} {
		if *p, err = labelsim.Start(labelsim.Options{IDField: logistic.FieldID, TrackField: logistic.FieldTrack, Logger: log.With("sim", "labeller")}); err != nil {
			return err
		}
	}
	scanFormat := pattern.MustCompile(pattern.Options{Pattern: "{symid}{data}", NoRead: "NOREAD"})
	if cl.Scanner, err = camerasim.New(camerasim.Options{Format: scanFormat, Logger: log.With("sim", "label-scanner")}); err != nil {
		return err
	}
	palletFormat := pattern.MustCompile(pattern.Options{Pattern: "{data}", NoRead: "ERROR"})
	if cl.PalletScanner, err = camerasim.New(camerasim.Options{Protocol: camerasim.Keyence, Format: palletFormat,
		Logger: log.With("sim", "pallet-scanner")}); err != nil {
		return err
	}
	if cl.Packer, err = casepacker.New(casepacker.Options{CaseSize: ao.CaseSize, CaseLine: cl.PLC, Camera: cl.Camera,
		Labeller: cl.Labeller, Scanner: cl.Scanner, LabellerAt: 8, ScannerAt: 14, Pitch: ao.Pitch,
		PalletSize: ao.PalletSize, PalletScanner: cl.PalletScanner, PalletLabeller: cl.PalletLabeller, Logger: log.With("sim", "case-packer")}); err != nil {
		return err
	}
	l.Printer.OnPrint(cl.Packer.Print)
	l.PLC.OnGate(cl.Packer.Gate)

	sscc := config.SSCCSource{Source: "upstream", RequestSize: 100, LowWater: 30, ReturnUnused: true}
	if ao.SSCC != nil {
		sscc = *ao.SSCC
	}
	mb := modbus.DefaultConfig(plcAddr)
	var products []config.Product
	if !ao.FromMaster {
		products = []config.Product{{GTIN: ao.GTIN, Levels: []config.Level{
			{Name: "case", Quantity: ao.CaseSize, ID: "sscc"}, {Name: "pallet", Quantity: ao.PalletSize, ID: "sscc"}}}}
	}
	cfg.Aggregation = config.Aggregation{
		Enabled:  true,
		Products: products,
		SSCC:     sscc,
		Orphans:  ao.Orphans,
		CaseStation: &config.CaseStation{PLC: mb,
			Camera:   config.Camera{Driver: "dmcc", DMCC: &dmcc.Config{Address: cl.Camera.Addr(), Format: "{data}", NoRead: multiread.DefaultNoRead}},
			Multi:    mr,
			Labeller: config.Labeller{Address: cl.Labeller.Addr(), DataMatrix: true},
			Scanner:  config.Camera{Driver: "dmcc", DMCC: &dmcc.Config{Address: cl.Scanner.Addr(), Format: "{symid}{data}", NoRead: "NOREAD"}},
		},
		PalletStation: &config.PalletStation{
			Scanner:  config.Camera{Driver: "keyence", Keyence: &keyence.Config{Address: cl.PalletScanner.Addr(), Format: "{data}", NoRead: "ERROR"}},
			Labeller: config.Labeller{Address: cl.PalletLabeller.Addr()},
		},
		ManualStation: &config.ManualStation{Labeller: &config.Labeller{Address: cl.ManualLabeller.Addr()}},
	}
	return nil
}

// startAggregator builds the aggregation controller beside the line
// controller and runs it with the case line sims.
func (l *Line) startAggregator(ctx context.Context, up *line.Controller, cfg config.Config, upstream aggregate.SSCCUpstream, log *slog.Logger) error {
	devs, err := aggregate.NewDevices(cfg.Aggregation, log, nil)
	if err != nil {
		return err
	}
	a, err := aggregate.New(aggregate.Options{Config: cfg.Aggregation, Identity: cfg.Line, Journal: l.Journal, Line: up, Alarms: up,
		Products: up.Records(), Prefixes: up.Prefixes(), Upstream: upstream, Case: devs.Case, Pallet: devs.Pallet, ManualLabeller: devs.ManualLabeller, ManualScanner: devs.ManualScanner,
		Logger: log.With("part", "aggregation")})
	if err != nil {
		return fmt.Errorf("linesim: aggregation: %w", err)
	}
	a.SetUnitActor(up)
	l.Aggregator = a
	l.wg.Add(3)
	go func() {
		defer l.wg.Done()
		if err := a.Run(ctx); err != nil {
			l.addErr(fmt.Errorf("aggregation: %w", err))
		}
	}()
	go func() {
		defer l.wg.Done()
		if err := l.Cases.PLC.Run(ctx); err != nil {
			l.addErr(fmt.Errorf("case line plcsim: %w", err))
		}
	}()
	go func() { defer l.wg.Done(); l.Cases.Packer.Run(ctx) }()
	return nil
}
