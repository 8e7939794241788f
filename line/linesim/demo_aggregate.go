package linesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/labelsim"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/casecam"
)

// Supervisor is the demo's supervisor: partial closes and the aggregation
// finish are signed in its name.
var Supervisor = api.Actor{User: "demo-supervisor", Role: "supervisor"}

func supervisorSig(reason string) *api.Signature {
	return &api.Signature{User: Supervisor.User, Role: Supervisor.Role, Meaning: api.MeaningApproved, Reason: reason, At: time.Now()}
}

// InjectCaseFaults injects a case read fault every period while the batch
// executes: a pack hidden under a flap, a crushed pack's code, a pack in
// the case twice. Those cases go to the rework lane.
func InjectCaseFaults(ctx context.Context, l *Line, period time.Duration) {
	if l.Cases == nil {
		return
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	kinds := []casecam.Fault{{Kind: casecam.FaultHide, N: 1}, {Kind: casecam.FaultDamage, N: 1}, {Kind: casecam.FaultDuplicate}}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, st := l.Controller.State(); st == packml.Execute {
			l.Cases.Camera.Inject(kinds[rnd.IntN(len(kinds))])
		}
	}
}

// FinishAggregation plays the end of a batch at the end of the line, as
// operators and a supervisor do it: the conveyor runs empty into the case
// packer, the packs left make a partial case (supervisor's partial close),
// the rework lane's cases are rebuilt at the manual station (each pack
// scanned, the new label printed, applied and scanned) and put on the
// pallet by hand, the last pallet is closed partial, and the supervisor
// finishes the batch's aggregation. It returns the reconciliation per
// level.
func FinishAggregation(ctx context.Context, l *Line, batch string, out io.Writer) (api.AggReconciliation, error) {
	if l.Aggregator == nil || l.Cases == nil {
		return api.AggReconciliation{}, errors.New("linesim: aggregation is off")
	}
	if out == nil {
		out = io.Discard
	}
	a, p := l.Aggregator, l.Cases.Packer
	l.PLC.Flush()
	packs := func() int {
		tr := p.Truth()
		n := len(tr.Loose)
		for _, c := range tr.Cases {
			n += len(c.Serials)
		}
		return n
	}
	if err := until(ctx, 20*time.Second, "every pack that passed the gate in the case packer", func() bool { return uint64(packs()) == l.PLC.Status().Passed }); err != nil {
		return api.AggReconciliation{}, err
	}
	if err := until(ctx, 20*time.Second, "the full cases on the conveyor", func() bool {
		return len(p.Truth().Loose) < l.Cases.caseSize
	}); err != nil {
		return api.AggReconciliation{}, err
	}
	if n := len(p.Truth().Loose); n > 0 {
		if _, err := a.StationCommand(ctx, "case", api.StationCommand{Command: "close-partial", Reason: "last case of the batch"}, Supervisor, supervisorSig("last case of the batch")); err != nil {
			return api.AggReconciliation{}, fmt.Errorf("partial case: %w", err)
		}
		p.FlushPartial()
		fmt.Fprintf(out, "aggregation: partial case of %d packs closed by %s\n", n, Supervisor.User)
	}
	if err := until(ctx, 60*time.Second, "every case past the rework gate", func() bool {
		tr := p.Truth()
		for _, c := range tr.Cases {
			if !c.Passed && !c.Reworked {
				return false
			}
		}
		return len(tr.Loose) == 0
	}); err != nil {
		return api.AggReconciliation{}, err
	}
	// Rework lane: rebuild each case at the manual station.
	if _, err := a.StationCommand(ctx, "manual", api.StationCommand{Command: "mode", Mode: "case"}, Operator, nil); err != nil {
		return api.AggReconciliation{}, err
	}
	for _, c := range p.Truth().Cases {
		if !c.Reworked {
			continue
		}
		added := 0
		for _, s := range c.Serials {
			if s == "" {
				continue
			}
			r, err := a.Scan(ctx, "manual", s, Operator)
			if err != nil {
				return api.AggReconciliation{}, err
			}
			if !r.OK {
				fmt.Fprintf(out, "aggregation: manual station refused %s: %s\n", s, r.Message)
				continue
			}
			added++
		}
		if added == 0 {
			continue
		}
		st, _ := a.Station(ctx, "manual")
		if !st.AwaitLabel {
			if _, err := a.StationCommand(ctx, "manual", api.StationCommand{Command: "close-partial", Reason: "rework case short of packs"}, Supervisor, supervisorSig("rework case short of packs")); err != nil {
				return api.AggReconciliation{}, err
			}
		}
		code, err := applyLabel(ctx, l.Cases.ManualLabeller.Apply, l.Cases.ManualLabeller.Waiting, nil)
		if err != nil {
			return api.AggReconciliation{}, err
		}
		if r, err := a.Scan(ctx, "manual", code, Operator); err != nil || !r.OK {
			return api.AggReconciliation{}, fmt.Errorf("rework case label: %v %v", r.Message, err)
		}
		if r, err := a.Scan(ctx, "pallet", code, Operator); err != nil || !r.OK {
			return api.AggReconciliation{}, fmt.Errorf("rework case onto the pallet: %v %v", r.Message, err)
		}
		if err := palletLabelByHand(ctx, l); err != nil {
			return api.AggReconciliation{}, err
		}
		fmt.Fprintf(out, "aggregation: rework case %d rebuilt at the manual station as %s (%d packs)\n", c.Seq, code, added)
	}
	// Cases closed in the journal but on no pallet (the palletiser lost
	// them: a restart of the line) are put on the pallet by hand.
	var loose []string
	_ = l.Journal.Parents(batch, func(p journal.Parent) error {
		if p.State == journal.ParentClosed && p.Level == "case" && p.In == "" {
			loose = append(loose, p.Code)
		}
		return nil
	})
	if err := until(ctx, 3*time.Second, "pallet scans processed", func() bool {
		st, _ := a.Station(ctx, "pallet")
		return !st.AwaitLabel
	}); err != nil {
		if err2 := palletLabelByHand(ctx, l); err2 != nil {
			return api.AggReconciliation{}, err
		}
	}
	for _, code := range loose {
		if p, err := l.Journal.Parent(code); err != nil || p.In != "" {
			continue // stacked meanwhile
		}
		if r, err := a.Scan(ctx, "pallet", code, Operator); err != nil || !r.OK {
			if p, perr := l.Journal.Parent(code); err == nil && perr == nil && p.In != "" {
				continue // the palletiser's scanner stacked it between the look and the hand scan
			}
			return api.AggReconciliation{}, fmt.Errorf("case %s onto the pallet by hand: %v %v", code, r.Message, err)
		}
		if err := palletLabelByHand(ctx, l); err != nil {
			return api.AggReconciliation{}, err
		}
		fmt.Fprintf(out, "aggregation: case %s put on the pallet by hand\n", code)
	}
	// The last pallet.
	if err := until(ctx, 3*time.Second, "pallet scans processed", func() bool {
		st, _ := a.Station(ctx, "pallet")
		return !st.AwaitLabel
	}); err != nil {
		if err2 := palletLabelByHand(ctx, l); err2 != nil {
			return api.AggReconciliation{}, err
		}
	}
	if st, _ := a.Station(ctx, "pallet"); st.Open != nil {
		if _, err := a.StationCommand(ctx, "pallet", api.StationCommand{Command: "close-partial", Reason: "last pallet of the batch"}, Supervisor, supervisorSig("last pallet of the batch")); err != nil {
			return api.AggReconciliation{}, fmt.Errorf("partial pallet: %w", err)
		}
		if err := palletLabelByHand(ctx, l); err != nil {
			return api.AggReconciliation{}, err
		}
		fmt.Fprintf(out, "aggregation: partial pallet of %d cases closed by %s\n", st.Open.Count, Supervisor.User)
	}
	rec, err := a.FinishAggregation(ctx, batch, Supervisor, *supervisorSig("end of batch aggregation"))
	if err != nil {
		return rec, fmt.Errorf("finish aggregation: %w (%s)", err, strings.Join(rec.Problems, "; "))
	}
	return rec, nil
}

