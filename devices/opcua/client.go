// Package opcua is the controller's OPC UA PLC client on gopcua/opcua:
// trigger source (monitored product sequence id or rising edge of a
// product sensor), reject gate (verdict and confirmation slot nodes),
// interlock outputs and heartbeats both ways, per a declarative NodeMap.
// Security policies None and Basic256Sha256; anonymous and username auth.
//
// gopcua's own auto-reconnect is switched off: on any connection error the
// client is closed and rebuilt (NextTrigger with backoff), and the
// subscription re-created. Trigger state (last sequence id) survives
// reconnects, so nothing is lost or double-counted.
package opcua

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
)

// Options are the non-config dependencies of a Client.
type Options struct {
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
	// Now is the clock for trigger timestamps, the heartbeat watchdog and
	// the confirm window (default time.Now).
	Now func() time.Time
}

// Stats are counters for monitoring and tests.
type Stats struct {
	// Triggers returned by NextTrigger.
	Triggers uint64
	// Missed counts reported in Trigger.Missed so far.
	Missed uint64
	// Reconnects after a lost connection.
	Reconnects uint64
	// Errors: failed requests / lost connections.
	Errors uint64
	// Notifications received.
	Notifications uint64
	// VerdictRequests: Write requests sent for verdicts (Decide and
	// DecideBatch), failed ones included.
	VerdictRequests uint64
	// VerdictRetries: DecideBatch re-sends after a failed request.
	VerdictRetries uint64
}

// client handles of monitored items
const (
	hSeq = iota + 1
	hPresent
	hHeartbeat
	hConfirm0 = 1000 // + slot index: confirmation slot nodes (gate read-back)
)

type conn struct {
	cl     *opcua.Client
	sub    *opcua.Subscription
	notify chan *opcua.PublishNotificationData
	state  chan opcua.ConnState
}

// Client is one OPC UA PLC. NextTrigger must be called from one goroutine
// at a time; Decide, Confirm and SetOutputs may be called concurrently.
type Client struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	nodes struct {
		seq, present, hb, ctlHB, lineStop, light, horn *ua.NodeID
	}

	mu       sync.Mutex
	cn       *conn
	gate     devices.Gate
	everConn bool
	closed   bool
	stats    Stats
	hbOut    uint16

	// trigger state (NextTrigger only)
	counter  devices.Counter
	seqExt   devices.SeqExtender
	wd       devices.Watchdog
	pending  []devices.Trigger
	missed   uint64
	present  bool
	localSeq uint64

	// gate read-back (NextTrigger's goroutine, but rejects and gq)
	gateMode  string
	tracker   devices.GateTracker
	rejects   devices.RejectWatch
	confSlots map[uint64]devices.GateSlot // slot index -> last value seen
	gq        *devices.GateQueue
	closedCh  chan struct{} // closed by Close

	hbCancel context.CancelFunc
	hbDone   chan struct{}
}

// New validates cfg and returns an unconnected client.
func New(cfg Config, o Options) (*Client, error) {
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("opcua: %w", err)
	}
	c := &Client{cfg: cfg, log: o.Logger, now: o.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	parse := func(s string) *ua.NodeID {
		if s == "" {
			return nil
		}
		n, _ := ua.ParseNodeID(s) // validated
		return n
	}
	m := cfg.Nodes
	c.nodes.seq, c.nodes.present, c.nodes.hb = parse(m.ProductSeq), parse(m.ProductPresent), parse(m.PLCHeartbeat)
	c.nodes.ctlHB, c.nodes.lineStop, c.nodes.light, c.nodes.horn = parse(m.ControllerHeartbeat), parse(m.LineStop), parse(m.Light), parse(m.Horn)
	c.gate = devices.Gate{Backoff: cfg.Backoff, Now: c.now}
	c.counter.Width = uint(m.SeqWidth)
	c.seqExt.Width = uint(m.SeqWidth)
	c.wd.Timeout = cfg.HeartbeatTimeout
	c.gateMode = cfg.GateMode()
	c.tracker.SeqBits, c.rejects.SeqBits = 56, 56
	c.confSlots = map[uint64]devices.GateSlot{}
	c.gq = devices.NewGateQueue()
	c.closedCh = make(chan struct{})
	return c, nil
}

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Client) slotNode(tmpl string, seq uint64) *ua.NodeID {
	n, _ := ua.ParseNodeID(fmt.Sprintf(tmpl, seq%uint64(c.cfg.Nodes.Slots)))
	return n
}

