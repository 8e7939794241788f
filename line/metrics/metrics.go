// Package metrics holds the controller's Prometheus collectors: units by
// outcome, unit-cycle latency, queue depths, device link state, serial pool
// levels and the PackML state. The collectors are registered on a
// prometheus.Registerer passed in by the caller (no global registry).
//
// Every method is safe on a nil *Metrics (it does nothing), so code that runs
// without metrics needs no checks.
package metrics

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes a unit can end in (label "outcome" of serialine_units_total).
const (
	OutcomeCommissioned = "commissioned"
	OutcomeRejected     = "rejected"
	OutcomeSampled      = "sampled"
	OutcomeReturned     = "returned"
	OutcomeUncertain    = "uncertain"
)

// Queue names for SetQueueDepth (label "queue").
const (
	QueuePrinter  = "printer"  // records sent to the printer, not yet printed
	QueueInFlight = "inflight" // units between trigger and final decision
	QueueOutbox   = "outbox"   // events waiting for upstream acknowledgement
)

// Options configures New.
type Options struct {
	// Namespace prefixes every metric name; default "serialine".
	Namespace string
	// ConstLabels are added to every metric (e.g. {"line": "line-1"}).
	ConstLabels prometheus.Labels
	// CycleBuckets are the histogram buckets (seconds) of the unit-cycle
	// latency; default 100µs … 2.5s, exponential.
	CycleBuckets []float64
	// States are the PackML state names exposed as a complete state set
	// (one series per state, 1 for the current one, 0 for the others);
	// default the 17 states of ISA-TR88.00.02.
	States []string
}

// packMLStates are the 17 states of ISA-TR88.00.02 (as line/packml names them).
var packMLStates = []string{"Idle", "Starting", "Execute", "Completing", "Complete", "Resetting", "Holding", "Held",
	"Unholding", "Suspending", "Suspended", "Unsuspending", "Stopping", "Stopped", "Aborting", "Aborted", "Clearing"}

// Metrics is the set of collectors. Create it with New.
type Metrics struct {
	units    *prometheus.CounterVec
	cycle    prometheus.Histogram
	queue    *prometheus.GaugeVec
	deviceUp *prometheus.GaugeVec
	pool     *prometheus.GaugeVec
	state    *prometheus.GaugeVec
	httpReqs *prometheus.CounterVec

	alarmsRaised  *prometheus.CounterVec
	alarmsActive  *prometheus.GaugeVec
	alarmsUnacked prometheus.Gauge
	batchInfo     *prometheus.GaugeVec
	holds         *prometheus.CounterVec
	held          prometheus.Gauge
	unitChanges   *prometheus.CounterVec

	stateMu  sync.Mutex
	curState string // the state series set to 1
	states   []string
	batchMu  sync.Mutex
	curBatch []string // label values of the batch_info series set
}

// New creates the collectors and registers them on reg. It returns an error
// (wrapping the registry's) when a metric is already registered there.
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("metrics: nil Registerer: %w", ErrOptions)
	}
	ns := o.Namespace
	if ns == "" {
		ns = "serialine"
	}
	buckets := o.CycleBuckets
	if len(buckets) == 0 {
		buckets = prometheus.ExponentialBuckets(0.0001, 2.5, 12) // 100µs … ~2.4s
	}
	cycle := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "cycle_latency_seconds", ConstLabels: o.ConstLabels, Buckets: buckets,
		Help: "Controller-side latency of one unit cycle, trigger to decision sent.",
	})
	k := &maker{ns: ns, labels: o.ConstLabels, all: []prometheus.Collector{cycle}}
	m := &Metrics{
		cycle: cycle,
		units: k.counters("units_total",
			"Units that reached a final outcome, by outcome and reject reason (reason is empty unless rejected).", "outcome", "reason"),
		queue:    k.gauges("queue_depth", "Depth of a queue (printer, inflight, outbox).", "queue"),
		deviceUp: k.gauges("device_link_up", "1 when the link to the device is up, 0 when it is down.", "device"),
		pool:     k.gauges("pool_available_serials", "Serials available in the local pool, by GTIN.", "gtin"),
		state: k.gauges("packml_state",
			"PackML state set: one series per state, 1 for the current state of the line, 0 for the others.", "state"),
		alarmsRaised: k.counters("alarms_raised_total",
			"Alarms raised, by support code and severity (a repeat of an active condition is not a new alarm).", "code", "severity"),
		alarmsActive:  k.gauges("alarms_active", "Alarms whose condition is still present, by severity.", "severity"),
		alarmsUnacked: k.gauge("alarms_unacknowledged", "Alarms nobody has acknowledged yet."),
		batchInfo: k.gauges("batch_info", "1 for the line's current batch, with its identity as labels.",
			"batch", "gtin", "lot", "expiry", "product"),
		holds: k.counters("holds_total",
			"Holds of the line, by who held it: system (a device fault, by its source) or person.", "by"),
		held: k.gauge("held", "1 while the line is held (Holding or Held), else 0."),
		unitChanges: k.counters("unit_changes_total",
			"Units moved by a person after their outcome (QA sample, manual reject, decommission, damaged pack), by from and to state.", "from", "to"),
		httpReqs: k.counters("api_requests_total", "HTTP API requests by route pattern and status code.", "route", "code"),
	}
	for _, c := range k.all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	m.states = o.States
	if len(m.states) == 0 {
		m.states = packMLStates
	}
	for _, st := range m.states {
		m.state.WithLabelValues(st).Set(0)
	}
	return m, nil
}

