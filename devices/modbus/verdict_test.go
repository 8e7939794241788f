package modbus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
)

// TestVerdictWritesCodec runs testdata/verdicts/<case>/: map.yaml,
// verdicts.txt ("seq A|R" per line) and want.txt (one FC 16 request per
// line: "PDU address: registers in hex").
func TestVerdictWritesCodec(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/verdicts/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			read := func(n string) []string {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, l := range strings.Split(string(b), "\n") {
					if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
						out = append(out, l)
					}
				}
				return out
			}
			var m modbus.RegisterMap
			b, err := os.ReadFile(filepath.Join(dir, "map.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := configs.DecodeStrictBytes("map.yaml", b, &m); err != nil {
				t.Fatal(err)
			}
			if err := m.Validate().Err(); err != nil {
				t.Fatal(err)
			}
			var vs []devices.Verdict
			for _, l := range read("verdicts.txt") {
				f := strings.Fields(l)
				seq, err := strconv.ParseUint(f[0], 10, 64)
				if err != nil || len(f) != 2 || (f[1] != "A" && f[1] != "R") {
					t.Fatalf("verdicts.txt: bad line %q", l)
				}
				vs = append(vs, devices.Verdict{Seq: seq, Reject: f[1] == "R"})
			}
			ws := m.VerdictWrites(vs)
			var got []string
			var seqs []uint64
			for _, w := range ws {
				hex := make([]string, len(w.Regs))
				for i, r := range w.Regs {
					hex[i] = fmt.Sprintf("%04x", r)
				}
				got = append(got, fmt.Sprintf("%d: %s", w.Addr, strings.Join(hex, " ")))
				if len(w.Regs) != 3*len(w.Seqs) || len(w.Regs) > 123 {
					t.Errorf("request at %d: %d registers for %d products", w.Addr, len(w.Regs), len(w.Seqs))
				}
				seqs = append(seqs, w.Seqs...)
			}
			if want := read("want.txt"); !slices.Equal(got, want) {
				t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// every verdict exactly once, in the given order
			for i, v := range vs {
				if i >= len(seqs) || seqs[i] != v.Seq {
					t.Fatalf("requests carry products %v, want %v in order", seqs, vs)
				}
			}
			if len(seqs) != len(vs) {
				t.Fatalf("requests carry %d products, want %d", len(seqs), len(vs))
			}
			// and each slot decodes back to its verdict
			for _, w := range ws {
				for k, seq := range w.Seqs {
					s, code, err := modbus.DecodeSlot(w.Regs[3*k:3*k+3], m.WordOrder, devices.VerdictReject)
					if err != nil || uint64(s) != seq&0xffffffff {
						t.Fatalf("slot %d of request %d: %d %d %v", k, w.Addr, s, code, err)
					}
					if w.Addr+uint16(3*k) != m.SlotPDU(m.Decisions, seq) {
						t.Fatalf("product %d written at %d, its slot is %d", seq, w.Addr+uint16(3*k), m.SlotPDU(m.Decisions, seq))
					}
				}
			}
		})
	}
}

// verdicts are the verdicts for seqs: every third product rejected.
var verdicts = devtest.Verdicts

// checkAtGate flushes the conveyor and checks that every product got
// exactly its verdict at the gate.
func checkAtGate(t *testing.T, sim *plcsim.Sim, vs []devices.Verdict) {
	t.Helper()
	devtest.WantVerdicts(t, sim, vs)
	sim.Flush()
	res := sim.Results()
	if len(res) != len(vs) {
		t.Fatalf("%d products at the gate, want %d", len(res), len(vs))
	}
	for i, r := range res {
		if r.Seq != vs[i].Seq || r.PushedOff != vs[i].Reject || r.Verdict == devices.VerdictNone {
			t.Fatalf("gate result %+v for verdict %+v", r, vs[i])
		}
	}
}

func TestDecideBatchOneRequest(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 20})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	seqs := sim.Produce(12)
	vs := verdicts(seqs)
	before := cl.Stats().VerdictRequests
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatal(err)
	}
	if n := cl.Stats().VerdictRequests - before; n != 1 {
		t.Fatalf("%d requests for 12 consecutive verdicts, want 1", n)
	}
	checkAtGate(t, sim, vs)
	if err := cl.DecideBatch(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestDecideBatchExceptionMidBatch: the batch spans the slot wrap (two
// requests); the PLC answers the second with an exception once. The client
// reconnects and re-sends it: every verdict arrives, none twice or lost.
func TestDecideBatchExceptionMidBatch(t *testing.T) {
	for _, gate := range []bool{false, true} {
		t.Run(fmt.Sprintf("gate_connection=%v", gate), func(t *testing.T) { testDecideBatchExceptionMidBatch(t, gate) })
	}
}

func testDecideBatchExceptionMidBatch(t *testing.T, gate bool) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 30, FirstSeq: 30})
	cfg := testConfig(addr)
	cfg.GateConnection = gate
	cl := connect(t, cfg)
	ctx := ctxT(t)
	seqs := sim.Produce(20) // 30..49: slots 30..40, then 0..8
	vs := verdicts(seqs)
	sim.SetFaults(plcsim.Faults{ModbusException: 6, ExceptionCount: 1, ExceptionOnVerdicts: true, ExceptionAfter: 1})
	s0 := cl.Stats()
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatalf("DecideBatch with one exception: %v", err)
	}
	s1 := cl.Stats()
	if s1.VerdictRequests-s0.VerdictRequests != 3 || s1.VerdictRetries-s0.VerdictRetries != 1 || s1.Reconnects-s0.Reconnects != 1 {
		t.Fatalf("stats %+v -> %+v: want 3 requests (2 + the retried one), 1 retry, 1 reconnect", s0, s1)
	}
	// the triggers of the batch's products still arrive, each once
	got, missed := collect(t, ctx, cl, len(seqs))
	wantSeqs(t, got, seqs)
	if missed != 0 {
		t.Fatalf("missed %d", missed)
	}
	checkAtGate(t, sim, vs)
	// the confirmation reads go over the same connection as the verdicts
	for _, v := range vs {
		ok, err := cl.Confirm(ctx, v.Seq)
		if ok != v.Reject || err != nil {
			t.Fatalf("Confirm(%d) = %v, %v; want %v", v.Seq, ok, err, v.Reject)
		}
	}
}

