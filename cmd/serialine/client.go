package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/serialine/serialine/line/api"
)

// clientFlags are the connection flags shared by batch, status and unit.
type clientFlags struct {
	api, user, password, token, cacert string
	asJSON                             bool
	warn                               io.Writer // the flag set's output
	// passwordChange: the login may need a new password (serialine
	// passwd); other commands refuse such a login.
	passwordChange bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	c.warn = fs.Output()
	fs.StringVar(&c.api, "api", envOr("SERIALINE_API", "http://127.0.0.1:8080"), "controller API base URL (env SERIALINE_API)")
	fs.StringVar(&c.user, "user", os.Getenv("SERIALINE_USER"), "user name (env SERIALINE_USER)")
	fs.StringVar(&c.password, "password", "", "password (prefer env SERIALINE_PASSWORD)")
	fs.StringVar(&c.token, "token", "", "session token instead of user/password (env SERIALINE_TOKEN)")
	fs.StringVar(&c.cacert, "cacert", os.Getenv("SERIALINE_CACERT"), "PEM file of the CA that signed the controller's TLS certificate")
	fs.BoolVar(&c.asJSON, "json", false, "print the API's JSON answer")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// parseInterleaved parses flags that may come before or after positional
// arguments (serialine batch hold B1 --reason jam).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loopbackHost reports whether host (a URL's host name) is this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseArgs is parseInterleaved with the exit status of a failure: exitOK
// after -h, exitUsage for bad flags (the flag package printed why).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, exitOK, false
	case err != nil:
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// apiClient talks to a running controller's JSON API.
type apiClient struct {
	base   string
	http   *http.Client
	token  string
	logout bool // we logged in: log out at the end
}

// clientError is an API error answer.
type clientError struct {
	status int
	code   string
	msg    string
}

func (e *clientError) Error() string { return e.msg + " [" + e.code + "]" }

func (c *clientFlags) connect(ctx context.Context) (*apiClient, error) {
	u, err := url.Parse(c.api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want http(s)://host:port: %w", c.api, errClientUsage)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate found", c.cacert)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	cl := &apiClient{base: strings.TrimRight(c.api, "/"), http: hc}
	tok := c.token
	if tok == "" {
		tok = os.Getenv("SERIALINE_TOKEN")
	}
	if tok != "" {
		cl.token = tok
		return cl, nil
	}
	pw := c.password
	if pw == "" {
		pw = os.Getenv("SERIALINE_PASSWORD")
	}
	if c.user == "" || pw == "" {
		return nil, fmt.Errorf("credentials needed: --user and SERIALINE_PASSWORD (or --password), or SERIALINE_TOKEN: %w", errClientUsage)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		fmt.Fprintf(c.warn, "serialine: warning: the password of %s goes in clear text to %s; use https (--cacert for a private CA)\n", c.user, u.Host)
	}
	var lr api.LoginResponse
	if err := cl.do(ctx, "POST", "/api/v1/login", map[string]string{"user": c.user, "password": pw}, &lr, nil); err != nil {
		return nil, fmt.Errorf("login as %s: %w", c.user, err)
	}
	cl.token, cl.logout = lr.Token, true
	if lr.MustChange && !c.passwordChange {
		cl.close(ctx)
		return nil, fmt.Errorf("user %s must change the password first: serialine passwd --user %s, or log in on the HMI", c.user, c.user)
	}
	return cl, nil
}

func (cl *apiClient) close(ctx context.Context) {
	if cl.logout {
		_ = cl.do(ctx, "POST", "/api/v1/logout", nil, nil, nil)
	}
}

// do sends a request; out receives the decoded JSON, raw the raw body.
func (cl *apiClient) do(ctx context.Context, method, path string, body, out any, raw *[]byte) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%s %s: %w (is the controller running? address from --api or SERIALINE_API)", method, path, err)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			return &clientError{status: resp.StatusCode, code: eb.Error.Code, msg: eb.Error.Message}
		}
		return &clientError{status: resp.StatusCode, code: fmt.Sprintf("http_%d", resp.StatusCode), msg: strings.TrimSpace(string(b))}
	}
	if raw != nil {
		*raw = b
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// fail prints err and maps it to an exit status: bad input (HTTP 400) is a
// usage error, everything else a failure.
func clientFail(e env, what string, err error) int {
	fmt.Fprintf(e.stderr, "serialine: %s: %v\n", what, err)
	var ce *clientError
	if errors.As(err, &ce) && ce.status == http.StatusBadRequest || errors.Is(err, errClientUsage) {
		return exitUsage
	}
	return exitFailure
}

// errClientUsage marks a client error that is bad usage (exit 2): a
// malformed --api, missing credentials.
var errClientUsage = errors.New("bad usage")

func printJSON(w io.Writer, raw []byte) {
	var v any
	if json.Unmarshal(raw, &v) == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		raw = b
	}
	fmt.Fprintln(w, string(raw))
}

