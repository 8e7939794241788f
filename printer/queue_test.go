package printer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/printer/zpl"
)

// recorder is the in-test stand-in for the journal: it records every
// serial's states and every alarm, and lets the test wait for conditions.
type recorder struct {
	mu      sync.Mutex
	changed chan struct{}
	queued  []string
	states  map[string][]printer.Result
	causes  map[string][]printer.Cause
	alarms  []printer.Outcome
	next    int
	limit   int
	events  []printer.Event
}

func newRecorder(limit int) *recorder {
	return &recorder{changed: make(chan struct{}), states: map[string][]printer.Result{}, causes: map[string][]printer.Cause{}, limit: limit}
}

func serial(i int) string { return fmt.Sprintf("SN%05d", i) }

func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) feed(ctx context.Context, n int) ([]printer.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []printer.Record
	for len(out) < n && r.next < r.limit {
		r.next++
		id := serial(r.next)
		out = append(out, printer.Record{ID: id, Fields: map[string]string{"GS1": "0109501101530003" + "21" + id}})
	}
	return out, nil
}

func (r *recorder) markQueued(ctx context.Context, serials []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range serials {
		if slices.Contains(r.queued, s) {
			return fmt.Errorf("serial %s queued twice", s)
		}
	}
	r.queued = append(r.queued, serials...)
	r.notify()
	return nil
}

func (r *recorder) onOutcome(ctx context.Context, outs []printer.Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range outs {
		if o.Serial != "" {
			if !slices.Contains(r.queued, o.Serial) {
				return fmt.Errorf("outcome %v for serial never journaled as queued", o)
			}
			r.states[o.Serial] = append(r.states[o.Serial], o.Result)
			r.causes[o.Serial] = append(r.causes[o.Serial], o.Cause)
		}
		if o.Alarm != printer.AlarmNone {
			r.alarms = append(r.alarms, o)
		}
	}
	r.notify()
	return nil
}

func (r *recorder) onEvent(ev printer.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// wait blocks until cond holds (under the recorder's lock). There is no
// wall-clock limit: a hang is reported by go test -timeout with every
// goroutine's stack.
func (r *recorder) wait(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	for {
		r.mu.Lock()
		ok := cond(r)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-t.Context().Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("waiting for %s: gave up; queued=%v states=%v alarms=%v", what, r.queued, r.states, r.alarms)
		}
	}
}

func (r *recorder) count(res printer.Result) int {
	n := 0
	for _, st := range r.states {
		if len(st) > 0 && st[len(st)-1] == res {
			n++
		}
	}
	return n
}

// final returns the last result recorded for serial s.
func (r *recorder) final(s string) (printer.Result, printer.Cause) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[s]
	if len(st) == 0 {
		return printer.ResultNone, 0
	}
	return st[len(st)-1], r.causes[s][len(st)-1]
}

func (r *recorder) hasAlarm(c printer.Cause, a printer.Alarm) bool {
	for _, o := range r.alarms {
		if o.Cause == c && o.Alarm == a {
			return true
		}
	}
	return false
}

// check asserts the accounting invariant at the end of every test, once
// Run has returned: no serial is resolved twice, and none is lost — after
// Release (batch end) every serial journaled as queued is either resolved
// exactly once or still in flight (sent, its print not yet reported), never
// both.
func (r *recorder) check(t *testing.T, q *printer.Queue) {
	t.Helper()
	if err := q.Release(context.Background()); err != nil {
		t.Errorf("Release: %v", err)
	}
	inFlight := q.InFlight()
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, st := range r.states {
		if len(st) > 1 {
			t.Errorf("serial %s resolved %d times: %v %v", s, len(st), st, r.causes[s])
		}
	}
	for _, s := range r.queued {
		resolved := len(r.states[s]) > 0
		flying := slices.Contains(inFlight, s)
		switch {
		case !resolved && !flying:
			t.Errorf("serial %s lost: journaled as queued, neither resolved nor in flight", s)
		case resolved && flying:
			t.Errorf("serial %s resolved (%v) yet still in flight", s, r.states[s])
		}
	}
}

