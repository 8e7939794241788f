package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision/multiread"
)

// Aggregation configures packing units into cases and cases into pallets
// (line/aggregate): the hierarchy per product, where parent codes (SSCCs)
// come from, and the stations. Off unless enabled.
//
//	aggregation:
//	  enabled: true
//	  products:
//	    - gtin: "09501101530003"
//	      levels:
//	        - {name: case, quantity: 40, id: sscc}
//	        - {name: pallet, quantity: 30, id: sscc}
//	  sscc: {source: range, range_id: R1, extension: 3, company_prefix: "9501101", first: 1, last: 999999}
//	  orphans: decommission
//	  case_station: {plc: {…modbus…}, camera: {driver: dmcc, dmcc: {…}}, labeller: {address: …}, scanner: {…}}
type Aggregation struct {
	// Enabled switches aggregation on.
	Enabled bool `yaml:"enabled"`
	// Products are the packaging hierarchies per GTIN. A GTIN not listed
	// takes the levels of its product in the product master (line/records;
	// line/aggregate reads both through a HierarchySource); none here is
	// fine when the product master has them.
	Products []Product `yaml:"products"`
	// SSCC says where SSCCs come from.
	SSCC SSCCSource `yaml:"sscc"`
	// Orphans is the batch policy for commissioned units in no case at
	// the end: "allow" (listed in the reconciliation, default) or
	// "decommission" (decommissioned when a supervisor finishes the
	// batch's aggregation).
	Orphans string `yaml:"orphans"`
	// CommissionWait is how long a case read may wait for a unit whose
	// verdict is out but whose Commissioned step is not yet journaled
	// (default 5s); after it the unit counts as not commissioned.
	CommissionWait time.Duration `yaml:"commission_wait"`
	// CaseStation is the inline case aggregation station; nil = none.
	CaseStation *CaseStation `yaml:"case_station"`
	// PalletStation is the palletiser's station; nil = none.
	PalletStation *PalletStation `yaml:"pallet_station"`
	// ManualStation is the manual station (handheld scanner); nil = HMI
	// keyboard input only.
	ManualStation *ManualStation `yaml:"manual_station"`
}

// Product is one GTIN's packaging hierarchy.
type Product struct {
	// GTIN of the unit (the batch's GTIN).
	GTIN string `yaml:"gtin"`
	// Levels above the unit, innermost first: an optional bundle, the
	// case, the pallet.
	Levels []Level `yaml:"levels"`
}

// Level is one packaging level.
type Level struct {
	// Name: "bundle", "case", "pallet" (or a site's own names).
	Name string `yaml:"name"`
	// Quantity is how many children of the level below make it full.
	Quantity int `yaml:"quantity"`
	// ID is how it is identified: "sscc" (default) or "sgtin" (GTIN of this
	// level + serial, from the site server's pool for that GTIN).
	ID string `yaml:"id"`
	// GTIN of this packaging level (indicator digit), required with id sgtin.
	GTIN string `yaml:"gtin"`
}

// SSCCSource says where SSCCs come from.
type SSCCSource struct {
	// Source is "upstream" (pools from the site server, like serials) or
	// "range" (a range the site server assigned, issued here in order).
	Source string `yaml:"source"`
	// Range (source range): id, extension digit, company prefix and the
	// serial references first..last.
	RangeID       string `yaml:"range_id"`
	Extension     int    `yaml:"extension"`
	CompanyPrefix string `yaml:"company_prefix"`
	First         uint64 `yaml:"first"`
	Last          uint64 `yaml:"last"`
	// RequestSize and LowWater (source upstream): SSCCs per request and
	// the level below which more are asked for (defaults 200 and 50).
	RequestSize int `yaml:"request_size"`
	LowWater    int `yaml:"low_water"`
	// ReturnUnused (source upstream) gives the SSCCs not drawn back to the
	// site server when a batch's aggregation is finished.
	ReturnUnused bool `yaml:"return_unused"`
}