const batchUsage = `usage: serialine batch [flags] COMMAND [BATCH] [flags]
commands:
  start|hold|unhold|suspend|unsuspend|stop|complete|abort|clear|reset BATCH [--reason-code CODE] [--reason NOTE]
                      hold, stop, complete and abort need a reason code (serialine batch reasons)
  clearance BATCH --all --reason TEXT   confirm the line clearance checklist (e-signed) before start
  reasons             the line's reason codes per command
  create --id ID --gtin GTIN --lot LOT --expiry YYMMDD --target N [--profile eu-fmd] [--template NAME]
         [--nhrn VALUE]   national number (PZN, CIP …) required by eu-fmd-de/-fr/-es/-gr/-pt/-us-ndc
  show BATCH          one batch with its counters
  list                recent batches
  reconciliation BATCH
credentials: --user NAME with SERIALINE_PASSWORD (or --password), or SERIALINE_TOKEN; --api URL (SERIALINE_API)`

// cmdBatch runs batch commands against a running controller.
func cmdBatch(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprintln(e.stderr, batchUsage); fs.PrintDefaults() }
	var cf clientFlags
	cf.register(fs)
	reason := fs.String("reason", "", "note recorded with a PackML command (or the clearance's signature reason)")
	reasonCode := fs.String("reason-code", "", "reason code of hold, stop, complete or abort (see: serialine batch reasons)")
	all := fs.Bool("all", false, "clearance: every item of the checklist was checked")
	var def api.BatchDef
	fs.StringVar(&def.ID, "id", "", "create: batch id")
	fs.StringVar(&def.GTIN, "gtin", "", "create: GTIN (14 digits)")
	fs.StringVar(&def.Lot, "lot", "", "create: lot")
	fs.StringVar(&def.Expiry, "expiry", "", "create: expiry YYMMDD")
	fs.StringVar(&def.Profile, "profile", "", "create: market profile (eu-fmd, us-dscsa, …)")
	fs.StringVar(&def.Template, "template", "", "create: printer template")
	fs.StringVar(&def.NHRN, "nhrn", "", "create: national number (AI 710-715 of the profile: PZN for eu-fmd-de, CIP for eu-fmd-fr …)")
	fs.IntVar(&def.Target, "target", 0, "create: target quantity")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitUsage
	}
	cmd := strings.ToLower(pos[0])
	isPackML := false
	for _, c := range api.Commands() {
		if c == cmd {
			isPackML = true
		}
	}
	needBatch := isPackML || cmd == "show" || cmd == "reconciliation" || cmd == "clearance"
	switch {
	case !isPackML && cmd != "create" && cmd != "show" && cmd != "list" && cmd != "reconciliation" && cmd != "clearance" && cmd != "reasons":
		fmt.Fprintf(e.stderr, "serialine batch: unknown command %q\n%s\n", pos[0], batchUsage)
		return exitUsage
	case needBatch && len(pos) != 2:
		fmt.Fprintf(e.stderr, "serialine batch %s: want exactly one BATCH id\n", cmd)
		return exitUsage
	case !needBatch && len(pos) != 1:
		fmt.Fprintf(e.stderr, "serialine batch %s: unexpected arguments %q\n", cmd, pos[1:])
		return exitUsage
	}
	cl, err := cf.connect(ctx)
	if err != nil {
		return clientFail(e, "batch "+cmd, err)
	}
	defer cl.close(ctx)
	var raw []byte
	var b api.Batch
	switch {
	case cmd == "clearance":
		pw := cf.password
		if pw == "" {
			pw = os.Getenv("SERIALINE_PASSWORD")
		}
		if *reason == "" {
			*reason = "line clearance"
		}
		return batchClearance(ctx, e, cl, pos[1], *all, *reason, pw)
	case cmd == "reasons":
		var r api.Rules
		if err = cl.do(ctx, "GET", "/api/v1/shift/rules", nil, &r, &raw); err == nil && !cf.asJSON {
			for _, c := range []string{"hold", "stop", "complete", "abort"} {
				fmt.Fprintf(e.stdout, "%s:\n", c)
				for _, rc := range r.Reasons[c] {
					fmt.Fprintf(e.stdout, "  %-16s %s\n", rc.Code, rc.Text)
				}
			}
			return exitOK
		}
	case isPackML:
		var body any
		if *reason != "" || *reasonCode != "" {
			body = api.CommandRequest{Reason: *reason, ReasonCode: *reasonCode}
		}
		err = cl.do(ctx, "POST", "/api/v1/batches/"+url.PathEscape(pos[1])+"/"+cmd, body, &b, &raw)
	case cmd == "create":
		err = cl.do(ctx, "POST", "/api/v1/batches", def, &b, &raw)
	case cmd == "show":
		err = cl.do(ctx, "GET", "/api/v1/batches/"+url.PathEscape(pos[1]), nil, &b, &raw)
	case cmd == "list":
		var list []api.Batch
		if err = cl.do(ctx, "GET", "/api/v1/batches", nil, &list, &raw); err == nil && !cf.asJSON {
			for _, b := range list {
				fmt.Fprintf(e.stdout, "%-20s %-10s gtin %s lot %s  %d/%d good\n", b.ID, b.State, b.GTIN, b.Lot, b.Counters.Commissioned, b.Target)
			}
			return exitOK
		}
	case cmd == "reconciliation":
		var r api.Reconciliation
		if err = cl.do(ctx, "GET", "/api/v1/batches/"+url.PathEscape(pos[1])+"/reconciliation", nil, &r, &raw); err == nil && !cf.asJSON {
			printReconciliation(e.stdout, r)
			if !r.Balanced {
				return exitFailure
			}
			return exitOK
		}
	}
	if err != nil {
		return clientFail(e, "batch "+cmd, err)
	}
	if cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	if isPackML {
		fmt.Fprintf(e.stdout, "batch %s: %s accepted, state %s\n", b.ID, cmd, b.State)
		return exitOK
	}
	printBatch(e.stdout, b)
	return exitOK
}

