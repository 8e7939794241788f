package epcis

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Aggregation documents: the hierarchy steps of a batch (see
// store/journal's aggregation event log), one EPCIS event per step and
// parent, in log order, in one document per report:
//
//	ParentCommissioning   ObjectEvent ADD, commissioning, active: the parent's code (SSCC, or SGTIN of a case GTIN)
//	Packing               AggregationEvent ADD, packing, container_closed: parentID + childEPCs
//	Unpacking             AggregationEvent DELETE, unpacking, container_open: parentID + the children taken out
//	ParentDecommissioning ObjectEvent DELETE, decommissioning, inactive: the retired code (relabel, unpack)

// StepKind is one kind of aggregation step.
type StepKind string

// Aggregation step kinds.
const (
	ParentCommissioning   StepKind = "parent-commissioning"
	Packing               StepKind = "packing"
	Unpacking             StepKind = "unpacking"
	ParentDecommissioning StepKind = "parent-decommissioning"
)

// Step is one aggregation step with its EPCs already made (SSCC,
// SGTIN URIs).
type Step struct {
	Kind     StepKind
	Parent   string   // EPC URI of the parent
	Children []string // EPC URIs (Packing, Unpacking)
	At       time.Time
	// Seq makes the event id unique within the batch (the journal's event
	// sequence number).
	Seq uint64
	// ILMD is the parent's instance master data at commissioning (lot and
	// expiry of an SGTIN case); nil for an SSCC.
	ILMD map[string]any
}

// AggregationEvent is an EPCIS 2.0 AggregationEvent.
type AggregationEvent struct {
	Type           string   `json:"type"`
	EventID        string   `json:"eventID"`
	EventTime      string   `json:"eventTime"`
	TimeZoneOffset string   `json:"eventTimeZoneOffset"`
	ParentID       string   `json:"parentID"`
	ChildEPCs      []string `json:"childEPCs"`
	Action         string   `json:"action"`
	BizStep        string   `json:"bizStep"`
	Disposition    string   `json:"disposition"`
	ReadPoint      *ID      `json:"readPoint,omitempty"`
	BizLocation    *ID      `json:"bizLocation,omitempty"`
}

// MixedDocument is an EPCISDocument whose event list mixes event types.
type MixedDocument struct {
	Context       []string  `json:"@context"`
	Type          string    `json:"type"`
	SchemaVersion string    `json:"schemaVersion"`
	CreationDate  string    `json:"creationDate"`
	Body          MixedBody `json:"epcisBody"`
}

// MixedBody holds ObjectEvents and AggregationEvents in order.
type MixedBody struct {
	EventList []any `json:"eventList"`
}

// BuildSteps returns one EPCIS document with one event per step, in order.
// The document's creation date is the last step's time, so a document
// rebuilt from the same steps is byte-for-byte the same.
func BuildSteps(batch string, steps []Step, o Options) ([]byte, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: no aggregation steps", ErrInvalid)
	}
	var events []any
	for _, s := range steps {
		if s.Parent == "" || !strings.HasPrefix(s.Parent, "urn:epc:id:") {
			return nil, fmt.Errorf("%w: step %d: parent %q is not an EPC URI", ErrInvalid, s.Seq, s.Parent)
		}
		off := o.TimeZoneOffset
		if off == "" {
			off = s.At.Format("-07:00")
		}
		ts := s.At.UTC().Format("2006-01-02T15:04:05.000Z")
		id := eventID(batch, Kind(fmt.Sprintf("%s/%d", s.Kind, s.Seq)), ts, append([]string{s.Parent}, s.Children...))
		var rp, bl *ID
		if o.ReadPoint != "" {
			rp = &ID{o.ReadPoint}
		}
		if o.BizLocation != "" {
			bl = &ID{o.BizLocation}
		}
		switch s.Kind {
		case Packing, Unpacking:
			if len(s.Children) == 0 {
				return nil, fmt.Errorf("%w: step %d: %s of %s without children", ErrInvalid, s.Seq, s.Kind, s.Parent)
			}
			ev := AggregationEvent{Type: "AggregationEvent", EventID: id, EventTime: ts, TimeZoneOffset: off, ParentID: s.Parent,
				ChildEPCs: s.Children, Action: "ADD", BizStep: "packing", Disposition: "container_closed", ReadPoint: rp, BizLocation: bl}
			if s.Kind == Unpacking {
				ev.Action, ev.BizStep, ev.Disposition = "DELETE", "unpacking", "container_open"
			}
			events = append(events, ev)
		case ParentCommissioning, ParentDecommissioning:
			ev := ObjectEvent{Type: "ObjectEvent", EventID: id, EventTime: ts, TimeZoneOffset: off, EPCList: []string{s.Parent},
				Action: "ADD", BizStep: "commissioning", Disposition: "active", ReadPoint: rp, BizLocation: bl, ILMD: s.ILMD}
			if s.Kind == ParentDecommissioning {
				ev.Action, ev.BizStep, ev.Disposition, ev.ILMD = "DELETE", "decommissioning", "inactive", nil
			}
			events = append(events, ev)
		default:
			return nil, fmt.Errorf("%w: unknown aggregation step %q", ErrInvalid, s.Kind)
		}
	}
	created := steps[len(steps)-1].At.UTC().Format("2006-01-02T15:04:05.000Z")
	doc := MixedDocument{Context: []string{Context}, Type: "EPCISDocument", SchemaVersion: "2.0", CreationDate: created,
		Body: MixedBody{EventList: events}}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("epcis: marshal: %w", err)
	}
	return data, nil
}

// SSCC returns the EPC pure-identity URI of an SSCC (GS1 Tag Data
// Standard): urn:epc:id:sscc:CompanyPrefix.SerialReference, the serial
// reference being the extension digit followed by the digits after the
// company prefix, without the check digit.
func SSCC(sscc string, cpLen int) (string, error) {
	if len(sscc) != 18 || strings.Trim(sscc, "0123456789") != "" {
		return "", fmt.Errorf("%w: sscc %q: want 18 digits", ErrInvalid, sscc)
	}
	if cpLen < 6 || cpLen > 12 {
		return "", fmt.Errorf("%w: company prefix length %d: want 6..12", ErrInvalid, cpLen)
	}
	return "urn:epc:id:sscc:" + sscc[1:1+cpLen] + "." + sscc[0:1] + sscc[1+cpLen:17], nil
}

// EPC returns the EPC of serial of gtin as the line's own events carry
// it: an SGTIN URI (company prefix length from o.Prefixes, else
// o.CompanyPrefixLen) or a Digital Link URI (o.EPCs "dl").
func (o Options) EPC(gtin, serial string) (string, error) {
	f, err := o.epcFunc(gtin)
	if err != nil {
		return "", err
	}
	return f(serial)
}

// SSCCEPC returns the EPC of an SSCC in o's format: an SSCC URI with the
// company prefix length cpLen (SSCC), or the Digital Link URI
// base/00/SSCC (o.EPCs "dl"; cpLen is not needed then).
func (o Options) SSCCEPC(sscc string, cpLen int) (string, error) {
	if o.EPCs != "dl" {
		return SSCC(sscc, cpLen)
	}
	if len(sscc) != 18 || strings.Trim(sscc, "0123456789") != "" {
		return "", fmt.Errorf("%w: sscc %q: want 18 digits", ErrInvalid, sscc)
	}
	base := o.DLBase
	if base == "" {
		base = "https://id.gs1.org"
	}
	return strings.TrimRight(base, "/") + "/00/" + sscc, nil
}
