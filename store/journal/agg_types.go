package journal

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Aggregation: the parent-child hierarchy of a batch (units into bundles or
// cases, cases into pallets). A parent is identified by its code, one key
// in the journal like a serial: an SSCC (AI 00) or a GTIN of a higher
// packaging level with a serial (AI 01 + 21). Codes come from ID pools
// (ImportIDPool: a list from the site server; ImportSSCCRange: a range of
// serial references the site server assigned to the line) and are drawn
// when a parent is opened, durable before its label is printed, never
// reused. See agg.go for the operations and their rules.

// Sentinel errors of the aggregation layer.
var (
	// ErrAggRefused is wrapped by *AggError: an aggregation step was refused
	// (a child not allowed in the parent, a count that does not match, a
	// parent in the wrong state); nothing was written.
	ErrAggRefused = errors.New("journal: aggregation step refused")
	// ErrIDsEmpty is returned when no parent code is left to draw for the
	// stream asked (SSCCs, or serials of a case GTIN); nothing was written.
	ErrIDsEmpty = errors.New("journal: no parent code available")
)

// IDKind is how a parent is identified.
type IDKind uint8

// Parent identifier kinds.
const (
	IDSSCC  IDKind = 1 // SSCC, AI 00 (18 digits)
	IDSGTIN IDKind = 2 // GTIN of the packaging level (AI 01) + serial (AI 21)
)

func (k IDKind) String() string {
	switch k {
	case IDSSCC:
		return "sscc"
	case IDSGTIN:
		return "sgtin"
	}
	return fmt.Sprintf("idkind(%d)", uint8(k))
}

// ParseIDKind parses "sscc" or "sgtin".
func ParseIDKind(s string) (IDKind, error) {
	switch s {
	case "sscc":
		return IDSSCC, nil
	case "sgtin":
		return IDSGTIN, nil
	}
	return 0, fmt.Errorf("%w: parent id kind %q: want sscc or sgtin", ErrInvalid, s)
}

// SSCCCode returns the journal's code of an SSCC: "00" + its 18 digits.
func SSCCCode(sscc string) string { return "00" + sscc }

// SGTINCode returns the journal's code of a GTIN + serial parent:
// "01" + 14 digits + "21" + serial (the element string without separator:
// the serial comes last).
func SGTINCode(gtin, serial string) string { return "01" + gtin + "21" + serial }

// SplitCode splits a parent code into its kind, SSCC or GTIN, and serial.
func SplitCode(code string) (kind IDKind, key, serial string, err error) {
	switch {
	case strings.HasPrefix(code, "00") && len(code) == 20:
		return IDSSCC, code[2:], "", nil
	case strings.HasPrefix(code, "01") && len(code) > 18 && code[16:18] == "21":
		return IDSGTIN, code[2:16], code[18:], nil
	}
	return 0, "", "", fmt.Errorf("%w: parent code %q: want 00+SSCC or 01+GTIN+21+serial", ErrInvalid, code)
}

// IDPool is a list of parent codes received from the site server: SSCCs
// (Kind IDSSCC, Codes of 18 digits with a valid check digit) or serials of
// a case GTIN (Kind IDSGTIN, GTIN set, Codes the AI 21 serials).
type IDPool struct {
	ID    string
	Kind  IDKind
	GTIN  string // IDSGTIN only
	Codes []string
	// RequestID is the request this pool answers; the stream's pending
	// request (SetPendingIDRequest) is cleared in the same transaction.
	RequestID string
}

// SSCCRange is a range of SSCCs the site server assigned to the line:
// extension digit + GS1 company prefix + serial references First..Last
// (padded to 16 digits with the prefix) + check digit. SSCCs are drawn from
// it in order; the cursor is durable, so none is ever issued twice.
type SSCCRange struct {
	ID            string
	Extension     int    // 0..9
	CompanyPrefix string // 4..12 digits
	First, Last   uint64 // serial references, First <= Last
}

// IDPoolInfo describes an imported ID pool or range.
type IDPoolInfo struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"` // "sscc" | "sgtin"
	GTIN       string    `json:"gtin,omitempty"`
	Range      bool      `json:"range,omitempty"`
	Count      int       `json:"count"`               // codes imported (range: First..Last)
	Drawn      int       `json:"drawn"`               // codes drawn for parents
	Returned   int       `json:"returned,omitempty"`  // given back upstream
	Available  int       `json:"available"`           // still to draw
	Extension  int       `json:"extension,omitempty"` // range
	Prefix     string    `json:"company_prefix,omitempty"`
	First      uint64    `json:"first,omitempty"`
	Last       uint64    `json:"last,omitempty"`
	ImportedAt time.Time `json:"imported_at"`
}

// ParentState is where a parent is in its life.
type ParentState uint8

// Parent states.
const (
	ParentOpen     ParentState = iota + 1 // code drawn (durable before its label prints); children may be added
	ParentClosed                          // complete (full) or closed partial by a person; packed
	ParentUnpacked                        // emptied by rework; its code is decommissioned
	ParentVoid                            // never closed (label failed, case to rework); its code is scrapped
	numParentStates
)

var parentStateNames = [...]string{"invalid", "open", "closed", "unpacked", "void"}