func printBatch(w io.Writer, b api.Batch) {
	c := b.Counters
	nhrn := ""
	if b.NHRN != "" {
		nhrn = "  nhrn " + b.NHRN
	}
	fmt.Fprintf(w, "batch %s  state %s\n  gtin %s  lot %s  expiry %s  profile %s%s  target %d\n", b.ID, b.State, b.GTIN, b.Lot, b.Expiry, b.Profile, nhrn, b.Target)
	// Counters.Drawn is the cumulative number of serials drawn for the batch
	// (the reconciliation's "drawn"); the serials drawn but not yet queued
	// are what is left after every other state.
	inFlight := c.Queued + c.Printed + c.Verified
	accounted := c.Commissioned + c.Rejected + c.Sampled + c.Returned + c.Uncertain + inFlight
	total := max(c.Drawn, accounted)
	fmt.Fprintf(w, "  serials drawn %d: commissioned %d  rejected %d  sampled %d  returned %d  uncertain %d  in flight %d  drawn ahead %d\n",
		total, c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain, inFlight, total-accounted)
	if b.Signed != nil {
		fmt.Fprintf(w, "  reconciliation signed by %s (%s) %s: %s\n", b.Signed.User, b.Signed.Meaning, b.Signed.At.Format(time.RFC3339), b.Signed.Reason)
	}
}

