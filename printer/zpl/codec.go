package zpl

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/serialine/serialine/printer"
)

// Cmd is one ZPL command: its prefix ('^' or '~'), two-letter name
// (upper-cased) and its parameter text up to the next command.
type Cmd struct {
	Prefix byte
	Name   string
	Params string
}

func (c Cmd) String() string { return string(c.Prefix) + c.Name + c.Params }

// Tokenize splits ZPL into commands. Field data (^FD, ^FV) runs to the next
// '^' (i.e. ^FS); ^GF data runs to the next command. Text before the first
// command (white space) is skipped; anything else there is an error.
func Tokenize(b []byte) ([]Cmd, error) {
	var out []Cmd
	i := 0
	for i < len(b) && b[i] != '^' && b[i] != '~' {
		if !isSpace(b[i]) {
			return nil, fmt.Errorf("%w: ZPL: byte %q at %d before the first command", printer.ErrProtocol, b[i], i)
		}
		i++
	}
	for i < len(b) {
		p := b[i]
		if i+3 > len(b) {
			return nil, fmt.Errorf("%w: ZPL: truncated command at %d", printer.ErrProtocol, i)
		}
		name := strings.ToUpper(string(b[i+1 : i+3]))
		if !isAlnum(name[0]) || !isAlnum(name[1]) {
			return nil, fmt.Errorf("%w: ZPL: bad command name %q at %d", printer.ErrProtocol, name, i)
		}
		j := i + 3
		for j < len(b) && b[j] != '^' && b[j] != '~' {
			j++
		}
		// ~ inside field data is data, not a command.
		if (name == "FD" || name == "FV") && p == '^' {
			for j < len(b) && b[j] != '^' {
				j++
			}
		}
		params := string(b[i+3 : j])
		if name != "FD" && name != "FV" && name != "GF" {
			params = strings.TrimRight(params, "\r\n")
		}
		out = append(out, Cmd{Prefix: p, Name: name, Params: params})
		i = j
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\r' || c == '\n' || c == '\t' }
func isAlnum(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '@'
}

// EscapeFH encodes a field value for ^FH\^FD…: '\', '^', '~' and bytes
// outside printable ASCII become \hh (so a GS1 GS separator is \1D).
func EscapeFH(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == '\\' || c == '^' || c == '~' {
			fmt.Fprintf(&b, "\\%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// UnescapeFH decodes ^FH hex escapes (escape character esc).
func UnescapeFH(v string, esc byte) (string, error) {
	if strings.IndexByte(v, esc) < 0 {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != esc {
			b.WriteByte(v[i])
			continue
		}
		if i+3 > len(v) {
			return "", fmt.Errorf("%w: ZPL ^FH: truncated escape at %d in %q", printer.ErrProtocol, i, v)
		}
		x, err := hex.DecodeString(v[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("%w: ZPL ^FH: bad escape %q at %d", printer.ErrProtocol, v[i:i+3], i)
		}
		b.WriteByte(x[0])
		i += 2
	}
	return b.String(), nil
}

// StoredFormat is the download of a stored format: ^XA^DFname^FS body ^XZ.
// body holds the label with ^FNn field placeholders.
func StoredFormat(name, body string) []byte {
	return []byte("^XA^DF" + name + "^FS" + body + "^XZ\n")
}

// Recall is one label recalling a stored format with its field values:
// ^XA^XFname^FS^FNn^FH\^FDvalue^FS…^XZ, fields in number order.
func Recall(name string, fields map[int]string) []byte {
	nums := make([]int, 0, len(fields))
	for n := range fields {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var b bytes.Buffer
	b.WriteString("^XA^XF" + name + "^FS")
	for _, n := range nums {
		fmt.Fprintf(&b, "^FN%d^FH\\^FD%s^FS", n, EscapeFH(fields[n]))
	}
	b.WriteString("^XZ\n")
	return b.Bytes()
}

// GraphicField encodes bm as a ^GFA (ASCII hex) graphic field at x,y:
// ^FOx,y^GFA,total,total,bytesPerRow,HEX^FS.
func GraphicField(bm *printer.Bitmap, x, y int) []byte {
	total := len(bm.Bits)
	var b bytes.Buffer
	fmt.Fprintf(&b, "^FO%d,%d^GFA,%d,%d,%d,", x, y, total, total, bm.Stride)
	hb := make([]byte, hex.EncodedLen(total))
	hex.Encode(hb, bm.Bits)
	b.Write(bytes.ToUpper(hb))
	b.WriteString("^FS")
	return b.Bytes()
}

// ParseGraphicField decodes the parameters of an ASCII-hex ^GF command
// ("A,total,total,bytesPerRow,HEX") into a bitmap.
func ParseGraphicField(params string) (*printer.Bitmap, error) {
	parts := strings.SplitN(params, ",", 5)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%w: ^GF: want A,total,total,rowbytes,data", printer.ErrProtocol)
	}
	if parts[0] != "A" {
		return nil, fmt.Errorf("%w: ^GF: compression %q: only A (ASCII hex) is supported", printer.ErrProtocol, parts[0])
	}
	total, err1 := strconv.Atoi(parts[1])
	row, err2 := strconv.Atoi(parts[3])
	if err1 != nil || err2 != nil || total <= 0 || row <= 0 || total%row != 0 || total > 1<<22 {
		return nil, fmt.Errorf("%w: ^GF: bad sizes %q/%q", printer.ErrProtocol, parts[1], parts[3])
	}
	data := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' {
			return -1
		}
		return r
	}, parts[4])
	raw, err := hex.DecodeString(data)
	if err != nil || len(raw) != total {
		return nil, fmt.Errorf("%w: ^GF: data is not %d bytes of hex", printer.ErrProtocol, total)
	}
	bm := &printer.Bitmap{Width: row * 8, Height: total / row, Stride: row, Bits: raw}
	return bm, nil
}

// HostStatus is the printer's answer to ~HS (three STX…ETX strings).
type HostStatus struct {
	// String 1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l
	PaperOut        bool // b
	Paused          bool // c
	LabelLength     int  // dddd, dots
	FormatsInBuffer int  // eee: formats in the receive buffer
	BufferFull      bool // f
	DiagnosticMode  bool // g
	PartialFormat   bool // h
	CorruptRAM      bool // j
	UnderTemp       bool // k
	OverTemp        bool // l
	// String 2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www
	HeadOpen        bool // o: head up
	RibbonOut       bool // p
	ThermalTransfer bool // q
	PrintMode       int  // r
	LabelWaiting    bool // t
	LabelsRemaining int  // uuuuuuuu: labels remaining in batch
	GraphicsStored  int  // www
	// String 3: xxxx,y
	Password string
}

// Stopped reports whether a condition stops printing.
func (h HostStatus) Stopped() bool { return h.PaperOut || h.RibbonOut || h.HeadOpen || h.Paused }

const (
	stx = 0x02
	etx = 0x03
)

// EncodeHostStatus renders h as a printer would answer ~HS.
func EncodeHostStatus(h HostStatus) []byte {
	b01 := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	s1 := fmt.Sprintf("030,%d,%d,%04d,%03d,%d,%d,%d,000,%d,%d,%d", b01(h.PaperOut), b01(h.Paused), h.LabelLength,
		h.FormatsInBuffer, b01(h.BufferFull), b01(h.DiagnosticMode), b01(h.PartialFormat), b01(h.CorruptRAM),
		b01(h.UnderTemp), b01(h.OverTemp))
	s2 := fmt.Sprintf("001,0,%d,%d,%d,%d,0,%d,%08d,1,%03d", b01(h.HeadOpen), b01(h.RibbonOut), b01(h.ThermalTransfer),
		h.PrintMode, b01(h.LabelWaiting), h.LabelsRemaining, h.GraphicsStored)
	pw := h.Password
	if pw == "" {
		pw = "1234"
	}
	s3 := pw + ",0"
	var b bytes.Buffer
	for _, s := range []string{s1, s2, s3} {
		b.WriteByte(stx)
		b.WriteString(s)
		b.WriteByte(etx)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// SplitFrames returns the STX…ETX frames complete in b and how many bytes
// they used (bytes outside frames are skipped).
func SplitFrames(b []byte) (frames []string, used int) {
	i := 0
	for {
		s := bytes.IndexByte(b[i:], stx)
		if s < 0 {
			return frames, used
		}
		e := bytes.IndexByte(b[i+s:], etx)
		if e < 0 {
			return frames, used
		}
		frames = append(frames, string(b[i+s+1:i+s+e]))
		i += s + e + 1
		used = i
	}
}

// ParseHostStatus parses the three ~HS strings (with or without their
// STX/ETX framing and CR LF).
func ParseHostStatus(b []byte) (HostStatus, error) {
	var h HostStatus
	frames, _ := SplitFrames(b)
	if len(frames) == 0 {
		frames = strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' })
	}
	if len(frames) != 3 {
		return h, fmt.Errorf("%w: ~HS: want 3 strings, got %d", printer.ErrProtocol, len(frames))
	}
	f1 := strings.Split(frames[0], ",")
	f2 := strings.Split(frames[1], ",")
	f3 := strings.Split(frames[2], ",")
	if len(f1) != 12 {
		return h, fmt.Errorf("%w: ~HS string 1 %q: want 12 fields, got %d", printer.ErrProtocol, frames[0], len(f1))
	}
	if len(f2) != 11 {
		return h, fmt.Errorf("%w: ~HS string 2 %q: want 11 fields, got %d", printer.ErrProtocol, frames[1], len(f2))
	}
	if len(f3) != 2 {
		return h, fmt.Errorf("%w: ~HS string 3 %q: want 2 fields, got %d", printer.ErrProtocol, frames[2], len(f3))
	}
	var err error
	flag := func(s string, name string, dst *bool) {
		if err != nil {
			return
		}
		switch strings.TrimSpace(s) {
		case "0":
			*dst = false
		case "1":
			*dst = true
		default:
			err = fmt.Errorf("%w: ~HS %s flag %q: want 0 or 1", printer.ErrProtocol, name, s)
		}
	}
	num := func(s string, name string, dst *int) {
		if err != nil {
			return
		}
		n, e := strconv.Atoi(strings.TrimSpace(s))
		if e != nil || n < 0 {
			err = fmt.Errorf("%w: ~HS %s %q: not a number", printer.ErrProtocol, name, s)
			return
		}
		*dst = n
	}
	flag(f1[1], "paper out", &h.PaperOut)
	flag(f1[2], "pause", &h.Paused)
	num(f1[3], "label length", &h.LabelLength)
	num(f1[4], "formats in buffer", &h.FormatsInBuffer)
	flag(f1[5], "buffer full", &h.BufferFull)
	flag(f1[6], "diagnostic mode", &h.DiagnosticMode)
	flag(f1[7], "partial format", &h.PartialFormat)
	flag(f1[9], "corrupt RAM", &h.CorruptRAM)
	flag(f1[10], "under temperature", &h.UnderTemp)
	flag(f1[11], "over temperature", &h.OverTemp)
	flag(f2[2], "head open", &h.HeadOpen)
	flag(f2[3], "ribbon out", &h.RibbonOut)
	flag(f2[4], "thermal transfer", &h.ThermalTransfer)
	num(f2[5], "print mode", &h.PrintMode)
	flag(f2[7], "label waiting", &h.LabelWaiting)
	num(f2[8], "labels remaining", &h.LabelsRemaining)
	num(f2[10], "graphics stored", &h.GraphicsStored)
	h.Password = f3[0]
	return h, err
}