func (c *Client) String() string { return "opcua " + c.cfg.Endpoint }

// selfSigned makes an ephemeral application instance certificate.
func selfSigned(appURI string) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "serialine", Organization: []string{"Serialine"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return der, key, err
}

// clientOptions builds the gopcua options for the endpoint.
func (c *Client) clientOptions(ctx context.Context) ([]opcua.Option, error) {
	if c.cfg.Security().Unchecked() {
		c.log.Warn("opcua: the PLC's server certificate is not checked: set trusted_server_certs", "endpoint", c.cfg.Endpoint)
	}
	return SessionOptions(ctx, c.cfg.Endpoint, c.cfg.Security(), c.cfg.Timeout)
}

// dial builds a connection and its subscription.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*c.cfg.Timeout)
	defer cancel()
	opts, err := c.clientOptions(ctx)
	if err != nil {
		return nil, err
	}
	cn := &conn{notify: make(chan *opcua.PublishNotificationData, 256), state: make(chan opcua.ConnState, 8)}
	opts = append(opts, opcua.StateChangedCh(cn.state))
	cl, err := opcua.NewClient(c.cfg.Endpoint, opts...)
	if err != nil {
		return nil, devices.Permanent(fmt.Errorf("client options: %w", err))
	}
	if err := cl.Connect(ctx); err != nil {
		cl.Close(context.WithoutCancel(ctx))
		if RefusedCredentials(err) {
			// Retrying a wrong password or an untrusted certificate only
			// locks the account on the PLC: the caller must fix the config.
			return nil, devices.Permanent(fmt.Errorf("connect: %w", err))
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	cn.cl = cl
	sub, err := cl.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: c.cfg.PublishInterval, MaxKeepAliveCount: 10, LifetimeCount: 10000}, cn.notify)
	if err != nil {
		cl.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	cn.sub = sub
	var items []*ua.MonitoredItemCreateRequest
	mk := func(n *ua.NodeID, h uint32) {
		r := opcua.NewMonitoredItemCreateRequestWithDefaults(n, ua.AttributeIDValue, h)
		r.RequestedParameters.QueueSize = 1
		r.RequestedParameters.SamplingInterval = float64(c.cfg.PublishInterval / time.Millisecond)
		items = append(items, r)
	}
	if c.cfg.Nodes.Trigger == TriggerCounter {
		mk(c.nodes.seq, hSeq)
	} else {
		mk(c.nodes.present, hPresent)
	}
	mk(c.nodes.hb, hHeartbeat)
	if c.gateMode != devices.GateResultsNone {
		for i := range c.cfg.Nodes.Slots {
			mk(c.slotNode(c.cfg.Nodes.Confirmations, uint64(i)), hConfirm0+uint32(i))
		}
	}
	res, err := sub.Monitor(ctx, ua.TimestampsToReturnNeither, items...)
	if err == nil {
		for i, r := range res.Results {
			if r.StatusCode != ua.StatusOK {
				err = fmt.Errorf("monitor %s: %w", items[i].ItemToMonitor.NodeID, r.StatusCode)
				break
			}
		}
	}
	if err != nil {
		cl.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("monitored items: %w", err)
	}
	// prime the trigger state on the first connection (products counted
	// before Connect are not triggers); after a reconnect the state is kept
	// and the next notification resumes from the last id seen.
	if c.nodes.seq != nil && !c.counter.Primed() {
		raw, err := c.read(ctx, cl, c.nodes.seq)
		if err == nil {
			var v uint64
			if v, err = Uint(raw, c.cfg.Nodes.SeqWidth); err == nil {
				c.counter.Observe(v)
				c.seqExt.Extend(v)
			}
		}
		if err != nil {
			cl.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("read product_seq: %w", err)
		}
	}
	return cn, nil
}

