package main

import (
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help exit 0 with "usage: serialine …" and a
// flag list for every subcommand; sim -h lists the simulators.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"encode"}, {"run"}, {"demo"}, {"journal", "verify"}, {"journal", "export"}, {"journal"},
		{"sim", "plc"}, {"sim", "printer"}, {"sim", "camera"}, {"sim", "upstream"},
		{"batch"}, {"status"}, {"unit"},
	} {
		for _, h := range []string{"-h", "--help"} {
			code, _, errs := runClient(t, append(args, h)...)
			if code != exitOK || !strings.Contains(errs, "usage: serialine "+args[0]) || strings.Contains(errs, "Usage of") {
				t.Errorf("%q %s: exit %d\n%s", args, h, code, errs)
			}
			if args[0] != "journal" || len(args) > 1 {
				if !strings.Contains(errs, "-") {
					t.Errorf("%q %s: no flag list\n%s", args, h, errs)
				}
			}
		}
	}
	code, _, errs := runClient(t, "sim", "-h")
	if code != exitOK || !strings.Contains(errs, "plc") || !strings.Contains(errs, "upstream") || !strings.Contains(errs, "serialine sim SIMULATOR -h") {
		t.Errorf("sim -h: exit %d\n%s", code, errs)
	}
	if code, _, _ := runClient(t, "sim", "nope"); code != exitUsage {
		t.Errorf("sim nope: exit %d", code)
	}
	if code, _, _ := runClient(t, "demo", "--nope"); code != exitUsage {
		t.Errorf("demo --nope: exit %d", code)
	}
}
