package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/store/journal"
)

// ScannerPort is the manual station's handheld scanner connection: each
// scan a line ending in CR or LF (keyboard-wedge style serial output);
// writes go back to the scanner (its good/bad read beep commands).
type ScannerPort interface {
	io.ReadWriteCloser
}

// Manual station modes.
const (
	ModeRemove = "rework-remove" // scan a parent, then the children to take out
	ModeAdd    = "rework-add"    // scan a parent, then the children to put in
)

// manualScannerLoop reads the handheld scanner: every line is one scan,
// checked and answered at once (Ack/Nak written back).
func (a *Aggregator) manualScannerLoop(ctx context.Context) {
	ms := a.o.Config.ManualStation
	// The gate spaces reopenings of a port that opens but fails at once
	// (a scanner unplugged from a USB-serial adapter that stays): the
	// backoff resets only after a complete scan line arrived.
	gate := devices.Gate{Backoff: devices.DefaultBackoff(), Now: a.o.Now}
	for ctx.Err() == nil {
		if ok, wait := gate.Allow(); !ok && !devices.Sleep(ctx, wait) {
			return
		}
		var port ScannerPort
		err := devices.Retry(ctx, devices.DefaultBackoff(), func(ctx context.Context) error {
			p, err := a.o.ManualScanner(ctx)
			port = p
			return err
		}, func(n int, err error, wait time.Duration) {
			if n == 1 {
				a.linkAlarm("manual", "scanner", "manual station scanner: "+err.Error())
			}
		})
		if err != nil {
			return
		}
		// The link alarm clears when the port opens after a healthy
		// connection, otherwise once the port proves alive (a scan or a
		// quiet read timeout), so a port failing at every open keeps one
		// alarm with its repeats.
		healthy := gate.Failures() == 0
		gate.Connected()
		if healthy {
			a.clearAlarm(linkCond("manual", "scanner"))
		}
		stop := context.AfterFunc(ctx, func() { _ = port.Close() })
		var line []byte
		buf := make([]byte, 256)
	read:
		for {
			n, err := port.Read(buf)
			for _, c := range buf[:n] {
				if c != '\r' && c != '\n' {
					if len(line) < 512 {
						line = append(line, c)
					}
					continue
				}
				code := strings.TrimSpace(string(line))
				line = line[:0]
				if code == "" {
					continue
				}
				gate.Succeeded()
				if !healthy {
					healthy = true
					a.clearAlarm(linkCond("manual", "scanner"))
				}
				res, err := a.Scan(ctx, "manual", code, api.Actor{})
				reply := ""
				if ms != nil {
					reply = ms.Nak
					if err == nil && res.OK {
						reply = ms.Ack
					}
				}
				if reply != "" {
					if _, err := port.Write([]byte(reply)); err != nil {
						break read
					}
				}
			}
			if errors.Is(err, serialport.ErrTimeout) && !healthy {
				healthy = true
				a.clearAlarm(linkCond("manual", "scanner"))
			}
			if err != nil && !errors.Is(err, serialport.ErrTimeout) {
				if ctx.Err() == nil {
					a.linkAlarm("manual", "scanner", "manual station scanner: "+err.Error())
				}
				break
			}
		}
		stop()
		_ = port.Close()
		gate.Dropped()
	}
}

// Scan implements api.Aggregation: one scan at a station, answered at once.
func (a *Aggregator) Scan(ctx context.Context, stName, code string, by api.Actor) (api.ScanResult, error) {
	a.mu.Lock()
	st := a.stations[stName]
	if st == nil {
		a.mu.Unlock()
		return api.ScanResult{}, fmt.Errorf("no station %q: %w", stName, api.ErrNotFound)
	}
	if by.User == "" && st.name == "manual" {
		by = api.Actor{User: "handheld", Role: "operator"}
	}
	mode := st.mode
	a.mu.Unlock()
	actor := actorOf(by)
	var res api.ScanResult
	switch {
	case stName == "case":
		return api.ScanResult{}, fmt.Errorf("the inline case station takes no manual scans (its camera reads the case): %w", api.ErrRefused)
	case stName == "pallet":
		res = a.palletScan(ctx, code, actor)
	case mode == ModeRemove || mode == ModeAdd:
		unlock := a.lockStation(stName)
		res = a.reworkScan(ctx, code, mode, actor)
		unlock()
		a.setLast(stName, res)
	default:
		unlock := a.lockStation(stName)
		res = a.buildScan(ctx, stName, code, actor)
		unlock()
		a.setLast(stName, res)
	}
	return res, nil
}