// connectLocked dials if not connected; c.mu held (released around I/O is
// not needed: dialing happens from one caller at a time under mu).
func (c *Client) connectLocked(ctx context.Context) error {
	if c.closed {
		return devices.Permanent(devices.ErrClosed)
	}
	if c.cn != nil {
		return nil
	}
	if err := c.backoffLocked("connect"); err != nil {
		return err
	}
	cn, err := c.dial(ctx)
	if err != nil {
		c.gate.Failed()
		if devices.IsPermanent(err) {
			return devices.Permanent(fmt.Errorf("%s: %w: %w", c, devices.ErrDisconnected, err))
		}
		return fmt.Errorf("%s: %w: %w", c, devices.ErrDisconnected, err)
	}
	c.cn = cn
	// The session, subscription and monitored items were all answered:
	// valid replies, so the backoff resets.
	c.gate.Connected()
	c.gate.Succeeded()
	if c.everConn {
		c.stats.Reconnects++
		c.log.Info("plc reconnected", "plc", c.String())
	}
	c.everConn = true
	return nil
}

func (c *Client) dropLocked(op string, err error) error {
	c.stats.Errors++
	c.gate.Dropped()
	if c.cn != nil {
		cn := c.cn
		c.cn = nil
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		cn.cl.Close(ctx)
		cancel()
	}
	c.log.Warn("plc request failed; connection closed", "plc", c.String(), "op", op, "err", err)
	return fmt.Errorf("%s: %s: %w: %w", c, op, devices.ErrDisconnected, err)
}

// ensureLocked reconnects once if the backoff allows.
func (c *Client) ensureLocked(ctx context.Context) error {
	if c.closed {
		return devices.ErrClosed
	}
	if !c.everConn {
		return devices.ErrNotConnected
	}
	if c.cn != nil {
		return nil
	}
	err := c.connectLocked(ctx)
	if devices.IsPermanent(err) {
		return errors.Unwrap(err)
	}
	return err
}

// backoffLocked refuses an attempt the backoff gate does not allow yet
// (devices.RetryAfter wrapping ErrDisconnected, so devices.Retry waits for
// the gate); nil while connected.
func (c *Client) backoffLocked(op string) error {
	if c.cn != nil {
		return nil
	}
	if ok, wait := c.gate.Allow(); !ok {
		return devices.RetryAfter(fmt.Errorf("%s: %s: %w (backing off after %d failed attempt(s); next attempt in %s)",
			c, op, devices.ErrDisconnected, c.gate.Failures(), wait), wait)
	}
	return nil
}

// Connect opens the secure channel and session (one attempt), creates the
// subscription with the trigger and heartbeat monitored items, and starts
// the controller-heartbeat writer. The first notification primes the
// trigger state. Errors wrap ErrDisconnected (retry, e.g. with
// devices.Retry; a server without the configured security endpoint is a
// permanent error, see devices.IsPermanent) or ErrClosed.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	err := c.connectLocked(ctx)
	first := err == nil && c.hbCancel == nil
	if first {
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.hbCancel, c.hbDone = cancel, make(chan struct{})
		go c.heartbeat(hctx)
	}
	c.mu.Unlock()
	return err
}

func (c *Client) heartbeat(ctx context.Context) {
	defer close(c.hbDone)
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		if c.cn != nil {
			c.hbOut++
			cl := c.cn.cl
			c.mu.Unlock()
			err := c.write(ctx, cl, []*ua.NodeID{c.nodes.ctlHB}, []any{c.hbOut})
			c.mu.Lock()
			if err != nil && ctx.Err() == nil && c.cn != nil && c.cn.cl == cl {
				c.dropLocked("write controller heartbeat", err)
			}
		}
		c.mu.Unlock()
	}
}

