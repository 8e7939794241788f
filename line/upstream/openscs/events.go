package openscs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/upstream"
)

// Step is one Open-SCS state change an EPCIS ObjectEvent of the line stands
// for: the event-manager method, the serial state it reaches and whether
// the serials go to Encoded first (SNtoEncoded on the pool manager).
type Step struct {
	Method string
	State  SerialState
	Encode bool
}

// StepOf maps an ObjectEvent (action, bizStep, disposition, CBV 2.0 short
// names) onto its Open-SCS state change; ok is false for events the line
// does not emit.
func StepOf(action, bizStep, disposition string) (Step, bool) {
	switch {
	case action == "ADD" && bizStep == "commissioning":
		return Step{"SIDCommissioningEvent", Commissioned, true}, true
	case action == "OBSERVE" && bizStep == "destroying":
		return Step{"LabelsScrappingEvent", LabelScrapped, true}, true
	case action == "DELETE" && bizStep == "destroying":
		return Step{"SIDDestroyingEvent", Destroyed, false}, true
	case action == "DELETE" && bizStep == "decommissioning":
		return Step{"SIDDecommissioningEvent", Inactive, false}, true
	case action == "OBSERVE" && bizStep == "sampling":
		return Step{"SIDInspectingEvent", Sampled, false}, true
	}
	return Step{}, false
}

// ReportEvents reports one EPCIS document of the line as the Open-SCS state
// changes its ObjectEvents stand for (StepOf): for each event, SNtoEncoded
// on the pool manager first where the serials leave Allocated, then the
// event manager's method with a LabelCollection of the event's serials and
// the event context (GTIN, lot, expiry, event id and time, bizStep,
// disposition, read point, business location, line). A method the server
// refuses is an upstream.ErrRejected (the outbox keeps the document and an
// alarm asks a person to look). Repeating a document repeats the calls:
// state changes to a state already reached must be accepted by the server.
func (c *Client) ReportEvents(ctx context.Context, id string, doc []byte) error {
	var d epcis.Document
	if err := json.Unmarshal(doc, &d); err != nil || d.Type != "EPCISDocument" {
		return fmt.Errorf("openscs: report events %s: %w: not an EPCIS document (%v)", id, upstream.ErrRejected, err)
	}
	for i, ev := range d.Body.EventList {
		step, ok := StepOf(ev.Action, short(ev.BizStep), short(ev.Disposition))
		if !ok {
			return fmt.Errorf("openscs: report events %s: %w: event %d (%s %s) has no Open-SCS state change", id, upstream.ErrRejected, i, ev.Action, ev.BizStep)
		}
		if len(ev.EPCList) == 0 {
			continue
		}
		gtin, _, err := epcis.ParseEPC(ev.EPCList[0])
		if err != nil {
			return fmt.Errorf("openscs: report events %s: %w: %v", id, upstream.ErrRejected, err)
		}
		serials := make([]string, len(ev.EPCList))
		for k, e := range ev.EPCList {
			g, s, err := epcis.ParseEPC(e)
			if err != nil || g != gtin {
				return fmt.Errorf("openscs: report events %s: %w: EPC %q (%v): one GTIN per event", id, upstream.ErrRejected, e, err)
			}
			serials[k] = s
		}
		ctxKV := c.eventContext(ev, gtin)
		err = c.with(ctx, "report "+step.Method, func(ctx context.Context, s *session) error {
			if s.events == nil {
				return fmt.Errorf("%w: the server has no event manager", upstream.ErrRejected)
			}
			if step.Encode {
				coll := &SNCollection{ID: ev.EventID, Description: "printed by line " + c.o.Line, State: Encoded, SerialNumbers: serials}
				st, _, err := s.call(ctx, s.pool, "SNtoEncoded", SNCollectionVariant(s.ns, coll), KeyValuesVariant(s.ns, c.criteria(gtin, lotOf(ev), "", "")), ua.MustVariant(s.format))
				if err != nil {
					return err
				}
				// Refused (a resend: the serials are past Encoded already):
				// the event decides; it is accepted when its state is reached.
				if st != StatusNoError && st != StatusInvalidSerialNumberCollection {
					return statusError("SNtoEncoded", st)
				}
			}
			lc := &LabelCollection{SNCollection: SNCollection{ID: ev.EventID, Description: ev.BizStep, State: step.State, SerialNumbers: serials}}
			lc.Labels = make([]Label, len(serials))
			for k, sn := range serials {
				lc.Labels[k] = Label{ID: sn, Properties: []KeyValue{{Key: "EPC", Value: ev.EPCList[k]}}}
			}
			st, _, err := s.call(ctx, s.events, step.Method, LabelCollectionVariant(s.ns, lc), ua.MustVariant(s.format), KeyValuesVariant(s.ns, ctxKV))
			if err != nil {
				return err
			}
			if st != StatusNoError {
				return statusError(step.Method, st)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("report events %s: %w", id, err)
		}
	}
	return nil
}

// short strips a CBV URI prefix ("urn:epcglobal:cbv:bizstep:commissioning",
// "https://ref.gs1.org/cbv/BizStep-commissioning") to its short name.
func short(v string) string {
	for _, sep := range []string{"bizstep:", "disp:", "BizStep-", "Disp-"} {
		if i := strings.LastIndex(v, sep); i >= 0 {
			return v[i+len(sep):]
		}
	}
	return v
}

func lotOf(ev epcis.ObjectEvent) string {
	v, _ := ev.ILMD["cbvmda:lotNumber"].(string)
	return v
}

func (c *Client) eventContext(ev epcis.ObjectEvent, gtin string) []KeyValue {
	kv := []KeyValue{{"GTIN", gtin}, {"EventID", ev.EventID}, {"EventTime", ev.EventTime}, {"EventTimeZoneOffset", ev.TimeZoneOffset},
		{"BizStep", ev.BizStep}, {"Disposition", ev.Disposition}}
	if lot := lotOf(ev); lot != "" {
		kv = append(kv, KeyValue{"LotNumber", lot})
	}
	if exp, _ := ev.ILMD["cbvmda:itemExpirationDate"].(string); exp != "" {
		kv = append(kv, KeyValue{"ExpirationDate", exp})
	}
	if ev.ReadPoint != nil {
		kv = append(kv, KeyValue{"ReadPoint", ev.ReadPoint.ID})
	}
	if ev.BizLocation != nil {
		kv = append(kv, KeyValue{"BizLocation", ev.BizLocation.ID})
	}
	if c.o.Line != "" {
		kv = append(kv, KeyValue{"Line", c.o.Line})
	}
	return kv
}