type line struct {
	sim  *printersim.Server
	drv  *tij.Client
	q    *printer.Queue
	rec  *recorder
	run  chan error
	ctx  context.Context
	stop context.CancelFunc // ends Run
}

func startLine(t *testing.T, so printersim.Options, to tij.Options, qo printer.QueueOptions, limit int) *line {
	t.Helper()
	sim, err := printersim.Start(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	to.Addr = sim.Addr()
	if to.Job == "" {
		to.Job = "CARTON"
	}
	if to.Fields == nil {
		to.Fields = []string{"ID", "GS1"}
	}
	if to.IDField == "" {
		to.IDField = "ID"
	}
	drv, err := tij.New(to)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := drv.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close(context.Background()) })
	rec := newRecorder(limit)
	qo.Feed, qo.MarkQueued, qo.OnOutcome, qo.OnEvent = rec.feed, rec.markQueued, rec.onOutcome, rec.onEvent
	q, err := printer.NewQueue(drv, qo)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	l := &line{sim: sim, drv: drv, q: q, rec: rec, run: make(chan error, 1), ctx: ctx, stop: rcancel}
	go func() { l.run <- q.Run(rctx) }()
	t.Cleanup(func() {
		rcancel()
		if err := <-l.run; err != nil && !errors.Is(err, printer.ErrDisconnected) {
			t.Errorf("Run: %v", err)
		}
		rec.check(t, q)
	})
	return l
}

func (l *line) waitSim(t *testing.T, what string, cond func(printersim.Snapshot) bool) {
	t.Helper()
	if err := l.sim.Wait(t.Context(), cond); err != nil {
		t.Fatalf("waiting for printer %s: %v", what, err)
	}
}

func queueIs(n int) func(printersim.Snapshot) bool {
	return func(s printersim.Snapshot) bool { return s.QueueLen == n }
}

func TestQueueKeepsDepthAndPrintsInOrder(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 4}, 10)
	l.waitSim(t, "queue of 4", queueIs(4))
	for i := 1; i <= 10; i++ {
		l.sim.Print(uint64(i))
		l.rec.wait(t, fmt.Sprintf("%d printed", i), func(r *recorder) bool { return r.count(printer.ResultPrinted) == i })
		want := min(4, 10-i)
		l.waitSim(t, fmt.Sprintf("queue of %d", want), queueIs(want))
	}
	for i := 1; i <= 10; i++ {
		res, c := l.rec.final(serial(i))
		if res != printer.ResultPrinted || c != printer.CausePrintComplete {
			t.Errorf("%s: %v/%v, want printed by print-complete", serial(i), res, c)
		}
	}
	if n := len(l.rec.alarms); n != 0 {
		t.Errorf("alarms: %v", l.rec.alarms)
	}
	if got := l.sim.Counter(); got != 10 {
		t.Errorf("printer counter %d, want 10", got)
	}
}

func TestQueueRefusedWhenPrinterQueueSmaller(t *testing.T) {
	// The printer holds 2; the controller wants 4: the records beyond the
	// second (sent pipelined, one group) are refused (ERR|QFULL), returned
	// and never re-sent.
	l := startLine(t, printersim.Options{QueueCap: 2}, tij.Options{}, printer.QueueOptions{Depth: 4}, 10)
	l.rec.wait(t, "a refusal", func(r *recorder) bool { return r.count(printer.ResultReturned) >= 1 })
	if res, c := l.rec.final(serial(3)); res != printer.ResultReturned || c != printer.CauseRefused {
		t.Errorf("%s: %v/%v, want returned/refused", serial(3), res, c)
	}
	if !l.rec.hasAlarm(printer.CauseRefused, printer.AlarmWarning) {
		t.Errorf("no refused warning: %v", l.rec.alarms)
	}
	// Printing goes on with the next serials; SN00003 never reaches the printer.
	l.sim.Print(1)
	l.rec.wait(t, "SN00001 printed", func(r *recorder) bool { return len(r.states[serial(1)]) == 1 })
	t.Logf("inflight %v held %v stats %+v", l.q.InFlight(), l.q.Held(), l.q.Stats())
	l.waitSim(t, "queue refilled", queueIs(2))
	if ids := l.sim.QueueIDs(); slices.Contains(ids, serial(3)) {
		t.Errorf("refused serial re-sent: printer queue %v", ids)
	}
}

