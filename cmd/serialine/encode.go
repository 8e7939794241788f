package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/serialine/serialine/printer/datamatrix"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// encodeConfig is what the encode flags resolve to.
type encodeConfig struct {
	format  string
	cpLen   int
	gcp     gcp.Lookup
	out     string
	base    string
	profile *gs1.Profile
	render  datamatrix.Options
	batch   bool
	noAssoc bool
}

// cmdEncode builds GS1 element strings, Digital Link / EPC URIs and GS1
// DataMatrix symbols from bracketed, raw or Digital Link input.
func cmdEncode(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var c encodeConfig
	var profile string
	fs.StringVar(&c.format, "format", "element", "output: element|bracketed|hri|dl|epc|png|dump|dumphex")
	fs.IntVar(&c.cpLen, "company-prefix-length", 0, "GS1 Company Prefix length for --format epc (6..12); or --gcp-file")
	gcpFile := fs.String("gcp-file", "", "GS1 GCP prefix format list (XML or JSON) giving the company prefix length for --format epc")
	fs.StringVar(&c.out, "out", "", "output file (png: the PNG; with --batch and png: a directory for numbered files)")
	fs.StringVar(&c.base, "dl-base", "", "Digital Link resolver base URI (default https://id.gs1.org)")
	fs.StringVar(&profile, "profile", "", "also check a market profile (us-dscsa, eu-fmd, eu-fmd-de, …)")
	fs.IntVar(&c.render.QuietZone, "quiet-zone", 1, "quiet zone in modules (>= 1)")
	fs.IntVar(&c.render.ModuleDots, "module-dots", 0, "module size in printer dots (default from --dpi and --module-mm, else 4)")
	fs.IntVar(&c.render.DPI, "dpi", 0, "printer resolution in dots per inch")
	fs.Float64Var(&c.render.ModuleMM, "module-mm", 0, "module size in mm (with --dpi)")
	fs.BoolVar(&c.batch, "batch", false, "read one input per line from stdin, write one result per line")
	fs.BoolVar(&c.noAssoc, "no-associations", false, "skip the dictionary's required/excluded AI pairing rules")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: serialine encode [--format element|bracketed|hri|dl|epc|png|dump|dumphex] [--company-prefix-length N | --gcp-file FILE] [--out FILE] [--batch] DATA")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *gcpFile != "" {
		l, err := gcp.Load(*gcpFile)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine encode:", err)
			return exitUsage
		}
		c.gcp = l
	}
	if c.format == "epc" && c.cpLen == 0 && c.gcp == nil {
		fmt.Fprintln(e.stderr, "serialine encode: --format epc needs --company-prefix-length N or --gcp-file FILE (the GS1 Company Prefix length cannot be derived from the GTIN)")
		return exitUsage
	}
	switch c.format {
	case "element", "bracketed", "hri", "dl", "epc", "png", "dump", "dumphex":
	default:
		fmt.Fprintf(e.stderr, "serialine encode: unknown --format %q\n", c.format)
		return exitUsage
	}
	if msgs := flagProblems(c.render); len(msgs) > 0 {
		for _, m := range msgs {
			fmt.Fprintln(e.stderr, "serialine encode: "+m)
		}
		return exitUsage
	}
	if profile != "" {
		p, err := gs1.LookupProfile(profile)
		if err != nil {
			fmt.Fprintf(e.stderr, "serialine encode: --profile %q: %v\n", profile, err)
			return exitUsage
		}
		c.profile = &p
	}
	if c.batch {
		if fs.NArg() != 0 {
			fmt.Fprintln(e.stderr, "serialine encode: --batch reads stdin; no DATA argument")
			return exitUsage
		}
		return encodeBatch(ctx, e, &c)
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(e.stderr, "serialine encode: unexpected argument %q (one DATA; quote it if it holds spaces, or use --batch)\n", fs.Arg(1))
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	w := bufio.NewWriter(e.stdout)
	enc := datamatrix.NewEncoder()
	var sym datamatrix.Symbol
	var buf []byte
	var err error
	if c.format == "png" {
		err = encodeOnePNG(&c, enc, fs.Arg(0), c.out, e.stdout)
	} else {
		buf, err = encodeOne(&c, enc, &sym, fs.Arg(0), buf)
		if err == nil {
			w.Write(buf)
		}
	}
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine encode: "+oneLine(err))
		var ge *gs1.Error
		if errors.As(err, &ge) || errors.Is(err, datamatrix.ErrTooLong) || errors.Is(err, gs1.ErrNoGTIN) || errors.Is(err, gs1.ErrCompanyPrefix) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// flagProblems lists every bad rendering flag (none: nil).
func flagProblems(o datamatrix.Options) []string {
	var msgs []string
	if o.QuietZone < 1 {
		msgs = append(msgs, fmt.Sprintf("--quiet-zone %d: must be >= 1", o.QuietZone))
	}
	if o.ModuleDots < 0 {
		msgs = append(msgs, fmt.Sprintf("--module-dots %d: must be >= 1", o.ModuleDots))
	}
	if o.DPI < 0 {
		msgs = append(msgs, fmt.Sprintf("--dpi %d: must be > 0", o.DPI))
	}
	if o.ModuleMM < 0 {
		msgs = append(msgs, fmt.Sprintf("--module-mm %g: must be > 0", o.ModuleMM))
	}
	if o.ModuleDots == 0 && (o.DPI > 0) != (o.ModuleMM > 0) {
		msgs = append(msgs, "--dpi and --module-mm must be given together (or use --module-dots)")
	}
	return msgs
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func (c *encodeConfig) parse(in string) (gs1.Message, error) {
	o := gs1.Options{SkipAssociations: c.noAssoc}
	m, err := o.Parse(in)
	if err != nil {
		return m, err
	}
	if c.profile != nil {
		if err := c.profile.Check(m); err != nil {
			return m, err
		}
	}
	return m, nil
}

// encodeOne appends the text result for one input (with its trailing
// newline) to buf.
func encodeOne(c *encodeConfig, enc *datamatrix.Encoder, sym *datamatrix.Symbol, in string, buf []byte) ([]byte, error) {
	m, err := c.parse(in)
	if err != nil {
		return buf, err
	}
	switch c.format {
	case "element":
		buf = m.AppendElementString(buf)
	case "bracketed":
		buf = append(buf, m.Bracketed()...)
	case "hri":
		buf = append(buf, m.HRI()...)
	case "dl":
		s, err := m.DigitalLink(c.base)
		if err != nil {
			return buf, err
		}
		buf = append(buf, s...)
	case "epc":
		n := c.cpLen
		if c.gcp != nil {
			gtin, _ := m.Value("01")
			var err error
			if n, err = c.gcp.PrefixLength(gtin); err != nil {
				return buf, err
			}
		}
		s, err := m.EPC(n)
		if err != nil {
			return buf, err
		}
		buf = append(buf, s...)
	case "dump", "dumphex":
		start := len(buf)
		buf = m.AppendElementString(buf)
		data := string(buf[start:])
		buf = buf[:start]
		if err := enc.EncodeInto(sym, data, true); err != nil {
			return buf, err
		}
		if c.format == "dump" {
			return sym.AppendDump(buf), nil
		}
		return sym.AppendDumpHex(buf), nil
	}
	return append(buf, '\n'), nil
}

func encodeOnePNG(c *encodeConfig, enc *datamatrix.Encoder, in, out string, stdout io.Writer) error {
	m, err := c.parse(in)
	if err != nil {
		return err
	}
	sym, err := enc.Encode(m.ElementString(), true)
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		return sym.PNG(stdout, c.render)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := sym.PNG(f, c.render); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// encodeBatch reads stdin line by line. Bad lines are reported on stderr
// ("line N: …"), an empty result line keeps the output aligned, and the
// exit status is 2 when any line was bad.
func encodeBatch(ctx context.Context, e env, c *encodeConfig) int {
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	w := bufio.NewWriterSize(e.stdout, 256*1024)
	enc := datamatrix.NewEncoder()
	var sym datamatrix.Symbol
	var buf []byte
	bad := 0
	n := 0
	if c.format == "png" {
		if c.out == "" {
			fmt.Fprintln(e.stderr, "serialine encode: --batch --format png needs --out DIR")
			return exitUsage
		}
		if err := os.MkdirAll(c.out, 0o755); err != nil {
			fmt.Fprintln(e.stderr, "serialine encode:", err)
			return exitFailure
		}
	}
	for sc.Scan() {
		if n&1023 == 0 && ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "serialine encode: interrupted")
			w.Flush()
			return exitFailure
		}
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		var err error
		if c.format == "png" {
			name := filepath.Join(c.out, fmt.Sprintf("%06d.png", n))
			if err = encodeOnePNG(c, enc, line, name, nil); err == nil {
				fmt.Fprintln(w, name)
			}
		} else {
			if c.format == "dump" || c.format == "dumphex" {
				if n > 1 && c.format == "dump" {
					buf = append(buf, '\n')
				}
			}
			buf, err = encodeOne(c, enc, &sym, line, buf)
		}
		if err != nil {
			bad++
			fmt.Fprintf(e.stderr, "serialine encode: line %d: %s\n", n, oneLine(err))
			if c.format != "dump" && c.format != "dumphex" {
				buf = append(buf, '\n')
			}
		}
		if len(buf) > 128*1024 {
			if _, werr := w.Write(buf); werr != nil {
				fmt.Fprintln(e.stderr, "serialine encode:", werr)
				return exitFailure
			}
			buf = buf[:0]
		}
	}
	w.Write(buf)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(e.stderr, "serialine encode:", err)
		return exitFailure
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(e.stderr, "serialine encode: reading stdin:", err)
		return exitFailure
	}
	if bad > 0 {
		fmt.Fprintf(e.stderr, "serialine encode: %d of %d inputs rejected\n", bad, n)
		return exitUsage
	}
	return exitOK
}
