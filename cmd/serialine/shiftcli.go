package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/records"
)

// The shift's commands on a running controller (CLI parity with the HMI):
// alarms, sign, report, audit, users, products, clearance. Signatures
// (sign, clearance, unit actions, close-outs) re-use the login password
// (SERIALINE_PASSWORD or --password) as the e-signature's password: the
// signer types it for this one command, as on the HMI.

// clientCmd is the common frame: flags, positional args, a connected client.
type clientCmd struct {
	fs  *flag.FlagSet
	cf  clientFlags
	pos []string
}

func newClientCmd(e env, name, synopsis string) *clientCmd {
	c := &clientCmd{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(e.stderr)
	c.fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: serialine %s %s\nflags:\n", name, synopsis)
		c.fs.PrintDefaults()
	}
	c.cf.register(c.fs)
	return c
}

func (c *clientCmd) parse(args []string) (int, bool) {
	pos, code, ok := parseArgs(c.fs, args)
	c.pos = pos
	return code, ok
}

// password is the e-signature password: the login password.
func (c *clientCmd) password() string {
	if c.cf.password != "" {
		return c.cf.password
	}
	return os.Getenv("SERIALINE_PASSWORD")
}

func usageErr(e env, c *clientCmd, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "serialine %s: %s\n", c.fs.Name(), fmt.Sprintf(format, args...))
	c.fs.Usage()
	return exitUsage
}

// cmdAlarms: serialine alarms [list] [--view V] [--batch B] | ack ID… | ack --all
func cmdAlarms(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "alarms", "[list] [--view attention|active|unacked|history] [--batch ID]  |  ack ID…  |  ack --all")
	view := c.fs.String("view", "attention", "list: attention (active or not acknowledged), active, unacked or history")
	batch := c.fs.String("batch", "", "list: only alarms raised during this batch")
	all := c.fs.Bool("all", false, "ack: acknowledge every unacknowledged alarm")
	if code, ok := c.parse(args); !ok {
		return code
	}
	sub := "list"
	if len(c.pos) > 0 {
		sub = c.pos[0]
	}
	switch {
	case sub == "list" && len(c.pos) <= 1:
	case sub == "ack" && (*all || len(c.pos) > 1):
	default:
		return usageErr(e, c, "want list, ack ID… or ack --all")
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "alarms", err)
	}
	defer cl.close(ctx)
	var raw []byte
	if sub == "list" {
		var as []api.Alarm
		if err := cl.do(ctx, "GET", "/api/v1/alarms?view="+url.QueryEscape(*view)+"&batch="+url.QueryEscape(*batch), nil, &as, &raw); err != nil {
			return clientFail(e, "alarms", err)
		}
		if c.cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK
		}
		if len(as) == 0 {
			fmt.Fprintln(e.stdout, "no alarms")
		}
		for _, a := range as {
			state := "ACTIVE"
			if !a.Active {
				state = "cleared " + a.Cleared.Format(time.RFC3339) + " by " + a.ClearedBy
			}
			ack := "NOT ACKNOWLEDGED"
			if a.Acked {
				ack = "acknowledged by " + a.AckedBy + " " + a.AckedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(e.stdout, "%-5s %-7s %-20s %s\n      raised %s by %s · %s · %s\n", a.ID, a.Severity, a.Code, a.Text,
				a.Raised.Format(time.RFC3339), a.RaisedBy, ack, state)
		}
		return exitOK
	}
	if *all {
		var as []api.Alarm
		if err := cl.do(ctx, "POST", "/api/v1/alarms/ack-all", nil, &as, &raw); err != nil {
			return clientFail(e, "alarms ack", err)
		}
		fmt.Fprintf(e.stdout, "%d alarm(s) acknowledged\n", len(as))
		return exitOK
	}
	failed := false
	for _, id := range c.pos[1:] {
		var a api.Alarm
		if err := cl.do(ctx, "POST", "/api/v1/alarms/"+url.PathEscape(id)+"/ack", nil, &a, nil); err != nil {
			clientFail(e, "alarms ack "+id, err)
			failed = true
			continue
		}
		fmt.Fprintf(e.stdout, "%s acknowledged: %s\n", a.ID, a.Text)
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// cmdSign: serialine sign BATCH [--step production|qa] --meaning M --reason R
func cmdSign(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "sign", "BATCH [--step production|qa] --meaning approved|approved-with-deviation|released|released-with-deviation --reason TEXT")
	step := c.fs.String("step", "production", "review step: production (sign-off) or qa (release)")
	meaning := c.fs.String("meaning", "", "what the signature means")
	reason := c.fs.String("reason", "", "why (recorded with the signature)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) != 1 || *meaning == "" || *reason == "" {
		return usageErr(e, c, "want one BATCH, --meaning and --reason")
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "sign", err)
	}
	defer cl.close(ctx)
	var rec api.Reconciliation
	var raw []byte
	if err := cl.do(ctx, "POST", "/api/v1/batches/"+url.PathEscape(c.pos[0])+"/reconciliation/sign",
		api.SignRequest{Step: *step, Password: c.password(), Meaning: *meaning, Reason: *reason}, &rec, &raw); err != nil {
		return clientFail(e, "sign", err)
	}
	if c.cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	printReconciliation(e.stdout, rec)
	return exitOK
}

