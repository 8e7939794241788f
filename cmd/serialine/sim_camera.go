package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/line/linesim/bus"
	"github.com/serialine/serialine/printer/datamatrix"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/pattern"
)

// cmdSimCamera runs the simulated verifying camera (Cognex DMCC or Keyence
// SR on TCP) until interrupted. Symbols come from stdin (one element string
// per line, bracketed "(01)…(21)…" or raw with GS separators; "-" = a
// no-read), are generated every --every with serial numbers counting up,
// and/or are the printer's prints from its line bus (--shots, rendered as
// the printer rendered them, defects included); each is decoded for real
// and graded.
func cmdSimCamera(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim camera", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var o camerasim.Options
	proto := fs.String("protocol", "dmcc", "wire protocol: dmcc or keyence")
	fs.StringVar(&o.Addr, "tcp", "127.0.0.1:2323", "listen address (port 0 = any)")
	fs.BoolVar(&o.Extended, "extended", false, "DMCC: start in extended response mode")
	fs.DurationVar(&o.Latency, "latency", 0, "delay between a shot and its result")
	format := fs.String("format", "", "result layout pattern (default: the protocol's)")
	noRead := fs.String("no-read", "", "no-read string (default: NOREAD for dmcc, ERROR for keyence)")
	stdin := fs.Bool("stdin", false, "read element strings to shoot from stdin")
	every := fs.Duration("every", 0, "generate and shoot a symbol this often (0 = off)")
	gtin := fs.String("gtin", "09501101530003", "GTIN of generated symbols")
	lot := fs.String("lot", "LOT1", "lot of generated symbols")
	expiry := fs.String("expiry", "291231", "expiry (YYMMDD) of generated symbols")
	shots := fs.String("shots", "", "shoot every print of the printer's line bus at host:port (serialine sim printer --bus): the element string rendered as the printer did, with its defects")
	setUsage(fs, e.stderr, "[flags]")
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "sim camera: unexpected arguments %q\n"); !ok {
		return code
	}
	generated := func(n int) string { return fmt.Sprintf("(01)%s(17)%s(10)%s(21)S%07d", *gtin, *expiry, *lot, n) }
	if *every > 0 {
		if _, err := gs1.Parse(generated(1)); err != nil {
			fmt.Fprintf(e.stderr, "sim camera: --gtin/--expiry/--lot: %v\n", err)
			return exitUsage
		}
	} else if *every < 0 {
		fmt.Fprintln(e.stderr, "sim camera: --every must be >= 0")
		return exitUsage
	}
	if *shots != "" {
		if err := busAddr("shots", *shots); err != nil {
			fmt.Fprintln(e.stderr, "sim camera:", err)
			return exitUsage
		}
	}
	o.Protocol = camerasim.Protocol(*proto)
	if *proto != "dmcc" && *proto != "keyence" {
		fmt.Fprintf(e.stderr, "sim camera: --protocol %q: want dmcc or keyence\n", *proto)
		return exitUsage
	}
	if *format != "" || *noRead != "" {
		pat, nr := *format, *noRead
		if pat == "" {
			pat = map[string]string{"dmcc": dmcc.DefaultPattern, "keyence": keyence.DefaultPattern}[*proto]
		}
		if nr == "" {
			nr = map[string]string{"dmcc": dmcc.DefaultNoRead, "keyence": keyence.DefaultNoRead}[*proto]
		}
		f, err := pattern.Compile(pattern.Options{Pattern: pat, NoRead: nr})
		if err != nil {
			fmt.Fprintf(e.stderr, "sim camera: --format: %v\n", err)
			return exitUsage
		}
		o.Format = f
	}
	o.Logger = e.logger
	s, err := camerasim.New(o)
	if err != nil {
		fmt.Fprintf(e.stderr, "sim camera: %v\n", err)
		return exitUsage
	}
	defer s.Close()
	fmt.Fprintf(e.stdout, "camera (%s) on %s\n", o.Protocol, s.Addr())
	e.logger.Info("camera simulator running", "protocol", o.Protocol, "tcp", s.Addr())

	shoot := func(data string) error {
		if data == "-" {
			s.Feed(camerasim.Shot{})
			return nil
		}
		m, err := gs1.Parse(data)
		if err != nil {
			return err
		}
		sym, err := datamatrix.EncodeGS1(m)
		if err != nil {
			return err
		}
		s.Feed(camerasim.Shot{Image: sym.Image(datamatrix.Options{ModuleDots: 4, QuietZone: 2}), Ref: m.Bracketed()})
		return nil
	}
	type stdinLine struct {
		n    int
		text string
	}
	lines := make(chan stdinLine)
	if *stdin {
		go func() { // ends with stdin; not waited for (stdin cannot be interrupted)
			sc := bufio.NewScanner(e.stdin)
			for n := 1; sc.Scan(); n++ {
				select {
				case lines <- stdinLine{n, strings.TrimRight(sc.Text(), "\r")}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, stop := context.WithCancel(ctx)
	defer stop() // before wg.Wait
	failed := make(<-chan error)
	if *shots != "" {
		failed, err = subscribeBus(rctx, &wg, e, bus.BusPrinter, *shots, "shots: prints from the printer bus at "+*shots,
			func(m bus.Message) {
				p, ok := m.(bus.Printed)
				if !ok {
					return
				}
				sh, err := p.Shot()
				if err != nil { // the camera sees a code it cannot read
					e.logger.Warn("camera simulator: print not rendered", "seq", p.Seq, "record", p.Record, "err", err)
					sh = camerasim.Shot{Seq: p.Seq, Ref: p.Record}
				}
				s.Feed(sh)
			})
		if err != nil {
			fmt.Fprintf(e.stderr, "sim camera: --shots: %v\n", err)
			return exitUsage
		}
	}
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	n := 0
	for {
		select {
		case <-ctx.Done():
			st := s.Stats()
			e.logger.Info("camera simulator stopped", "shots", st.Shots, "decoded", st.Decoded, "no_reads", st.NoReads)
			return exitOK
		case err := <-failed:
			fmt.Fprintf(e.stderr, "sim camera: --shots: %v\n", err)
			return exitFailure
		case line := <-lines:
			if line.text == "" {
				continue
			}
			if err := shoot(line.text); err != nil {
				fmt.Fprintf(e.stderr, "sim camera: stdin line %d %q: %v\n", line.n, line.text, err)
			}
		case <-tick:
			n++
			if err := shoot(generated(n)); err != nil {
				fmt.Fprintf(e.stderr, "sim camera: %v\n", err)
				return exitFailure
			}
		}
	}
}
