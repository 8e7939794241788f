package main

import (
	"context"
	"flag"
	"fmt"
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
	c := newClientCmd(e, "users", "list | create NAME --full-name NAME --role operator|supervisor|qa|admin [--lang en|de] | unlock|disable|enable|reset NAME")
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

// cmdProducts: serialine products list | show GTIN | set GTIN --name … --reason …
func cmdProducts(ctx context.Context, e env, args []string) int {
	c := newClientCmd(e, "products", "list | show GTIN | set GTIN --name NAME --profile P --gcp-length N --min-shelf-life DAYS --reason TEXT [--template T] [--max-batch N] [--levels unit:1,case:12,pallet:80 (a level name:quantity[:sscc] or name:quantity:sgtin:GTIN)] [--inactive]")
	name := c.fs.String("name", "", "set: product name")
	profile := c.fs.String("profile", "", "set: market profile (eu-fmd, us-dscsa, eu-fmd-de …)")
	template := c.fs.String("template", "", "set: printer template")
	gcp := c.fs.Int("gcp-length", 0, "set: GS1 company prefix length of the GTIN (6-12)")
	shelf := c.fs.Int("min-shelf-life", -1, "set: minimum remaining shelf life at batch creation, days")
	maxBatch := c.fs.Int("max-batch", 0, "set: largest batch (units; 0 = 1000000)")
	levels := c.fs.String("levels", "", "set: packaging levels, innermost first: name:quantity (SSCC) or name:quantity:sgtin:GTIN, comma separated (unit:1,case:12,pallet:80)")
	inactive := c.fs.Bool("inactive", false, "set: no new batches for this product")
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
		if *name == "" || *profile == "" || *gcp == 0 || *shelf < 0 || *reason == "" {
			return usageErr(e, c, "set needs --name, --profile, --gcp-length, --min-shelf-life and --reason")
		}
	default:
		return usageErr(e, c, "want list, show GTIN or set GTIN …")
	}
	lv, err := records.ParseLevels(*levels)
	if err != nil {
		return usageErr(e, c, "--levels: %v", err)
	}
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
	active := !*inactive
	var pv api.ProductView
	if err := cl.do(ctx, "PUT", "/api/v1/products/"+url.PathEscape(c.pos[1]), api.ProductRequest{Name: *name, Profile: *profile, Template: *template,
		Levels: lv, GCPLength: *gcp, MinShelfLifeDays: *shelf, MaxBatch: *maxBatch, Active: &active, Reason: *reason}, &pv, &raw); err != nil {
		return clientFail(e, "products set", err)
	}
	if c.cf.asJSON {
		printJSON(e.stdout, raw)
		return exitOK
	}
	printProduct(e, pv)
	return exitOK
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