func TestQueueMissedPrint(t *testing.T) {
	// No serials to feed: a trigger hits an empty queue.
	l := startLine(t, printersim.Options{NoData: printersim.NoDataWarn}, tij.Options{}, printer.QueueOptions{}, 0)
	l.sim.Print(7)
	l.rec.wait(t, "missed alarm", func(r *recorder) bool { return r.hasAlarm(printer.CauseMissed, printer.AlarmWarning) })
	if l.q.Held() {
		t.Error("a missed print (warn policy) must not hold")
	}
}

func TestQueueNoDataFailHolds(t *testing.T) {
	l := startLine(t, printersim.Options{NoData: printersim.NoDataFail}, tij.Options{}, printer.QueueOptions{}, 0)
	l.sim.Print(7)
	l.rec.wait(t, "fault hold", func(r *recorder) bool { return r.hasAlarm(printer.CauseFault, printer.AlarmHold) })
	if !l.q.Held() {
		t.Error("no-data under fail policy must hold")
	}
}

func TestQueueFaultClearsQueue(t *testing.T) {
	l := startLine(t, printersim.Options{FaultClearsQueue: true}, tij.Options{}, printer.QueueOptions{Depth: 4}, 10)
	l.waitSim(t, "queue of 4", queueIs(4))
	l.sim.Print(1)
	l.rec.wait(t, "1 printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == 1 })
	l.waitSim(t, "queue of 4", queueIs(4))
	l.sim.InjectFault(printersim.FaultHead)
	l.rec.wait(t, "in-flight resolved", func(r *recorder) bool { return len(r.states) == 5 })
	// SN00002 was at the head: it may have been mid-print -> uncertain.
	if res, c := l.rec.final(serial(2)); res != printer.ResultUncertain || c != printer.CauseQueueCleared {
		t.Errorf("head %s: %v/%v, want uncertain/queue-cleared", serial(2), res, c)
	}
	for i := 3; i <= 5; i++ {
		if res, c := l.rec.final(serial(i)); res != printer.ResultReturned || c != printer.CauseQueueCleared {
			t.Errorf("%s: %v/%v, want returned/queue-cleared", serial(i), res, c)
		}
	}
	if !l.q.Held() || !l.rec.hasAlarm(printer.CauseFault, printer.AlarmHold) {
		t.Errorf("fault must hold; alarms %v", l.rec.alarms)
	}
	if got := l.sim.QueueLen(); got != 0 {
		t.Errorf("held queue sent records: printer holds %d", got)
	}
}

func TestQueueFaultKeepsQueue(t *testing.T) {
	// A fault that leaves the printer's queue intact resolves nothing:
	// the records stay in flight and print after the fault is cleared.
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 3}, 10)
	l.waitSim(t, "queue of 3", queueIs(3))
	l.sim.InjectFault(printersim.FaultCartridgeMissing)
	l.rec.wait(t, "fault hold", func(r *recorder) bool { return r.hasAlarm(printer.CauseFault, printer.AlarmHold) })
	if len(l.rec.states) != 0 {
		t.Errorf("states changed on a fault that kept the queue: %v", l.rec.states)
	}
	if err := l.drv.ClearFaults(l.ctx); err != nil {
		t.Fatal(err)
	}
	l.q.Resume()
	l.sim.Print(1)
	l.rec.wait(t, "SN00001 printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == 1 })
	if res, _ := l.rec.final(serial(1)); res != printer.ResultPrinted {
		t.Errorf("%s: %v", serial(1), res)
	}
}

