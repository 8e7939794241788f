// Package epcis builds the EPCIS 2.0 JSON-LD documents the line reports
// upstream, with the CBV 2.0 bizStep/disposition pairs:
//
//   - Commissioning: ADD, commissioning, active, lot and expiry as ILMD —
//     commissioned units (and QA samples, which were commissioned first).
//   - Sampling: OBSERVE, sampling, non_sellable_other — QA samples.
//   - Destroying: DELETE, destroying, destroyed — a commissioned pack
//     rejected afterwards (destroyed).
//   - Decommissioning: DELETE, decommissioning, inactive — a commissioned
//     pack decommissioned by a supervisor.
//   - LabelScrapping: OBSERVE, destroying, destroyed — serials printed but
//     never commissioned (rejected at the gate, uncertain, printed then
//     cleared): the label was scrapped (Open-SCS LabelScrapped). OBSERVE,
//     because a DELETE would remove from the repository an EPC it never saw
//     commissioned.
//
// EPCs are SGTIN pure-identity URIs (company prefix length from
// Options.Prefixes) or GS1 Digital Link URIs (Options.EPCs = "dl").
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
	"net/url"
	"strings"
	"time"

	"github.com/serialine/serialine/printer/gs1/gcp"
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
	// Prefixes gives the GS1 Company Prefix length of a GTIN (needed for
	// SGTIN EPC URIs); nil uses CompanyPrefixLen.
	Prefixes gcp.Lookup
	// CompanyPrefixLen is one explicit length (6..12) for every GTIN when
	// Prefixes is nil; 0 with Prefixes nil is an error naming the GTIN
	// (there is no default).
	CompanyPrefixLen int
	// EPCs is "sgtin" (urn:epc:id:sgtin:…, the default) or "dl" (GS1
	// Digital Link URIs, which EPCIS 2.0 allows as EPCs).
	EPCs string
	// DLBase is the Digital Link domain (default https://id.gs1.org).
	DLBase string
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
	Commissioning   Kind = "commissioning"   // commissioned units: ADD, commissioning, active, ILMD
	Sampling        Kind = "sampling"        // QA samples: OBSERVE, sampling, non_sellable_other
	Destroying      Kind = "destroying"      // commissioned packs destroyed: DELETE, destroying, destroyed
	Decommissioning Kind = "decommissioning" // commissioned packs decommissioned: DELETE, decommissioning, inactive
	LabelScrapping  Kind = "label-scrapping" // never-commissioned labels: OBSERVE, destroying, destroyed
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
		exp, err := ExpiryDateAt(b.Expiry, at)
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
		action, step, disp = "DELETE", "decommissioning", "inactive"
	case Destroying:
		action, step, disp = "DELETE", "destroying", "destroyed"
	case LabelScrapping:
		action, step, disp = "OBSERVE", "destroying", "destroyed"
	case Sampling:
		action, step, disp = "OBSERVE", "sampling", "non_sellable_other"
	default:
		return nil, fmt.Errorf("%w: unknown event kind %q", ErrInvalid, kind)
	}
	epc, err := o.epcFunc(b.GTIN)
	if err != nil {
		return nil, err
	}
	ts := at.UTC().Format("2006-01-02T15:04:05.000Z")
	var docs [][]byte
	for start := 0; start < len(serials); start += o.MaxEPCs {
		end := min(start+o.MaxEPCs, len(serials))
		epcs := make([]string, 0, end-start)
		for _, s := range serials[start:end] {
			u, err := epc(s)
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

// epcFunc returns the EPC builder for gtin's serials per o.
func (o Options) epcFunc(gtin string) (func(serial string) (string, error), error) {
	switch o.EPCs {
	case "", "sgtin":
		n := o.CompanyPrefixLen
		if o.Prefixes != nil {
			var err error
			if n, err = o.Prefixes.PrefixLength(gtin); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		} else if n == 0 {
			return nil, fmt.Errorf("%w: no GS1 Company Prefix length for GTIN %s (configure the product or a GCP prefix format list)", ErrInvalid, gtin)
		}
		return func(s string) (string, error) { return SGTIN(gtin, n, s) }, nil
	case "dl":
		base := o.DLBase
		if base == "" {
			base = "https://id.gs1.org"
		}
		return func(s string) (string, error) { return DigitalLink(base, gtin, s) }, nil
	}
	return nil, fmt.Errorf("%w: EPC format %q: want sgtin or dl", ErrInvalid, o.EPCs)
}

// ExpiryDate turns a GS1 YYMMDD date into YYYY-MM-DD with the century of
// the sliding window seen from now (ExpiryDateAt).
func ExpiryDate(yymmdd string) (string, error) { return ExpiryDateAt(yymmdd, time.Now()) }

// Century returns the four-digit year of the two-digit year yy by the GS1
// General Specifications' sliding window (section 7.12) as seen in year
// now: a difference yy - (now mod 100) of 51..99 is the previous century,
// -99..-50 the next one, anything else the current one.
func Century(yy, now int) int {
	cur, c := now%100, now-now%100
	switch d := yy - cur; {
	case d >= 51:
		return c - 100 + yy
	case d <= -50:
		return c + 100 + yy
	}
	return c + yy
}

// ExpiryDateAt turns a GS1 YYMMDD date into YYYY-MM-DD (DD 00 = last day of
// the month), the century chosen by the sliding window as seen at ref.
func ExpiryDateAt(yymmdd string, ref time.Time) (string, error) {
	if len(yymmdd) != 6 || strings.Trim(yymmdd, "0123456789") != "" {
		return "", fmt.Errorf("%w: expiry %q: want YYMMDD", ErrInvalid, yymmdd)
	}
	y := Century(int(yymmdd[0]-'0')*10+int(yymmdd[1]-'0'), ref.Year())
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

// DigitalLink returns the GS1 Digital Link URI base/01/GTIN/21/SERIAL of a
// serialised GTIN (the serial percent-encoded), which EPCIS 2.0 accepts as
// an EPC.
func DigitalLink(base, gtin, serial string) (string, error) {
	if len(gtin) != 14 || strings.Trim(gtin, "0123456789") != "" {
		return "", fmt.Errorf("%w: gtin %q: want 14 digits", ErrInvalid, gtin)
	}
	if serial == "" || len(serial) > 20 {
		return "", fmt.Errorf("%w: serial %q: want 1..20 characters", ErrInvalid, serial)
	}
	return strings.TrimRight(base, "/") + "/01/" + gtin + "/21/" + url.PathEscape(serial), nil
}

// ParseEPC returns the GTIN-14 and serial of an SGTIN pure-identity URI or
// a GS1 Digital Link URI with AIs 01 and 21.
func ParseEPC(epc string) (gtin, serial string, err error) {
	if rest, ok := strings.CutPrefix(epc, "urn:epc:id:sgtin:"); ok {
		f := strings.Split(rest, ".")
		if len(f) != 3 || len(f[0])+len(f[1]) != 13 || len(f[1]) < 1 || strings.Trim(f[0]+f[1], "0123456789") != "" {
			return "", "", fmt.Errorf("%w: EPC %q: not an SGTIN URI", ErrInvalid, epc)
		}
		body := f[1][:1] + f[0] + f[1][1:]
		if serial, err = url.PathUnescape(f[2]); err != nil || serial == "" {
			return "", "", fmt.Errorf("%w: EPC %q: serial", ErrInvalid, epc)
		}
		return body + string(rune('0'+checkDigit(body))), serial, nil
	}
	u, err := url.Parse(epc)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", fmt.Errorf("%w: EPC %q: want an SGTIN URI or a GS1 Digital Link", ErrInvalid, epc)
	}
	seg := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i := 0; i+3 < len(seg); i++ {
		if seg[i] == "01" && seg[i+2] == "21" {
			gtin = seg[i+1]
			if len(gtin) < 14 {
				gtin = strings.Repeat("0", 14-len(gtin)) + gtin
			}
			if serial, err = url.PathUnescape(seg[i+3]); err == nil && len(gtin) == 14 && strings.Trim(gtin, "0123456789") == "" && serial != "" {
				return gtin, serial, nil
			}
		}
	}
	return "", "", fmt.Errorf("%w: EPC %q: no /01/GTIN/21/SERIAL path", ErrInvalid, epc)
}

// checkDigit is the GS1 mod-10 check digit of the 13 digits in body.
func checkDigit(body string) int {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10 - sum%10) % 10
}
