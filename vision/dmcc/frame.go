// Package dmcc is a driver for Cognex DataMan readers over DMCC (DataMan
// Control Commands), on TCP (port 23) or RS-232.
//
// Framing, from the public DMCC reference (see
// ../shared/reference/device-protocols.md):
//
//	command:   ||[checksum:][id]>COMMAND args   CR LF
//	response:  ||[checksum:][id][status]payload CR LF     (extended mode)
//
// checksum is the header's checksum mode: 0 none, 1 the byte before the
// CR LF footer is the XOR of all bytes before it (from the first '|').
// Extended response mode (SET COM.DMCC-RESPONSE 1) answers every command
// with a status: 0 ok, 1 a read string the reader started on its own
// (unsolicited result), 100 unidentified error, 101 invalid command, 102
// invalid parameter, 103 bad checksum, 104 rejected in this reader state.
// In extended mode, read data (status 1) is base64 (RFC 2045). In silent
// mode (0) commands get no answer and results are plain lines.
//
// The result string (decoded data plus quality metrics) is laid out by the
// reader's output format, which differs per installation: it is parsed with
// a vision/pattern Format (DefaultFormat unless configured).
package dmcc

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/serialine/serialine/vision"
)

// Status codes of extended response mode.
const (
	StatusOK           = 0   // command succeeded
	StatusReadString   = 1   // a read result the reader started itself (payload: base64 result string)
	StatusUnidentified = 100 // unidentified error
	StatusBadCommand   = 101 // command invalid
	StatusBadParam     = 102 // parameter invalid
	StatusBadChecksum  = 103 // checksum incorrect
	StatusBadState     = 104 // rejected: not allowed in this reader state
)

// StatusText returns the meaning of a status code ("" when unknown).
func StatusText(code int) string {
	switch code {
	case StatusOK:
		return "ok"
	case StatusReadString:
		return "read string"
	case StatusUnidentified:
		return "unidentified error"
	case StatusBadCommand:
		return "invalid command"
	case StatusBadParam:
		return "invalid parameter"
	case StatusBadChecksum:
		return "checksum incorrect"
	case StatusBadState:
		return "rejected in this reader state"
	}
	return ""
}

// Footer ends every frame.
const Footer = "\r\n"

// Command is one host → reader command.
type Command struct {
	// ID is the command id echoed in the response; HasID false = none sent.
	ID    int
	HasID bool
	// Checksum is checksum mode 1 (a XOR byte before the footer).
	Checksum bool
	// Text is the command and its arguments, e.g. "TRIGGER ON".
	Text string
}

// Response is one reader → host frame in extended mode.
type Response struct {
	ID       int
	HasID    bool
	Checksum bool
	Status   int
	// Payload is the response data; for StatusReadString the base64 is
	// decoded (AppendResponse encodes it).
	Payload []byte
}

// xor returns the XOR of b.
func xor(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// AppendCommand appends the framed command (with footer) to dst.
func AppendCommand(dst []byte, c Command) []byte {
	start := len(dst)
	dst = append(dst, "||"...)
	if c.Checksum {
		dst = append(dst, "1:"...)
	}
	if c.HasID {
		dst = strconv.AppendInt(dst, int64(c.ID), 10)
	}
	dst = append(dst, '>')
	dst = append(dst, c.Text...)
	if c.Checksum {
		dst = append(dst, xor(dst[start:]))
	}
	return append(dst, Footer...)
}

// AppendResponse appends the framed response (with footer) to dst; a
// StatusReadString payload is base64-encoded.
func AppendResponse(dst []byte, r Response) []byte {
	start := len(dst)
	dst = append(dst, "||"...)
	if r.Checksum {
		dst = append(dst, "1:"...)
	} else {
		dst = append(dst, "0:"...)
	}
	if r.HasID {
		dst = strconv.AppendInt(dst, int64(r.ID), 10)
	}
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ']')
	if r.Status == StatusReadString {
		dst = base64.StdEncoding.AppendEncode(dst, r.Payload)
	} else {
		dst = append(dst, r.Payload...)
	}
	if r.Checksum {
		dst = append(dst, xor(dst[start:]))
	}
	return append(dst, Footer...)
}