func TestQueueDisconnect(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 4}, 10)
	l.waitSim(t, "queue of 4", queueIs(4))
	l.sim.Disconnect()
	err := <-l.run
	l.run <- nil // for the cleanup
	if !errors.Is(err, printer.ErrDisconnected) {
		t.Errorf("Run: %v, want ErrDisconnected", err)
	}
	// The printer took all four; the last one's ACK may have been lost with
	// the connection (send-failed) or not (disconnect): uncertain either way.
	for i := 1; i <= 4; i++ {
		res, c := l.rec.final(serial(i))
		if res != printer.ResultUncertain || c != printer.CauseDisconnect && !(i == 4 && c == printer.CauseSendFailed) {
			t.Errorf("%s: %v/%v, want uncertain/disconnect", serial(i), res, c)
		}
	}
	if !l.q.Held() {
		t.Error("a disconnect must hold")
	}
	// Reconnecting with ClearOnConnect must not re-send anything.
	if err := l.drv.Connect(l.ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.sim.QueueLen(); got != 4 {
		t.Errorf("printer kept %d records over the disconnect, want 4", got)
	}
}

func TestQueueDuplicateAck(t *testing.T) {
	l := startLine(t, printersim.Options{DuplicateAckRate: 1}, tij.Options{}, printer.QueueOptions{Depth: 2}, 3)
	l.waitSim(t, "queue of 2", queueIs(2))
	l.sim.Print(1)
	l.rec.wait(t, "duplicate alarm", func(r *recorder) bool { return r.hasAlarm(printer.CauseDuplicate, printer.AlarmWarning) })
	if res, c := l.rec.final(serial(1)); res != printer.ResultPrinted || c != printer.CausePrintComplete {
		t.Errorf("%s: %v/%v", serial(1), res, c)
	}
	if l.q.Held() {
		t.Error("a duplicated message must not hold")
	}
}

func TestQueueOutOfOrder(t *testing.T) {
	l := startLine(t, printersim.Options{WrongRecordRate: 1}, tij.Options{}, printer.QueueOptions{Depth: 3}, 10)
	l.waitSim(t, "queue of 3", queueIs(3))
	l.sim.Print(1) // prints SN00002 instead of SN00001
	l.rec.wait(t, "out-of-order", func(r *recorder) bool { return len(r.states) == 2 })
	if res, c := l.rec.final(serial(2)); res != printer.ResultPrinted || c != printer.CauseOutOfOrder {
		t.Errorf("%s: %v/%v, want printed/out-of-order", serial(2), res, c)
	}
	if res, c := l.rec.final(serial(1)); res != printer.ResultUncertain || c != printer.CauseSkipped {
		t.Errorf("%s: %v/%v, want uncertain/skipped", serial(1), res, c)
	}
	if !l.q.Held() {
		t.Error("out-of-order must hold")
	}
	// The skipped record is still in the printer; if it prints later the
	// acknowledgement is unknown (already resolved): hold, no state change.
	l.sim.Print(2) // wrong again: prints SN00003 with SN00001 at the head
	l.rec.wait(t, "SN00003", func(r *recorder) bool { return len(r.states[serial(3)]) == 1 })
	l.sim.Print(3) // SN00001 (alone now)
	l.rec.wait(t, "unknown ack", func(r *recorder) bool { return r.hasAlarm(printer.CauseUnknownAck, printer.AlarmHold) })
}

func (r *recorder) setLimit(n int) {
	r.mu.Lock()
	r.limit = n
	r.mu.Unlock()
}

func TestQueueSendFailedOnTimeout(t *testing.T) {
	// The replies to the records come after the driver's timeout: unknown
	// whether the printer holds them -> uncertain, hold, connection closed.
	// The two records went out pipelined in one group, so both are unknown.
	l := startLine(t, printersim.Options{}, tij.Options{ReplyTimeout: 50 * time.Millisecond}, printer.QueueOptions{Depth: 2}, 0)
	l.sim.SetLateAck(1, 2*time.Second)
	l.rec.setLimit(2)
	l.q.Kick()
	l.rec.wait(t, "send failed", func(r *recorder) bool { return len(r.states[serial(1)]) == 1 && len(r.states[serial(2)]) == 1 })
	for _, sn := range []string{serial(1), serial(2)} {
		if res, c := l.rec.final(sn); res != printer.ResultUncertain || c != printer.CauseSendFailed {
			t.Errorf("%s: %v/%v, want uncertain/send-failed", sn, res, c)
		}
	}
	if err := <-l.run; !errors.Is(err, printer.ErrDisconnected) {
		t.Errorf("Run: %v, want ErrDisconnected", err)
	}
	l.run <- nil
	if !l.q.Held() {
		t.Error("send failure must hold")
	}
}

