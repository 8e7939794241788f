package modbus_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
)

func readRegs(t *testing.T, s string) [][]uint16 {
	t.Helper()
	var out [][]uint16
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var blk []uint16
		for _, f := range strings.Fields(line) {
			v, err := strconv.ParseUint(f, 16, 16)
			if err != nil {
				t.Fatalf("regs.txt: %v", err)
			}
			blk = append(blk, uint16(v))
		}
		out = append(out, blk)
	}
	return out
}

func snapshotString(s modbus.Snapshot) string {
	ring := make([]string, len(s.Ring))
	for i, v := range s.Ring {
		ring[i] = strconv.FormatUint(uint64(v), 10)
	}
	return fmt.Sprintf("counter=%d heartbeat=%d ring=%s", s.Counter, s.Heartbeat, strings.Join(ring, ","))
}

// TestPollCodec runs testdata/codec/<case>/: map.yaml, regs.txt (one line
// of hex registers per read of the poll plan) and want.txt (the decoded
// snapshot, or "error: " and a substring).
func TestPollCodec(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/codec/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			read := func(n string) string {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			var m modbus.RegisterMap
			if err := configs.DecodeStrictBytes("map.yaml", []byte(read("map.yaml")), &m); err != nil {
				t.Fatal(err)
			}
			if err := m.Validate().Err(); err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(read("want.txt"))
			s, err := modbus.NewPollPlan(m).Decode(readRegs(t, read("regs.txt")))
			if strings.HasPrefix(want, "error: ") {
				if !errors.Is(err, devices.ErrBadValue) || !strings.Contains(err.Error(), strings.TrimPrefix(want, "error: ")) {
					t.Fatalf("err %v, want ErrBadValue containing %q", err, strings.TrimPrefix(want, "error: "))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := snapshotString(s); got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestSlotCodec(t *testing.T) {
	for _, tc := range []struct {
		seq   uint32
		code  uint16
		order string
		regs  [3]uint16
	}{
		{0x0001_0002, 2, modbus.HighWordFirst, [3]uint16{1, 2, 2}},
		{0x0001_0002, 1, modbus.LowWordFirst, [3]uint16{2, 1, 1}},
		{0xffff_ffff, 3, modbus.HighWordFirst, [3]uint16{0xffff, 0xffff, 3}},
	} {
		if got := modbus.EncodeSlot(tc.seq, tc.code, tc.order); got != tc.regs {
			t.Errorf("EncodeSlot(%#x,%d,%s) = %v, want %v", tc.seq, tc.code, tc.order, got, tc.regs)
		}
		seq, code, err := modbus.DecodeSlot(tc.regs[:], tc.order, 3)
		if err != nil || seq != tc.seq || code != tc.code {
			t.Errorf("DecodeSlot(%v) = %#x,%d,%v", tc.regs, seq, code, err)
		}
	}
	if _, _, err := modbus.DecodeSlot([]uint16{0, 1, 4}, modbus.HighWordFirst, 3); !errors.Is(err, devices.ErrBadValue) {
		t.Errorf("code 4: %v", err)
	}
	if _, _, err := modbus.DecodeSlot([]uint16{0, 1}, modbus.HighWordFirst, 3); !errors.Is(err, devices.ErrBadValue) {
		t.Errorf("short slot: %v", err)
	}
	if _, err := modbus.Regs([]byte{1, 2, 3}); !errors.Is(err, devices.ErrBadValue) {
		t.Errorf("odd byte count: %v", err)
	}
}

// FuzzRegisterMap: any YAML either fails to decode, or validates with
// problems, or yields a map whose poll plan decodes any reply without
// panicking and reads at most 125 registers per request.
func FuzzRegisterMap(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/maps/*/map.yaml")
	for _, d := range dirs {
		b, _ := os.ReadFile(d)
		f.Add(b, []byte{0, 1, 2, 3, 0xff, 0xfe})
	}
	f.Fuzz(func(t *testing.T, y []byte, raw []byte) {
		var m modbus.RegisterMap
		if err := configs.DecodeStrictBytes("fuzz", y, &m); err != nil {
			return
		}
		if len(m.Validate()) > 0 {
			return
		}
		p := modbus.NewPollPlan(m)
		if p.Reads() < 1 || p.Reads() > 3 {
			t.Fatalf("%d reads", p.Reads())
		}
		regs, err := modbus.Regs(raw[:len(raw)&^1])
		if err != nil {
			t.Fatal(err)
		}
		data := make([][]uint16, p.Reads())
		for i := range data {
			data[i] = regs
		}
		s, err := p.Decode(data)
		if err != nil && !errors.Is(err, devices.ErrBadValue) {
			t.Fatalf("decode error not ErrBadValue: %v", err)
		}
		if err == nil && m.CounterWidth == 16 && s.Counter > 0xffff {
			t.Fatalf("16-bit counter decoded as %d", s.Counter)
		}
	})
}

// FuzzSlot: decoding never panics and round-trips valid slots.
func FuzzSlot(f *testing.F) {
	f.Add(uint16(1), uint16(2), uint16(2), true)
	f.Add(uint16(0xffff), uint16(0), uint16(9), false)
	f.Fuzz(func(t *testing.T, a, b, c uint16, high bool) {
		order := modbus.LowWordFirst
		if high {
			order = modbus.HighWordFirst
		}
		seq, code, err := modbus.DecodeSlot([]uint16{a, b, c}, order, 3)
		if err != nil {
			if c <= 3 || !errors.Is(err, devices.ErrBadValue) {
				t.Fatalf("unexpected error %v for code %d", err, c)
			}
			return
		}
		if got := modbus.EncodeSlot(seq, code, order); got != [3]uint16{a, b, c} {
			t.Fatalf("round trip %v -> %v", []uint16{a, b, c}, got)
		}
	})
}
