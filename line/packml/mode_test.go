package packml

import (
	"errors"
	"testing"
)

// TestModePermits is the whole mode × command table: outside Production
// nothing that leads to Execute is accepted.
func TestModePermits(t *testing.T) {
	refusedOutsideProduction := map[Command]bool{CmdStart: true, CmdUnhold: true, CmdUnsuspend: true}
	for _, m := range UnitModes() {
		for _, c := range Commands() {
			err := m.Permits(c)
			if m != ModeProduction && refusedOutsideProduction[c] {
				if !errors.Is(err, ErrModeForbids) {
					t.Errorf("%s.Permits(%s) = %v, want ErrModeForbids", m, c, err)
				}
			} else if err != nil {
				t.Errorf("%s.Permits(%s) = %v, want nil", m, c, err)
			}
		}
	}
	// and no command reaching Execute is permitted outside Production: walk
	// every state with the permitted commands and state completes.
	for _, m := range []UnitMode{ModeMaintenance, ModeManual} {
		seen := map[State]bool{Idle: true}
		todo := []State{Idle, Held, Suspended, Complete, Stopped, Aborted}
		for _, s := range todo {
			seen[s] = true
		}
		for len(todo) > 0 {
			s := todo[0]
			todo = todo[1:]
			var next []State
			for _, c := range Commands() {
				if n, err := Next(s, c); err == nil && m.Permits(c) == nil {
					next = append(next, n)
				}
			}
			if n, err := Done(s); err == nil {
				next = append(next, n)
			}
			for _, n := range next {
				if n.Producing() || n == Starting || n == Unholding || n == Unsuspending {
					t.Errorf("%s mode: %s reachable from %s", m, n, s)
				}
				if !seen[n] {
					seen[n] = true
					todo = append(todo, n)
				}
			}
		}
	}
}

func TestModeChange(t *testing.T) {
	allowed := map[State]bool{"": true, Idle: true, Held: true, Complete: true, Stopped: true, Aborted: true}
	for _, s := range append(States(), "") {
		err := CheckModeChange(s, ModeProduction, ModeMaintenance)
		if allowed[s] != (err == nil) || (err != nil && !errors.Is(err, ErrModeChange)) {
			t.Errorf("CheckModeChange(%q) = %v, allowed %v", s, err, allowed[s])
		}
	}
	if err := CheckModeChange(Idle, ModeProduction, ModeInvalid); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("to Invalid: %v", err)
	}
	if err := CheckModeChange(Idle, ModeProduction, 7); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("to 7: %v", err)
	}
}

func TestParseUnitMode(t *testing.T) {
	for in, want := range map[string]UnitMode{"production": ModeProduction, "Produce": ModeProduction,
		"MAINTENANCE": ModeMaintenance, " manual ": ModeManual} {
		if got, err := ParseUnitMode(in); err != nil || got != want {
			t.Errorf("ParseUnitMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseUnitMode("auto"); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("ParseUnitMode(auto) = %v", err)
	}
	for _, m := range UnitModes() {
		if got, err := ParseUnitMode(m.String()); err != nil || got != m || !m.Valid() {
			t.Errorf("round trip %s: %v %v", m, got, err)
		}
	}
	if ModeInvalid.Valid() || ModeInvalid.String() != "Invalid" || UnitMode(9).String() != "Invalid" {
		t.Error("invalid modes")
	}
}
