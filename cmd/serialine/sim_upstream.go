package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/serialine/serialine/line/upstreamsim"
	openscssim "github.com/serialine/serialine/line/upstreamsim/openscs"
)

// cmdSimUpstream runs the reference site server standalone until interrupted.
func cmdSimUpstream(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim upstream", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("listen", "127.0.0.1:8600", "address to listen on")
	token := fs.String("token", "", "bearer token clients must present (empty: any)")
	mode := fs.String("mode", "random", "serial generation: random (GS1 non-predictable) or sequential")
	length := fs.Int("length", 12, "serial length (1..20)")
	prefix := fs.String("prefix", "", "prefix of sequential serials")
	scsAddr := fs.String("open-scs", "", "also serve an OPC 30260 Open-SCS site server (OPC UA) on this host:port (port 0 = a free one)")
	setUsage(fs, e.stderr, "[flags]")
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "serialine: sim upstream: unexpected arguments %v\n"); !ok {
		return code
	}
	o := upstreamsim.Options{Addr: *addr, Token: *token, Mode: upstreamsim.Mode(*mode),
		SerialLength: *length, Prefix: *prefix, Logger: e.logger}
	if _, err := upstreamsim.New(o); err != nil { // bad flags: usage
		fmt.Fprintln(e.stderr, "serialine: sim upstream:", err)
		return exitUsage
	}
	s, err := upstreamsim.Start(o)
	if err != nil { // cannot listen: a failure, not bad usage
		fmt.Fprintln(e.stderr, "serialine: sim upstream:", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "upstream site server listening on %s\n", s.URL())
	fmt.Fprintf(e.stdout, "EPCIS 2.0 capture interface at %s/capture\n", s.URL())
	if *scsAddr != "" {
		scs, err := openscssim.Start(openscssim.Options{Addr: *scsAddr, SerialLength: *length, Logger: e.logger})
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine: sim upstream: open-scs:", err)
			s.Close()
			return exitFailure
		}
		defer scs.Close()
		fmt.Fprintf(e.stdout, "open-scs site server listening on %s\n", scs.Endpoint())
	}
	<-ctx.Done()
	if err := s.Close(); err != nil {
		fmt.Fprintln(e.stderr, "serialine: sim upstream: close:", err)
		return exitFailure
	}
	return exitOK
}