// cmdReport: serialine report BATCH [--format pdf|csv|json|html] [--out FILE]
func cmdReport(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "report", "BATCH [--format pdf|csv|json|html] [--out FILE]")
	format := c.fs.String("format", "pdf", "pdf (batch record), csv, json or html")
	out := c.fs.String("out", "", "file to write (default batch-record-BATCH.<format>; - = standard output)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) != 1 {
		return usageErr(e, c, "want one BATCH")
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "report", err)
	}
	defer cl.close(ctx)
	var raw []byte
	if err := cl.do(ctx, "GET", "/api/v1/batches/"+url.PathEscape(c.pos[0])+"/report?format="+url.QueryEscape(*format), nil, nil, &raw); err != nil {
		return clientFail(e, "report", err)
	}
	path := *out
	if path == "" {
		path = "batch-record-" + strings.Map(func(r rune) rune {
			if r == '/' || r == '\\' || r < ' ' {
				return '_'
			}
			return r
		}, c.pos[0]) + "." + *format
	}
	if path == "-" {
		e.stdout.Write(raw)
		return exitOK
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		fmt.Fprintf(e.stderr, "serialine report: cannot write %s: %v\n", path, err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "%s (%d bytes)\n", path, len(raw))
	return exitOK
}

// cmdAudit: serialine audit [--who U] [--action A] [--since T] [--limit N]
func cmdAudit(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "audit", "[--who USER] [--action api.batch.*] [--since RFC3339] [--limit N]")
	who := c.fs.String("who", "", "only entries of this user")
	action := c.fs.String("action", "", "only this action (prefix ending in * allowed)")
	since := c.fs.String("since", "", "only entries at or after this time (RFC 3339)")
	limit := c.fs.Int("limit", 100, "newest N entries")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) != 0 {
		return usageErr(e, c, "unexpected arguments %q", c.pos)
	}
	q := url.Values{"who": {*who}, "action": {*action}, "limit": {strconv.Itoa(*limit)}, "newest": {"1"}}
	if *since != "" {
		q.Set("since", *since)
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "audit", err)
	}
	defer cl.close(ctx)
	var recs []api.AuditRecord
	var raw []byte
	if err := cl.do(ctx, "GET", "/api/v1/audit?"+q.Encode(), nil, &recs, &raw); err != nil {
		return clientFail(e, "audit", err)
	}
	if c.cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	for _, r := range recs {
		fmt.Fprintf(e.stdout, "%6d %s %-10s %-10s %-28s %s", r.Seq, r.At.Format(time.RFC3339), r.Who, r.Role, r.Action, r.Reason)
		if r.Before != "" || r.After != "" {
			fmt.Fprintf(e.stdout, " | %s -> %s", r.Before, r.After)
		}
		fmt.Fprintln(e.stdout)
	}
	return exitOK
}

