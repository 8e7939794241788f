package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/store/journal"
)

// errUndecodable marks an outbox item that cannot be sent as it is: its
// payload does not decode, or its kind is unknown. It is kept in the
// journal (never acknowledged), alarmed once, and the forwarder goes on
// with the items after it.
var errUndecodable = errors.New("outbox item cannot be decoded")

// CheckOutboxItem reports whether an outbox item's payload decodes as its
// kind requires (journal.Options.CheckOutbox for `serialine journal
// verify`; the forwarder applies the same rules).
func CheckOutboxItem(kind string, payload []byte) error {
	switch kind {
	case outboxEPCIS:
		var doc map[string]any
		if err := json.Unmarshal(payload, &doc); err != nil {
			return fmt.Errorf("EPCIS document is not a JSON object: %w", err)
		}
		return nil
	case outboxReturn:
		_, err := decodeReturn(payload)
		return err
	case OutboxSSCCReturn:
		_, err := decodeSSCCReturn(payload)
		return err
	}
	return fmt.Errorf("unknown outbox kind %q", kind)
}

// decodeReturn decodes a return item strictly: a GTIN and at least one
// serial, no unknown fields.
func decodeReturn(payload []byte) (returnPayload, error) {
	var p returnPayload
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("return: %w", err)
	}
	if dec.More() {
		return p, errors.New("return: data after the JSON object")
	}
	if p.GTIN == "" || len(p.Serials) == 0 {
		return p, errors.New("return: no gtin or no serials")
	}
	return p, nil
}

// outboxForwarder is the forwarder's state: one pass at a time (the
// background loop or the shutdown drain) and the items already alarmed as
// undecodable.
type outboxForwarder struct {
	mu      sync.Mutex
	alarmed map[uint64]bool
}

// OutboxLeft is what is still in the outbox after a drain.
type OutboxLeft struct {
	// Items still pending, by kind.
	ByKind map[string]int
	// Undecodable are the ids of items that cannot be sent (kept;
	// `serialine journal verify` names them).
	Undecodable []uint64
	// Err is why the rest is left: the last forwarding error, or the end of
	// the wait; nil when nothing is left.
	Err error
}

// Items is the number of items left.
func (l OutboxLeft) Items() int {
	n := len(l.Undecodable)
	for _, v := range l.ByKind {
		n += v
	}
	return n
}

func (l OutboxLeft) String() string {
	if l.Items() == 0 {
		return "outbox empty"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l.ByKind)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, l.ByKind[k]))
	}
	if n := len(l.Undecodable); n > 0 {
		parts = append(parts, fmt.Sprintf("%d that cannot be decoded (ids %v; see journal verify)", n, l.Undecodable))
	}
	s := fmt.Sprintf("outbox: %d item(s) left for the site server (%s); they stay in the journal and go out at the next start", l.Items(), strings.Join(parts, ", "))
	if l.Err != nil {
		s += ": " + l.Err.Error()
	}
	return s
}

// forwardOutbox makes one pass over the outbox: every item, oldest first,
// goes to the site server and is acknowledged in the journal once taken.
// An item that cannot be decoded (a corrupt record, a bad payload, an
// unknown kind) is kept, alarmed once and passed over; any other failure
// ends the pass (later items keep their order). It reports how many items
// it sent, and the error that ended it early.
func (c *Controller) forwardOutbox(ctx context.Context) (sent int, err error) {
	f := &c.obx
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alarmed == nil {
		f.alarmed = map[uint64]bool{}
	}
	undecodable := func(id uint64, kind string, err error) {
		if !f.alarmed[id] {
			f.alarmed[id] = true
			c.log.Error("outbox item cannot be decoded; kept, not sent", "id", id, "kind", kind, "err", err)
			c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("outbox item %d (%s) cannot be decoded; kept in the journal, not sent: %v", id, kind, err))
		}
	}
	var after uint64
	pending := 0
	for ctx.Err() == nil {
		items, perr := c.j.OutboxPendingAfter(ctx, after, 50)
		var ce *journal.OutboxCorruptError
		var skipTo uint64
		if errors.As(perr, &ce) {
			for i, id := range ce.IDs {
				undecodable(id, "corrupt record", ce.Errs[i])
			}
			skipTo = slices.Max(ce.IDs)
			perr = nil
		}
		if perr != nil {
			return sent, fmt.Errorf("outbox read: %w", perr)
		}
		if len(items) == 0 && ce == nil {
			break
		}
		pending += len(items)
		for _, it := range items {
			after = it.ID
			if err := CheckOutboxItem(it.Kind, it.Payload); err != nil {
				undecodable(it.ID, it.Kind, err)
				continue
			}
			err := c.forward(ctx, it)
			if errors.Is(err, errUndecodable) {
				undecodable(it.ID, it.Kind, err)
				continue
			}
			if err != nil {
				return sent, err
			}
			if err := c.j.OutboxAck(ctx, it.ID); err != nil {
				return sent, fmt.Errorf("outbox ack %d: %w", it.ID, err)
			}
			sent++
		}
		after = max(after, skipTo)
	}
	c.m.SetQueueDepth(metrics.QueueOutbox, pending-sent)
	return sent, ctx.Err()
}

// DrainOutbox sends what is left in the outbox before shutdown: it keeps
// forwarding (retrying every upstream.forward_interval while the site
// server is down) until nothing sendable is left or ctx ends — the bounded
// wait is ctx's deadline — and reports what is left. Call it after Run has
// returned (it also works while Run runs: passes take turns).
func (c *Controller) DrainOutbox(ctx context.Context) OutboxLeft {
	var last error
	if c.o.Upstream == nil {
		last = errors.New("no site server configured")
	}
	for c.o.Upstream != nil {
		_, err := c.forwardOutbox(ctx)
		if err == nil {
			last = nil
			break
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		t := time.NewTimer(c.cfg.Upstream.ForwardInterval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	return c.outboxLeft(last)
}

// outboxLeft lists what the outbox holds (read with a fresh context: the
// drain's may have ended).
func (c *Controller) outboxLeft(why error) OutboxLeft {
	l := OutboxLeft{ByKind: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	items, err := c.j.OutboxPending(ctx, 0)
	var ce *journal.OutboxCorruptError
	if errors.As(err, &ce) {
		l.Undecodable = append(l.Undecodable, ce.IDs...)
	} else if err != nil {
		l.Err = fmt.Errorf("outbox read: %w", err)
		return l
	}
	for _, it := range items {
		if CheckOutboxItem(it.Kind, it.Payload) != nil {
			l.Undecodable = append(l.Undecodable, it.ID)
			continue
		}
		l.ByKind[it.Kind]++
	}
	slices.Sort(l.Undecodable)
	if l.Items() > 0 {
		l.Err = why
	}
	return l
}
