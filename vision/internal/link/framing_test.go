package link

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/serialport"
)

// FuzzSerialFraming reads an arbitrary byte stream from a serial port
// (devicetest.SerialLine behind serialport.Wrap: chunks of any size, read
// timeouts between them) with the camera link's framing, CR LF (DMCC) or
// any end of line (Keyence, pattern readers). The lines must be exactly
// those of the whole stream split at once (the device side's ScanFunc),
// whatever the chunking: a line split across reads, a CR and its LF in
// different reads, a timeout in between.
func FuzzSerialFraming(f *testing.F) {
	f.Add([]byte("A1\r\nB2\r\n"), []byte{1}, false)
	f.Add([]byte("||1:1[0]x\r\n||\r\r\n\n\r\n"), []byte{3, 0, 1, 0, 0, 7}, false)
	f.Add([]byte("OK,LON\rdata:ALL=A\r\nERROR\n\n"), []byte{2, 0, 5}, true)
	f.Add([]byte("\r\n\r\n\r"), []byte{1, 0}, true)
	f.Fuzz(func(t *testing.T, data, chunks []byte, anyEOL bool) {
		if len(data) > 8<<10 {
			return
		}
		split := CRLF
		if anyEOL {
			split = AnyEOL
		}
		var want []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 16<<10), 16<<10)
		sc.Split(split.ScanFunc())
		rest := data
		for sc.Scan() {
			tok := sc.Text()
			// Only terminated lines count: the scanner also returns an
			// unterminated last one at EOF, which Link never sees ended.
			i := bytes.Index(rest, []byte(tok))
			end := i + len(tok)
			terminated := split == AnyEOL && end < len(rest) || split == CRLF && end+1 < len(rest) && rest[end] == '\r' && rest[end+1] == '\n'
			if !terminated {
				break
			}
			if split == AnyEOL {
				rest = rest[end+1:]
			} else {
				rest = rest[end+2:]
			}
			if tok != "" {
				want = append(want, tok)
			}
		}
		l := Start(serialport.Wrap("ttyFUZZ", devicetest.NewSerialLine(data, chunks)), split, func([]byte) bool { return false })
		var got []string
		add := func(it Item) {
			if it.Err != nil {
				t.Fatalf("line error: %v", it.Err)
			}
			got = append(got, string(it.Line))
		}
	read:
		for {
			select {
			case it := <-l.Results():
				add(it)
			case <-l.Done(): // EOF: what it framed is all in Results
				for {
					select {
					case it := <-l.Results():
						add(it)
					default:
						break read
					}
				}
			}
		}
		l.Close()
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d: %q vs %q", len(got), len(want), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("line %d: %q, want %q (all: %q vs %q)", i, got[i], want[i], got, want)
			}
		}
	})
}