// cmdUsers: serialine users list | create NAME --full-name N --role R [--lang L] | unlock|disable|enable NAME | reset NAME
func cmdUsers(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "users", "list | create NAME --full-name NAME --role operator|supervisor|qa|admin [--lang en|de] | unlock|disable|enable|reset NAME\n"+
		"  create and reset take the temporary password from SERIALINE_NEW_PASSWORD (the user changes it at the first login: serialine passwd)")
	full := c.fs.String("full-name", "", "create: the person's full name (printed with every signature)")
	role := c.fs.String("role", "", "create: role")
	lang := c.fs.String("lang", "", "create: language (en, de)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) == 0 {
		c.pos = []string{"list"}
	}
	sub := c.pos[0]
	switch {
	case sub == "list" && len(c.pos) == 1:
	case sub == "create" && len(c.pos) == 2 && *full != "" && *role != "":
	case (sub == "unlock" || sub == "disable" || sub == "enable" || sub == "reset") && len(c.pos) == 2:
	default:
		return usageErr(e, c, "want list, create NAME --full-name … --role …, or unlock|disable|enable|reset NAME")
	}
	temp := os.Getenv("SERIALINE_NEW_PASSWORD")
	if (sub == "create" || sub == "reset") && temp == "" {
		return usageErr(e, c, "%s: set the temporary password in SERIALINE_NEW_PASSWORD (the user changes it at the first login)", sub)
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "users", err)
	}
	defer cl.close(ctx)
	var raw []byte
	switch sub {
	case "list":
		var us []struct {
			Name, Role, Lang string
			FullName         string    `json:"full_name"`
			Disabled         bool      `json:"disabled"`
			MustChange       bool      `json:"must_change"`
			LockedUntil      time.Time `json:"locked_until"`
		}
		if err := cl.do(ctx, "GET", "/api/v1/users", nil, &us, &raw); err != nil {
			return clientFail(e, "users", err)
		}
		if c.cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK
		}
		for _, u := range us {
			st := "active"
			switch {
			case u.Disabled:
				st = "disabled"
			case time.Now().Before(u.LockedUntil):
				st = "locked until " + u.LockedUntil.Format(time.RFC3339)
			case u.MustChange:
				st = "must change password"
			}
			fmt.Fprintf(e.stdout, "%-16s %-24s %-10s %-3s %s\n", u.Name, u.FullName, u.Role, u.Lang, st)
		}
		return exitOK
	case "create":
		err = cl.do(ctx, "POST", "/api/v1/users", map[string]string{"name": c.pos[1], "full_name": *full, "role": *role, "lang": *lang, "password": temp}, nil, &raw)
	case "unlock":
		err = cl.do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(c.pos[1]), map[string]any{"unlock": true}, nil, &raw)
	case "disable", "enable":
		err = cl.do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(c.pos[1]), map[string]any{"disabled": sub == "disable"}, nil, &raw)
	case "reset":
		err = cl.do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(c.pos[1]), map[string]any{"password": temp}, nil, &raw)
	}
	if err != nil {
		return clientFail(e, "users "+sub, err)
	}
	fmt.Fprintf(e.stdout, "user %s: %s done\n", c.pos[1], sub)
	return exitOK
}

// cmdPasswd: serialine passwd --user NAME — change one's own password
// (the first login's one-time or temporary password too). The current
// password comes from SERIALINE_PASSWORD (or --password), the new one from
// SERIALINE_NEW_PASSWORD.
func cmdPasswd(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "passwd", "--user NAME   (current password in SERIALINE_PASSWORD, new password in SERIALINE_NEW_PASSWORD)")
	c.cf.passwordChange = true
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) != 0 {
		return usageErr(e, c, "unexpected arguments %q", c.pos)
	}
	if c.cf.token != "" || os.Getenv("SERIALINE_TOKEN") != "" {
		return usageErr(e, c, "give --user and the current password (SERIALINE_PASSWORD), not a token")
	}
	old := c.password()
	nw := os.Getenv("SERIALINE_NEW_PASSWORD")
	if c.cf.user == "" || old == "" || nw == "" {
		return usageErr(e, c, "want --user NAME, the current password in SERIALINE_PASSWORD and the new one in SERIALINE_NEW_PASSWORD")
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "passwd", err)
	}
	defer cl.close(ctx)
	if err := cl.do(ctx, "POST", "/api/v1/password", map[string]string{"old": old, "new": nw}, nil, nil); err != nil {
		return clientFail(e, "passwd", err)
	}
	fmt.Fprintf(e.stdout, "password of %s changed (other sessions of %s ended)\n", c.cf.user, c.cf.user)
	return exitOK
}

