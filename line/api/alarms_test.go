package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
)

// TestAlarmLifecycle: one active alarm per condition whatever the text,
// raised → acknowledged → cleared with actors and times, the views, ack
// all, latched alarms cleared only by their close-out, every change
// reported in order.
func TestAlarmLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	var evs []string
	b := &api.AlarmBook{Now: func() time.Time { now = now.Add(time.Second); return now },
		OnEvent: func(ev api.AlarmEvent) { evs = append(evs, ev.Kind+" "+ev.Alarm.Code+" "+ev.By) },
		BatchOf: func() string { return "B1" }}
	// a port answering garbage: many texts, one condition
	for i := range 330 {
		b.Raise(api.SeverityWarning, "printer", "printer: cannot connect: dial tcp 10.0.0.9:"+string(rune('0'+i%10))+"001: refused", "system")
	}
	as, _ := b.AlarmView(ctx, api.AlarmQuery{View: api.ViewActive})
	if len(as) != 1 || as[0].Code != "DEV-CONNECT" || as[0].Count != 330 || as[0].Batch != "B1" || !strings.Contains(as[0].Text, "printer") {
		t.Fatalf("one condition: %+v", as)
	}
	ink := b.Raise(api.SeverityFault, "printer", "fault alarm=hold: INKOUT ink out", "system")
	gate := b.Raise(api.SeverityFault, "plc", "reject of unit 00AT9V8T1DBP (product 412) not confirmed: product passed the gate", "system")
	if gate.Code != "GATE-NOT-CONFIRMED" || !gate.Latched || !strings.Contains(gate.Text, "00AT9V8T1DBP") || !strings.Contains(gate.Text, "reject bin") {
		t.Fatalf("gate alarm: %+v", gate)
	}
	if de := gate.Localize("de"); !strings.Contains(de.Text, "Ausschussbehälter") || de.Code != gate.Code {
		t.Fatalf("German text: %q", de.Text)
	}
	if n := b.ActiveCount(); n != 3 {
		t.Fatalf("attention %d, want 3", n)
	}
	// the printer's link comes back: its link alarm clears, not the gate's
	b.Clear("printer")
	b.Clear("plc")
	as, _ = b.AlarmView(ctx, api.AlarmQuery{View: api.ViewActive})
	if len(as) != 1 || as[0].ID != gate.ID {
		t.Fatalf("active after the devices came back: %+v", as)
	}
	// still unacknowledged: they need attention
	if n := b.ActiveCount(); n != 3 {
		t.Fatalf("attention %d, want 3 (cleared but unacknowledged count)", n)
	}
	if _, err := b.AckAlarm(ctx, ink.ID, api.Actor{User: "otto"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AckAlarm(ctx, ink.ID, api.Actor{User: "otto"}); err == nil {
		t.Fatal("second ack accepted")
	}
	acked, _ := b.AckAll(ctx, api.Actor{User: "sam"})
	if len(acked) != 2 {
		t.Fatalf("ack all acknowledged %d, want 2", len(acked))
	}
	if n := b.ActiveCount(); n != 1 {
		t.Fatalf("attention %d, want 1 (the latched gate alarm)", n)
	}
	if !b.ClearCondition("gate:00AT9V8T1DBP", "sam") || b.ActiveCount() != 0 {
		t.Fatal("close-out did not clear the gate alarm")
	}
	// a new ink out after a refill is a new alarm
	ink2 := b.Raise(api.SeverityFault, "printer", "fault alarm=hold: INKOUT ink out", "system")
	if ink2.ID == ink.ID {
		t.Fatal("cleared condition reused")
	}
	hist, _ := b.AlarmView(ctx, api.AlarmQuery{View: api.ViewHistory})
	if len(hist) != 4 || hist[0].ID != ink2.ID {
		t.Fatalf("history: %d", len(hist))
	}
	var inkHist api.Alarm
	for _, a := range hist {
		if a.ID == ink.ID {
			inkHist = a
		}
	}
	if inkHist.Active || inkHist.ClearedBy != "system" || inkHist.AckedBy != "otto" || inkHist.Cleared.IsZero() || !inkHist.AckedAt.After(inkHist.Raised) {
		t.Fatalf("ink alarm history: %+v", inkHist)
	}
	want := []string{"raise DEV-CONNECT system", "raise PRN-INK-OUT system", "raise GATE-NOT-CONFIRMED system",
		"clear DEV-CONNECT system", "clear PRN-INK-OUT system", "ack PRN-INK-OUT otto", "ack DEV-CONNECT sam",
		"ack GATE-NOT-CONFIRMED sam", "clear GATE-NOT-CONFIRMED sam", "raise PRN-INK-OUT system"}
	if strings.Join(evs, "|") != strings.Join(want, "|") {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(evs, "\n"), strings.Join(want, "\n"))
	}
}

// TestClassify: the controller's messages map to codes and conditions;
// numbers in an unknown message do not make new conditions.
func TestClassify(t *testing.T) {
	for _, c := range []struct{ source, text, code, cond string }{
		{"plc", "PLC heartbeat stalled: no change for 3s", "PLC-HEARTBEAT", "plc:heartbeat"},
		{"plc", "PLC link: read registers: EOF", "PLC-LINK", "plc:link"},
		{"camera", "camera link: connection reset", "CAM-LINK", "camera:link"},
		{"camera", "12 units in a row without a usable read: seq 44", "CAM-NOREAD-RUN", "camera:no-read-run"},
		{"camera", "serial ABC read twice: possible double print: serial already read", "CAM-DOUBLE-READ", "camera:double:ABC"},
		{"printer", "printer stopped: EOF", "PRN-LINK", "printer:link"},
		{"printer", "warning alarm=warning: INKLOW ink low", "PRN-INK-LOW", "printer:ink-low"},
		{"printer", "fault alarm=hold: HEAD print head fault", "PRN-FAULT", "printer:fault:HEAD"},
		{"upstream", "site server unreachable: running from the local serial pool", "UPS-DOWN", "upstream:link"},
		{"pool", "serial pool for 09501101530003 nearly empty (12 left): holding before it runs dry", "POOL-LOW", "pool:low:09501101530003"},
		{"journal", "journal recovered after an interruption: 256 drawn serials returned, 7 in-flight units uncertain", "JNL-RECOVERED", "journal:recovered"},
		{"line", "Starting failed: printer not ready: fault INKOUT (ink out)", "LINE-ACT", "line:act"},
		{"plc", "unit X1 (product 9): verdict delivery and gate result unknown: find the pack", "GATE-UNKNOWN", "gate:X1"},
		{"plc", "12 late verdicts in a row", "LATE-VERDICT", "plc:late-verdict"},
		{"camera", "something new 123 happened at 456", "OTHER", "camera:something new # happened at #"},
	} {
		got := api.Classify(c.source, c.text)
		if got.Code != c.code || got.Condition != c.cond {
			t.Errorf("Classify(%q, %q) = %s %q, want %s %q", c.source, c.text, got.Code, got.Condition, c.code, c.cond)
		}
	}
}
