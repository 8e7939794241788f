package tij

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer"
)

// FuzzSerialFraming reads an arbitrary byte stream from a serial port
// (devicetest.SerialLine behind serialport.Wrap: chunks of any size, read
// timeouts between them) with the text protocol's line reader. The lines
// must be those of the whole stream cut at every CR or LF, whatever the
// chunking; a line over MaxLine is a protocol error, never a panic.
func FuzzSerialFraming(f *testing.F) {
	f.Add([]byte("ACK\rPRC|1|SN1|\r\n"), []byte{1})
	f.Add([]byte("QSZ|3|16|\r\rERR|QFULL|full|\n"), []byte{2, 0, 5, 0})
	f.Add(bytes.Repeat([]byte("x"), MaxLine+3), []byte{255})
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		if len(data) > 2*MaxLine {
			return
		}
		var want [][]byte
		rest, tooLong := data, false
		for {
			i := bytes.IndexAny(rest, "\r\n")
			if i < 0 {
				tooLong = len(rest) >= MaxLine
				break
			}
			if i >= MaxLine {
				tooLong = true
				break
			}
			want = append(want, rest[:i])
			rest = rest[i+1:]
		}
		lr := lineReader{r: serialport.Wrap("ttyFUZZ", devicetest.NewSerialLine(data, chunks))}
		for i := 0; ; i++ {
			line, err := lr.next()
			if err != nil {
				switch {
				case i < len(want):
					t.Fatalf("line %d: %v, want %q", i, err, want[i])
				case tooLong && !errors.Is(err, printer.ErrProtocol):
					t.Fatalf("an over-long line: %v, want ErrProtocol", err)
				case !tooLong && !errors.Is(err, io.EOF):
					t.Fatalf("end of stream: %v", err)
				}
				return
			}
			if i >= len(want) || !bytes.Equal(line, want[i]) {
				t.Fatalf("line %d: %q, want %q", i, line, want)
			}
		}
	})
}