// cmdShift: serialine shift report [--at T] | handovers | handover --note TEXT | ack HID
func cmdShift(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "shift", "report [--at RFC3339]  |  handovers [--limit N]  |  handover --note TEXT [--reason TEXT]  |  ack HID [--reason TEXT]\n"+
		"  handover and ack are e-signed with the login password (SERIALINE_PASSWORD)")
	at := c.fs.String("at", "", "report: a time in the shift (RFC 3339; default now)")
	limit := c.fs.Int("limit", 20, "handovers: newest N")
	note := c.fs.String("note", "", "handover: what the next shift must know (open points, material, faults)")
	reason := c.fs.String("reason", "", "handover, ack: the signature's reason (default: shift handover / handover acknowledged)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	sub := "report"
	if len(c.pos) > 0 {
		sub = c.pos[0]
	}
	switch {
	case (sub == "report" || sub == "handovers") && len(c.pos) <= 1:
	case sub == "handover" && len(c.pos) == 1 && strings.TrimSpace(*note) != "":
	case sub == "ack" && len(c.pos) == 2:
	default:
		return usageErr(e, c, "want report, handovers, handover --note TEXT or ack HID")
	}
	if *at != "" {
		if _, err := time.Parse(time.RFC3339, *at); err != nil {
			return usageErr(e, c, "--at %q: want an RFC 3339 time (2026-12-07T06:00:00+01:00)", *at)
		}
	}
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "shift", err)
	}
	defer cl.close(ctx)
	// call sends one request; done: the command ends with code (an error,
	// or --json printed the answer).
	call := func(method, path string, body, out any) (code int, done bool) {
		var raw []byte
		if err := cl.do(ctx, method, path, body, out, &raw); err != nil {
			return clientFail(e, "shift "+sub, err), true
		}
		if c.cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK, true
		}
		return exitOK, false
	}
	sign := func(meaning, reason string) *api.SignatureRequest {
		return &api.SignatureRequest{Password: c.password(), Meaning: meaning, Reason: reason}
	}
	switch sub {
	case "report":
		var rep api.ShiftReport
		if code, done := call("GET", "/api/v1/shift/report?at="+url.QueryEscape(*at), nil, &rep); done {
			return code
		}
		printShiftReport(e.stdout, rep)
	case "handovers":
		var hs []records.Handover
		if code, done := call("GET", "/api/v1/shift/handovers?limit="+strconv.Itoa(*limit), nil, &hs); done {
			return code
		}
		if len(hs) == 0 {
			fmt.Fprintln(e.stdout, "no handovers")
		}
		for _, h := range hs {
			printHandover(e.stdout, h)
		}
	case "handover", "ack":
		var h records.Handover
		path, body := "/api/v1/shift/handovers", any(api.HandoverRequest{Note: *note, Signature: sign(api.MeaningHandedOver, meaningOr(*reason, "shift handover"))})
		if sub == "ack" {
			path = "/api/v1/shift/handovers/" + url.PathEscape(c.pos[1]) + "/ack"
			body = api.HandoverAckRequest{Signature: sign(api.MeaningAcknowledged, meaningOr(*reason, "handover acknowledged"))}
		}
		if code, done := call("POST", path, body, &h); done {
			return code
		}
		printHandover(e.stdout, h)
	}
	return exitOK
}

func printShiftReport(w io.Writer, r api.ShiftReport) {
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		loc = time.Local
	}
	fmt.Fprintf(w, "shift %s – %s (%s)\n", r.Start.In(loc).Format("2006-01-02 15:04"), r.End.In(loc).Format("2006-01-02 15:04"), loc)
	fmt.Fprintf(w, "  %s\n", shiftCountsText(r.Counts))
	for _, b := range r.Batches {
		fmt.Fprintf(w, "  batch %-20s %-10s %s\n", b.ID, b.State, shiftCountsText(b.Counts))
	}
	if len(r.Batches) == 0 {
		fmt.Fprintln(w, "  no batch drew serials in this shift")
	}
	fmt.Fprintf(w, "open alarms %d\n", len(r.OpenAlarms))
	for _, a := range r.OpenAlarms {
		fmt.Fprintf(w, "  %s %s %s\n", a.ID, a.Code, a.Text)
	}
	fmt.Fprintf(w, "open deviations %d\n", len(r.Deviations))
	for _, d := range r.Deviations {
		fmt.Fprintf(w, "  %s\n", d)
	}
	fmt.Fprintf(w, "batch records waiting for a signature %d\n", len(r.Unsigned))
	for _, u := range r.Unsigned {
		fmt.Fprintf(w, "  %s\n", u)
	}
	for _, h := range r.Handovers {
		printHandover(w, h)
	}
}