// CaseStation is the inline case aggregation station: a case line PLC
// (case triggers, the rework-lane gate), the aggregation camera reading
// every unit in the case in one image, the print-and-apply labeller and
// the scanner verifying the applied label.
type CaseStation struct {
	// PLC is the case line's PLC (Modbus): one trigger per closed case,
	// one verdict per case (accept: to the palletiser; reject: rework lane).
	PLC modbus.Config `yaml:"plc"`
	// Camera is the aggregation camera; its result line is a multi-read.
	Camera Camera `yaml:"camera"`
	// Multi is the multi-read result layout of the camera.
	Multi multiread.Config `yaml:"multi"`
	// Labeller prints and applies the case label (ZPL).
	Labeller Labeller `yaml:"labeller"`
	// Scanner reads the applied label before the case is closed.
	Scanner Camera `yaml:"scanner"`
}

// PalletStation is the palletiser: a scanner reading each case label as
// the case is stacked (and the pallet label once applied), and the pallet
// labeller.
type PalletStation struct {
	Scanner  Camera   `yaml:"scanner"`
	Labeller Labeller `yaml:"labeller"`
}

// ManualStation is the manual station for partial cases, rework and line
// ends: a handheld scanner on a serial port (or the HMI's scan field) and
// a label printer.
type ManualStation struct {
	// Scanner is the handheld's serial port (each scan a line ending CR or LF).
	Scanner *serialport.Config `yaml:"scanner"`
	// Labeller prints the manual station's labels; nil = none.
	Labeller *Labeller `yaml:"labeller"`
	// Ack and Nak are written back to the scanner after each scan (its
	// good-read / bad-read beep command); "" = nothing.
	Ack string `yaml:"ack"`
	Nak string `yaml:"nak"`
}

// Labeller is a ZPL label printer (print-and-apply).
type Labeller struct {
	Address string             `yaml:"address"`
	Serial  *serialport.Config `yaml:"serial"`
	// DataMatrix adds a GS1 DataMatrix of the SSCC to the label.
	DataMatrix bool            `yaml:"datamatrix"`
	Backoff    devices.Backoff `yaml:"backoff"`
}

// Validate checks the labeller block.
func (l Labeller) Validate() configs.Problems {
	var p configs.Problems
	switch {
	case l.Address == "" && l.Serial == nil:
		p.Add("address", "must be set (host:port, raw ZPL port 9100), or configure serial")
	case l.Address != "" && l.Serial != nil:
		p.Add("serial", "set either address or serial, not both")
	case l.Address != "":
		if err := configs.CheckHostPort(l.Address); err != nil {
			p.Add("address", "%v", err)
		}
	}
	if l.Serial != nil {
		p.Merge("serial", l.Serial.Validate())
	}
	if l.Backoff != (devices.Backoff{}) {
		p.Merge("backoff", l.Backoff.Validate())
	}
	return p
}

// aggCamera validates a station's camera or scanner; an unset backoff
// means the default one.
func aggCamera(c Camera) configs.Problems {
	if c.Backoff == (devices.Backoff{}) {
		c.Backoff = devices.DefaultBackoff()
	}
	return c.Validate()
}