// palletLabelByHand: a pallet label the palletiser does not apply (cases
// put on by hand) is applied by the operator and scanned.
func palletLabelByHand(ctx context.Context, l *Line) error {
	awaiting := func() bool {
		st, _ := l.Aggregator.Station(ctx, "pallet")
		return st.AwaitLabel
	}
	if !awaiting() {
		return nil
	}
	code, err := applyLabel(ctx, l.Cases.PalletLabeller.Apply, l.Cases.PalletLabeller.Waiting, awaiting)
	if err != nil || code == "" {
		return err
	}
	if r, err := l.Aggregator.Scan(ctx, "pallet", code, Operator); err != nil || !r.OK {
		return fmt.Errorf("pallet label: %v %v", r.Message, err)
	}
	return nil
}

// applyLabel waits for the next printed label, applies it and returns what
// a scanner reads on it. With needed set, it returns "" once needed reports
// false: the palletiser's own applicator took the label meanwhile (it
// applies a label the moment it is printed onto a pallet it sees complete).
func applyLabel(ctx context.Context, apply func() (labelsim.Label, bool), waiting func() int, needed func() bool) (string, error) {
	for {
		taken := false
		if err := until(ctx, 10*time.Second, "a printed label", func() bool {
			if waiting() > 0 {
				return true
			}
			taken = needed != nil && !needed()
			return taken
		}); err != nil {
			return "", err
		}
		if taken {
			return "", nil
		}
		lab, ok := apply()
		if !ok {
			if needed != nil {
				continue // the palletiser's applicator was quicker; look again
			}
			return "", errors.New("no label to apply")
		}
		data, sym, err := casecam.DecodeLinear(lab.Image)
		if err != nil {
			return "", fmt.Errorf("label not readable: %w", err)
		}
		return sym + data, nil
	}
}

// until polls cond (a state of the simulated line) until it holds.
func until(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("linesim: timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
