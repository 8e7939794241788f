package line_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// A batch run on the line, signed and archived by the controller's
// housekeeping: its units leave the live journal, and the operator's unit
// lookup (by serial and by the scanned code) still finds them, read from
// the archive with the printed code compared field by field.
func TestArchivedUnitLookup(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Journal.Archive.Dir = filepath.Join(t.TempDir(), "archive")
	cfg.Journal.Archive.Every = 50 * time.Millisecond
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	c := l.Controller
	ctx := context.Background()
	rec := runBatch(t, l, "AR1", 30)
	if !rec.Balanced {
		t.Fatalf("reconciliation %+v", rec)
	}
	var serial string
	if err := l.Journal.Units("AR1", func(u journal.Unit) error {
		if serial == "" && u.State == journal.Commissioned {
			serial = u.Serial
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	live, err := c.Unit(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	// Not archived before it is signed (and its events sent).
	waitFor(t, "the outbox sent", func() bool { it, _ := l.Journal.OutboxPending(ctx, 0); return len(it) == 0 })
	if as, _ := l.Journal.Archives(); len(as) != 0 {
		t.Fatalf("archived before signing: %+v", as)
	}
	if _, err := c.SignReconciliation(ctx, "AR1", api.Signature{User: supervisor.User, Role: supervisor.Role, Meaning: "approved", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the batch archived", func() bool {
		as, _ := l.Journal.Archives()
		return len(as) == 1 && as[0].State == "archived"
	})
	as, _ := l.Journal.Archives()
	rep, err := l.Journal.VerifyArchive(ctx, filepath.Join(cfg.Journal.Archive.Dir, as[0].File))
	if err != nil || rep.ByState.Commissioned != 30 || rep.Outbox == 0 || len(rep.Header.Signatures) != 1 {
		t.Fatalf("archive %+v: %v (want 30 commissioned, the EPCIS documents sent, the signature)", rep, err)
	}
	u, err := c.Unit(ctx, serial)
	if err != nil {
		t.Fatalf("lookup of an archived unit: %v", err)
	}
	if u.State != "commissioned" || u.Batch != "AR1" || u.ElementString == "" || u.ElementString != live.ElementString || len(u.History) != len(live.History) {
		t.Fatalf("archived unit %+v, live it was %+v", u, live)
	}
	scanned, err := c.Unit(ctx, live.ElementString)
	if err != nil || scanned.Serial != serial || scanned.State != "commissioned" {
		t.Fatalf("lookup by scanned code: %+v %v", scanned, err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("status with the current batch archived: %v", err)
	}
	// a serial the line never had, in the words the API passes on
	if _, err := c.Unit(ctx, "NOSUCHSERIAL"); !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), `serial "NOSUCHSERIAL" was never seen on this line`) {
		t.Fatalf("unknown serial: %v", err)
	}
	// The line goes on with a new batch.
	if rec := runBatch(t, l, "AR2", 10); !rec.Balanced {
		t.Fatalf("next batch %+v", rec)
	}
}

// A batch run on the line and signed through the operator API's two-step
// review — production sign-off, then QA release — is archived by the
// controller's housekeeping; not after the production sign-off alone. The
// journal's check of the sealed figures agrees with the API's.
func TestArchiveAfterTwoStepReview(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Journal.Archive.Dir = filepath.Join(t.TempDir(), "archive")
	cfg.Journal.Archive.Every = 50 * time.Millisecond
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	ctx := context.Background()
	if rec := runBatch(t, l, "TS1", 20); !rec.Balanced {
		t.Fatalf("reconciliation %+v", rec)
	}
	e := apitest.NewEnv(t, apitest.EnvOptions{Controller: l.Controller, Journal: l.Journal, Records: l.Controller.Records()})
	waitFor(t, "the outbox sent", func() bool { it, _ := l.Journal.OutboxPending(ctx, 0); return len(it) == 0 })
	var rec api.Reconciliation
	e.MustDo(t, e.Tokens["sam"], "POST", "/api/v1/batches/TS1/reconciliation/sign",
		api.SignRequest{Password: apitest.SupervisorPassword, Meaning: "approved", Reason: "shift end"}, http.StatusOK, &rec)
	if rec.Review == nil || rec.Review.Next != "qa" {
		t.Fatalf("after the production sign-off: review %+v", rec.Review)
	}
	// The housekeeping (every 50 ms) leaves it live, as does a direct
	// attempt, which says why.
	if _, err := l.Journal.ArchiveBatch(ctx, "TS1", journal.ArchiveOptions{Dir: cfg.Journal.Archive.Dir}); err == nil ||
		!strings.Contains(err.Error(), "not yet released by QA") {
		t.Fatalf("archive after the production sign-off alone: %v", err)
	}
	if as, _ := l.Journal.Archives(); len(as) != 0 {
		t.Fatalf("archived before the QA release: %+v", as)
	}
	e.MustDo(t, e.Tokens["quinn"], "POST", "/api/v1/batches/TS1/reconciliation/sign",
		api.SignRequest{Step: "qa", Password: apitest.QAPassword, Meaning: "released", Reason: "QA"}, http.StatusOK, &rec)
	if rec.Review == nil || !rec.Review.Released {
		t.Fatalf("after the QA release: review %+v", rec.Review)
	}
	waitFor(t, "the batch archived", func() bool {
		as, _ := l.Journal.Archives()
		return len(as) == 1 && as[0].State == "archived"
	})
	as, _ := l.Journal.Archives()
	rep, err := l.Journal.VerifyArchive(ctx, filepath.Join(cfg.Journal.Archive.Dir, as[0].File))
	if err != nil || !rep.OK() || len(rep.Header.Signatures) != 2 {
		t.Fatalf("archive %+v: %v (want it verified with both signatures)", rep, err)
	}
}