func shiftCountsText(c records.ShiftCounts) string {
	return fmt.Sprintf("drawn %d: commissioned %d, rejected %d, sampled %d, returned %d, uncertain %d",
		c.Drawn, c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain)
}

func printHandover(w io.Writer, h records.Handover) {
	fmt.Fprintf(w, "handover %s of the shift from %s: handed over by %s %s\n  note: %s\n", h.ID, h.ShiftStart.Format(time.RFC3339),
		h.Outgoing.Name(), h.Outgoing.At.Format(time.RFC3339), h.Note)
	if h.Incoming != nil {
		fmt.Fprintf(w, "  acknowledged by %s %s\n", h.Incoming.Name(), h.Incoming.At.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "  NOT ACKNOWLEDGED (incoming shift: serialine shift ack %s)\n", h.ID)
	}
}

// cmdProducts: serialine products list | show GTIN | set GTIN [--name …] … --reason …
func cmdProducts(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "products", "list | show GTIN | set GTIN --reason TEXT [--name NAME] [--profile P] [--gcp-length N] [--min-shelf-life DAYS] [--template T] [--max-batch N] [--levels unit:1,case:12,pallet:80 (a level name:quantity[:sscc] or name:quantity:sgtin:GTIN)] [--inactive[=false]]\n"+
		"  set on a product that exists starts from its current version and changes only the flags given (--levels \"\" removes the levels);\n"+
		"  a new product needs --name, --profile, --gcp-length and --min-shelf-life")
	name := c.fs.String("name", "", "set: product name")
	profile := c.fs.String("profile", "", "set: market profile (eu-fmd, us-dscsa, eu-fmd-de …)")
	template := c.fs.String("template", "", "set: printer template")
	gcp := c.fs.Int("gcp-length", 0, "set: GS1 company prefix length of the GTIN (6-12)")
	shelf := c.fs.Int("min-shelf-life", -1, "set: minimum remaining shelf life at batch creation, days")
	maxBatch := c.fs.Int("max-batch", 0, "set: largest batch (units; 0 = 1000000)")
	levels := c.fs.String("levels", "", "set: packaging levels, innermost first: name:quantity (SSCC) or name:quantity:sgtin:GTIN, comma separated (unit:1,case:12,pallet:80); \"\" removes them")
	inactive := c.fs.Bool("inactive", false, "set: no new batches for this product (--inactive=false: active again)")
	reason := c.fs.String("reason", "", "set: why (change control reference)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if len(c.pos) == 0 {
		c.pos = []string{"list"}
	}
	sub := c.pos[0]
	switch {
	case sub == "list" && len(c.pos) == 1:
	case sub == "show" && len(c.pos) == 2:
	case sub == "set" && len(c.pos) == 2:
		if *reason == "" {
			return usageErr(e, c, "set needs --reason")
		}
	default:
		return usageErr(e, c, "want list, show GTIN or set GTIN …")
	}
	lv, err := records.ParseLevels(*levels)
	if err != nil {
		return usageErr(e, c, "--levels: %v", err)
	}
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	cl, err := c.cf.connect(ctx)
	if err != nil {
		return clientFail(e, "products", err)
	}
	defer cl.close(ctx)
	var raw []byte
	switch sub {
	case "list":
		var ps []records.Product
		if err := cl.do(ctx, "GET", "/api/v1/products", nil, &ps, &raw); err != nil {
			return clientFail(e, "products", err)
		}
		if c.cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK
		}
		if len(ps) == 0 {
			fmt.Fprintln(e.stdout, "no products in the product master (add one: serialine products set GTIN --name … --profile … --gcp-length … --min-shelf-life … --reason …)")
		}
		for _, p := range ps {
			fmt.Fprintf(e.stdout, "%s  %-32s %-10s shelf life %4d d  v%d%s\n", p.GTIN, p.Name, p.Profile, p.MinShelfLifeDays, p.Version,
				map[bool]string{true: "", false: "  INACTIVE"}[p.Active])
		}
		return exitOK
	case "show":
		var pv api.ProductView
		if err := cl.do(ctx, "GET", "/api/v1/products/"+url.PathEscape(c.pos[1]), nil, &pv, &raw); err != nil {
			return clientFail(e, "products show", err)
		}
		if c.cf.asJSON {
			printJSON(e.stdout, raw)
			return exitOK
		}
		printProduct(e, pv)
		return exitOK
	}
	// set: start from the current version (if any), change what was given
	gtin := c.pos[1]
	var cur *records.Product
	var old api.ProductView
	err = cl.do(ctx, "GET", "/api/v1/products/"+url.PathEscape(gtin), nil, &old, nil)
	var ce *clientError
	switch {
	case err == nil:
		cur = &old.Product
	case errors.As(err, &ce) && ce.status == http.StatusNotFound:
		if missing := missingProductFlags(given); len(missing) > 0 {
			return usageErr(e, c, "set: product %s is new: it needs %s", gtin, strings.Join(missing, ", "))
		}
	default:
		return clientFail(e, "products set", err)
	}
	req := api.ProductRequest{Levels: lv, GCPLength: *gcp, MinShelfLifeDays: *shelf, MaxBatch: *maxBatch, Name: *name, Profile: *profile,
		Template: *template, Reason: *reason}
	active := !*inactive
	if cur != nil {
		req = mergeProduct(*cur, req, given)
		if !given["inactive"] {
			active = cur.Active
		}
	}
	req.Active = &active
	var pv api.ProductView
	if err := cl.do(ctx, "PUT", "/api/v1/products/"+url.PathEscape(gtin), req, &pv, &raw); err != nil {
		return clientFail(e, "products set", err)
	}
	if c.cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	if cur != nil {
		if ch := productChanges(*cur, pv.Product); len(ch) > 0 {
			fmt.Fprintf(e.stdout, "changed from version %d: %s\n", cur.Version, strings.Join(ch, "; "))
		} else {
			fmt.Fprintf(e.stdout, "no field changed from version %d\n", cur.Version)
		}
	}
	printProduct(e, pv)
	return exitOK
}

