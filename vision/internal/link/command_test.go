package link

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/vision"
)

// Command skips the replies answer declines (stale ones), returns once
// answer accepts one, and reports a reply that never comes as ErrTimeout
// and ErrDisconnected. Virtual time (synctest), net.Pipe transport.
func TestCommandSkipsStaleRepliesAndTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		l := Start(a, CRLF, func(line []byte) bool { return strings.HasPrefix(string(line), "R ") })
		defer l.Close()
		go func() { // the device: a stale reply, then the answer; SILENT unanswered
			r := bufio.NewReader(b)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if cmd := strings.TrimSpace(line); cmd != "SILENT" {
					io.WriteString(b, "R OLD\r\nR "+cmd+"\r\n")
				}
			}
		}()
		ctx := context.Background()
		var skipped, got []string
		err := l.Command(ctx, "PING", []byte("PING\r\n"), time.Second, "reply", func(line []byte) (bool, error) {
			if string(line) != "R PING" {
				skipped = append(skipped, string(line))
				return false, nil
			}
			got = append(got, string(line))
			return true, nil
		})
		if err != nil || len(got) != 1 || len(skipped) != 1 || skipped[0] != "R OLD" {
			t.Fatalf("PING: err %v, got %q, skipped %q", err, got, skipped)
		}
		refused := errors.New("refused")
		if err := l.Command(ctx, "BAD", []byte("BAD\r\n"), time.Second, "reply", func(line []byte) (bool, error) {
			if string(line) != "R BAD" {
				return false, nil
			}
			return true, refused
		}); !errors.Is(err, refused) {
			t.Fatalf("answer's error: %v", err)
		}
		err = l.Command(ctx, "SILENT", []byte("SILENT\r\n"), time.Second, "reply", func([]byte) (bool, error) { return true, nil })
		if !errors.Is(err, vision.ErrTimeout) || !errors.Is(err, vision.ErrDisconnected) || !strings.Contains(err.Error(), "SILENT: no reply within 1s") {
			t.Fatalf("SILENT: %v", err)
		}
		if err := l.Command(ctx, "NOANSWER", []byte("X\r\n"), time.Second, "reply", nil); err != nil {
			t.Fatalf("write-only command: %v", err)
		}
	})
}
