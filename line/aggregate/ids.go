package aggregate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/store/journal"
)

// ensureRange imports the configured SSCC range once (source range).
func (a *Aggregator) ensureRange(ctx context.Context) error {
	s := a.o.Config.SSCC
	if s.Source != "range" {
		return nil
	}
	pools, err := a.j.IDPools()
	if err != nil {
		return err
	}
	for _, p := range pools {
		if p.ID == s.RangeID {
			if !p.Range || p.Extension != s.Extension || p.Prefix != s.CompanyPrefix || p.First != s.First || p.Last != s.Last {
				return fmt.Errorf("aggregation: SSCC range %s in the journal (%d %s %d..%d) differs from the config (%d %s %d..%d): assign a new range id",
					s.RangeID, p.Extension, p.Prefix, p.First, p.Last, s.Extension, s.CompanyPrefix, s.First, s.Last)
			}
			return nil
		}
	}
	err = a.j.ImportSSCCRange(ctx, journal.SSCCRange{ID: s.RangeID, Extension: s.Extension, CompanyPrefix: s.CompanyPrefix, First: s.First, Last: s.Last})
	if err != nil {
		return fmt.Errorf("aggregation: import SSCC range %s: %w", s.RangeID, err)
	}
	a.log.Info("SSCC range imported", "range", s.RangeID, "first", s.First, "last", s.Last)
	return nil
}

// idLoop keeps the SSCC pool above its low water mark (source upstream):
// the request id is durable before the request goes out, like serials.
func (a *Aggregator) idLoop(ctx context.Context) {
	s := a.o.Config.SSCC
	if a.o.Upstream == nil {
		return
	}
	size, low := s.RequestSize, s.LowWater
	if size <= 0 {
		size = 200
	}
	if low <= 0 {
		low = 50
	}
	// Serials of case GTINs (levels identified by GTIN + serial) come from
	// the site server's serial service, like the units'.
	var caseGTINs []string
	if _, ok := a.o.Upstream.(upstream.SerialSource); ok {
		for _, p := range a.o.Config.Products {
			for _, l := range p.Levels {
				if l.ID == "sgtin" && !slices.Contains(caseGTINs, l.GTIN) {
					caseGTINs = append(caseGTINs, l.GTIN)
				}
			}
		}
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if a.idle() {
			// the batch's aggregation is finished (its unused codes may just
			// have gone back): the next batch tops the pools up
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			continue
		}
		if s.Source == "upstream" {
			if n, err := a.j.IDLevel(journal.IDSSCC, ""); err == nil && n < low {
				if err := a.requestSSCCs(ctx, size); err != nil && ctx.Err() == nil {
					a.alarm(api.SeverityWarning, CodeSSCCPool, "", map[string]string{"detail": err.Error()}, "SSCC pool: "+err.Error())
				} else if err == nil {
					a.clearAlarm(condOf(CodeSSCCPool, ""))
				}
			}
		}
		for _, g := range caseGTINs {
			if n, err := a.j.IDLevel(journal.IDSGTIN, g); err == nil && n < low {
				if err := a.requestCaseSerials(ctx, g, size); err != nil && ctx.Err() == nil {
					a.alarm(api.SeverityWarning, CodeCasePool, g, map[string]string{"gtin": g, "detail": err.Error()}, "case serial pool "+g+": "+err.Error())
				} else if err == nil {
					a.clearAlarm(condOf(CodeCasePool, g))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Aggregator) requestSSCCs(ctx context.Context, n int) error {
	id, err := a.j.PendingIDRequest(journal.IDSSCC, "")
	if err != nil {
		return err
	}
	if id == "" {
		id = upstream.NewRequestID()
		if err := a.j.SetPendingIDRequest(ctx, journal.IDSSCC, "", id); err != nil {
			return err
		}
	}
	p, err := a.o.Upstream.RequestSSCCsWithID(ctx, id, n)
	if err != nil {
		if !upstream.IsTransient(err) {
			_ = a.j.ClearPendingIDRequest(context.WithoutCancel(ctx), journal.IDSSCC, "", id)
		}
		return fmt.Errorf("request %d SSCCs: %w", n, err)
	}
	err = a.j.ImportIDPool(ctx, journal.IDPool{ID: p.ID, Kind: journal.IDSSCC, Codes: p.SSCCs, RequestID: id})
	var pe *journal.PoolError
	if errors.As(err, &pe) {
		_ = a.j.ClearPendingIDRequest(context.WithoutCancel(ctx), journal.IDSSCC, "", id)
		return fmt.Errorf("SSCC pool %s refused: %w", p.ID, err)
	}
	if err == nil {
		a.log.Info("SSCC pool imported", "pool", p.ID, "ssccs", len(p.SSCCs))
	}
	return err
}

// requestCaseSerials asks the site server for serials of a case GTIN and
// imports them as an ID pool (request id durable first, as for SSCCs).
func (a *Aggregator) requestCaseSerials(ctx context.Context, gtin string, n int) error {
	su, ok := a.o.Upstream.(upstream.SerialSource)
	if !ok {
		return fmt.Errorf("serials for case GTIN %s: the site server connection has no serial service", gtin)
	}
	id, err := a.j.PendingIDRequest(journal.IDSGTIN, gtin)
	if err != nil {
		return err
	}
	if id == "" {
		id = upstream.NewRequestID()
		if err := a.j.SetPendingIDRequest(ctx, journal.IDSGTIN, gtin, id); err != nil {
			return err
		}
	}
	p, err := su.RequestPool(ctx, upstream.PoolRequest{ID: id, GTIN: gtin, Count: n})
	if err != nil {
		if !upstream.IsTransient(err) {
			_ = a.j.ClearPendingIDRequest(context.WithoutCancel(ctx), journal.IDSGTIN, gtin, id)
		}
		return fmt.Errorf("request %d serials: %w", n, err)
	}
	err = a.j.ImportIDPool(ctx, journal.IDPool{ID: p.ID, Kind: journal.IDSGTIN, GTIN: gtin, Codes: p.Serials, RequestID: id})
	var pe *journal.PoolError
	if errors.As(err, &pe) {
		_ = a.j.ClearPendingIDRequest(context.WithoutCancel(ctx), journal.IDSGTIN, gtin, id)
		return fmt.Errorf("case serial pool %s refused: %w", p.ID, err)
	}
	return err
}

// idle reports whether the line's current batch has its aggregation
// finished (no code is needed until the next batch).
func (a *Aggregator) idle() bool {
	id, _ := a.o.Line.State()
	if id == "" {
		return true
	}
	a.mu.Lock()
	done := a.finished[id] != nil
	a.mu.Unlock()
	return done
}