func (s ParentState) String() string {
	if s >= ParentOpen && s < numParentStates {
		return parentStateNames[s]
	}
	return fmt.Sprintf("parentstate(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s ParentState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (archive files).
func (s *ParentState) UnmarshalText(b []byte) error {
	return parseName(b, "parent state", parentStateNames[:], s)
}

// parseName sets *v to the index of name b in names (index 0 is not a
// value).
func parseName[T ~uint8](b []byte, what string, names []string, v *T) error {
	for i := 1; i < len(names); i++ {
		if names[i] == string(b) {
			*v = T(i)
			return nil
		}
	}
	return fmt.Errorf("%w: %s %q", ErrInvalid, what, b)
}

// ParentOp is one step in a parent's history.
type ParentOp uint8

// Parent history steps.
const (
	OpOpen   ParentOp = iota + 1 // code drawn, parent opened
	OpAdd                        // children added (N)
	OpRemove                     // children removed (N); a closed parent reopens
	OpClose                      // closed (full, or partial by a person)
	OpUnpack                     // emptied, code decommissioned
	OpVoid                       // abandoned before its first close, code scrapped
	numParentOps
)

var parentOpNames = [...]string{"invalid", "open", "add", "remove", "close", "unpack", "void"}

func (o ParentOp) String() string {
	if o >= OpOpen && o < numParentOps {
		return parentOpNames[o]
	}
	return fmt.Sprintf("parentop(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler.
func (o ParentOp) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (archive files).
func (o *ParentOp) UnmarshalText(b []byte) error {
	return parseName(b, "parent step", parentOpNames[:], o)
}

// ParentStep is one entry of a parent's history.
type ParentStep struct {
	Op     ParentOp  `json:"op"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	N      int       `json:"n,omitempty"` // children added or removed; children at close
	Reason string    `json:"reason,omitempty"`
}

// UnitLevel is the ChildLevel of a parent whose children are units.
const UnitLevel = "unit"

// ParentSpec describes a parent to open.
type ParentSpec struct {
	Batch      string // the batch its children belong to
	Level      string // "bundle", "case", "pallet", …
	ChildLevel string // UnitLevel, or the level of the parents it holds
	Capacity   int    // children when full
	Station    string // the station that builds it ("case", "pallet", "manual", …)
	Kind       IDKind // how it is identified
	GTIN       string // IDSGTIN: the GTIN of the packaging level
}

// Parent is a parent with its children and history.
type Parent struct {
	Code       string      `json:"code"`
	Kind       IDKind      `json:"-"`
	Batch      string      `json:"batch"`
	Pool       string      `json:"pool"`
	Level      string      `json:"level"`
	ChildLevel string      `json:"child_level"`
	Capacity   int         `json:"capacity"`
	Station    string      `json:"station,omitempty"`
	State      ParentState `json:"state"`
	Partial    bool        `json:"partial,omitempty"`
	// Children are unit serials (ChildLevel UnitLevel) or parent codes, in
	// the order added; Children[:Packed] were reported in a pack event.
	Children []string `json:"children"`
	Packed   int      `json:"packed"`
	// In is the parent that holds this one ("" none).
	In      string       `json:"in,omitempty"`
	History []ParentStep `json:"history"`
	// Archive is the archive file (base name) the parent was read from; ""
	// for a parent of the live journal.
	Archive string `json:"archive,omitempty"`
}

// Commissioned reports whether the parent's code was ever commissioned
// (the parent was closed at least once).
func (p Parent) Commissioned() bool {
	for _, h := range p.History {
		if h.Op == OpClose {
			return true
		}
	}
	return false
}

// AggOp is what an aggregation event reports upstream.
type AggOp uint8

// Aggregation event kinds (EPCIS: ObjectEvent commissioning of the parent's
// code; AggregationEvent ADD packing / DELETE unpacking; ObjectEvent
// decommissioning of the code).
const (
	AggCommission   AggOp = iota + 1 // the parent's code commissioned (first close)
	AggPack                          // children packed into the parent
	AggUnpack                        // children taken out of the parent
	AggDecommission                  // the parent's code decommissioned (unpacked)
	numAggOps
)

var aggOpNames = [...]string{"invalid", "commission", "pack", "unpack", "decommission"}

func (o AggOp) String() string {
	if o >= AggCommission && o < numAggOps {
		return aggOpNames[o]
	}
	return fmt.Sprintf("aggop(%d)", uint8(o))
}

// MarshalText implements encoding.TextMarshaler.
func (o AggOp) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (archive files).
func (o *AggOp) UnmarshalText(b []byte) error {
	return parseName(b, "aggregation event", aggOpNames[:], o)
}

// AggEvent is one aggregation step to report upstream, in the batch's event
// log (seq order). Children are unit serials (Units) or parent codes.
type AggEvent struct {
	Seq      uint64    `json:"seq"`
	Batch    string    `json:"batch"`
	Op       AggOp     `json:"op"`
	Parent   string    `json:"parent"`
	Level    string    `json:"level"`
	Units    bool      `json:"units,omitempty"`
	Children []string  `json:"children,omitempty"`
	At       time.Time `json:"at"`
	Actor    Actor     `json:"actor"`
	Reason   string    `json:"reason,omitempty"`
}

// ChildProblem is one refused child of an aggregation step.
type ChildProblem struct {
	Child   string `json:"child"`
	Problem string `json:"problem"`
}

// AggError is returned (wrapping ErrAggRefused) when an aggregation step is
// refused; it names the parent and every refused child. Nothing was written.
type AggError struct {
	Parent   string
	Msg      string // a problem of the step itself ("" when only children)
	Children []ChildProblem
}

func (e *AggError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal: parent %s", e.Parent)
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	for i, c := range e.Children {
		if i == 10 {
			fmt.Fprintf(&b, "; … and %d more", len(e.Children)-10)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", c.Child, c.Problem)
	}
	return b.String()
}

// Unwrap returns ErrAggRefused.
func (e *AggError) Unwrap() error { return ErrAggRefused }
