// Package epcis builds the EPCIS 2.0 JSON-LD documents the line reports
// upstream at batch end: commissioning ObjectEvents (action ADD, bizStep
// commissioning, disposition active, lot and expiry as ILMD) for commissioned
// units, and decommissioning ObjectEvents (action DELETE, bizStep
// decommissioning, disposition destroyed) for rejected and uncertain units.
// A QA sample was commissioned first, so it gets the commissioning event and
// then an OBSERVE ObjectEvent with bizStep sampling, disposition
// non_sellable_other.
//
// Documents validate against GS1's EPCIS 2.0 JSON schema (tested). Event ids
// are name-based UUID URNs (RFC 9562 version 5) derived from batch, kind and
// content, so a document rebuilt after a crash is byte-for-byte the same and
// the site server's idempotency holds. (They are deliberately not the CBV
// 2.0 "ni:///sha-256;…?ver=CBV2.0" event hash: that form promises the hash
// of the event's canonical pre-hash string, which a receiver may recompute.)
package epcis

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Context is the GS1 EPCIS 2.0 JSON-LD context every document names.
const Context = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

// Batch describes the batch the events are about.
type Batch struct {
	// ID of the batch on this line.
	ID string
	// GTIN (14 digits).
	GTIN string
	// Lot (AI 10).
	Lot string
	// Expiry as YYMMDD (AI 17); DD 00 means the last day of the month.
	Expiry string
}

// Options shape the events.
type Options struct {
	// CompanyPrefixLen is the length of the GS1 company prefix inside the GTIN
	// (6..12), needed to build SGTIN EPC URIs.
	CompanyPrefixLen int
	// ReadPoint is the readPoint id (an SGLN URN or any URI); "" omits it.
	ReadPoint string
	// BizLocation is the bizLocation id; "" omits it.
	BizLocation string
	// MaxEPCs caps the EPCs per event (and so per document). Default 1000.
	MaxEPCs int
	// TimeZoneOffset is eventTimeZoneOffset ("+01:00"); "" takes the offset
	// of the event time's location (pass at in the line's time zone), which
	// is "+00:00" for a UTC time.
	TimeZoneOffset string
}

// Kind names an event kind.
type Kind string

// Event kinds.
const (
	Commissioning   Kind = "commissioning"   // commissioned units: ADD, active, ILMD
	Decommissioning Kind = "decommissioning" // rejected and uncertain units: DELETE, destroyed
	Sampling        Kind = "sampling"        // QA samples: OBSERVE, non_sellable_other
)

// Document is an EPCIS 2.0 JSON-LD EPCISDocument.
type Document struct {
	Context       []string `json:"@context"`
	Type          string   `json:"type"`
	SchemaVersion string   `json:"schemaVersion"`
	CreationDate  string   `json:"creationDate"`
	Body          Body     `json:"epcisBody"`
}

// Body holds the events.
type Body struct {
	EventList []ObjectEvent `json:"eventList"`
}

// ObjectEvent is the one EPCIS event type the line emits.
type ObjectEvent struct {
	Type           string         `json:"type"`
	EventID        string         `json:"eventID"`
	EventTime      string         `json:"eventTime"`
	TimeZoneOffset string         `json:"eventTimeZoneOffset"`
	EPCList        []string       `json:"epcList"`
	Action         string         `json:"action"`
	BizStep        string         `json:"bizStep"`
	Disposition    string         `json:"disposition"`
	ReadPoint      *ID            `json:"readPoint,omitempty"`
	BizLocation    *ID            `json:"bizLocation,omitempty"`
	ILMD           map[string]any `json:"ilmd,omitempty"`
}

// ID is a readPoint or bizLocation.
type ID struct {
	ID string `json:"id"`
}

