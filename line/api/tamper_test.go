package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/store/journal"
)

// TestAuditTamperDetected copies the journal after a session of API
// actions, rewrites one audit entry the way a careful forger would (same
// length, record checksum recomputed) and checks journal verify reports the
// broken hash chain.
func TestAuditTamperDetected(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B9", "gtin": apitest.GTIN, "lot": "L9", "expiry": "281231", "target": 5}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B9/start", nil, 200, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B9/hold", map[string]string{"reason": "jam at gate"}, 200, nil)

	// copy the (idle, fsynced) journal file
	src, err := os.Open(e.Journal.Path())
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	out.Close()

	// the copy verifies as is
	verify := func() []string {
		j, err := journal.Open(dst, &journal.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		rep, err := j.Verify(context.Background())
		if err != nil {
			return append(rep.Problems, err.Error())
		}
		return rep.Problems
	}
	if p := verify(); len(p) != 0 {
		t.Fatalf("copy does not verify: %v", p)
	}

	db, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	edited := false
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		return b.ForEach(func(k, v []byte) error {
			if !bytes.Contains(v, []byte("jam at gate")) {
				return nil
			}
			nv := bytes.Replace(v, []byte("jam at gate"), []byte("operator ok"), 1)
			body := nv[:len(nv)-4]
			nv = binary.LittleEndian.AppendUint32(body[:len(body):len(body)], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
			edited = true
			return b.Put(k, nv)
		})
	})
	db.Close()
	if err != nil || !edited {
		t.Fatalf("edit: %v (found %t)", err, edited)
	}
	p := verify()
	if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), "audit") {
		t.Fatalf("edited audit entry not detected: %v", p)
	}
	t.Logf("journal verify after the edit: %v", p)
}
