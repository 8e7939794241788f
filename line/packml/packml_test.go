package packml

import (
	"errors"
	"testing"
)

// expected is the whole command matrix written out by hand from
// ISA-TR88.00.02-2015 as OPC 30050 models it (the Hold transitions out of
// Starting, Suspending, Suspended, Unsuspending and Unholding included;
// TestOPC30050Transitions checks them against the node set): for each state, the state each command leads to ("" = not
// allowed).
var expected = map[State]map[Command]State{
	Idle:         {CmdStart: Starting, CmdStop: Stopping, CmdAbort: Aborting},
	Starting:     {CmdHold: Holding, CmdStop: Stopping, CmdAbort: Aborting},
	Execute:      {CmdHold: Holding, CmdSuspend: Suspending, CmdComplete: Completing, CmdStop: Stopping, CmdAbort: Aborting},
	Holding:      {CmdStop: Stopping, CmdAbort: Aborting},
	Held:         {CmdUnhold: Unholding, CmdStop: Stopping, CmdAbort: Aborting},
	Unholding:    {CmdHold: Holding, CmdStop: Stopping, CmdAbort: Aborting},
	Suspending:   {CmdHold: Holding, CmdStop: Stopping, CmdAbort: Aborting},
	Suspended:    {CmdHold: Holding, CmdUnsuspend: Unsuspending, CmdStop: Stopping, CmdAbort: Aborting},
	Unsuspending: {CmdHold: Holding, CmdStop: Stopping, CmdAbort: Aborting},
	Completing:   {CmdStop: Stopping, CmdAbort: Aborting},
	Complete:     {CmdReset: Resetting, CmdStop: Stopping, CmdAbort: Aborting},
	Stopping:     {CmdAbort: Aborting},
	Stopped:      {CmdReset: Resetting, CmdAbort: Aborting},
	Aborting:     {},
	Aborted:      {CmdClear: Clearing},
	Clearing:     {CmdAbort: Aborting},
	Resetting:    {CmdStop: Stopping, CmdAbort: Aborting},
}

func TestCommandMatrix(t *testing.T) {
	if len(expected) != 17 {
		t.Fatalf("matrix has %d states, want 17", len(expected))
	}
	for _, s := range States() {
		row, ok := expected[s]
		if !ok {
			t.Fatalf("state %s missing from matrix", s)
		}
		for _, c := range Commands() {
			got, err := Next(s, c)
			want := row[c]
			if want == "" {
				if !errors.Is(err, ErrNotAllowed) {
					t.Errorf("Next(%s,%s) = %q, %v; want ErrNotAllowed", s, c, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("Next(%s,%s) = %q, %v; want %s", s, c, got, err, want)
			}
		}
	}
}

func TestStateComplete(t *testing.T) {
	want := map[State]State{
		Starting: Execute, Holding: Held, Unholding: Execute, Suspending: Suspended,
		Unsuspending: Execute, Completing: Complete, Stopping: Stopped, Aborting: Aborted,
		Clearing: Stopped, Resetting: Idle,
	}
	for _, s := range States() {
		got, err := Done(s)
		if w, ok := want[s]; ok {
			if err != nil || got != w || !s.Acting() {
				t.Errorf("Done(%s) = %q, %v; want %s", s, got, err, w)
			}
		} else if !errors.Is(err, ErrNotActing) || s.Acting() {
			t.Errorf("Done(%s) = %q, %v; want ErrNotActing", s, got, err)
		}
	}
}

// TestEveryStateReachable walks the graph from Idle and checks every state
// can be reached and every state can get back to Idle (no dead ends).
func TestEveryStateReachable(t *testing.T) {
	step := func(s State) []State {
		var out []State
		for _, c := range Commands() {
			if n, err := Next(s, c); err == nil {
				out = append(out, n)
			}
		}
		if n, err := Done(s); err == nil {
			out = append(out, n)
		}
		return out
	}
	reach := func(from State) map[State]bool {
		seen := map[State]bool{from: true}
		todo := []State{from}
		for len(todo) > 0 {
			s := todo[0]
			todo = todo[1:]
			for _, n := range step(s) {
				if !seen[n] {
					seen[n] = true
					todo = append(todo, n)
				}
			}
		}
		return seen
	}
	if got := reach(Idle); len(got) != 17 {
		t.Fatalf("from Idle reached %d states, want 17: %v", len(got), got)
	}
	for _, s := range States() {
		if !reach(s)[Idle] {
			t.Errorf("Idle not reachable from %s", s)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range States() {
		if got, err := ParseState(string(s)); err != nil || got != s {
			t.Errorf("ParseState(%s) = %v, %v", s, got, err)
		}
	}
	if got, err := ParseCommand("hold"); err != nil || got != CmdHold {
		t.Errorf("ParseCommand(hold) = %v, %v", got, err)
	}
	if _, err := ParseState("Running"); !errors.Is(err, ErrUnknownState) {
		t.Errorf("ParseState(Running) err = %v", err)
	}
	if _, err := ParseCommand("Pause"); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("ParseCommand(Pause) err = %v", err)
	}
	if _, err := Next("Bogus", CmdStart); !errors.Is(err, ErrUnknownState) {
		t.Errorf("Next(Bogus) err = %v", err)
	}
	if _, err := Next(Idle, "Pause"); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("Next(Idle, Pause) err = %v", err)
	}
}

func TestAllowedAndFinal(t *testing.T) {
	if got := Allowed(Held); len(got) != 3 || got[0] != CmdUnhold {
		t.Errorf("Allowed(Held) = %v", got)
	}
	for _, s := range States() {
		if s.Final() != (s == Complete || s == Stopped || s == Aborted) {
			t.Errorf("%s.Final() = %v", s, s.Final())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range States() {
		f.Add(string(s), "Start")
	}
	f.Add("", "")
	f.Fuzz(func(t *testing.T, st, cmd string) {
		s, err := ParseState(st)
		if err != nil {
			return
		}
		c, err := ParseCommand(cmd)
		if err != nil {
			return
		}
		if n, err := Next(s, c); err == nil && !n.Valid() {
			t.Fatalf("Next(%s,%s) = invalid %q", s, c, n)
		}
	})
}
