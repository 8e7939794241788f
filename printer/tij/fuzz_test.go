package tij_test

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

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/tij"
)

// FuzzReplyFields has a printer answer one of the driver's commands (queue
// size, state, faults, warnings, print count, enqueue, clear, clear faults)
// with an arbitrary reply line, over the text protocol on a pipe, with an
// arbitrary record layout. Whatever the reply: no panic; a query's result
// comes only from a reply to that query; every error is the protocol's
// (ErrProtocol, a refusal, or the connection closed: ErrDisconnected /
// ErrTimeout / ErrNotConnected).
func FuzzReplyFields(f *testing.F) {
	for _, s := range []string{"QSZ|3|16|", "QSZ|x|", "QSZ|", "GST|RUNNING|ok|", "GST||", "GFT|2|HEAD|head|INK|ink|",
		"GFT|9|A|", "GWN|0|", "GPC|18446744073709551616|", "ACK", "ERR|QFULL|full|", "NAK", "ERR", "PRC|1|SN1|", "STS|x|",
		"ERS|F|HEAD|h|", "", "\r\r", "ACK\rACK", "ABCD|1|", "qsz|1|", "QSZ|1|\x00"} {
		for op := range 8 {
			f.Add(uint8(op), s, int8(0), int8(1))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, reply string, counterAt, idAt int8) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			layout := tij.Layout{Counter: int(counterAt), RecordID: int(idAt)}
			c, err := tij.New(tij.Options{Job: "J", Layout: &layout, ReplyTimeout: time.Second,
				Dial: func(context.Context) (io.ReadWriteCloser, error) { return a, nil }})
			if err != nil {
				t.Fatal(err)
			}
			fake := make(chan struct{})
			go func() { // the printer: ACK the handshake, then answer with reply
				defer close(fake)
				r := bufio.NewReader(b)
				for i := 0; ; i++ {
					line, err := r.ReadString('\r')
					if err != nil {
						return
					}
					ans := "ACK\r"
					if i >= 2 && !strings.HasPrefix(line, "GST") || i >= 2 && op%8 == 1 {
						ans = reply + "\r"
					}
					if _, err := io.WriteString(b, ans); err != nil {
						return
					}
				}
			}()
			if err := c.Connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var qerr error
			switch op % 8 {
			case 0:
				var n int
				n, qerr = c.QueueDepth(ctx)
				if qerr == nil && !strings.HasPrefix(reply, "QSZ|") || n < 0 {
					t.Errorf("queue depth %d from %q", n, reply)
				}
			case 1:
				var st string
				st, _, qerr = c.State(ctx)
				if qerr == nil && (!strings.HasPrefix(reply, "GST|") || st == "") {
					t.Errorf("state %q from %q", st, reply)
				}
			case 2, 3:
				_, qerr = c.Faults(ctx, op%8 == 3)
			case 4:
				_, qerr = c.PrintCount(ctx)
			case 5:
				qerr = c.Enqueue(ctx, printer.Record{ID: "SN1", Fields: map[string]string{"GS1": "x"}})
			case 6:
				qerr = c.Clear(ctx)
			case 7:
				qerr = c.ClearFaults(ctx)
			}
			if qerr != nil && !errors.Is(qerr, printer.ErrProtocol) && !errors.Is(qerr, printer.ErrRefused) &&
				!errors.Is(qerr, printer.ErrDisconnected) && !errors.Is(qerr, printer.ErrTimeout) && !errors.Is(qerr, printer.ErrNotConnected) {
				t.Errorf("op %d, reply %q: error of no protocol kind: %v", op%8, reply, qerr)
			}
			// Events the reply may have carried come out of Next, and then the
			// connection's end; never a panic.
			c.Close(ctx)
			b.Close()
			for {
				if _, err := c.Next(ctx); err != nil {
					break
				}
			}
			<-fake
		})
	})
}
