package dmcc

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

// A reader that never answers: Connect gives up after CommandTimeout with
// ErrTimeout and ErrDisconnected. Virtual time (synctest), net.Pipe transport.
func TestConnectTimesOutWithoutAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var peer net.Conn
		c := New(Options{Extended: true, CommandTimeout: 500 * time.Millisecond,
			Dial: func(context.Context) (io.ReadWriteCloser, error) {
				a, b := net.Pipe()
				peer = b
				go func() { // swallow commands, never answer
					sc := bufio.NewScanner(b)
					for sc.Scan() {
					}
				}()
				return a, nil
			}})
		start := time.Now()
		err := c.Connect(context.Background())
		if !errors.Is(err, vision.ErrTimeout) || !errors.Is(err, vision.ErrDisconnected) {
			t.Fatalf("connect: %v", err)
		}
		if waited := time.Since(start); waited != 500*time.Millisecond {
			t.Errorf("gave up after %v, want the 500ms command timeout", waited)
		}
		peer.Close()
		synctest.Wait()
	})
}

// Stale answers (ids of abandoned commands) are skipped; the answer with the
// command's id is taken. Unsolicited results arriving meanwhile are kept
// for Read.
func TestCommandMatchesAnswerByID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Options{Extended: true, Dial: func(context.Context) (io.ReadWriteCloser, error) {
			a, b := net.Pipe()
			go func() {
				defer b.Close()
				r := bufio.NewReader(b)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					cmd, err := ParseCommand(line[:len(line)-2])
					if err != nil {
						return
					}
					var out []byte
					out = AppendResponse(out, Response{ID: cmd.ID + 1000, HasID: true, Status: StatusBadState})
					out = AppendResponse(out, Response{Status: StatusReadString, Payload: []byte("]d2ABC\t3.0/08/660\tSC=B")})
					out = AppendResponse(out, Response{ID: cmd.ID, HasID: true, Status: StatusOK})
					if _, err := b.Write(out); err != nil {
						return
					}
				}
			}()
			return a, nil
		}})
		ctx := context.Background()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := c.Read(ctx)
		if err != nil || res.Data != "ABC" || res.SymbologyID != "]d2" || res.Grade.Overall != 3 {
			t.Fatalf("result %+v %v", res, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
	})
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "address: must be set"},
		{Config{Address: "nohost"}, "is not host:port"},
		{Config{Address: "h:0"}, "bad port"},
		{Config{Address: "h:23", Format: "{nothing}"}, "format:"},
		{Config{Address: "h:23", CommandTimeout: -1}, "command_timeout"},
	} {
		err := tc.c.Validate().Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	o, err := Config{Address: "127.0.0.1:23", Extended: true, Format: "{data}|{overall}"}.Options()
	if err != nil || o.Addr != "127.0.0.1:23" || !o.Extended || o.Format.String() != "{data}|{overall}" {
		t.Errorf("options %+v %v", o, err)
	}
}
