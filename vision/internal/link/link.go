// Package link is the line transport shared by the camera drivers: one
// reader goroutine per connection splits the byte stream into lines and
// routes them to replies (answers to commands) or results, until the
// connection ends. The driver owns the Link; Close stops and waits for the
// goroutine.
package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/vision"
)

// Split chooses the line terminator.
type Split int

const (
	// CRLF: lines end with CR LF exactly (DMCC: a bare CR or LF may be
	// a checksum byte).
	CRLF Split = iota
	// AnyEOL: lines end with CR, LF or CR LF; empty lines are skipped
	// (Keyence, generic readers).
	AnyEOL
)

// ScanFunc is the same framing as a bufio.SplitFunc, for the device side
// (the camera simulator reading the host's commands). The token excludes
// the terminator; AnyEOL yields an empty token between CR and LF, which the
// caller skips as Link does. A final unterminated line is returned at EOF.
func (s Split) ScanFunc() bufio.SplitFunc {
	if s == CRLF {
		return func(data []byte, atEOF bool) (int, []byte, error) {
			for i := 1; i < len(data); i++ {
				if data[i] == '\n' && data[i-1] == '\r' {
					return i + 1, data[:i-1], nil
				}
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		}
	}
	return func(data []byte, atEOF bool) (int, []byte, error) {
		for i, c := range data {
			if c == '\r' || c == '\n' {
				return i + 1, data[:i], nil
			}
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// MaxLine bounds one line; longer lines are reported as errors and
// discarded up to the next terminator.
const MaxLine = 64 << 10

// Item is one line or a line-level error (too long).
type Item struct {
	Line []byte
	Err  error
}

// Link is one connection's line reader.
type Link struct {
	rwc     io.ReadWriteCloser
	replies chan []byte
	results chan Item
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	wmu     sync.Mutex
	aux     sync.WaitGroup // the keep-alive goroutine, if any

	born   time.Time    // monotonic base of lastRx
	lastRx atomic.Int64 // time since born of the last byte received, ns
	cause  atomic.Pointer[error]
	proven atomic.Bool

	// hooks into the owning Conn's backoff gate (set before use)
	onValid, onGarbage func()

	err error // terminal read error; valid after done is closed
}

// Start begins reading rwc. isReply routes a line to Replies (true) or
// Results (false).
func Start(rwc io.ReadWriteCloser, split Split, isReply func([]byte) bool) *Link {
	l := &Link{
		rwc:     rwc,
		replies: make(chan []byte, 16),
		results: make(chan Item, 1024),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		born:    time.Now(),
	}
	go l.run(split, isReply)
	return l
}

// Idle is how long nothing has come from the device.
func (l *Link) Idle() time.Duration {
	return time.Since(l.born) - time.Duration(l.lastRx.Load())
}

// Valid tells the link's backoff that a valid protocol reply or result
// arrived (the drivers call it for every one; only the first counts).
func (l *Link) Valid() {
	if !l.proven.Load() && l.proven.CompareAndSwap(false, true) && l.onValid != nil {
		l.onValid()
	}
}

// Garbage tells the link's backoff that the device sent something that is
// not its protocol.
func (l *Link) Garbage() {
	if l.onGarbage != nil {
		l.onGarbage()
	}
}

// Abort ends the connection with cause (Err reports it) without waiting
// for the reader; for the link's own goroutines, which Close waits for.
func (l *Link) Abort(cause error) {
	l.cause.CompareAndSwap(nil, &cause)
	l.once.Do(func() {
		close(l.stop)
		_ = l.rwc.Close()
	})
}

// Replies delivers command replies.
func (l *Link) Replies() <-chan []byte { return l.replies }

// Results delivers result lines.
func (l *Link) Results() <-chan Item { return l.results }

// Done is closed when the reader has ended (connection closed or failed).
func (l *Link) Done() <-chan struct{} { return l.done }

// Err is the error that ended the reader (io.EOF for a clean close by the
// peer); valid once Done is closed.
func (l *Link) Err() error {
	<-l.done
	return l.err
}

type timeouter interface{ Timeout() bool }

func (l *Link) run(split Split, isReply func([]byte) bool) {
	defer close(l.done)
	defer func() {
		if c := l.cause.Load(); c != nil {
			l.err = *c
		}
	}()
	buf := make([]byte, 4096)
	var line []byte
	skipping := false
	var prev byte
	emit := func(b []byte) bool {
		if skipping {
			skipping = false
			return true
		}
		if len(b) == 0 {
			return true
		}
		cp := append([]byte(nil), b...)
		if isReply(cp) {
			// Nobody may be waiting (a stale answer to an abandoned
			// command): keep the newest replies, never block results.
			for {
				select {
				case l.replies <- cp:
					return true
				default:
				}
				select {
				case <-l.replies:
				default:
				}
			}
		}
		select {
		case l.results <- Item{Line: cp}:
		case <-l.stop:
			return false
		}
		return true
	}
	for {
		n, err := l.rwc.Read(buf)
		if n > 0 {
			l.lastRx.Store(int64(time.Since(l.born)))
		}
		for i := 0; i < n; i++ {
			c := buf[i]
			p := prev
			prev = c
			switch {
			case split == CRLF && c == '\n' && p == '\r':
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				if !emit(line) {
					l.err = errLinkClosed
					return
				}
				line = line[:0]
			case split == AnyEOL && (c == '\r' || c == '\n'):
				if !emit(line) {
					l.err = errLinkClosed
					return
				}
				line = line[:0]
			default:
				if skipping {
					continue
				}
				line = append(line, c)
				if len(line) > MaxLine {
					select {
					case l.results <- Item{Line: line[:64], Err: ErrLineTooLong}:
					case <-l.stop:
						l.err = errLinkClosed
						return
					}
					line = line[:0]
					skipping = true
				}
			}
		}
		if err != nil {
			var t timeouter
			if errors.As(err, &t) && t.Timeout() {
				select {
				case <-l.stop:
					l.err = errLinkClosed
					return
				default:
				}
				continue // serial port read timeout: keep reading
			}
			l.err = err
			return
		}
	}
}

// Write writes b whole, bounded by ctx's deadline (or timeout when ctx has
// none) on connections that support deadlines.
func (l *Link) Write(ctx context.Context, b []byte, timeout time.Duration) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if c, ok := l.rwc.(net.Conn); ok {
		dl, has := ctx.Deadline()
		if !has && timeout > 0 {
			dl = time.Now().Add(timeout)
		}
		_ = c.SetWriteDeadline(dl)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := l.rwc.Write(b)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Command writes frame (the encoding of command cmd, named in errors),
// bounded by timeout, and then, when answer is not nil, waits up to timeout
// for the reply line answer accepts: answer returns done=false to skip a
// line (a stale reply to an abandoned command), and its error ends the
// wait. noun names the reply in the timeout error ("answer", "reply").
// Errors: ctx.Err(); vision.ErrDisconnected (write failure, connection
// ended, or — with vision.ErrTimeout — no reply within timeout); answer's.
func (l *Link) Command(ctx context.Context, cmd string, frame []byte, timeout time.Duration, noun string, answer func(line []byte) (done bool, err error)) error {
	if err := l.Write(ctx, frame, timeout); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w: %w", cmd, vision.ErrDisconnected, err)
	}
	if answer == nil {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line := <-l.Replies():
			if done, err := answer(line); done || err != nil {
				return err
			}
		case <-l.Done():
			return fmt.Errorf("%s: %w: %w", cmd, vision.ErrDisconnected, l.Err())
		case <-t.C:
			return fmt.Errorf("%s: no %s within %s: %w: %w", cmd, noun, timeout, vision.ErrTimeout, vision.ErrDisconnected)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the connection and waits for the reader (and the
// keep-alive) to end.
func (l *Link) Close() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		err = l.rwc.Close()
	})
	<-l.done
	l.aux.Wait()
	return err
}

// keepAlive runs probe whenever the link has been silent for every. A
// probe error other than ctx's ends the connection with that error (Read
// then reports it, wrapped in vision.ErrDisconnected).
func (l *Link) keepAlive(every time.Duration, probe func(context.Context, *Link) error) {
	defer l.aux.Done()
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.done:
			return
		case <-t.C:
		}
		if idle := l.Idle(); idle < every {
			t.Reset(every - idle)
			continue
		}
		// The probe's command is bounded by its timeout and ends with the
		// link (Command watches Done).
		if err := probe(context.Background(), l); err != nil {
			select {
			case <-l.stop: // closed meanwhile: not the device's fault
			default:
				l.Abort(fmt.Errorf("keep-alive: %w", err))
			}
			return
		}
		t.Reset(every)
	}
}