func (c *Client) write(ctx context.Context, cl *opcua.Client, nodes []*ua.NodeID, vals []any) error {
	req := &ua.WriteRequest{}
	for i, n := range nodes {
		v, err := ua.NewVariant(vals[i])
		if err != nil {
			return err
		}
		req.NodesToWrite = append(req.NodesToWrite, &ua.WriteValue{
			NodeID: n, AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: v},
		})
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := cl.Write(ctx, req)
	if err != nil {
		return err
	}
	for i, st := range resp.Results {
		if st != ua.StatusOK {
			return fmt.Errorf("write %s: %w", nodes[i], st)
		}
	}
	return nil
}

func (c *Client) read(ctx context.Context, cl *opcua.Client, n *ua.NodeID) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := cl.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: n, AttributeID: ua.AttributeIDValue}}, TimestampsToReturn: ua.TimestampsToReturnNeither})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != 1 {
		return nil, fmt.Errorf("%w: %d results", devices.ErrBadValue, len(resp.Results))
	}
	r := resp.Results[0]
	if r.Status != ua.StatusOK {
		return nil, fmt.Errorf("read %s: %w", n, r.Status)
	}
	if r.Value == nil {
		return nil, fmt.Errorf("read %s: %w: no value", n, devices.ErrBadValue)
	}
	return r.Value.Value(), nil
}

// current returns the live connection, reconnecting once if allowed.
func (c *Client) current(ctx context.Context) (*opcua.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(ctx); err != nil {
		return nil, err
	}
	return c.cn.cl, nil
}

// fail drops cl if it is still the live connection.
func (c *Client) fail(cl *opcua.Client, op string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cn != nil && c.cn.cl == cl {
		return c.dropLocked(op, err)
	}
	c.stats.Errors++
	return fmt.Errorf("%s: %s: %w: %w", c, op, devices.ErrDisconnected, err)
}

// NextTrigger blocks until the next product and returns it; triggers come
// in sequence order, each exactly once, across reconnects.
//
// Errors:
//   - wraps ErrDisconnected: the connection or subscription failed and was
//     closed. The next call reconnects with backoff (blocking until
//     connected or ctx ends), re-creates the subscription and resumes from
//     the last sequence id seen; ids beyond MaxBacklog are reported as
//     Missed.
//   - ErrHeartbeatStalled: the PLC heartbeat has not changed for
//     HeartbeatTimeout; no triggers are accepted while it lasts (call again
//     to keep watching); products seen meanwhile come back as Missed.
//   - ErrNotConnected, ErrClosed, ctx.Err().
func (c *Client) NextTrigger(ctx context.Context) (devices.Trigger, error) {
	var tick *time.Ticker // created only when we have to wait
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		if len(c.pending) > 0 {
			t := c.pending[0]
			c.pending = c.pending[1:]
			c.mu.Lock()
			c.stats.Triggers++
			c.stats.Missed += t.Missed
			c.mu.Unlock()
			return t, nil
		}
		if err := ctx.Err(); err != nil {
			return devices.Trigger{}, err
		}
		c.mu.Lock()
		closed, ever, cn := c.closed, c.everConn, c.cn
		c.mu.Unlock()
		switch {
		case closed:
			return devices.Trigger{}, devices.ErrClosed
		case !ever:
			return devices.Trigger{}, devices.ErrNotConnected
		case cn == nil:
			err := devices.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.connectLocked(ctx)
			}, func(n int, err error, wait time.Duration) {
				c.log.Warn("plc reconnect failed", "plc", c.String(), "attempt", n, "retry_in", wait, "err", err)
			})
			if err != nil {
				return devices.Trigger{}, err
			}
			continue
		}
		if tick == nil {
			tick = time.NewTicker(max(c.cfg.HeartbeatTimeout/4, time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return devices.Trigger{}, ctx.Err()
		case st := <-cn.state:
			if st == opcua.Disconnected || st == opcua.Closed {
				return devices.Trigger{}, c.fail(cn.cl, "connection state", fmt.Errorf("connection %s", st))
			}
		case n := <-cn.notify:
			if n.Error != nil {
				return devices.Trigger{}, c.fail(cn.cl, "subscription", n.Error)
			}
			if err := c.handle(ctx, cn.cl, n); err != nil {
				return devices.Trigger{}, err
			}
		case <-tick.C:
			c.mu.Lock()
			cur := c.cn
			c.mu.Unlock()
			if cur != cn {
				continue // dropped by another call (heartbeat writer, Decide…): reconnect
			}
			if c.gateMode == devices.GateResultsRejects {
				c.takeGate(c.now()) // confirm windows that ended
			}
			if c.wd.Check(c.now()) {
				return devices.Trigger{}, fmt.Errorf("%s: %w (unchanged for more than %s)", c, devices.ErrHeartbeatStalled, c.cfg.HeartbeatTimeout)
			}
		}
	}
}

