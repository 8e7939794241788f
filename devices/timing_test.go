package devices_test

import (
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
)

func TestTimingInlineKeysAndValidation(t *testing.T) {
	var c struct {
		Timeout        time.Duration `yaml:"timeout"`
		devices.Timing `yaml:",inline"`
	}
	src := "timeout: 1s\nheartbeat_interval: 100ms\nheartbeat_timeout: 1s\nconfirm_window: 2s\nconfirm_poll: 5ms\nbackoff: {initial: 10ms, max: 1s, multiplier: 2}\n"
	if err := configs.DecodeStrictBytes("t.yaml", []byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if c.HeartbeatInterval != 100*time.Millisecond || c.ConfirmPoll != 5*time.Millisecond || c.Backoff.Multiplier != 2 {
		t.Fatalf("decoded %+v", c)
	}
	if p := devices.DefaultTiming().ValidateDurations(); len(p) != 0 {
		t.Fatalf("default timing: %v", p)
	}
	var got []string
	for _, p := range (devices.Timing{HeartbeatInterval: time.Second}).ValidateDurations() {
		got = append(got, p.String())
	}
	want := "heartbeat_timeout: must be > 0\nconfirm_window: must be > 0\nconfirm_poll: must be > 0"
	if g := strings.Join(got, "\n"); g != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", g, want)
	}
	got = got[:0]
	tm := devices.DefaultTiming()
	tm.HeartbeatInterval, tm.ConfirmPoll = 10*time.Microsecond, time.Nanosecond
	for _, p := range tm.ValidateDurations() {
		got = append(got, p.String())
	}
	want = "heartbeat_interval: must be >= 1ms (got 10µs: a shorter interval only loads the PLC and the line PC)\n" +
		"confirm_poll: must be >= 1ms (got 1ns: a shorter interval only loads the PLC and the line PC)"
	if g := strings.Join(got, "\n"); g != want {
		t.Fatalf("intervals below the minimum:\n%s\nwant:\n%s", g, want)
	}
}