func TestGateConnectionIsTCPOnly(t *testing.T) {
	c := modbus.DefaultConfig("127.0.0.1:502")
	c.Transport = "rtu"
	c.Serial.Device = "/dev/ttyS0"
	c.UnitID = 1
	c.GateConnection = true
	if err := c.Validate().Err(); err == nil || !strings.Contains(err.Error(), "gate_connection") {
		t.Fatalf("rtu with gate_connection: %v", err)
	}
}

// TestDecideBatchPersistentException: the second request keeps failing.
// The first request's verdicts are delivered; DecideBatch reports exactly
// the others as undelivered (the gate rejects them fail-safe), with the
// exception code reachable.
func TestDecideBatchPersistentException(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 30, FirstSeq: 35})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	seqs := sim.Produce(10) // 35..44: slots 35..40 | 0..3
	vs := verdicts(seqs)
	sim.SetFaults(plcsim.Faults{ModbusException: 4, ExceptionOnVerdicts: true, ExceptionAfter: 1})
	err := cl.DecideBatch(ctx, vs)
	var ve *devices.VerdictError
	if !errors.As(err, &ve) || !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("err %v, want *devices.VerdictError wrapping ErrDisconnected", err)
	}
	if code, ok := modbus.ExceptionCode(err); !ok || code != 4 {
		t.Fatalf("exception code %d %v, want 4", code, ok)
	}
	if !slices.Equal(ve.Undelivered, seqs[6:]) {
		t.Fatalf("undelivered %v, want %v", ve.Undelivered, seqs[6:])
	}
	sim.SetFaults(plcsim.Faults{})
	for i, s := range seqs {
		v, ok := sim.Verdict(s)
		if i < 6 && (!ok || v != int(vs[i].Code())) {
			t.Fatalf("product %d: verdict %d %v, want delivered %d", s, v, ok, vs[i].Code())
		}
		if i >= 6 && ok {
			t.Fatalf("product %d: verdict %d stored though reported undelivered", s, v)
		}
	}
	sim.Flush()
	st := sim.Status()
	if st.NoVerdict != 4 {
		t.Fatalf("status %+v: want the 4 undelivered products rejected fail-safe", st)
	}
}

func TestDecideBatchLifecycle(t *testing.T) {
	_, addr := newSim(t, plcsim.Options{})
	cl, err := modbus.New(testConfig(addr), modbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vs := []devices.Verdict{{Seq: 1}, {Seq: 2, Reject: true}}
	var ve *devices.VerdictError
	if err := cl.DecideBatch(context.Background(), vs); !errors.Is(err, devices.ErrNotConnected) || !errors.As(err, &ve) || len(ve.Undelivered) != 2 {
		t.Fatalf("before Connect: %v", err)
	}
	cl.Close(context.Background())
	if err := cl.DecideBatch(context.Background(), vs); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// FuzzVerdictWrites: for any batch, the planned requests carry every
// verdict exactly once in the given order, each in its own slot inside the
// decision table, at most 123 registers per request.
func FuzzVerdictWrites(f *testing.F) {
	f.Add(uint64(1), []byte{0, 1, 1, 1}, uint8(41))
	f.Add(uint64(39), []byte{0, 1, 1, 5, 0xff}, uint8(41))
	f.Add(uint64(1<<40), []byte{2, 1, 1}, uint8(7))
	f.Fuzz(func(t *testing.T, start uint64, steps []byte, slots uint8) {
		m := modbus.DefaultRegisterMap()
		m.Slots = 1 + int(slots)%41
		if len(steps) > 200 {
			steps = steps[:200]
		}
		var vs []devices.Verdict
		seq := start
		for i, st := range steps {
			seq += uint64(st % 4) // 0: same product again, 1: next, 2-3: gaps
			vs = append(vs, devices.Verdict{Seq: seq, Reject: i%2 == 0})
		}
		var got []uint64
		for _, w := range m.VerdictWrites(vs) {
			if len(w.Regs) == 0 || len(w.Regs) > 123 || len(w.Regs) != 3*len(w.Seqs) {
				t.Fatalf("request at %d: %d registers for %d products", w.Addr, len(w.Regs), len(w.Seqs))
			}
			for k, s := range w.Seqs {
				a := int(w.Addr) + 3*k
				if a != int(m.SlotPDU(m.Decisions, s)) || a+3 > int(m.PDU(m.Decisions))+3*m.Slots {
					t.Fatalf("product %d at register %d, its slot is %d", s, a, m.SlotPDU(m.Decisions, s))
				}
			}
			got = append(got, w.Seqs...)
		}
		if len(got) != len(vs) {
			t.Fatalf("%d products planned, want %d", len(got), len(vs))
		}
		for i := range vs {
			if got[i] != vs[i].Seq {
				t.Fatalf("order %v, want %v", got, vs)
			}
		}
	})
}
