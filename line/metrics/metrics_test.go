package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serialine/serialine/line/metrics"
)

// scrape returns the exposition of reg, as Prometheus scrapes it over HTTP.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsExposed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ConstLabels: prometheus.Labels{"line": "line-1"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Unit(metrics.OutcomeCommissioned, "")
	m.Unit(metrics.OutcomeCommissioned, "")
	m.Unit(metrics.OutcomeRejected, "low-grade")
	m.ObserveCycle(3 * time.Millisecond)
	m.SetQueueDepth(metrics.QueuePrinter, 4)
	m.SetDeviceLink("plc", true)
	m.SetDeviceLink("camera", false)
	m.SetPoolLevel("09501101530003", 1234)
	m.SetState("Held")
	m.SetState("Execute")
	m.APIRequest("GET /api/v1/status", 200)

	body := scrape(t, reg)
	for _, want := range []string{
		`serialine_units_total{line="line-1",outcome="commissioned",reason=""} 2`,
		`serialine_units_total{line="line-1",outcome="rejected",reason="low-grade"} 1`,
		`serialine_cycle_latency_seconds_count{line="line-1"} 1`,
		`serialine_queue_depth{line="line-1",queue="printer"} 4`,
		`serialine_device_link_up{device="plc",line="line-1"} 1`,
		`serialine_device_link_up{device="camera",line="line-1"} 0`,
		`serialine_pool_available_serials{gtin="09501101530003",line="line-1"} 1234`,
		`serialine_packml_state{line="line-1",state="Execute"} 1`,
		`serialine_api_requests_total{code="200",line="line-1",route="GET /api/v1/status"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	for _, want := range []string{`serialine_packml_state{line="line-1",state="Held"} 0`, `serialine_packml_state{line="line-1",state="Aborted"} 0`,
		`serialine_held{line="line-1"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("state set: missing %s", want)
		}
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Fatal("second New on the same registry: want error")
	}
	if _, err := metrics.New(nil, metrics.Options{}); err == nil {
		t.Fatal("nil registry: want error")
	}
}

func TestNilSafe(t *testing.T) {
	var m *metrics.Metrics
	m.Unit("x", "")
	m.ObserveCycle(time.Second)
	m.SetQueueDepth("q", 1)
	m.SetDeviceLink("d", true)
	m.SetPoolLevel("g", 1)
	m.SetState("Idle")
	m.APIRequest("r", 200)
}

// TestShiftSeries: batch info, holds, alarms and after-batch unit changes.
func TestShiftSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetBatch("B1", "09501101530003", "L1", "281231", "Aspirin 100")
	m.SetBatch("B2", "09501101530003", "L2", "281231", "Aspirin 100")
	m.SetState("Held")
	m.Hold("system")
	m.AlarmRaised("PRN-INK-OUT", "fault")
	m.SetAlarmsActive("fault", 1)
	m.SetAlarmsUnacked(2)
	m.UnitChanged("commissioned", "sampled", "qa-sample")
	body := scrape(t, reg)
	for _, want := range []string{
		`serialine_batch_info{batch="B2",expiry="281231",gtin="09501101530003",lot="L2",product="Aspirin 100"} 1`,
		`serialine_held 1`, `serialine_holds_total{by="system"} 1`,
		`serialine_alarms_raised_total{code="PRN-INK-OUT",severity="fault"} 1`,
		`serialine_alarms_active{severity="fault"} 1`, `serialine_alarms_unacknowledged 2`,
		`serialine_unit_changes_total{from="commissioned",to="sampled"} 1`,
		`serialine_units_total{outcome="sampled",reason="qa-sample"} 1`,
		`serialine_packml_state{state="Held"} 1`, `serialine_packml_state{state="Execute"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if strings.Contains(body, `batch="B1"`) {
		t.Error("previous batch still exposed")
	}
}
