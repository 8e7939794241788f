package aggregate_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/i18n"
)

// pipePort is a scanner port over a pipe: the test writes scans, the
// station reads them; Close ends the reads.
type pipePort struct {
	*io.PipeReader
	io.Writer
}

func (p pipePort) Close() error { return p.PipeReader.Close() }

// runAggregator runs an aggregator of o until the test ends (cancelled
// and waited for in cleanup, before the journal's own cleanup); the
// context returned is the run's.
func runAggregator(t *testing.T, o aggregate.Options) context.Context {
	t.Helper()
	a, err := aggregate.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ctx
}

// linkAlarms returns the device-link alarms of book (history included).
func linkAlarms(ctx context.Context, book *api.AlarmBook) []api.Alarm {
	var out []api.Alarm
	as, _ := book.Alarms(ctx, false)
	for _, al := range as {
		if al.Code == aggregate.CodeDevLink {
			out = append(out, al)
		}
	}
	return out
}

// TestAlarmsCodedAndCleared: a station device that cannot connect raises
// one alarm with its support code and a condition of its own (repeats
// count), whose catalogue text names the station and device in English
// and German; it clears when the device connects, and a lost link raises
// it again. Every aggregation code has a text in both catalogues.
func TestAlarmsCodedAndCleared(t *testing.T) {
	for _, code := range aggregate.Codes() {
		for _, lang := range i18n.Languages() {
			if _, ok := i18n.Lookup(lang, "alarm."+code); !ok {
				t.Errorf("alarm.%s: no %s text", code, lang)
			}
		}
	}
	j, _ := journalWithUnits(t, 3)
	cfg := manualConfig("/dev/unused")
	book := &api.AlarmBook{}
	pr, pw := io.Pipe()
	var calls atomic.Int32
	open := func(ctx context.Context) (aggregate.ScannerPort, error) {
		if n := calls.Add(1); n != 3 { // plugged in at the third try, unplugged after
			return nil, errors.New("open /dev/ttyUSB0: no such file or directory")
		}
		return pipePort{pr, io.Discard}, nil
	}
	ctx := runAggregator(t, aggregate.Options{Config: cfg, Journal: j, Line: fixedLine{"B1"}, Alarms: book, ManualScanner: open})
	link := func() []api.Alarm { return linkAlarms(ctx, book) }
	waitFor(t, 10*time.Second, "the scanner connected", func() bool { return calls.Load() >= 3 })
	waitFor(t, 5*time.Second, "the link alarm cleared", func() bool { as := link(); return len(as) == 1 && !as[0].Active })
	al := link()[0]
	if al.Source != aggregate.AlarmSource || al.Severity != api.SeverityFault || al.Condition != "aggregation:AGG-DEV-LINK:manual/scanner" ||
		al.Params["station"] != "manual" || al.Params["device"] != "scanner" || al.ClearedBy != "system" {
		t.Fatalf("link alarm %+v", al)
	}
	for lang, want := range map[string]string{"en": "No connection to the scanner of the manual station", "de": "Keine Verbindung zu scanner der Station manual"} {
		if l := al.Localize(lang); !strings.Contains(l.Text, want) {
			t.Errorf("%s text %q, want %q", lang, l.Text, want)
		}
	}
	// the scanner is unplugged: the condition is raised again, a new
	// alarm; the failing reconnects only count on it
	pw.CloseWithError(errors.New("device disconnected"))
	waitFor(t, 10*time.Second, "the link alarm raised again and repeated", func() bool {
		as := link()
		return len(as) == 2 && as[0].Active != as[1].Active && (as[0].Count >= 2 || as[1].Count >= 2)
	})
}

// failingPort opens but fails every read at once, like a USB-serial
// adapter whose scanner was unplugged; after fixed is set it delivers one
// scan line and then stays quiet.
type failingPort struct {
	fixed *atomic.Bool
	sent  bool
	done  chan struct{}
}

func (p *failingPort) Read(b []byte) (int, error) {
	if !p.fixed.Load() {
		return 0, errors.New("read /dev/ttyUSB0: input/output error")
	}
	if !p.sent {
		p.sent = true
		return copy(b, "not-a-code\r"), nil
	}
	<-p.done
	return 0, io.EOF
}
func (p *failingPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *failingPort) Close() error {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	return nil
}

// TestManualScannerReopenBackoff: a scanner port that opens but fails at
// once is reopened with a growing backoff (not at the rate of its
// failures), under one active link alarm whose repeats count; once a scan
// line arrives the alarm clears.
func TestManualScannerReopenBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j, _ := journalWithUnits(t, 1)
		book := &api.AlarmBook{}
		var opens atomic.Int32
		var fixed atomic.Bool
		open := func(ctx context.Context) (aggregate.ScannerPort, error) {
			opens.Add(1)
			return &failingPort{fixed: &fixed, done: make(chan struct{})}, nil
		}
		ctx := runAggregator(t, aggregate.Options{Config: manualConfig("/dev/unused"), Journal: j, Line: fixedLine{"B1"}, Alarms: book, ManualScanner: open})
		link := func() []api.Alarm { return linkAlarms(ctx, book) }
		time.Sleep(30 * time.Second)
		synctest.Wait()
		// 0.1+0.2+0.4+0.8+1.6+3.2 s, then 5 s steps (±20 %): about 11 opens
		if n := opens.Load(); n < 6 || n > 16 {
			t.Fatalf("%d opens in 30 s: want a growing backoff (about 11)", n)
		}
		as := link()
		if len(as) != 1 || !as[0].Active || as[0].Count < 5 {
			t.Fatalf("link alarms %+v: want one active alarm with the repeats counted", as)
		}
		fixed.Store(true)
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if as := link(); len(as) != 1 || as[0].Active {
			t.Fatalf("link alarms %+v after a scan line: want the one alarm cleared", as)
		}
	})
}
