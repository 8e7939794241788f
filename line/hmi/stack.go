package hmi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

// StackOptions configures NewStack.
type StackOptions struct {
	// Controller is the line controller; required.
	Controller api.Controller
	// Journal holds the audit trail; required.
	Journal *journal.Journal
	// UsersPath is the bbolt user file (e.g. beside the journal); required.
	UsersPath string
	// Logger is passed to every part; nil discards.
	Logger *slog.Logger
	// Metrics counts API requests; nil skips.
	Metrics *metrics.Metrics
	// Gatherer, when set, is served at /metrics.
	Gatherer prometheus.Gatherer
	// SecureCookie marks the session cookie Secure (serving TLS).
	SecureCookie bool
	// Auth overrides the user store options (Path, Audit and Logger are
	// filled in); zero means defaults.
	Auth auth.Options
	// Shift are the line's shift rules (clearance checklist, reason codes,
	// unit action policy, language); zero = the defaults.
	Shift config.Shift
	// Location is the line's time zone (line.timezone); nil = UTC.
	Location *time.Location
	// Shifts are the shift start times (line.shifts) for the shift report.
	Shifts []string
	// Aggregation, when set, serves the aggregation API and pages.
	Aggregation api.Aggregation
	// Records are the shift's records over Journal; nil = the
	// controller's (line.Controller.Records: the one store the controller
	// checks line clearances and company prefixes in), else opened here.
	Records *records.Store
}

// Stack is the whole operator front end: users, the JSON API and the web
// HMI in one http.Handler.
type Stack struct {
	// Handler serves /api/v1/..., /metrics and the HMI at /.
	Handler http.Handler
	// API is the API server (also in Handler).
	API *api.Server
	// Auth is the user store.
	Auth *auth.Service
	// FirstStart is non-nil when the user file was just created: print
	// FirstStart.Password once (it is not stored anywhere).
	FirstStart *auth.FirstStart
	// Records are the shift's records (product master, signatures …).
	Records *records.Store
}

// NewStack opens the user file and builds the API and the HMI. Close it
// when done.
func NewStack(ctx context.Context, o StackOptions) (*Stack, error) {
	if o.Controller == nil || o.Journal == nil || o.UsersPath == "" {
		return nil, fmt.Errorf("hmi: StackOptions.Controller, Journal and UsersPath are required: %w", ErrOptions)
	}
	audit := api.JournalAudit{J: o.Journal}
	ao := o.Auth
	ao.Path, ao.Audit, ao.Logger = o.UsersPath, audit, o.Logger
	a, first, err := auth.Open(ctx, ao)
	if err != nil {
		return nil, err
	}
	rs := o.Records
	if rs == nil {
		if rk, ok := o.Controller.(interface{ Records() *records.Store }); ok {
			rs = rk.Records()
		}
	}
	if rs == nil {
		if rs, err = records.Open(ctx, o.Journal, nil); err != nil {
			a.Close()
			return nil, err
		}
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	ui, err := New(Options{Controller: o.Controller, Auth: a, Audit: audit, Logger: o.Logger, Records: rs, Location: loc, Shift: o.Shift, Aggregation: o.Aggregation})
	if err != nil {
		a.Close()
		return nil, err
	}
	srv, err := api.New(api.Options{Controller: o.Controller, Auth: a, Audit: audit, Logger: o.Logger,
		Metrics: o.Metrics, Gatherer: o.Gatherer, UI: ui, SecureCookie: o.SecureCookie, Records: rs, Location: loc, Shift: o.Shift, Shifts: o.Shifts, Aggregation: o.Aggregation})
	if err != nil {
		a.Close()
		return nil, err
	}
	ui.AttachAPI(srv)
	return &Stack{Handler: srv, API: srv, Auth: a, FirstStart: first, Records: rs}, nil
}

// Close closes the user file.
func (s *Stack) Close() error {
	if err := s.Auth.Close(); err != nil {
		return fmt.Errorf("hmi: close users: %w", err)
	}
	return nil
}