func printReconciliation(w io.Writer, r api.Reconciliation) {
	fmt.Fprintf(w, "reconciliation of batch %s (%s%s)\n", r.Batch, r.State, map[bool]string{true: ", final", false: ", still running"}[r.Final])
	fmt.Fprintf(w, "  drawn %d = commissioned %d + rejected %d + sampled %d + returned %d + uncertain %d (in flight %d)\n",
		r.Drawn, r.Commissioned, r.Rejected, r.Sampled, r.Returned, r.Uncertain, r.InFlight)
	reasons := make([]string, 0, len(r.RejectedBy))
	for k, v := range r.RejectedBy {
		reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		fmt.Fprintf(w, "  rejected by reason: %s\n", strings.Join(reasons, ", "))
	}
	switch {
	case !r.Final:
		// units in flight are normal while the batch runs
		fmt.Fprintf(w, "  IN PROGRESS: the balance is checked once the batch is complete, stopped or aborted\n")
	case r.Balanced:
		fmt.Fprintln(w, "  BALANCED")
		if r.Deviations > 0 {
			fmt.Fprintf(w, "  DEVIATIONS: %d unit(s) need signing as approved-with-deviation\n", r.Deviations)
			for _, u := range r.Differences {
				fmt.Fprintf(w, "    %s %s %s\n", u.Serial, u.State, u.Reason)
			}
		}
	default:
		fmt.Fprintf(w, "  DOES NOT BALANCE: %d unit(s) differ\n", len(r.Differences))
		for _, u := range r.Differences {
			fmt.Fprintf(w, "    %s %s %s\n", u.Serial, u.State, u.Reason)
		}
	}
	if rv := r.Review; rv != nil {
		for _, sg := range rv.History {
			state := "valid"
			if !sg.Valid {
				state = "VOID: the record changed since"
			}
			fmt.Fprintf(w, "  %s signature: %s (%s, %s) %s %s: %s — %s\n", sg.Step, signerName(sg.Signature), sg.User, sg.Role, sg.Meaning,
				sg.At.Format(time.RFC3339), sg.Reason, state)
		}
		switch {
		case rv.ChangedAfterSigning:
			fmt.Fprintf(w, "  CHANGED AFTER SIGNING: signed drawn %d commissioned %d rejected %d sampled %d; now drawn %d commissioned %d rejected %d sampled %d\n",
				rv.Production.Figures.Drawn, rv.Production.Figures.Commissioned, rv.Production.Figures.Rejected, rv.Production.Figures.Sampled,
				rv.Current.Drawn, rv.Current.Commissioned, rv.Current.Rejected, rv.Current.Sampled)
		case rv.Released:
			fmt.Fprintln(w, "  RELEASED (production sign-off and QA release)")
		}
		if rv.Next != "" {
			fmt.Fprintf(w, "  next: %s signature (serialine sign %s --step %s …)\n", rv.Next, r.Batch, rv.Next)
		}
		if r.TimeZone != "" {
			fmt.Fprintf(w, "  times shown in %s (the line's time zone: see the HMI and the PDF record)\n", r.TimeZone)
		}
	} else if r.Signed != nil {
		fmt.Fprintf(w, "  signed by %s (%s) %s: %s\n", signerName(*r.Signed), r.Signed.Meaning, r.Signed.At.Format(time.RFC3339), r.Signed.Reason)
	}
}

// cmdStatus prints the line status of a running controller.
func cmdStatus(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	setUsage(fs, e.stderr, "[flags]")
	var cf clientFlags
	cf.register(fs)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		fmt.Fprintf(e.stderr, "serialine status: unexpected arguments %q\n", pos)
		return exitUsage
	}
	cl, err := cf.connect(ctx)
	if err != nil {
		return clientFail(e, "status", err)
	}
	defer cl.close(ctx)
	var st api.StatusView
	var raw []byte
	if err := cl.do(ctx, "GET", "/api/v1/status", nil, &st, &raw); err != nil {
		return clientFail(e, "status", err)
	}
	if cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "line %s  state %s  rate %.0f/min  printer queue %d  in flight %d  active alarms %d\n",
		st.Line, st.State, st.RatePerMin, st.PrinterQueue, st.InFlight, st.ActiveAlarms)
	if st.Held != nil {
		printHeld(e.stdout, *st.Held, st.TimeZone)
	}
	if st.Batch != nil {
		printBatch(e.stdout, *st.Batch)
	} else {
		fmt.Fprintln(e.stdout, "no batch")
	}
	for _, p := range st.Pools {
		fmt.Fprintf(e.stdout, "pool %s: %d available\n", p.GTIN, p.Available)
	}
	for _, d := range st.Devices {
		fmt.Fprintf(e.stdout, "device %-9s %-8s %-10s %s\n", d.Name, d.Kind, d.Link, d.Detail)
	}
	return exitOK
}

// printHeld says who or what held the line, when (in the line's time
// zone) and why, and the fault to fix before Unhold.
func printHeld(w io.Writer, h api.HoldInfo, tz string) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.Local
	}
	by := h.By.User
	if h.By.Role != "" {
		by += " (" + h.By.Role + ")"
	}
	fmt.Fprintf(w, "held by %s since %s", by, h.At.In(loc).Format("2006-01-02 15:04 MST"))
	if h.Reason != "" {
		fmt.Fprintf(w, ": %s", h.Reason)
	}
	fmt.Fprintln(w)
	if h.Alarm != nil {
		fmt.Fprintf(w, "  fault %s: %s\n", h.Alarm.Code, h.Alarm.Text)
	}
}

