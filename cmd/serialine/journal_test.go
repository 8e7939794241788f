package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/store/journal"
)

// journalFixture writes a small journal: one batch of 3 units, one
// commissioned, one rejected, one left drawn.
func journalFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	gtin := "09501101530003"
	if err := j.ImportPool(ctx, journal.Pool{ID: "P1", GTIN: gtin, Serials: []string{"A1", "A2", "A3", "A4"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "B1", GTIN: gtin, Lot: "L1", Expiry: "281231"}, journal.Actor{User: "ann", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Draw(ctx, "B1", 3); err != nil {
		t.Fatal(err)
	}
	for _, to := range []journal.State{journal.Queued, journal.Printed, journal.Verified, journal.Commissioned} {
		if err := j.Apply(ctx, journal.Change{Serial: "A1", To: to}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []journal.Change{{Serial: "A2", To: journal.Queued}, {Serial: "A2", To: journal.Printed},
		{Serial: "A2", To: journal.Rejected, Reason: journal.ReasonNoRead}} {
		if err := j.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func runJournal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = run(context.Background(), e, append([]string{"journal"}, args...))
	return code, out.String(), errb.String()
}

func TestJournalVerifyCommand(t *testing.T) {
	path := journalFixture(t)
	code, out, errs := runJournal(t, "verify", "--db", path)
	if code != exitOK || !strings.Contains(out, "units 3") || !strings.Contains(out, "commissioned 1, rejected 1") ||
		!strings.Contains(out, `batch B1 (gtin 09501101530003 lot L1, state ""): 3 drawn: commissioned 1, rejected 1, sampled 0, returned 0, uncertain 0, in flight 1`) || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	// Damage: the audit trail's first entry edited.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k, v := b.Cursor().First()
		v = bytes.Clone(v)
		v[len(v)-10] ^= 0xFF
		return b.Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runJournal(t, "verify", "--db", path)
	if code != exitFailure || !strings.Contains(out, "VIOLATION: ") || !strings.Contains(out, "FAIL: 1 violation") {
		t.Fatalf("damaged journal: code %d\n%s", code, out)
	}
}

func TestJournalExportCommand(t *testing.T) {
	path := journalFixture(t)
	code, out, errs := runJournal(t, "export", "--db", path, "--batch", "B1")
	if code != exitOK {
		t.Fatalf("code %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var u journal.Unit
	if err := json.Unmarshal([]byte(lines[1]), &u); err != nil {
		t.Fatal(err)
	}
	if u.Serial != "A2" || u.State != journal.Rejected || u.Reason != journal.ReasonNoRead || len(u.History) != 4 {
		t.Fatalf("unit %+v", u)
	}
	code, out, errs = runJournal(t, "export", "--db", path, "--batch", "B1", "--format", "csv")
	if code != exitOK {
		t.Fatalf("csv: code %d: %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][1] != "serial" || rows[1][1] != "A1" || rows[1][5] != "commissioned" || rows[3][5] != "drawn" {
		t.Fatalf("csv rows %v, %v", rows, err)
	}
}

func TestJournalCommandErrors(t *testing.T) {
	path := journalFixture(t)
	text := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(text, []byte("not a journal, not an archive\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"verify", "--archive", text}, exitFailure, text + " is not a Serialine archive: not a gzip archive"},
		{[]string{"verify", "--db", text}, exitFailure, text + " is not a Serialine journal (bbolt: invalid database)"},
		{[]string{"restore", "--db", filepath.Join(t.TempDir(), "j.db"), "--from", text}, exitFailure, text + " is not a Serialine journal (bbolt: invalid database)"},
		{[]string{"downgrade", "--db", path}, exitUsage, "--to N is required"},
		{nil, exitUsage, "usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown subcommand"},
		{[]string{"verify"}, exitUsage, "--db FILE or --archive FILE is required"},
		{[]string{"verify", "--db", filepath.Join(t.TempDir(), "none.db")}, exitFailure, "no such file"},
		{[]string{"export", "--db", path}, exitUsage, "--batch ID are required"},
		{[]string{"export", "--db", path, "--batch", "B1", "--format", "xml"}, exitUsage, `--format "xml"`},
		{[]string{"export", "--db", path, "--batch", "NOPE"}, exitUsage, `batch "NOPE"`},
	}
	for _, tc := range cases {
		code, out, errs := runJournal(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("journal %v: code %d, stderr %q, stdout %q; want %d, %q and no output", tc.args, code, errs, out, tc.code, tc.want)
		}
	}
}

// journal verify names every outbox item the forwarder cannot decode
// (kept in the outbox, never sent) and fails.
func TestJournalVerifyOutboxPayloads(t *testing.T) {
	path := journalFixture(t)
	j, err := journal.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, it := range []struct{ kind, payload string }{
		{"epcis", `{"type":"EPCISDocument"}`},
		{"return", `{"gtin":"09501101530003","serials":["A4"]}`},
		{"return", `{"gtin":"09501101530003","serials":"A4"}`},
		{"fax", `{}`},
	} {
		if _, err := j.OutboxPut(ctx, it.kind, []byte(it.payload)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	code, out, _ := runJournal(t, "verify", "--db", path)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailure, out)
	}
	for _, want := range []string{
		"VIOLATION: outbox item 3 (return): payload cannot be decoded (kept in the outbox: it cannot be sent): return: json: cannot unmarshal",
		`VIOLATION: outbox item 4 (fax): payload cannot be decoded (kept in the outbox: it cannot be sent): unknown outbox kind "fax"`,
		"FAIL: 2 violation(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// journal verify on a damaged file (truncated, a page overwritten) fails
// with a message naming the damage; it does not crash.
func TestJournalVerifyDamagedFile(t *testing.T) {
	good, err := os.ReadFile(journalFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:3*4096], "bbolt file structure"},
		{"root page overwritten", func() []byte {
			d := append([]byte(nil), good...)
			for i := 2 * 4096; i < 3*4096; i++ {
				d[i] = 0xA5
			}
			return d
		}(), "journal"},
		{"not a journal", bytes.Repeat([]byte("serialine"), 2000), "invalid database"},
	} {
		path := filepath.Join(dir, c.name+".db")
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runJournal(t, "verify", "--db", path)
		if code != exitFailure || !strings.Contains(out+errs, c.want) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", c.name, code, exitFailure, c.want, out, errs)
		}
	}
}

// TestJournalVerifyInUse: verify on a journal a running process holds
// says so instead of "timeout".
func TestJournalVerifyInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(db, &journal.Options{LockTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		j.Close()
		jj, err := journal.Open(db, &journal.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer jj.Close()
		if rep, err := jj.Verify(context.Background()); err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
	}()
	code, _, errs := runClient(t, "journal", "verify", "--db", db)
	if code != exitFailure || !strings.Contains(errs, "is in use") {
		t.Errorf("verify on a journal in use: %d %q", code, errs)
	}
}

// TestJournalTruthRefusesABadGateLog: a gate log line that is not a
// product's record is named with its line number (exit 2), not taken as
// "the journal agrees".
func TestJournalTruthRefusesABadGateLog(t *testing.T) {
	dir := t.TempDir()
	gl := filepath.Join(dir, "gate.jsonl")
	if err := os.WriteFile(gl, []byte("{\"seq\":1,\"serial\":\"A\",\"verdict_at_gate\":\"pass\",\"outcome\":\"passed\"}\n{\"seq\":2,\"serial\":\"B\",\"verdict_at_gate\":\"maybe\",\"outcome\":\"passed\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	code := cmdJournal(context.Background(), e, []string{"truth", "--db", filepath.Join(dir, "none.db"), "--batch", "B1", "--gate-log", gl})
	if code != exitUsage || !strings.Contains(errb.String(), "line 2") || !strings.Contains(errb.String(), "verdict_at_gate") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
