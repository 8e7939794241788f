package modbus_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/modbus"
)

// TestRegisterMaps runs testdata/maps/<case>/: map.yaml is decoded strictly
// and validated; want.txt lists every expected problem (one per line, in
// order), is empty for a valid map, or starts with "error: " for a decode
// error containing the rest.
func TestRegisterMaps(t *testing.T) {
	dirs, err := filepath.Glob("testdata/maps/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, "map.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			wantB, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(wantB))
			var m modbus.RegisterMap
			err = configs.DecodeStrictBytes("map.yaml", in, &m)
			if strings.HasPrefix(want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(want, "error: ")) {
					t.Fatalf("decode err %v, want containing %q", err, strings.TrimPrefix(want, "error: "))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range m.Validate() {
				got = append(got, p.String())
			}
			if g := strings.Join(got, "\n"); g != want {
				t.Fatalf("problems:\n%s\nwant:\n%s", g, want)
			}
		})
	}
}

func TestConfigReportsEveryProblemWithPath(t *testing.T) {
	c := modbus.DefaultConfig("nowhere")
	c.Timeout = 0
	c.ConfirmWindow = -1
	c.Backoff.Multiplier = 0
	c.Registers.Slots = 0
	err := c.Validate().Err()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		`address: "nowhere" is not host:port`,
		"timeout: must be > 0",
		"confirm_window: must be > 0",
		"backoff.multiplier: must be >= 1",
		"registers.slots: must be 1..2000, got 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for addr, want := range map[string]string{
		"plc:0":     `address: bad port "0" (want 1..65535)`,
		"plc:70000": `address: bad port "70000" (want 1..65535)`,
		":502":      `address: ":502" is not host:port`,
	} {
		bad := modbus.DefaultConfig(addr)
		if err := bad.Validate().Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", addr, err, want)
		}
	}
	var p configs.Problems
	p.Merge("devices.plc.modbus", c.Validate())
	if !strings.HasPrefix(p[0].String(), "devices.plc.modbus.address") {
		t.Errorf("merged path %q", p[0])
	}
	rtu := modbus.DefaultConfig("")
	rtu.Transport = "rtu"
	rtu.UnitID = 0
	msg := rtu.Validate().Err().Error()
	for _, want := range []string{"serial.device: must be set", "serial.baud", "unit_id: must be 1..247 for rtu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rtu error lacks %q:\n%s", want, msg)
		}
	}
	if _, err := modbus.New(c, modbus.Options{}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}