func TestQueueClear(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 4}, 10)
	l.waitSim(t, "queue of 4", queueIs(4))
	l.q.Hold()
	if err := l.q.Clear(l.ctx); err != nil {
		t.Fatal(err)
	}
	if res, c := l.rec.final(serial(1)); res != printer.ResultUncertain || c != printer.CauseQueueCleared {
		t.Errorf("head %s: %v/%v, want uncertain/queue-cleared", serial(1), res, c)
	}
	for i := 2; i <= 4; i++ {
		if res, c := l.rec.final(serial(i)); res != printer.ResultReturned || c != printer.CauseQueueCleared {
			t.Errorf("%s: %v/%v, want returned/queue-cleared", serial(i), res, c)
		}
	}
	if n := l.sim.QueueLen(); n != 0 {
		t.Errorf("printer holds %d after Clear", n)
	}
	if ids := l.q.InFlight(); len(ids) != 0 {
		t.Errorf("in flight after Clear: %v", ids)
	}
}

func TestQueueDepthMismatch(t *testing.T) {
	// The printer loses two records without a print-complete; the next
	// trigger finds its queue empty: both are uncertain.
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 2}, 2)
	l.waitSim(t, "queue of 2", queueIs(2))
	l.sim.Discard(2)
	l.sim.Print(1)
	l.rec.wait(t, "mismatch", func(r *recorder) bool { return len(r.states) == 2 })
	for i := 1; i <= 2; i++ {
		if res, c := l.rec.final(serial(i)); res != printer.ResultUncertain || c != printer.CauseDepthMismatch {
			t.Errorf("%s: %v/%v, want uncertain/depth-mismatch", serial(i), res, c)
		}
	}
	if !l.q.Held() {
		t.Error("depth mismatch must hold")
	}
}