func (c *Client) handle(ctx context.Context, cl *opcua.Client, n *opcua.PublishNotificationData) error {
	dcn, ok := n.Value.(*ua.DataChangeNotification)
	if !ok {
		return nil
	}
	c.mu.Lock()
	c.stats.Notifications++
	c.mu.Unlock()
	now := c.now()
	// heartbeat first: a notification carrying both must not count the
	// products as seen during a stall that just ended
	for _, it := range dcn.MonitoredItems {
		if it.ClientHandle == hHeartbeat && it.Value != nil && it.Value.Value != nil {
			v, err := Uint(it.Value.Value.Value(), 64)
			if err != nil {
				return c.fail(cl, "decode PLC heartbeat", err)
			}
			c.wd.Observe(v, now)
		}
	}
	stalled := c.wd.Check(now)
	gate := false
	for _, it := range dcn.MonitoredItems {
		if it.Value == nil || it.Value.Value == nil {
			continue
		}
		if it.ClientHandle >= hConfirm0 {
			v, err := Uint(it.Value.Value.Value(), 64)
			if err != nil {
				return c.fail(cl, "decode confirmation slot", err)
			}
			seq, code := UnpackSlot(v)
			c.confSlots[uint64(it.ClientHandle-hConfirm0)] = devices.GateSlot{Seq: seq, Value: uint64(code)}
			gate = true
			continue
		}
		switch it.ClientHandle {
		case hSeq:
			v, err := Uint(it.Value.Value.Value(), c.cfg.Nodes.SeqWidth)
			if err != nil {
				return c.fail(cl, "decode product_seq", err)
			}
			c.onSeq(v, stalled, now)
		case hPresent:
			b, err := Bool(it.Value.Value.Value())
			if err != nil {
				return c.fail(cl, "decode product_present", err)
			}
			rising := b && !c.present
			c.present = b
			if !b {
				continue
			}
			if c.nodes.seq == nil {
				// pure edge: only a rising edge is a product
				if !rising {
					continue
				}
				c.localSeq++
				if stalled {
					c.missed++
					continue
				}
				c.pending = append(c.pending, devices.Trigger{Seq: c.localSeq, Missed: c.missed, At: c.trigAt(now)})
				c.missed = 0
				c.expect(c.localSeq)
				continue
			}
			// with a sequence id, "present and the id moved" is a product,
			// even when the server coalesced the falling edge away
			raw, err := c.read(ctx, cl, c.nodes.seq)
			if err != nil {
				return c.fail(cl, "read product_seq", err)
			}
			v, err := Uint(raw, c.cfg.Nodes.SeqWidth)
			if err != nil {
				return c.fail(cl, "decode product_seq", err)
			}
			first := !c.counter.Primed()
			delta, reset := c.counter.Observe(v)
			seq := c.seqExt.Extend(v)
			if first || reset {
				delta = 1
			}
			if delta == 0 {
				continue // the same product seen twice
			}
			if stalled {
				c.missed += delta
				continue
			}
			c.pending = append(c.pending, devices.Trigger{Seq: seq, Missed: c.missed + delta - 1, At: c.trigAt(now)})
			c.missed = 0
			c.expect(seq)
		}
	}
	if gate || len(c.pending) > 0 {
		if err := c.takeGate(now); err != nil {
			return c.fail(cl, "gate results", err)
		}
	}
	if stalled {
		return fmt.Errorf("%s: %w (unchanged for more than %s)", c, devices.ErrHeartbeatStalled, c.cfg.HeartbeatTimeout)
	}
	return nil
}

