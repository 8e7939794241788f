package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// modelLegal is the transition table written out independently of state.go.
var modelLegal = map[string]bool{
	"drawn>queued": true, "drawn>returned": true,
	"queued>printed": true, "queued>rejected": true, "queued>returned": true, "queued>uncertain": true,
	"printed>verified": true, "printed>rejected": true, "printed>uncertain": true,
	"verified>commissioned": true, "verified>rejected": true, "verified>uncertain": true,
	"commissioned>sampled": true, "commissioned>rejected": true,
	"rejected>uncertain": true, // only gate-mismatch by the system (modelAllows)
}

func modelAllows(from State, prev Reason, c Change) bool {
	if from == Rejected && c.To == Rejected { // the one annotation
		return c.Reason == ReasonRejectNotConfirmed && c.Actor.User != "ann" && prev != ReasonRejectNotConfirmed
	}
	if !modelLegal[from.String()+">"+c.To.String()] {
		return false
	}
	if from == Rejected && (c.Reason != ReasonGateMismatch || c.Actor.User == "ann") {
		return false
	}
	if (c.To == Rejected || c.To == Returned || c.To == Uncertain) && c.Reason == ReasonNone {
		return false
	}
	person := c.Actor.User == "ann"
	if from == Commissioned && !person {
		return false
	}
	if c.Reason == ReasonManual && !person {
		return false
	}
	if c.Reason == ReasonLowGrade && c.Grade == nil && c.Detail == "" {
		return false
	}
	return true
}

func TestCanTransitionMatchesModel(t *testing.T) {
	for _, from := range States() {
		for _, to := range States() {
			if got, want := CanTransition(from, to), modelLegal[from.String()+">"+to.String()]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if CanTransition(from, 0) || CanTransition(0, from) || CanTransition(from, numStates) {
			t.Errorf("invalid state accepted with %s", from)
		}
	}
}

// runStateMachine interprets ops (3 bytes each) as changes to a few units,
// applied singly or in groups, and checks the journal against the model:
// acceptance, states, counters, history length; a refused group writes
// nothing.
func runStateMachine(t *testing.T, j *Journal, ops []byte) {
	ctx := context.Background()
	us, err := j.Draw(ctx, "B1", 4)
	if err != nil {
		t.Fatal(err)
	}
	model := map[string]State{}
	last := map[string]Reason{} // reason of the last step
	hist := map[string]int{}
	for _, u := range us {
		model[u.Serial], hist[u.Serial] = Drawn, 1
	}
	reasons := []Reason{ReasonNone, ReasonNoRead, ReasonManual, ReasonLowGrade, ReasonRecovery, ReasonRejectNotConfirmed, ReasonGateMismatch, ReasonLateVerdict}
	actors := []Actor{{}, ActorCamera, {User: "ann", Role: "supervisor"}}
	accepted := 0
	defer func() { t.Logf("%d groups accepted", accepted) }()
	for len(ops) >= 3 {
		if allFinal(model) {
			more, err := j.Draw(ctx, "B1", 4)
			if err != nil {
				t.Fatal(err)
			}
			us = more
			for _, u := range us {
				model[u.Serial], hist[u.Serial] = Drawn, 1
			}
		}
		a, b, c := ops[0], ops[1], ops[2]
		ops = ops[3:]
		n := 1 + int(c>>6) // group size 1..4
		var group []Change
		for k := range n {
			serial := us[(int(a)+k)%len(us)].Serial
			to := States()[(int(b)+k*3)%len(States())]
			if b&1 == 0 { // mostly aim at a legal target so units make progress
				var targets []State
				for _, s := range States() {
					if modelLegal[model[serial].String()+">"+s.String()] {
						targets = append(targets, s)
					}
				}
				if len(targets) > 0 {
					to = targets[int(b>>1)%len(targets)]
				}
			}
			ch := Change{
				Serial: serial,
				To:     to,
				Reason: reasons[int(c)%len(reasons)],
				Actor:  actors[(int(c)/5)%len(actors)],
			}
			if c&0x20 != 0 {
				ch.Grade = &Grade{Overall: 1.0, Param: "decode"}
			}
			group = append(group, ch)
		}
		// Model: sequential application within the group, all or nothing.
		next := map[string]State{}
		for k, v := range model {
			next[k] = v
		}
		nextLast := map[string]Reason{}
		for k, v := range last {
			nextLast[k] = v
		}
		ok := true
		for _, ch := range group {
			if !modelAllows(next[ch.Serial], nextLast[ch.Serial], ch) {
				ok = false
				break
			}
			next[ch.Serial], nextLast[ch.Serial] = ch.To, ch.Reason
		}
		err := j.Apply(ctx, group...)
		if ok != (err == nil) {
			t.Fatalf("Apply(%+v) = %v, model says ok=%v (states %v)", group, err, ok, model)
		}
		if err != nil && !errors.Is(err, ErrIllegalTransition) {
			t.Fatalf("refused with %v, want ErrIllegalTransition", err)
		}
		if ok {
			accepted++
			model, last = next, nextLast
			for _, ch := range group {
				hist[ch.Serial]++
			}
		}
		var want Counters
		for _, s := range model {
			want.add(s, 1)
		}
		got, err := j.Counters("B1")
		if err != nil || got != want {
			t.Fatalf("counters %+v (err %v), model %+v", got, err, want)
		}
	}
	for s, st := range model {
		u, err := j.Unit(s)
		if err != nil || u.State != st || len(u.History) != hist[s] {
			t.Fatalf("unit %s = %s with %d steps (err %v), model %s with %d", s, u.State, len(u.History), err, st, hist[s])
		}
	}
}

// allFinal: no unit can move except by a person from commissioned.
func allFinal(model map[string]State) bool {
	for _, s := range model {
		if s.InFlight() {
			return false
		}
	}
	return true
}

func TestStateMachineProperty(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			j := openTest(t, &Options{NoSync: true})
			setup(t, j, 1000)
			rng := rand.New(rand.NewPCG(seed, 7))
			ops := make([]byte, 3*600)
			for i := range ops {
				ops[i] = byte(rng.UintN(256))
			}
			runStateMachine(t, j, ops)
		})
	}
}

func FuzzStateMachine(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 2, 0, 0, 3, 0x20, 0, 4, 0})
	f.Add([]byte{1, 7, 1, 1, 5, 10, 2, 5, 0xC1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*300 {
			return
		}
		j := openTest(t, &Options{NoSync: true})
		setup(t, j, 1000)
		runStateMachine(t, j, ops)
	})
}

func TestStateAndReasonText(t *testing.T) {
	for _, s := range States() {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%s: round trip %v, %v", s, back, err)
		}
	}
	for r := ReasonNone; r < numReasons; r++ {
		b, _ := r.MarshalText()
		var back Reason
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Fatalf("%s: round trip %v, %v", r, back, err)
		}
	}
	if _, err := ParseState("shipped"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ParseState(shipped) err %v", err)
	}
	if _, err := State(0).MarshalText(); err == nil {
		t.Fatal("state 0 marshalled")
	}
	u := Unit{Serial: "A", State: Rejected, Reason: ReasonLowGrade, History: []Step{{State: Drawn}, {State: Rejected, Reason: ReasonLowGrade}}}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back Unit
	if err := json.Unmarshal(b, &back); err != nil || back.State != Rejected || back.Reason != ReasonLowGrade || back.History[1].Reason != ReasonLowGrade {
		t.Fatalf("json round trip %s -> %+v, %v", b, back, err)
	}
}
