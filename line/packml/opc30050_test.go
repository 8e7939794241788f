package packml

import (
	"errors"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/internal/nodeset"
)

// TestOPC30050Transitions derives the whole command matrix and the
// state-complete transitions from the transitions OPC 30050 declares on its
// three nested state machines (PackMLBaseStateMachineType: Aborting,
// Aborted, Cleared; PackMLMachineStateMachineType in Cleared: Stopped,
// Stopping, Clearing, Running; PackMLExecuteStateMachineType in Running:
// the twelve others) and compares them with Next and Done for every state
// and command.
func TestOPC30050Transitions(t *testing.T) {
	s, err := nodeset.Load(reference.File(t, "opcua/Opc.Ua.PackML.NodeSet2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	method := map[string]Command{"Start": CmdStart, "Hold": CmdHold, "Unhold": CmdUnhold, "Suspend": CmdSuspend,
		"Unsuspend": CmdUnsuspend, "ToComplete": CmdComplete, "Reset": CmdReset, "Stop": CmdStop, "Abort": CmdAbort, "Clear": CmdClear}
	// members of each composite state: Running holds the execute states,
	// Cleared the machine states (and so the execute states too).
	running := map[State]bool{}
	cleared := map[State]bool{Stopped: true, Stopping: true, Clearing: true}
	for _, st := range States() {
		switch st {
		case Stopped, Stopping, Clearing, Aborting, Aborted:
		default:
			running[st], cleared[st] = true, true
		}
	}
	// Entering a composite state starts its sub-machine in its first
	// acting state (TR88.00.02: Stopped -Reset-> Resetting, Aborted
	// -Clear-> Clearing).
	entry := map[string]State{"Running": Resetting, "Cleared": Clearing}
	from := func(name string) []State {
		switch name {
		case "Running":
			return keys(running)
		case "Cleared":
			return keys(cleared)
		}
		st, err := ParseState(name)
		if err != nil {
			t.Fatalf("node set state %q: %v", name, err)
		}
		return []State{st}
	}
	to := func(name string) State {
		if st, ok := entry[name]; ok {
			return st
		}
		st, err := ParseState(name)
		if err != nil {
			t.Fatalf("node set state %q: %v", name, err)
		}
		return st
	}
	want := map[key]State{}
	sc := map[State]State{}
	n := 0
	for _, id := range s.Order {
		tr := s.Node(id)
		if tr.TypeDefinition() != "i=2310" { // TransitionType
			continue
		}
		n++
		f, g := s.Node(tr.First(nodeset.FromState, true)), s.Node(tr.First(nodeset.ToState, true))
		cause := tr.First(nodeset.HasCause, true)
		if cause == "" {
			for _, st := range from(f.Name) {
				sc[st] = to(g.Name)
			}
			continue
		}
		cmd, ok := method[s.Node(cause).Name]
		if !ok {
			t.Fatalf("transition %s: unknown cause %s", tr.Name, s.Node(cause).Name)
		}
		for _, st := range from(f.Name) {
			want[key{st, cmd}] = to(g.Name)
		}
	}
	if n != 26 {
		t.Fatalf("read %d transitions from the node set, want 26", n)
	}
	for _, st := range States() {
		for _, c := range Commands() {
			got, err := Next(st, c)
			w, ok := want[key{st, c}]
			if !ok {
				if !errors.Is(err, ErrNotAllowed) {
					t.Errorf("Next(%s,%s) = %s, %v; OPC 30050 has no such transition", st, c, got, err)
				}
				continue
			}
			if err != nil || got != w {
				t.Errorf("Next(%s,%s) = %q, %v; OPC 30050: %s", st, c, got, err, w)
			}
		}
		got, err := Done(st)
		if w, ok := sc[st]; ok != (err == nil) || got != w {
			t.Errorf("Done(%s) = %q, %v; OPC 30050: %q", st, got, err, w)
		}
	}
}

func keys(m map[State]bool) []State {
	var out []State
	for _, st := range States() {
		if m[st] {
			out = append(out, st)
		}
	}
	return out
}