// expect records a trigger for the gate read-back (mode every).
func (c *Client) expect(seq uint64) {
	if c.gateMode == devices.GateResultsEvery {
		c.tracker.Expect(seq)
	}
}

// takeGate turns the confirmation slots seen so far into gate results.
func (c *Client) takeGate(now time.Time) error {
	n := uint64(c.cfg.Nodes.Slots)
	switch c.gateMode {
	case devices.GateResultsEvery:
		rs, err := c.tracker.Take(now, func(seq uint64) (devices.GateSlot, error) { return c.confSlots[seq%n], nil })
		c.gq.Push(rs...)
		return err
	case devices.GateResultsRejects:
		c.gq.Push(c.rejects.Check(now, func(seq uint64) (devices.GateSlot, bool) {
			s, ok := c.confSlots[seq%n]
			return s, ok
		})...)
	}
	return nil
}

// NextGateResult returns what the reject gate did to the next product, as
// the PLC's confirmation slot nodes report it (monitored with the
// triggers, so results come while NextTrigger is being called): in mode
// "every" every product seen at the trigger point, in sequence order, each
// exactly once (products whose slot was overwritten before a notification
// showed it are counted in the next result's Missed); in mode "rejects" the
// products given a reject verdict, each once, as GateUnconfirmed when no
// result showed within ConfirmWindow of the verdict write.
//
// Errors: ErrClosed (closed, or mode "none"), ctx.Err().
func (c *Client) NextGateResult(ctx context.Context) (devices.GateResult, error) {
	if c.gateMode == devices.GateResultsNone {
		return devices.GateResult{}, fmt.Errorf("%s: gate_results %q: %w", c, devices.GateResultsNone, devices.ErrClosed)
	}
	return c.gq.Next(ctx, c.closedCh)
}

// confirmRejects registers reject verdicts for read-back (mode rejects).
func (c *Client) confirmRejects(vs []devices.Verdict) {
	if c.gateMode != devices.GateResultsRejects {
		return
	}
	var seqs []uint64
	for _, v := range vs {
		if v.Reject {
			seqs = append(seqs, v.Seq)
		}
	}
	c.rejects.Add(c.now().Add(c.cfg.ConfirmWindow), seqs...)
}

func (c *Client) onSeq(v uint64, stalled bool, now time.Time) {
	delta, reset := c.counter.Observe(v)
	if reset {
		// a PLC restart: ids start again from zero, so the new value is the
		// number of products since the restart
		c.log.Warn("plc product sequence went backwards; resynchronised", "plc", c.String(), "seq", v)
		c.seqExt = devices.SeqExtender{Width: c.seqExt.Width}
		delta = v
	}
	if delta == 0 {
		c.seqExt.Extend(v) // first value primes
		return
	}
	if stalled {
		c.missed += delta
		c.seqExt.Extend(v)
		return
	}
	limit := uint64(c.cfg.MaxBacklog)
	if limit == 0 {
		limit = 256
	}
	w := c.cfg.Nodes.SeqWidth
	mask := ^uint64(0)
	if w < 64 {
		mask = 1<<w - 1
	}
	if delta > limit {
		c.missed += delta - limit
		c.seqExt.Extend((v - limit) & mask)
		delta = limit
	}
	for k := delta; k >= 1; k-- {
		seq := c.seqExt.Extend((v - (k - 1)) & mask)
		c.pending = append(c.pending, devices.Trigger{Seq: seq, Missed: c.missed, At: c.trigAt(now)})
		c.missed = 0
		c.expect(seq)
	}
}

