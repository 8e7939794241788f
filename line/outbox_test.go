package line_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// epcisDoc is the least the site server takes as an EPCIS document.
func epcisDoc(n int) []byte {
	return []byte(fmt.Sprintf(`{"type":"EPCISDocument","n":%d}`, n))
}

// waitOutbox waits until the journal's outbox holds exactly ids.
func waitOutbox(t *testing.T, j *journal.Journal, ids ...uint64) {
	t.Helper()
	for {
		items, _ := j.OutboxPending(t.Context(), 0)
		got := make([]uint64, len(items))
		for i, it := range items {
			got[i] = it.ID
		}
		if slices.Equal(got, ids) {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("outbox holds %v, want %v", got, ids)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// An outbox item that cannot be decoded (a return whose payload is not
// one, an unknown kind, an EPCIS document that is no JSON) is kept, alarmed
// once, and reported by journal verify; it never holds up the items after
// it. Before the fix such items were acknowledged — dropped — unsent.
func TestOutboxUndecodableKept(t *testing.T) {
	l := startLine(t, linesim.Options{})
	ctx := t.Context()
	j := l.Journal
	l.Upstream.SetDown(true)
	put := func(kind string, payload []byte) uint64 {
		id, err := j.OutboxPut(ctx, kind, payload)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	put("epcis", epcisDoc(1))
	badReturn := put("return", []byte(`{"gtin": "09501101530003", "serials": "not a list"}`))
	unknown := put("telegram", []byte(`{}`))
	badEPCIS := put("epcis", []byte("<xml/>"))
	put("epcis", epcisDoc(2))

	// The site server is down: a drain bounded by its context leaves
	// everything, and says so.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	left := l.Controller.DrainOutbox(dctx)
	cancel()
	if left.ByKind["epcis"] != 2 || !slices.Equal(left.Undecodable, []uint64{badReturn, unknown, badEPCIS}) || left.Err == nil {
		t.Fatalf("drain with the site server down: %+v", left)
	}
	if s := left.String(); !strings.Contains(s, "5 item(s) left") || !strings.Contains(s, "epcis 2") {
		t.Errorf("drain report %q", s)
	}

	l.Upstream.SetDown(false)
	waitOutbox(t, j, badReturn, unknown, badEPCIS) // the good ones went, the bad ones stay
	if got := len(l.Upstream.Events()); got != 2 {
		t.Fatalf("site server received %d documents, want the 2 good ones", got)
	}
	alarms, err := l.Controller.Alarms(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{badReturn, unknown, badEPCIS} {
		n := 0
		for _, a := range alarms {
			if strings.Contains(a.Text, fmt.Sprintf("outbox item %d ", id)) && strings.Contains(a.Text, "cannot be decoded") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("outbox item %d: %d alarms, want 1 (%+v)", id, n, alarms)
		}
	}
	left = l.Controller.DrainOutbox(ctx)
	if len(left.ByKind) != 0 || len(left.Undecodable) != 3 {
		t.Fatalf("drain with the site server up: %+v", left)
	}

	// The payload rules journal verify applies (serialine journal verify
	// sets them; TestJournalVerifyOutboxPayloads runs it).
	for _, tc := range []struct {
		kind, payload, want string
	}{
		{"return", `{"gtin": "09501101530003", "serials": "not a list"}`, "cannot unmarshal"},
		{"telegram", `{}`, `unknown outbox kind "telegram"`},
		{"epcis", "<xml/>", "not a JSON object"},
		{"return", `{"gtin": "09501101530003", "serials": ["A"]} trailing`, "data after the JSON object"},
	} {
		if err := line.CheckOutboxItem(tc.kind, []byte(tc.payload)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckOutboxItem(%s, %q) = %v, want %q", tc.kind, tc.payload, err, tc.want)
		}
	}
	if err := line.CheckOutboxItem("epcis", epcisDoc(3)); err != nil {
		t.Errorf("a good document: %v", err)
	}
}