// Build returns one document per chunk of at most MaxEPCs serials of the
// given kind, all stamped with time at. It returns nothing for no serials.
func Build(kind Kind, b Batch, serials []string, at time.Time, o Options) ([][]byte, error) {
	if len(serials) == 0 {
		return nil, nil
	}
	if o.MaxEPCs <= 0 {
		o.MaxEPCs = 1000
	}
	if o.TimeZoneOffset == "" {
		o.TimeZoneOffset = at.Format("-07:00")
	} else if _, err := time.Parse("-07:00", o.TimeZoneOffset); err != nil {
		return nil, fmt.Errorf("%w: time zone offset %q: want ±hh:mm", ErrInvalid, o.TimeZoneOffset)
	}
	var ilmd map[string]any
	if kind == Commissioning {
		exp, err := ExpiryDate(b.Expiry)
		if err != nil {
			return nil, err
		}
		ilmd = map[string]any{"cbvmda:lotNumber": b.Lot, "cbvmda:itemExpirationDate": exp}
	}
	var action, step, disp string
	switch kind {
	case Commissioning:
		action, step, disp = "ADD", "commissioning", "active"
	case Decommissioning:
		action, step, disp = "DELETE", "decommissioning", "destroyed"
	case Sampling:
		action, step, disp = "OBSERVE", "sampling", "non_sellable_other"
	default:
		return nil, fmt.Errorf("%w: unknown event kind %q", ErrInvalid, kind)
	}
	ts := at.UTC().Format("2006-01-02T15:04:05.000Z")
	var docs [][]byte
	for start := 0; start < len(serials); start += o.MaxEPCs {
		end := min(start+o.MaxEPCs, len(serials))
		epcs := make([]string, 0, end-start)
		for _, s := range serials[start:end] {
			u, err := SGTIN(b.GTIN, o.CompanyPrefixLen, s)
			if err != nil {
				return nil, err
			}
			epcs = append(epcs, u)
		}
		ev := ObjectEvent{Type: "ObjectEvent", EventTime: ts, TimeZoneOffset: o.TimeZoneOffset, EPCList: epcs,
			Action: action, BizStep: step, Disposition: disp, ILMD: ilmd}
		if o.ReadPoint != "" {
			ev.ReadPoint = &ID{o.ReadPoint}
		}
		if o.BizLocation != "" {
			ev.BizLocation = &ID{o.BizLocation}
		}
		ev.EventID = eventID(b.ID, kind, ts, epcs)
		doc := Document{Context: []string{Context}, Type: "EPCISDocument", SchemaVersion: "2.0",
			CreationDate: ts, Body: Body{EventList: []ObjectEvent{ev}}}
		data, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("epcis: marshal: %w", err)
		}
		docs = append(docs, data)
	}
	return docs, nil
}

// eventNamespace is the UUID namespace of Serialine's event ids (a fixed
// random UUID).
var eventNamespace = [16]byte{0x6b, 0x1e, 0x2f, 0x3c, 0x94, 0x5a, 0x4d, 0x71, 0x8e, 0x02, 0xc4, 0x57, 0x19, 0xa3, 0x60, 0xdd}

// eventID is a deterministic event id: urn:uuid: with an RFC 9562 version 5
// (SHA-1 name-based) UUID over batch, kind, time and EPCs.
func eventID(batch string, kind Kind, ts string, epcs []string) string {
	h := sha1.New()
	h.Write(eventNamespace[:])
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", batch, kind, ts, strings.Join(epcs, "\x00"))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(u[:])
	return "urn:uuid:" + x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// SGTIN returns the EPC pure-identity URI urn:epc:id:sgtin:CP.IIR.SERIAL of a
// serialised GTIN (GS1 Tag Data Standard): cpLen digits of company prefix,
// the indicator digit moved before the item reference, the check digit
// dropped, and the serial's reserved characters percent-escaped.
func SGTIN(gtin string, cpLen int, serial string) (string, error) {
	if len(gtin) != 14 || strings.Trim(gtin, "0123456789") != "" {
		return "", fmt.Errorf("%w: gtin %q: want 14 digits", ErrInvalid, gtin)
	}
	if cpLen < 6 || cpLen > 12 {
		return "", fmt.Errorf("%w: company prefix length %d: want 6..12", ErrInvalid, cpLen)
	}
	if serial == "" || len(serial) > 20 {
		return "", fmt.Errorf("%w: serial %q: want 1..20 characters", ErrInvalid, serial)
	}
	cp := gtin[1 : 1+cpLen]
	ref := gtin[0:1] + gtin[1+cpLen:13]
	var sb strings.Builder
	for i := 0; i < len(serial); i++ {
		c := serial[i]
		switch {
		case c <= 0x20 || c >= 0x7f:
			return "", fmt.Errorf("%w: serial %q: character %d not allowed", ErrInvalid, serial, i+1)
		case strings.IndexByte(`"%&/<>?#`, c) >= 0:
			fmt.Fprintf(&sb, "%%%02X", c)
		default:
			sb.WriteByte(c)
		}
	}
	return "urn:epc:id:sgtin:" + cp + "." + ref + "." + sb.String(), nil
}

// ExpiryDate turns a GS1 YYMMDD date into YYYY-MM-DD (DD 00 = last day of the
// month; the century by GS1's sliding window is assumed 20YY).
func ExpiryDate(yymmdd string) (string, error) {
	if len(yymmdd) != 6 || strings.Trim(yymmdd, "0123456789") != "" {
		return "", fmt.Errorf("%w: expiry %q: want YYMMDD", ErrInvalid, yymmdd)
	}
	y := 2000 + int(yymmdd[0]-'0')*10 + int(yymmdd[1]-'0')
	m := int(yymmdd[2]-'0')*10 + int(yymmdd[3]-'0')
	d := int(yymmdd[4]-'0')*10 + int(yymmdd[5]-'0')
	if m < 1 || m > 12 {
		return "", fmt.Errorf("%w: expiry %q: month %d", ErrInvalid, yymmdd, m)
	}
	last := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if d == 0 {
		d = last
	}
	if d > last {
		return "", fmt.Errorf("%w: expiry %q: day %d", ErrInvalid, yymmdd, d)
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), nil
}