func TestQueueUnknownRecordsInPrinter(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 2}, 0)
	other, err := tij.New(tij.Options{Addr: l.sim.Addr(), Job: "CARTON", IDField: "ID"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Connect(l.ctx); err != nil {
		t.Fatal(err)
	}
	defer other.Close(l.ctx)
	if err := other.Enqueue(l.ctx, printer.Record{ID: "FOREIGN"}); err != nil {
		t.Fatal(err)
	}
	l.sim.InjectFault(printersim.FaultJetStopped)
	l.rec.wait(t, "unknown records", func(r *recorder) bool { return r.hasAlarm(printer.CauseUnknownRecords, printer.AlarmHold) })
}

func TestQueueInkLowThenOut(t *testing.T) {
	l := startLine(t, printersim.Options{InkCapacity: 3, InkLowAt: 1}, tij.Options{}, printer.QueueOptions{Depth: 2}, 10)
	for i := 1; i <= 3; i++ {
		l.waitSim(t, "queue of 2", queueIs(2))
		l.sim.Print(uint64(i))
		l.rec.wait(t, "printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == i })
	}
	l.rec.wait(t, "ink out", func(r *recorder) bool {
		return r.hasAlarm(printer.CauseWarning, printer.AlarmWarning) && r.hasAlarm(printer.CauseFault, printer.AlarmHold)
	})
	if !l.q.Held() {
		t.Error("ink out must hold")
	}
	// Faults cannot be cleared until the cartridge is replaced.
	if err := l.drv.ClearFaults(l.ctx); !errors.Is(err, printer.ErrRefused) {
		t.Errorf("CAF with ink out: %v, want refused", err)
	}
	l.sim.Refill()
	if err := l.drv.ClearFaults(l.ctx); err != nil {
		t.Errorf("CAF after refill: %v", err)
	}
}

func TestOutcomeTable(t *testing.T) {
	seen := map[printer.Cause]bool{}
	for _, r := range printer.OutcomeTable() {
		if seen[r.Cause] {
			t.Errorf("cause %v twice", r.Cause)
		}
		seen[r.Cause] = true
		if r.Name == "" || r.Doc == "" {
			t.Errorf("cause %d: no name or doc", r.Cause)
		}
		if r.Result == printer.ResultNone && r.Alarm == printer.AlarmNone {
			t.Errorf("cause %v changes nothing and raises nothing", r.Name)
		}
	}
	for c := printer.CausePrintComplete; c <= printer.CauseCounterReset; c++ {
		if !seen[c] {
			t.Errorf("cause %d missing from the table", c)
		}
	}
	// Nothing in the table ever re-sends or prints an uncertain serial: the
	// only result that is not a terminal accounting state is none.
	for _, r := range printer.OutcomeTable() {
		switch r.Result {
		case printer.ResultNone, printer.ResultPrinted, printer.ResultUncertain, printer.ResultReturned:
		default:
			t.Errorf("%v: result %v", r.Name, r.Result)
		}
	}
}

// A printer whose PRC carries only the counter: the queue matches prints
// to records by queue order.
func TestQueueCounterOnlyPrinter(t *testing.T) {
	layout := tij.Layout{Counter: 0, RecordID: -1}
	l := startLine(t, printersim.Options{Layout: &layout}, tij.Options{Layout: &layout}, printer.QueueOptions{Depth: 3}, 5)
	for i := 1; i <= 5; i++ {
		l.waitSim(t, "queue", queueIs(min(3, 5-i+1)))
		l.sim.Print(uint64(i))
		l.rec.wait(t, "printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == i })
		if res, c := l.rec.final(serial(i)); res != printer.ResultPrinted || c != printer.CausePrintComplete {
			t.Errorf("%s: %v/%v", serial(i), res, c)
		}
	}
}

// The same queue manager drives a ZPL label printer.
func TestQueueOverZPL(t *testing.T) {
	sim, err := printersim.Start(printersim.Options{ZPLAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	drv, err := zpl.New(zpl.Options{Addr: sim.ZPLAddr(), Format: "^FO50,50^BXN,6,200,,,,_^FN2^FS", Fields: map[string]int{"GS1": 2}, IDField: 1, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := drv.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer drv.Close(ctx)
	rec := newRecorder(6)
	q, err := printer.NewQueue(drv, printer.QueueOptions{Depth: 3, Feed: rec.feed, MarkQueued: rec.markQueued, OnOutcome: rec.onOutcome})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(rctx) }()
	for i := 1; i <= 6; i++ {
		if err := sim.Wait(ctx, func(s printersim.Snapshot) bool { return s.QueueLen == min(3, 6-i+1) }); err != nil {
			t.Fatal(err)
		}
		sim.Print(uint64(i))
		rec.wait(t, "printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == i })
	}
	rcancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	for i := 1; i <= 6; i++ {
		if res, _ := rec.final(serial(i)); res != printer.ResultPrinted {
			t.Errorf("%s: %v", serial(i), res)
		}
	}
	rec.check(t, q)
}

// Without record IDs a duplicated print-complete is told by its counter:
// it must not be taken for the next record's print.
func TestQueueCounterOnlyDuplicate(t *testing.T) {
	layout := tij.Layout{Counter: 0, RecordID: -1}
	l := startLine(t, printersim.Options{Layout: &layout, DuplicateAckRate: 1}, tij.Options{Layout: &layout}, printer.QueueOptions{Depth: 3}, 5)
	l.waitSim(t, "queue of 3", queueIs(3))
	l.sim.Print(1)
	l.rec.wait(t, "duplicate", func(r *recorder) bool { return r.hasAlarm(printer.CauseDuplicate, printer.AlarmWarning) })
	if res, _ := l.rec.final(serial(1)); res != printer.ResultPrinted {
		t.Errorf("%s: %v", serial(1), res)
	}
	if res, _ := l.rec.final(serial(2)); res != printer.ResultNone {
		t.Errorf("%s resolved by a duplicated message: %v", serial(2), res)
	}
}

// TestQueueNotSentReturnedAtRelease: serials journaled as queued but never
// written to the printer (the driver was closed before they could be) go
// back to the unsent ones, and Release at batch end returns them.
func TestQueueNotSentReturnedAtRelease(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 3}, 0)
	l.stop()
	if err := <-l.run; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := l.drv.Close(l.ctx); err != nil {
		t.Fatal(err)
	}
	l.rec.setLimit(3)
	rctx, cancel := context.WithCancel(l.ctx)
	go func() { l.run <- l.q.Run(rctx) }()
	l.rec.wait(t, "queued", func(r *recorder) bool { return len(r.queued) == 3 })
	cancel()
	if err := <-l.run; err != nil && !errors.Is(err, printer.ErrClosed) {
		t.Fatalf("Run: %v", err)
	}
	l.run <- nil
	if n := l.sim.Stats().Accepted; n != 0 {
		t.Fatalf("printer took %d records from a closed driver", n)
	}
	if err := l.q.Release(l.ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if res, c := l.rec.final(serial(i)); res != printer.ResultReturned || c != printer.CauseNotSent {
			t.Errorf("%s: %v/%v, want returned/not-sent", serial(i), res, c)
		}
	}
}

// A refusal that is not "queue full" (here the driver does not know the
// printer's QFULL code) means the printer rejects the data or is not
// ready: the records are returned and the queue holds, instead of sending
// (and returning) one serial after another.
func TestQueueOtherRefusalHolds(t *testing.T) {
	l := startLine(t, printersim.Options{QueueCap: 2}, tij.Options{Codes: tij.Codes{QueueFull: []string{"FULL?"}}}, printer.QueueOptions{Depth: 4}, 10)
	l.rec.wait(t, "a refusal", func(r *recorder) bool { return r.count(printer.ResultReturned) >= 1 })
	if res, c := l.rec.final(serial(3)); res != printer.ResultReturned || c != printer.CauseRefused {
		t.Errorf("%s: %v/%v, want returned/refused", serial(3), res, c)
	}
	if !l.rec.hasAlarm(printer.CauseRefused, printer.AlarmHold) || !l.q.Held() {
		t.Errorf("refusal must hold: held %v alarms %v", l.q.Held(), l.rec.alarms)
	}
	// The four records went out in one pipelined group: two held, two
	// refused; the hold was set before the outcomes were reported, so
	// nothing more is sent.
	if st := l.q.Stats(); st.Sent != 4 {
		t.Errorf("sent %d records, want 4 (two held, two refused)", st.Sent)
	}
	if res, c := l.rec.final(serial(4)); res != printer.ResultReturned || c != printer.CauseRefused {
		t.Errorf("%s: %v/%v, want returned/refused", serial(4), res, c)
	}
}

// Without record IDs, a print counter that goes back (SPC, a printer
// restart) is a print that cannot be matched for sure: the head record is
// uncertain, the product gets no serial (unknown-ack), the queue holds —
// and the next print matches the next record instead of every later print
// being taken for a repeat until the counter catches up.
func TestQueueCounterOnlyCounterReset(t *testing.T) {
	layout := tij.Layout{Counter: 0, RecordID: -1}
	l := startLine(t, printersim.Options{Layout: &layout}, tij.Options{Layout: &layout}, printer.QueueOptions{Depth: 2}, 4)
	for i := 1; i <= 2; i++ {
		l.waitSim(t, "queue of 2", queueIs(2))
		l.sim.Print(uint64(i))
		l.rec.wait(t, "printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == i })
	}
	l.waitSim(t, "queue of 2", queueIs(2)) // SN00003, SN00004
	if err := l.drv.SetPrintCount(l.ctx, 0); err != nil {
		t.Fatal(err)
	}
	l.sim.Print(3) // SN00003 printed with counter 1 (was 2)
	l.rec.wait(t, "counter reset", func(r *recorder) bool { return len(r.states[serial(3)]) == 1 })
	if res, c := l.rec.final(serial(3)); res != printer.ResultUncertain || c != printer.CauseCounterReset {
		t.Errorf("%s: %v/%v, want uncertain/counter-reset", serial(3), res, c)
	}
	if !l.rec.hasAlarm(printer.CauseUnknownAck, printer.AlarmHold) || !l.q.Held() {
		t.Errorf("counter going back must hold: alarms %v", l.rec.alarms)
	}
	l.sim.Print(4) // SN00004, counter 2
	l.rec.wait(t, "SN00004", func(r *recorder) bool { return len(r.states[serial(4)]) == 1 })
	if res, c := l.rec.final(serial(4)); res != printer.ResultPrinted || c != printer.CausePrintComplete {
		t.Errorf("%s: %v/%v, want printed/print-complete", serial(4), res, c)
	}
}

// Stopping Run while a record waits for its acknowledgement leaves that
// record in flight (not resolved through a journal write made with the
// dead context); the next Run finds the connection gone and resolves it
// with the others as uncertain.
func TestQueueStopDuringEnqueueKeepsRecordInFlight(t *testing.T) {
	l := startLine(t, printersim.Options{}, tij.Options{}, printer.QueueOptions{Depth: 1}, 0)
	l.sim.SetLateAck(1, time.Hour) // the printer takes the record, its ACK never comes
	l.rec.setLimit(1)
	l.q.Kick()
	l.waitSim(t, "record in the printer", queueIs(1))
	l.stop()
	if err := <-l.run; err != nil {
		t.Fatalf("Run after stop: %v", err)
	}
	if ids := l.q.InFlight(); !slices.Equal(ids, []string{serial(1)}) {
		t.Errorf("in flight after stop: %v, want [%s]", ids, serial(1))
	}
	if res, _ := l.rec.final(serial(1)); res != printer.ResultNone {
		t.Errorf("%s resolved while Run stopped: %v", serial(1), res)
	}
	err := l.q.Run(l.ctx)
	l.run <- nil // for the cleanup
	if !errors.Is(err, printer.ErrDisconnected) {
		t.Errorf("second Run: %v, want ErrDisconnected", err)
	}
	if res, c := l.rec.final(serial(1)); res != printer.ResultUncertain || c != printer.CauseDisconnect {
		t.Errorf("%s: %v/%v, want uncertain/disconnect", serial(1), res, c)
	}
}

// A driver that is not connected sends nothing: the record is neither
// uncertain nor lost — it waits, unsent, for the next Run after a
// reconnect, and prints then (once).
func TestQueueNotConnectedSendsLater(t *testing.T) {
	sim, err := printersim.Start(printersim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	drv, err := tij.New(tij.Options{Addr: sim.Addr(), Job: "CARTON", Fields: []string{"ID", "GS1"}, IDField: "ID"})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close(context.Background())
	rec := newRecorder(1)
	q, err := printer.NewQueue(drv, printer.QueueOptions{Depth: 1, Feed: rec.feed, MarkQueued: rec.markQueued, OnOutcome: rec.onOutcome})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := q.Run(ctx); !errors.Is(err, printer.ErrDisconnected) || !errors.Is(err, printer.ErrNotConnected) {
		t.Fatalf("Run before Connect: %v, want ErrDisconnected (not connected)", err)
	}
	if res, c := rec.final(serial(1)); res != printer.ResultNone {
		t.Errorf("%s resolved though never sent: %v/%v", serial(1), res, c)
	}
	if st := q.Stats(); st.Sent != 0 || len(q.InFlight()) != 0 {
		t.Errorf("stats %+v, in flight %v: want nothing sent", st, q.InFlight())
	}
	// Connected, the queue sends it; it prints once.
	if err := drv.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	q.Resume() // the lost connection held the queue
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(rctx) }()
	if err := sim.Wait(ctx, func(s printersim.Snapshot) bool { return s.QueueLen == 1 }); err != nil {
		t.Fatal(err)
	}
	sim.Print(1)
	rec.wait(t, "printed", func(r *recorder) bool { return r.count(printer.ResultPrinted) == 1 })
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if st := sim.Stats(); st.Accepted != 1 {
		t.Errorf("printer accepted %d records, want 1", st.Accepted)
	}
	rec.check(t, q)
}