// reworkScan: the first scan picks the parent, the next ones take children
// out of it (remove) or put them in (add; the parent closes when full).
func (a *Aggregator) reworkScan(ctx context.Context, code, mode string, by journal.Actor) api.ScanResult {
	res := api.ScanResult{Code: code, At: a.now()}
	fail := func(format string, args ...any) api.ScanResult {
		res.OK, res.Message = false, fmt.Sprintf(format, args...)
		return res
	}
	b, _, err := a.current()
	if err != nil {
		return fail("%v", err)
	}
	a.mu.Lock()
	st := a.stations["manual"]
	open := st.open
	a.mu.Unlock()
	sc := classify(code, b.GTIN)
	if sc.err != nil {
		return fail("%q: %v", code, sc.err)
	}
	if open == "" {
		if sc.parent == "" {
			return fail("scan the case or pallet to work on first (%s is a unit)", code)
		}
		p, err := a.j.Parent(sc.parent)
		if err != nil {
			return fail("%s: %v", hri(sc.parent), err)
		}
		if p.State != journal.ParentClosed && p.State != journal.ParentOpen {
			return fail("%s %s is %s", p.Level, hri(p.Code), p.State)
		}
		a.mu.Lock()
		st.open = p.Code
		a.mu.Unlock()
		ap := toParent(p)
		res.OK, res.Parent = true, &ap
		res.Message = fmt.Sprintf("working on %s %s (%d of %d): scan the children to %s", p.Level, hri(p.Code), len(p.Children), p.Capacity,
			map[string]string{ModeRemove: "take out", ModeAdd: "put in"}[mode])
		return res
	}
	p, err := a.j.Parent(open)
	if err != nil {
		return fail("%v", err)
	}
	child := sc.serial
	if p.ChildLevel != journal.UnitLevel {
		child = sc.parent
	}
	if child == "" {
		return fail("%s is not a %s", code, p.ChildLevel)
	}
	if mode == ModeRemove {
		if err := a.j.RemoveChildren(ctx, open, []string{child}, "rework at the manual station", by); err != nil {
			return fail("%s not removed: %v", code, err)
		}
		a.kickReport()
		res.OK, res.Message = true, fmt.Sprintf("%s taken out of %s", code, hri(open))
	} else {
		if prob, err := a.j.CheckChild(open, child); err != nil || prob != "" {
			return fail("%s refused: %s%v", code, prob, errOrNil(err))
		}
		if err := a.j.AddChildren(ctx, open, []string{child}, by); err != nil {
			return fail("%s refused: %v", code, err)
		}
		res.OK, res.Message = true, fmt.Sprintf("%s put into %s", code, hri(open))
		if q, _ := a.j.Parent(open); len(q.Children) == q.Capacity {
			if err := a.j.CloseParent(ctx, open, false, "rework complete", by); err != nil {
				res.Message += "; not closed: " + err.Error()
			} else {
				res.Message += "; full and closed again"
				a.mu.Lock()
				st.open = ""
				a.mu.Unlock()
				a.kickReport()
			}
		}
	}
	q, _ := a.j.Parent(open)
	ap := toParent(q)
	res.Parent = &ap
	return res
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// StationCommand implements api.Aggregation.
func (a *Aggregator) StationCommand(ctx context.Context, stName string, cmd api.StationCommand, by api.Actor, sig *api.Signature) (api.StationState, error) {
	a.mu.Lock()
	st := a.stations[stName]
	a.mu.Unlock()
	if st == nil {
		return api.StationState{}, fmt.Errorf("no station %q: %w", stName, api.ErrNotFound)
	}
	unlock := a.lockStation(stName)
	defer unlock()
	switch cmd.Command {
	case "mode":
		if stName != "manual" {
			return api.StationState{}, fmt.Errorf("only the manual station changes mode: %w", api.ErrBadRequest)
		}
		_, h, err := a.current()
		if err != nil {
			return api.StationState{}, err
		}
		if _, ok := h.Level(cmd.Mode); !ok && cmd.Mode != ModeRemove && cmd.Mode != ModeAdd {
			return api.StationState{}, fmt.Errorf("mode %q: want a level (%s) or %s / %s: %w", cmd.Mode, levelNames(h), ModeRemove, ModeAdd, api.ErrBadRequest)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if st.open != "" && st.mode != ModeRemove && st.mode != ModeAdd {
			return api.StationState{}, fmt.Errorf("%s is open at the station: close it (or cancel) first: %w", hri(st.open), api.ErrRefused)
		}
		st.mode, st.open, st.awaitLabel = cmd.Mode, "", false
		return a.stationLocked(st), nil
	case "cancel":
		a.mu.Lock()
		open, mode := st.open, st.mode
		a.mu.Unlock()
		if open != "" && mode != ModeRemove && mode != ModeAdd {
			p, err := a.j.Parent(open)
			if err == nil && !p.Commissioned() {
				if err := a.j.Aggregate(ctx, func(t *journal.AggTx) error {
					return t.Void(open, "cancelled at the station: "+cmd.Reason, actorOf(by))
				}); err != nil {
					return api.StationState{}, wrap(err)
				}
			}
		}
		a.mu.Lock()
		st.open, st.awaitLabel, st.partial, st.relabelOf = "", false, nil, ""
		a.mu.Unlock()
		return a.Station(ctx, stName)
	case "close-partial":
		if sig == nil || sig.User != by.User || (sig.Role != "supervisor" && sig.Role != "admin") {
			return api.StationState{}, fmt.Errorf("a partial close needs the supervisor's own e-signature: %w", api.ErrRefused)
		}
		who := journal.Actor{User: sig.User, Role: sig.Role}
		why := strings.TrimSpace("partial close e-signed (" + sig.Meaning + "): " + sig.Reason)
		a.mu.Lock()
		st.partial, st.partialWhy = &who, why
		open := st.open
		a.mu.Unlock()
		if stName == "case" {
			return a.Station(ctx, stName) // the next case read may hold fewer
		}
		if open == "" {
			a.mu.Lock()
			st.partial = nil
			a.mu.Unlock()
			return api.StationState{}, fmt.Errorf("nothing open at the %s station: %w", stName, api.ErrRefused)
		}
		p, err := a.j.Parent(open)
		if err != nil {
			return api.StationState{}, wrap(err)
		}
		b, _ := a.j.Batch(p.Batch)
		a.finishParent(ctx, stName, p, b)
		return a.Station(ctx, stName)
	}
	return api.StationState{}, fmt.Errorf("command %q: want mode, close-partial or cancel: %w", cmd.Command, api.ErrBadRequest)
}

func levelNames(h Hierarchy) string {
	var n []string
	for _, l := range h.Levels {
		n = append(n, l.Name)
	}
	return strings.Join(n, ", ")
}

// Station implements api.Aggregation.
func (a *Aggregator) Station(ctx context.Context, stName string) (api.StationState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.stations[stName]
	if st == nil {
		return api.StationState{}, fmt.Errorf("no station %q: %w", stName, api.ErrNotFound)
	}
	return a.stationLocked(st), nil
}

func (a *Aggregator) stationLocked(st *station) api.StationState {
	out := api.StationState{Name: st.name, Mode: st.mode, Link: st.link, AwaitLabel: st.awaitLabel, Last: st.last}
	if st.partial != nil {
		out.Partial = st.partial.User
	}
	if st.open != "" {
		if p, err := a.j.Parent(st.open); err == nil {
			ap := toParent(p)
			out.Open = &ap
		}
	}
	return out
}