// maker makes New's counters and gauges, all with one namespace and the
// constant labels, and keeps them for registering.
type maker struct {
	ns     string
	labels prometheus.Labels
	all    []prometheus.Collector
}

func (k *maker) counters(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: k.ns, Name: name, ConstLabels: k.labels, Help: help}, labels)
	k.all = append(k.all, c)
	return c
}

func (k *maker) gauges(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: k.ns, Name: name, ConstLabels: k.labels, Help: help}, labels)
	k.all = append(k.all, g)
	return g
}

func (k *maker) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: k.ns, Name: name, ConstLabels: k.labels, Help: help})
	k.all = append(k.all, g)
	return g
}

// Unit counts one unit that reached outcome (Outcome* constants); reason is
// the reject reason ("" for other outcomes).
func (m *Metrics) Unit(outcome, reason string) {
	if m == nil {
		return
	}
	m.units.WithLabelValues(outcome, reason).Inc()
}

// ObserveCycle records the controller-side latency of one unit cycle.
func (m *Metrics) ObserveCycle(d time.Duration) {
	if m == nil {
		return
	}
	m.cycle.Observe(d.Seconds())
}

// SetQueueDepth sets the depth of queue (Queue* constants or any name).
func (m *Metrics) SetQueueDepth(queue string, n int) {
	if m == nil {
		return
	}
	m.queue.WithLabelValues(queue).Set(float64(n))
}

// SetDeviceLink records whether the link to device ("plc", "printer",
// "camera", "upstream", …) is up.
func (m *Metrics) SetDeviceLink(device string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.deviceUp.WithLabelValues(device).Set(v)
}

// SetPoolLevel records the serials available in the local pool for gtin.
func (m *Metrics) SetPoolLevel(gtin string, available int) {
	if m == nil {
		return
	}
	m.pool.WithLabelValues(gtin).Set(float64(available))
}

// SetState records the current PackML state (e.g. "Execute"): its series is
// set to 1 and the previous state's to 0; every state keeps its series (a
// complete state set), so a query sees transitions as 0 → 1 → 0. Entering
// Holding counts a hold is done by Hold, not here.
func (m *Metrics) SetState(state string) {
	if m == nil {
		return
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.state.WithLabelValues(state).Set(1)
	if m.curState != "" && m.curState != state {
		m.state.WithLabelValues(m.curState).Set(0)
	}
	m.curState = state
	if state == "Holding" || state == "Held" {
		m.held.Set(1)
	} else {
		m.held.Set(0)
	}
}

// Hold counts one hold of the line; by is "system" for a device fault or
// "person".
func (m *Metrics) Hold(by string) {
	if m == nil {
		return
	}
	m.holds.WithLabelValues(by).Inc()
}

// SetBatch sets the batch_info series of the current batch (replacing the
// previous batch's).
func (m *Metrics) SetBatch(batch, gtin, lot, expiry, product string) {
	if m == nil {
		return
	}
	m.batchMu.Lock()
	defer m.batchMu.Unlock()
	v := []string{batch, gtin, lot, expiry, product}
	m.batchInfo.WithLabelValues(v...).Set(1)
	if m.curBatch != nil && !equal(m.curBatch, v) {
		m.batchInfo.DeleteLabelValues(m.curBatch...)
	}
	m.curBatch = v
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// AlarmRaised counts one raised alarm.
func (m *Metrics) AlarmRaised(code, severity string) {
	if m == nil {
		return
	}
	m.alarmsRaised.WithLabelValues(code, severity).Inc()
}

// SetAlarmsActive sets the number of active alarms of severity.
func (m *Metrics) SetAlarmsActive(severity string, n int) {
	if m == nil {
		return
	}
	m.alarmsActive.WithLabelValues(severity).Set(float64(n))
}

// SetAlarmsUnacked sets the number of unacknowledged alarms.
func (m *Metrics) SetAlarmsUnacked(n int) {
	if m == nil {
		return
	}
	m.alarmsUnacked.Set(float64(n))
}

// UnitChanged counts a unit a person moved after its outcome (from, to:
// unit states) and counts the new outcome in units_total too.
func (m *Metrics) UnitChanged(from, to, reason string) {
	if m == nil {
		return
	}
	m.unitChanges.WithLabelValues(from, to).Inc()
	m.units.WithLabelValues(to, reason).Inc()
}

// APIRequest counts one HTTP API request (used by line/api).
func (m *Metrics) APIRequest(route string, code int) {
	if m == nil {
		return
	}
	m.httpReqs.WithLabelValues(route, fmt.Sprint(code)).Inc()
}