// missingProductFlags names the flags a new product needs that were not
// given.
func missingProductFlags(given map[string]bool) []string {
	var out []string
	for _, f := range []string{"name", "profile", "gcp-length", "min-shelf-life"} {
		if !given[f] {
			out = append(out, "--"+f)
		}
	}
	return out
}

// mergeProduct is the request for a new version of cur: its fields, with
// those of req whose flag was given.
func mergeProduct(cur records.Product, req api.ProductRequest, given map[string]bool) api.ProductRequest {
	out := api.ProductRequest{Name: cur.Name, Profile: cur.Profile, Template: cur.Template, Levels: cur.Levels, GCPLength: cur.GCPLength,
		MinShelfLifeDays: cur.MinShelfLifeDays, MaxBatch: cur.MaxBatch, Reason: req.Reason}
	for f, set := range map[string]func(){
		"name":           func() { out.Name = req.Name },
		"profile":        func() { out.Profile = req.Profile },
		"template":       func() { out.Template = req.Template },
		"levels":         func() { out.Levels = req.Levels },
		"gcp-length":     func() { out.GCPLength = req.GCPLength },
		"min-shelf-life": func() { out.MinShelfLifeDays = req.MinShelfLifeDays },
		"max-batch":      func() { out.MaxBatch = req.MaxBatch },
	} {
		if given[f] {
			set()
		}
	}
	return out
}

// productChanges lists the fields that differ between two versions.
func productChanges(a, b records.Product) []string {
	var ch []string
	diff := func(what string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			ch = append(ch, fmt.Sprintf("%s %v -> %v", what, x, y))
		}
	}
	levels := func(ls []records.Level) string {
		if len(ls) == 0 {
			return "none"
		}
		return records.LevelsText(ls)
	}
	diff("name", strconv.Quote(a.Name), strconv.Quote(b.Name))
	diff("profile", a.Profile, b.Profile)
	diff("template", strconv.Quote(a.Template), strconv.Quote(b.Template))
	diff("levels", levels(a.Levels), levels(b.Levels))
	diff("gcp length", a.GCPLength, b.GCPLength)
	diff("min shelf life", a.MinShelfLifeDays, b.MinShelfLifeDays)
	diff("max batch", a.MaxBatch, b.MaxBatch)
	diff("active", a.Active, b.Active)
	return ch
}