// cmdUnit looks up a unit by serial or by scanned code on a running
// controller.
func cmdUnit(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("unit", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: serialine unit [flags] SERIAL|CODE   (CODE: element string, (01)…(21)…, Digital Link; or a case/pallet SSCC (00)…: its contents)")
		fmt.Fprintln(e.stderr, "       serialine unit sample|reject|decommission SERIAL --reason TEXT   (e-signed with the login password)")
		fmt.Fprintln(e.stderr, "       serialine unit closeout SERIAL --outcome found-destroyed|not-found --note TEXT --reason TEXT")
		fs.PrintDefaults()
	}
	var cf clientFlags
	cf.register(fs)
	reason := fs.String("reason", "", "sample|reject|decommission|closeout: why")
	outcome := fs.String("outcome", "", "closeout: found-destroyed or not-found")
	note := fs.String("note", "", "closeout: where the pack was looked for")
	meaning := fs.String("meaning", "", "e-signature meaning (default approved; closeout: performed)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	isAction := len(pos) == 2 && (pos[0] == "sample" || pos[0] == "reject" || pos[0] == "decommission" || pos[0] == "closeout")
	if len(pos) != 1 && !isAction {
		fs.Usage()
		return exitUsage
	}
	if isAction && (*reason == "" || pos[0] == "closeout" && (*outcome == "" || *note == "")) {
		fmt.Fprintln(e.stderr, "serialine unit: an action needs --reason (closeout also --outcome found-destroyed|not-found and --note)")
		return exitUsage
	}
	cl, err := cf.connect(ctx)
	if err != nil {
		return clientFail(e, "unit", err)
	}
	defer cl.close(ctx)
	if isAction {
		pw := cf.password
		if pw == "" {
			pw = os.Getenv("SERIALINE_PASSWORD")
		}
		return unitAction(ctx, e, cl, pos[0], pos[1], *reason, *outcome, *note, *meaning, pw, true)
	}
	arg := pos[0]
	if isParentCode(arg) {
		if err := printParentLookup(ctx, cl, e.stdout, arg, cf.asJSON); err != nil {
			return clientFail(e, "unit", err)
		}
		return exitOK
	}
	var raw []byte
	var u *api.Unit
	isCode := strings.HasPrefix(arg, "(") || strings.HasPrefix(arg, "]") || strings.Contains(arg, "://") ||
		strings.Contains(arg, "\x1d") || (strings.HasPrefix(arg, "01") && len(arg) > 18 && clientAllDigits(arg[:16]))
	if isCode {
		var lr api.LookupResult
		if err := cl.do(ctx, "GET", "/api/v1/lookup?code="+url.QueryEscape(arg), nil, &lr, &raw); err != nil {
			return clientFail(e, "unit", err)
		}
		if cf.asJSON {
			printJSON(e.stdout, raw)
		} else if !lr.Ours {
			fmt.Fprintf(e.stdout, "NOT OURS: %s\n", lr.Problem)
			for _, m := range lr.Mismatches {
				fmt.Fprintf(e.stdout, "  mismatch %s\n", m)
			}
			if lr.Warning != "" {
				fmt.Fprintf(e.stdout, "  %s\n", lr.Warning)
			}
		}
		if !lr.Ours {
			return exitFailure
		}
		if cf.asJSON {
			return exitOK
		}
		u = lr.Unit
	} else {
		var one api.Unit
		if err := cl.do(ctx, "GET", "/api/v1/units/"+url.PathEscape(arg), nil, &one, &raw); err != nil {
			return clientFail(e, "unit", err)
		}
		if cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK
		}
		u = &one
	}
	fmt.Fprintf(e.stdout, "unit %s  gtin %s  batch %s  state %s", u.Serial, u.GTIN, u.Batch, u.State)
	if u.Reason != "" {
		fmt.Fprintf(e.stdout, " (%s)", u.Reason)
	}
	if u.Grade != nil {
		fmt.Fprintf(e.stdout, "  grade %.1f", *u.Grade)
	}
	fmt.Fprintln(e.stdout)
	if u.HRI != "" {
		fmt.Fprintf(e.stdout, "  printed %s  (lot %s, expiry %s)\n", u.HRI, orDash(u.Lot), orDash(u.Expiry))
	}
	u.Assess() // an older controller may not send saleable/warning
	if u.Warning != "" {
		fmt.Fprintf(e.stdout, "  %s\n", u.Warning)
	} else {
		fmt.Fprintln(e.stdout, "  saleable (commissioned)")
	}
	for _, h := range u.History {
		fmt.Fprintf(e.stdout, "  %s %-12s %s %s\n", h.At.Format(time.RFC3339), h.State, h.Reason, h.By)
	}
	printUnitChain(ctx, cl, e.stdout, u.Serial)
	return exitOK
}

// signerName is "Full Name" or the user.
func signerName(s api.Signature) string {
	if s.FullName != "" {
		return s.FullName
	}
	return s.User
}

func clientAllDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// orDash is s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