func garbled(line []byte, pos int, format string, args ...any) error {
	return &vision.LineError{Source: "dmcc", Line: string(line), Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// header parses "||[c:][id]" and returns checksum flag, id, and the index
// after the header.
func header(line []byte) (checksum bool, id int, hasID bool, i int, err error) {
	if !bytes.HasPrefix(line, []byte("||")) {
		return false, 0, false, 0, garbled(line, 1, "frame does not start with ||")
	}
	i = 2
	// optional "c:" checksum mode
	if len(line) > i+1 && (line[i] == '0' || line[i] == '1') && line[i+1] == ':' {
		checksum = line[i] == '1'
		i += 2
	}
	j := i
	for j < len(line) && line[j] >= '0' && line[j] <= '9' {
		j++
	}
	if j > i {
		if j-i > 9 {
			return false, 0, false, 0, garbled(line, i+1, "command id too long")
		}
		id, _ = strconv.Atoi(string(line[i:j]))
		hasID = true
	}
	return checksum, id, hasID, j, nil
}

// verify strips and checks the checksum byte when checksum mode is on.
func verify(line []byte, checksum bool) ([]byte, error) {
	if !checksum {
		return line, nil
	}
	if len(line) < 4 {
		return nil, garbled(line, len(line), "frame too short for a checksum byte")
	}
	body, cs := line[:len(line)-1], line[len(line)-1]
	if want := xor(body); want != cs {
		return nil, &vision.LineError{Source: "dmcc", Line: string(line), Pos: len(line),
			Msg: fmt.Sprintf("checksum byte 0x%02x, computed 0x%02x", cs, want), Err: vision.ErrChecksum}
	}
	return body, nil
}

// ParseCommand parses one command frame, footer already removed.
func ParseCommand(line []byte) (Command, error) {
	cs, id, hasID, i, err := header(line)
	if err != nil {
		return Command{}, err
	}
	body, err := verify(line, cs)
	if err != nil {
		return Command{}, err
	}
	if i >= len(body) || body[i] != '>' {
		return Command{}, garbled(line, i+1, "expected '>' after the command header")
	}
	text := string(body[i+1:])
	if text == "" {
		return Command{}, garbled(line, i+2, "empty command")
	}
	return Command{ID: id, HasID: hasID, Checksum: cs, Text: text}, nil
}

// ParseResponse parses one extended-mode response frame, footer already
// removed. A StatusReadString payload is base64-decoded.
func ParseResponse(line []byte) (Response, error) {
	cs, id, hasID, i, err := header(line)
	if err != nil {
		return Response{}, err
	}
	body, err := verify(line, cs)
	if err != nil {
		return Response{}, err
	}
	if i >= len(body) || body[i] != '[' {
		return Response{}, garbled(line, i+1, "expected '[status]' after the response header")
	}
	end := bytes.IndexByte(body[i:], ']')
	if end < 0 {
		return Response{}, garbled(line, i+1, "unterminated [status]")
	}
	digits := body[i+1 : i+end]
	st, err := strconv.Atoi(string(digits))
	if err != nil || len(digits) == 0 || len(digits) > 3 || digits[0] == '+' || digits[0] == '-' {
		return Response{}, garbled(line, i+2, "status %q is not a number", digits)
	}
	r := Response{ID: id, HasID: hasID, Checksum: cs, Status: st}
	payload := body[i+end+1:]
	if st == StatusReadString {
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(payload)))
		n, err := base64.StdEncoding.Decode(dec, payload)
		if err != nil {
			pos := i + end + 2
			if ce, ok := err.(base64.CorruptInputError); ok {
				pos += int(ce)
			}
			return Response{}, &vision.LineError{Source: "dmcc", Line: string(line), Pos: pos, Msg: "read data is not base64", Err: err}
		}
		r.Payload = dec[:n]
	} else {
		r.Payload = append([]byte(nil), payload...)
	}
	return r, nil
}
