package serialport_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/serialport"
)

func TestValidateReportsEveryMistake(t *testing.T) {
	c := serialport.Config{Baud: 9601, DataBits: 9, Parity: "sometimes", StopBits: "3"}
	var paths []string
	for _, p := range c.Validate() {
		paths = append(paths, p.Path)
	}
	want := "device,baud,data_bits,parity,stop_bits,read_timeout"
	if strings.Join(paths, ",") != want {
		t.Fatalf("problem paths %v, want %s", paths, want)
	}
	ok := serialport.DefaultConfig()
	ok.Device = "/dev/ttyUSB0"
	if p := ok.Validate(); len(p) != 0 {
		t.Fatalf("default config invalid: %v", p)
	}
	for _, tc := range []struct {
		parity, letter, stop string
		bits                 int
	}{
		{"none", "N", "1", 1}, {"even", "E", "2", 2}, {"odd", "O", "1.5", 1}, {"mark", "M", "1", 1}, {"space", "S", "1", 1},
	} {
		ok.Parity, ok.StopBits = tc.parity, tc.stop
		if ok.ParityLetter() != tc.letter || ok.StopBitsInt() != tc.bits || len(ok.Validate()) != 0 {
			t.Errorf("%s/%s: letter %s bits %d problems %v", tc.parity, tc.stop, ok.ParityLetter(), ok.StopBitsInt(), ok.Validate())
		}
	}
}

// timeoutReader behaves like go.bug.st/serial on a read timeout: (0, nil).
type timeoutReader struct {
	data []byte
}

func (r *timeoutReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, nil
	}
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, nil
}
func (r *timeoutReader) Write(b []byte) (int, error) { return len(b), nil }
func (r *timeoutReader) Close() error                { return nil }

// TestReadTimeoutIsAnError: with the raw library semantics bufio would spin
// (or report io.ErrNoProgress); through Port a reader gets ErrTimeout.
func TestReadTimeoutIsAnError(t *testing.T) {
	p := serialport.Wrap("fake", &timeoutReader{data: []byte("ACK\r")})
	br := bufio.NewReader(p)
	line, err := br.ReadString('\r')
	if err != nil || line != "ACK\r" {
		t.Fatalf("first line %q %v", line, err)
	}
	_, err = br.ReadString('\r')
	if !errors.Is(err, serialport.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	var to interface{ Timeout() bool }
	if !errors.As(err, &to) || !to.Timeout() {
		t.Fatalf("error does not report Timeout(): %v", err)
	}
	if _, err := io.ReadFull(p, make([]byte, 2)); !errors.Is(err, serialport.ErrTimeout) {
		t.Fatalf("ReadFull: %v", err)
	}
}

func TestOpenRefusesBadConfigAndMissingDevice(t *testing.T) {
	if _, err := serialport.Open(serialport.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	c := serialport.DefaultConfig()
	c.Device = "/dev/serialine-no-such-port"
	c.ReadTimeout = 10 * time.Millisecond
	if _, err := serialport.Open(c); err == nil || !strings.Contains(err.Error(), c.Device) {
		t.Fatalf("missing device: %v", err)
	}
}

// TestRealPortTimeout opens a pty slave through go.bug.st/serial: data
// arrives, and a read with nothing to read returns ErrTimeout, not (0, nil).
func TestRealPortTimeout(t *testing.T) {
	m, dev := devicetest.OpenPTY(t)
	c := serialport.DefaultConfig()
	c.Device = dev
	c.ReadTimeout = 20 * time.Millisecond
	p, err := serialport.Open(c)
	if err != nil {
		t.Skipf("open pty as serial port: %v", err)
	}
	defer p.Close()
	if _, err := m.Write([]byte("OK\r")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := io.ReadAtLeast(p, buf, 3)
	if err != nil || string(buf[:n]) != "OK\r" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if _, err := p.Read(buf); !errors.Is(err, serialport.ErrTimeout) {
		t.Fatalf("idle read: %v, want ErrTimeout", err)
	}
	if _, err := p.Write([]byte("LON\r")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(m, got); err != nil || string(got) != "LON\r" {
		t.Fatalf("master read %q %v", got, err)
	}
}