// Decide writes the verdict for product seq into its decision slot node
// (before the product reaches the gate; the PLC rejects products without a
// verdict, fail-safe). Errors wrap ErrDisconnected (the write failed and
// the connection was closed; the next call tries one reconnect when the
// backoff allows; a bad OPC UA status is reachable with errors.As
// ua.StatusCode), ErrNotConnected or ErrClosed.
func (c *Client) Decide(ctx context.Context, seq uint64, reject bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl, err := c.current(ctx)
	if err != nil {
		return err
	}
	v := uint8(devices.VerdictAccept)
	if reject {
		v = devices.VerdictReject
	}
	n := c.slotNode(c.cfg.Nodes.Decisions, seq)
	c.countVerdictRequest(false)
	c.confirmRejects([]devices.Verdict{{Seq: seq, Reject: reject}})
	if err := c.write(ctx, cl, []*ua.NodeID{n}, []any{PackSlot(seq, v)}); err != nil {
		return c.fail(cl, fmt.Sprintf("write verdict for product %d (%s)", seq, n), err)
	}
	return nil
}

func (c *Client) countVerdictRequest(retry bool) {
	c.mu.Lock()
	c.stats.VerdictRequests++
	if retry {
		c.stats.VerdictRetries++
	}
	c.mu.Unlock()
}

// DecideBatch writes several verdicts in one Write request with one
// WriteValue per decision slot node (at most Slots nodes per request, so
// one request never names a slot node twice; more verdicts take more
// requests, in order). The server answers each node with its own status.
//
// Failure rule: a failed request (service fault, or a bad status for any
// node) closes the connection; DecideBatch then reconnects once (if the
// backoff gate allows) and re-sends, once, every verdict not acknowledged
// with a Good status (rewriting a slot with the same value is idempotent).
// When that fails too (or the client is closed / not connected / ctx
// ended) the error is a *devices.VerdictError listing the products whose
// verdict was not acknowledged; every other verdict was. Its Err wraps
// ErrDisconnected and the cause (an OPC UA status is reachable with
// errors.As ua.StatusCode).
func (c *Client) DecideBatch(ctx context.Context, vs []devices.Verdict) error {
	c.confirmRejects(vs)
	pending := vs
	var lastErr error
	for attempt := 0; len(pending) > 0 && attempt < 2; attempt++ {
		if err := ctx.Err(); err != nil {
			lastErr = err
			break
		}
		cl, err := c.current(ctx)
		if err != nil {
			lastErr = err
			if errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected) {
				break
			}
			continue
		}
		var failed []devices.Verdict
		for start := 0; start < len(pending); start += c.cfg.Nodes.Slots {
			chunk := pending[start:min(len(pending), start+c.cfg.Nodes.Slots)]
			c.countVerdictRequest(attempt > 0 && start == 0)
			bad, err := c.writeVerdicts(ctx, cl, chunk)
			if err != nil {
				lastErr = c.fail(cl, fmt.Sprintf("write verdicts for products %d..%d", chunk[0].Seq, chunk[len(chunk)-1].Seq), err)
				failed = append(append(failed, bad...), pending[start+len(chunk):]...)
				break
			}
		}
		pending = failed
	}
	if len(pending) == 0 {
		return nil
	}
	seqs := make([]uint64, len(pending))
	for i, v := range pending {
		seqs[i] = v.Seq
	}
	return &devices.VerdictError{Undelivered: seqs, Err: lastErr}
}

