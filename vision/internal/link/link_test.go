package link

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunks is a ReadWriteCloser serving reads from fixed chunks, with an
// optional timeout error between them (like devices/serialport).
type chunks struct {
	parts [][]byte
	errs  []error
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "read timeout" }
func (timeoutErr) Timeout() bool { return true }

func (c *chunks) Read(b []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.parts[0])
	if n < len(c.parts[0]) {
		c.parts[0] = c.parts[0][n:]
		return n, nil
	}
	e := c.errs[0]
	c.parts, c.errs = c.parts[1:], c.errs[1:]
	return n, e
}
func (c *chunks) Write(b []byte) (int, error) { return len(b), nil }
func (c *chunks) Close() error                { return nil }

func collect(t *testing.T, l *Link) (lines []string, replies []string) {
	t.Helper()
	<-l.Done()
	for {
		select {
		case it := <-l.Results():
			if it.Err != nil {
				lines = append(lines, "ERR:"+it.Err.Error())
			} else {
				lines = append(lines, string(it.Line))
			}
			continue
		case r := <-l.Replies():
			replies = append(replies, string(r))
			continue
		default:
		}
		return
	}
}

func TestCRLFKeepsBareCRAndLF(t *testing.T) {
	src := &chunks{parts: [][]byte{[]byte("||0:[1]QQ\r"), []byte("\r\nA\nB\r\n"), []byte("||5[0]\r\n")}, errs: []error{nil, timeoutErr{}, nil}}
	l := Start(src, CRLF, func(b []byte) bool { return bytes.HasPrefix(b, []byte("||5")) })
	lines, replies := collect(t, l)
	if strings.Join(lines, "|") != "||0:[1]QQ\r|A\nB" || strings.Join(replies, "|") != "||5[0]" {
		t.Errorf("lines %q replies %q", lines, replies)
	}
	if !errors.Is(l.Err(), io.EOF) {
		t.Errorf("err %v", l.Err())
	}
}

func TestAnyEOL(t *testing.T) {
	src := &chunks{parts: [][]byte{[]byte("OK,LON\rDATA1\r\nDATA2\n\n"), []byte("DATA3\r")}, errs: []error{nil, nil}}
	l := Start(src, AnyEOL, func(b []byte) bool { return bytes.HasPrefix(b, []byte("OK,")) })
	lines, replies := collect(t, l)
	if strings.Join(lines, "|") != "DATA1|DATA2|DATA3" || strings.Join(replies, "|") != "OK,LON" {
		t.Errorf("lines %q replies %q", lines, replies)
	}
}

func TestLineTooLong(t *testing.T) {
	long := bytes.Repeat([]byte("x"), MaxLine+10)
	src := &chunks{parts: [][]byte{long, []byte("\r\nNEXT\r\n")}, errs: []error{nil, nil}}
	l := Start(src, CRLF, func([]byte) bool { return false })
	lines, _ := collect(t, l)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ERR:line longer") || lines[1] != "NEXT" {
		t.Errorf("%d lines, first %.40q", len(lines), lines[0])
	}
}

func TestUnclaimedRepliesDoNotBlockResults(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 100; i++ {
		b.WriteString("OK,X\r")
	}
	b.WriteString("DATA\r")
	src := &chunks{parts: [][]byte{b.Bytes()}, errs: []error{nil}}
	l := Start(src, AnyEOL, func(b []byte) bool { return bytes.HasPrefix(b, []byte("OK,")) })
	lines, replies := collect(t, l)
	if strings.Join(lines, "|") != "DATA" || len(replies) != cap(l.replies) {
		t.Errorf("lines %q, %d replies kept", lines, len(replies))
	}
}

// TestScanFuncMatchesLink: the device-side bufio framing and the host-side
// Link reader cut the same byte stream into the same lines.
func TestScanFuncMatchesLink(t *testing.T) {
	for _, tc := range []struct {
		split Split
		in    string
	}{
		{CRLF, "||1:[0]\r\nA\rB\nC\r\n\r\nlast"},
		{CRLF, "x\r\r\ny\n\r\n"},
		{AnyEOL, "OK,LON\rD1\r\nD2\n\nD3\rtail"},
		{AnyEOL, "\r\n\r\nD4\n"},
	} {
		sc := bufio.NewScanner(strings.NewReader(tc.in))
		sc.Split(tc.split.ScanFunc())
		var scanned []string
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				scanned = append(scanned, sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		// Link emits a final unterminated line only when terminated, so
		// terminate the stream for the comparison.
		term := "\r\n"
		l := Start(&chunks{parts: [][]byte{[]byte(tc.in + term)}, errs: []error{nil}}, tc.split, func([]byte) bool { return false })
		lines, _ := collect(t, l)
		if strings.Join(scanned, "|") != strings.Join(lines, "|") {
			t.Errorf("%q: scanner %q, link %q", tc.in, scanned, lines)
		}
	}
}
