package line_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// TestUnitModes runs the unit mode rules on the real controller over the
// simulated line: only a supervisor changes the mode, only in a wait state;
// outside Production no batch starts or resumes and no serial is drawn;
// Hold from Suspended (OPC 30050 SuspendedToHolding) holds; the mode and
// its audit entries are in the journal and survive a restart.
func TestUnitModes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "journal.db")
	l := startLine(t, linesim.Options{Rate: 600, DBPath: db})
	c := l.Controller
	ctx := context.Background()

	if err := c.SetUnitMode(ctx, "maintenance", "cleaning", operator); !errors.Is(err, api.ErrRefused) {
		t.Fatalf("operator mode change: %v", err)
	}
	if err := c.SetUnitMode(ctx, "auto", "x", supervisor); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("unknown mode: %v", err)
	}
	if err := c.SetUnitMode(ctx, "maintenance", "print head cleaning", supervisor); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "M1", GTIN: testGTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: 30}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "M1")
	err := c.Command(ctx, "M1", api.Command{Name: "start"}, operator)
	if !errors.Is(err, api.ErrInvalidState) || !strings.Contains(err.Error(), "no serialised production outside Production") {
		t.Fatalf("start in Maintenance: %v", err)
	}
	if st, _ := c.Status(ctx); st.UnitMode != "Maintenance" || st.State != "Idle" || st.Batch.Counters.Drawn != 0 {
		t.Fatalf("after the refused start: %s %s, %d drawn", st.UnitMode, st.State, st.Batch.Counters.Drawn)
	}
	if err := c.SetUnitMode(ctx, "production", "cleaning done", supervisor); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, "M1", api.Command{Name: "start"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 10*time.Second, packml.Execute)
	if err := c.SetUnitMode(ctx, "manual", "x", supervisor); !errors.Is(err, api.ErrInvalidState) {
		t.Fatalf("mode change in Execute: %v", err)
	}
	// Suspended -> Hold -> Held (OPC 30050 SuspendedToHolding), then a
	// mode change while held refuses the unhold until Production again.
	if err := c.Command(ctx, "M1", api.Command{Name: "suspend", Reason: "downstream full"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 10*time.Second, packml.Suspended)
	if err := c.SetUnitMode(ctx, "maintenance", "x", supervisor); !errors.Is(err, api.ErrInvalidState) {
		t.Fatalf("mode change in Suspended: %v", err)
	}
	if err := c.Command(ctx, "M1", api.Command{Name: "hold", Reason: "jam while suspended"}, operator); err != nil {
		t.Fatalf("hold from Suspended: %v", err)
	}
	waitState(t, l, 10*time.Second, packml.Held)
	if err := c.SetUnitMode(ctx, "maintenance", "clear the jam", supervisor); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, "M1", api.Command{Name: "unhold"}, operator); !errors.Is(err, api.ErrInvalidState) {
		t.Fatalf("unhold in Maintenance: %v", err)
	}
	if err := c.SetUnitMode(ctx, "production", "jam cleared", supervisor); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, "M1", api.Command{Name: "unhold"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 60*time.Second, packml.Complete)
	if err := c.SetUnitMode(ctx, "manual", "line trial after the batch", supervisor); err != nil {
		t.Fatal(err)
	}

	var audit []string
	if err := l.Journal.Audit(ctx, journal.AuditFilter{Action: "line.mode"}, func(e journal.AuditEntry) error {
		audit = append(audit, e.Who+": "+e.Before+" -> "+e.After)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"sam: Production -> Maintenance", "sam: Maintenance -> Production (batch M1 Idle)",
		"sam: Production -> Maintenance (batch M1 Held)", "sam: Maintenance -> Production (batch M1 Held)",
		"sam: Production -> Manual (batch M1 Complete)"}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Errorf("line.mode audit:\n%s\nwant:\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
	var hist []string
	b, err := c.Batch(ctx, "M1")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range b.History {
		hist = append(hist, h.To)
	}
	if !strings.Contains(strings.Join(hist, " "), "Suspending Suspended Holding Held") {
		t.Errorf("history %v: no Suspended -> Holding", hist)
	}

	// The mode survives a restart.
	l.Close()
	l2 := startLine(t, linesim.Options{Rate: 600, DBPath: db})
	if m := l2.Controller.UnitMode(); m != packml.ModeManual {
		t.Fatalf("after restart: %s, want Manual", m)
	}
}