// writeVerdicts sends one Write request for vs and returns the verdicts not
// acknowledged with a Good status (all of them on a service failure).
func (c *Client) writeVerdicts(ctx context.Context, cl *opcua.Client, vs []devices.Verdict) ([]devices.Verdict, error) {
	req := &ua.WriteRequest{NodesToWrite: make([]*ua.WriteValue, len(vs))}
	for i, v := range vs {
		req.NodesToWrite[i] = &ua.WriteValue{
			NodeID: c.slotNode(c.cfg.Nodes.Decisions, v.Seq), AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(PackSlot(v.Seq, uint8(v.Code())))},
		}
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := cl.Write(wctx, req)
	if err != nil {
		return vs, err
	}
	if len(resp.Results) != len(vs) {
		return vs, fmt.Errorf("%w: %d write results for %d nodes", devices.ErrBadValue, len(resp.Results), len(vs))
	}
	var bad []devices.Verdict
	var first error
	for i, st := range resp.Results {
		if st != ua.StatusOK {
			bad = append(bad, vs[i])
			if first == nil {
				first = fmt.Errorf("write %s: %w", req.NodesToWrite[i].NodeID, st)
			}
		}
	}
	return bad, first
}

// Confirm waits up to ConfirmWindow (from the call) for the gate result of
// product seq, reading its confirmation slot node every ConfirmPoll.
// Results as the Modbus client: (true, nil) pushed off and seen by the
// sensor; (false, nil) passed the gate; (false, err wrapping
// ErrNotConfirmed) when the sensor did not see a reject or no result came
// within the window (connection errors in the window are retried and
// joined). ctx.Err() when ctx ends first.
func (c *Client) Confirm(ctx context.Context, seq uint64) (bool, error) {
	n := c.slotNode(c.cfg.Nodes.Confirmations, seq)
	var code uint8
	done, err := devices.PollWindow(ctx, c.cfg.ConfirmWindow, c.cfg.ConfirmPoll, c.now, func() (bool, error) {
		cl, err := c.current(ctx)
		if err != nil {
			return errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected), err
		}
		raw, err := c.read(ctx, cl, n)
		if err != nil {
			return false, c.fail(cl, fmt.Sprintf("read confirmation %s", n), err)
		}
		v, err := Uint(raw, 64)
		if err != nil {
			return false, err
		}
		got, cd := UnpackSlot(v)
		res, _, err := devices.DecodeGateResult(uint64(cd))
		if err != nil {
			return false, err
		}
		code = uint8(res)
		return got == seq&(1<<56-1) && res != devices.GatePending, nil
	})
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !done {
		return false, errors.Join(fmt.Errorf("%s: product %d: %w within %s", c, seq, devices.ErrNotConfirmed, c.cfg.ConfirmWindow), err)
	}
	if err != nil {
		return false, err
	}
	switch code {
	case devices.GateRejected:
		return true, nil
	case devices.GatePassed:
		return false, nil
	}
	return false, fmt.Errorf("%s: product %d: %w (sensor did not see the reject)", c, seq, devices.ErrNotConfirmed)
}

// SetOutputs writes line stop, stack light and horn in one write request.
// Errors as Decide.
func (c *Client) SetOutputs(ctx context.Context, o devices.Outputs) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !o.Light.Valid() {
		return fmt.Errorf("%w: stack light %d", devices.ErrBadValue, o.Light)
	}
	cl, err := c.current(ctx)
	if err != nil {
		return err
	}
	if err := c.write(ctx, cl, []*ua.NodeID{c.nodes.lineStop, c.nodes.light, c.nodes.horn}, []any{o.LineStop, uint16(o.Light), o.Horn}); err != nil {
		return c.fail(cl, "write outputs", err)
	}
	return nil
}

// Close stops the heartbeat writer (waiting for it) and closes the session.
// Later calls return ErrClosed. Safe to call twice.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closedCh)
	cancel, done := c.hbCancel, c.hbDone
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cn != nil {
		cn := c.cn
		c.cn = nil
		return cn.cl.Close(ctx)
	}
	return nil
}

// trigAt dates a trigger received at now at the earliest its product can
// have passed the trigger point: the server reports a change up to one
// publishing interval after it sampled it.
func (c *Client) trigAt(now time.Time) time.Time { return now.Add(-c.cfg.PublishInterval) }