// Validate reports every problem of the aggregation section (nothing when
// it is not enabled).
func (a Aggregation) Validate() configs.Problems {
	var p configs.Problems
	if !a.Enabled {
		return p
	}
	seen := map[string]int{}
	for i, pr := range a.Products {
		path := fmt.Sprintf("products[%d]", i)
		if err := gs1.CheckValue("01", pr.GTIN); err != nil {
			p.Add(path+".gtin", "%v", err)
		} else if j, dup := seen[pr.GTIN]; dup {
			p.Add(path+".gtin", "%s given twice (also products[%d])", pr.GTIN, j)
		}
		seen[pr.GTIN] = i
		if len(pr.Levels) == 0 {
			p.Add(path+".levels", "at least one level (case) is needed")
		}
		p.Merge(path, CheckLevels(pr.Levels, pr.GTIN, 0))
	}
	s := a.SSCC
	switch s.Source {
	case "range":
		if s.RangeID == "" {
			p.Add("sscc.range_id", "must be set with source range")
		}
		if s.Extension < 0 || s.Extension > 9 {
			p.Add("sscc.extension", "must be 0..9")
		}
		if len(s.CompanyPrefix) < 6 || len(s.CompanyPrefix) > 12 || strings.Trim(s.CompanyPrefix, "0123456789") != "" {
			p.Add("sscc.company_prefix", "must be 6..12 digits")
		} else if w := 16 - len(s.CompanyPrefix); s.Last >= pow10(w) {
			p.Add("sscc.last", "%d does not fit %d digits after the company prefix", s.Last, w)
		}
		if s.First > s.Last {
			p.Add("sscc.first", "must be <= last")
		}
	case "upstream":
		if s.RequestSize < 0 || s.LowWater < 0 {
			p.Add("sscc.request_size", "request_size and low_water must be >= 0")
		}
	default:
		p.Add("sscc.source", `must be "upstream" or "range", got %q`, s.Source)
	}
	switch a.Orphans {
	case "", "allow", "decommission":
	default:
		p.Add("orphans", `must be "allow" or "decommission", got %q`, a.Orphans)
	}
	if a.CommissionWait < 0 {
		p.Add("commission_wait", "must be >= 0 (0 = 5s)")
	}
	if c := a.CaseStation; c != nil {
		p.Merge("case_station.plc", c.PLC.Validate())
		p.Merge("case_station.camera", aggCamera(c.Camera))
		p.Merge("case_station.multi", c.Multi.Validate())
		p.Merge("case_station.labeller", c.Labeller.Validate())
		p.Merge("case_station.scanner", aggCamera(c.Scanner))
	}
	if c := a.PalletStation; c != nil {
		p.Merge("pallet_station.scanner", aggCamera(c.Scanner))
		p.Merge("pallet_station.labeller", c.Labeller.Validate())
	}
	if m := a.ManualStation; m != nil {
		if m.Scanner != nil {
			p.Merge("manual_station.scanner", m.Scanner.Validate())
		}
		if m.Labeller != nil {
			p.Merge("manual_station.labeller", m.Labeller.Validate())
		}
	}
	return p
}

// Level identifications (Level.ID).
const (
	IDSSCC  = "sscc"
	IDSGTIN = "sgtin"
)

// CheckLevels reports every problem of a product's packaging levels above
// the unit (innermost first) at paths levels[i+offset]: names set and
// unique ("unit" is the pack itself), quantities 1..100000, identified by
// sscc or sgtin, an sgtin level with its own valid GTIN other than the
// unit's. The aggregation config and the product master
// (line/records) both judge levels with it.
func CheckLevels(levels []Level, unitGTIN string, offset int) configs.Problems {
	var p configs.Problems
	names := map[string]bool{"unit": true}
	for k, l := range levels {
		lp := fmt.Sprintf("levels[%d]", k+offset)
		if strings.TrimSpace(l.Name) == "" || names[l.Name] {
			p.Add(lp+".name", "must be set and unique (not %q)", l.Name)
		}
		names[l.Name] = true
		if l.Quantity < 1 || l.Quantity > 100000 {
			p.Add(lp+".quantity", "must be 1..100000, got %d", l.Quantity)
		}
		switch l.ID {
		case "", IDSSCC:
			if l.GTIN != "" {
				p.Add(lp+".gtin", "only with id sgtin")
			}
		case IDSGTIN:
			if err := gs1.CheckValue("01", l.GTIN); err != nil {
				p.Add(lp+".gtin", "required with id sgtin: %v", err)
			} else if l.GTIN == unitGTIN {
				p.Add(lp+".gtin", "%s is the unit's GTIN: a packaging level has its own (indicator digit)", l.GTIN)
			}
		default:
			p.Add(lp+".id", `must be "sscc" or "sgtin", got %q`, l.ID)
		}
	}
	return p
}

func pow10(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 10
	}
	return v
}