func printProduct(e env, pv api.ProductView) {
	p := pv.Product
	fmt.Fprintf(e.stdout, "%s %s (version %d, %s by %s: %s)\n  profile %s  template %q  gcp length %d  min shelf life %d days  max batch %d  active %t\n",
		p.GTIN, p.Name, p.Version, p.ChangedAt.Format(time.RFC3339), p.ChangedBy, p.Reason, p.Profile, p.Template, p.GCPLength, p.MinShelfLifeDays, p.MaxBatch, p.Active)
	if len(p.Levels) > 0 {
		fmt.Fprintf(e.stdout, "  levels %s\n", records.LevelsText(p.Levels))
	}
	for _, v := range pv.Versions {
		fmt.Fprintf(e.stdout, "  v%d %s %s: %s\n", v.Version, v.ChangedAt.Format(time.RFC3339), v.ChangedBy, v.Reason)
	}
}

// batchClearance confirms a batch's line clearance from the CLI: every
// item of the line's checklist (shown) with --all, e-signed.
func batchClearance(ctx context.Context, e env, cl *apiClient, id string, all bool, reason, password string) int {
	var cv api.ClearanceView
	if err := cl.do(ctx, "GET", "/api/v1/batches/"+url.PathEscape(id)+"/clearance", nil, &cv, nil); err != nil {
		return clientFail(e, "batch clearance", err)
	}
	if cv.Confirmed != nil {
		fmt.Fprintf(e.stdout, "line clearance of %s already confirmed by %s at %s\n", id, cv.Confirmed.Signer.User, cv.Confirmed.Signer.At.Format(time.RFC3339))
		return exitOK
	}
	var ids []string
	for _, it := range cv.Checklist {
		fmt.Fprintf(e.stdout, "  [%s] %s\n", map[bool]string{true: "x", false: " "}[all], it.Text)
		ids = append(ids, it.ID)
	}
	if !all {
		fmt.Fprintln(e.stderr, "serialine batch clearance: check every item on the line, then confirm with --all")
		return exitUsage
	}
	if err := cl.do(ctx, "POST", "/api/v1/batches/"+url.PathEscape(id)+"/clearance", api.ClearanceRequest{Checked: ids,
		Signature: &api.SignatureRequest{Password: password, Meaning: api.MeaningPerformed, Reason: reason}}, nil, nil); err != nil {
		return clientFail(e, "batch clearance", err)
	}
	fmt.Fprintf(e.stdout, "line clearance of batch %s confirmed (%d items, e-signed)\n", id, len(ids))
	return exitOK
}

// unitAction runs serialine unit sample|reject|decommission|closeout SERIAL.
func unitAction(ctx context.Context, e env, cl *apiClient, action, serial, reason, outcome, note, meaning, password string, supervisor bool) int {
	var u api.Unit
	var err error
	if action == "closeout" {
		err = cl.do(ctx, "POST", "/api/v1/units/"+url.PathEscape(serial)+"/closeout", api.CloseoutRequest{Outcome: outcome, Note: note,
			Signature: &api.SignatureRequest{Password: password, Meaning: meaningOr(meaning, api.MeaningPerformed), Reason: reason}}, &u, nil)
	} else {
		req := api.UnitActionRequest{Action: api.UnitActionKind(action), Reason: reason}
		if supervisor {
			req.Signature = &api.SignatureRequest{Password: password, Meaning: meaningOr(meaning, api.MeaningApproved), Reason: reason}
		}
		err = cl.do(ctx, "POST", "/api/v1/units/"+url.PathEscape(serial)+"/action", req, &u, nil)
	}
	if err != nil {
		return clientFail(e, "unit "+action, err)
	}
	fmt.Fprintf(e.stdout, "unit %s: %s %s\n", u.Serial, u.State, u.Reason)
	if u.Warning != "" {
		fmt.Fprintf(e.stdout, "  %s\n", u.Warning)
	}
	return exitOK
}

func meaningOr(m, def string) string {
	if m == "" {
		return def
	}
	return m
}
