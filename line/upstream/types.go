package upstream

import (
	"context"
	"errors"
	"fmt"
)

// PoolRequest asks the site server for serial numbers.
type PoolRequest struct {
	// ID is the request's idempotency key: asked again with the same ID, a
	// site server that supports it hands back the pool it already issued
	// (reply lost) instead of issuing another.
	ID string
	// GTIN (14 digits) the serials are for.
	GTIN string
	// Lot (AI 10) and Order (the batch / production order id) select the
	// pool on site servers that keep pools per lot or order (Open-SCS
	// PoolSelectionCriteria); "" = not sent.
	Lot, Order string
	// Count is how many serials are asked for (the server may give fewer).
	Count int
}

// Refusal is one returned serial the site server would not take back.
type Refusal struct {
	Serial  string `json:"serial"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ReturnResult is the per-serial outcome of a return: every serial of the
// call is in exactly one of the two lists.
type ReturnResult struct {
	Accepted []string
	Refused  []Refusal
}

// Bisect finds out, serial by serial, what a site server that answers for
// a whole collection only accepts: try(part, id) hands part back in one
// call with the idempotency key id and returns nil (all taken), an error
// wrapping ErrRejected (refused: the part is split in two and each half
// tried again, down to single serials, which are then refused with the
// error's text as reason) or any other error, which stops the search and
// is returned with the result so far. Keys are derived from id and the
// part's place, so a repeat of the whole search after a failure asks the
// same questions with the same keys.
func Bisect(ctx context.Context, id string, serials []string, try func(ctx context.Context, part []string, id string) error) (ReturnResult, error) {
	var res ReturnResult
	var walk func(part []string, key string) error
	walk = func(part []string, key string) error {
		if len(part) == 0 {
			return nil
		}
		err := try(ctx, part, key)
		switch {
		case err == nil:
			res.Accepted = append(res.Accepted, part...)
			return nil
		case !errors.Is(err, ErrRejected):
			return err
		case len(part) == 1:
			res.Refused = append(res.Refused, Refusal{Serial: part[0], Code: "refused", Message: err.Error()})
			return nil
		}
		h := len(part) / 2
		if err := walk(part[:h], key+".0"); err != nil {
			return err
		}
		return walk(part[h:], key+".1")
	}
	if err := walk(serials, id); err != nil {
		return res, fmt.Errorf("return %d serials: %w", len(serials), err)
	}
	return res, nil
}

// SerialSource is the serial-number half of a site-server driver.
type SerialSource interface {
	RequestPool(ctx context.Context, r PoolRequest) (Pool, error)
	ReturnSerials(ctx context.Context, id, gtin string, serials []string) (ReturnResult, error)
	Health(ctx context.Context) error
}

// EventSink is where EPCIS documents go (a site server or an EPCIS 2.0
// repository's capture interface).
type EventSink interface {
	ReportEvents(ctx context.Context, id string, doc []byte) error
	Health(ctx context.Context) error
}

// Split is a site server whose serials come from one driver and whose
// EPCIS documents go to another (an Open-SCS or HTTP site server for pools,
// an EPCIS repository for events). Health is both halves'.
type Split struct {
	Serials SerialSource
	Events  EventSink
}

// RequestPool implements line.Upstream.
func (s Split) RequestPool(ctx context.Context, r PoolRequest) (Pool, error) {
	return s.Serials.RequestPool(ctx, r)
}

// ReturnSerials implements line.Upstream.
func (s Split) ReturnSerials(ctx context.Context, id, gtin string, serials []string) (ReturnResult, error) {
	return s.Serials.ReturnSerials(ctx, id, gtin, serials)
}

// ReportEvents implements line.Upstream.
func (s Split) ReportEvents(ctx context.Context, id string, doc []byte) error {
	return s.Events.ReportEvents(ctx, id, doc)
}

// Health implements line.Upstream: the serial source, then the event sink.
func (s Split) Health(ctx context.Context) error {
	if err := s.Serials.Health(ctx); err != nil {
		return err
	}
	if err := s.Events.Health(ctx); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// Tee delivers every document to each sink in turn (an EPCIS repository
// and the Open-SCS site server, which must learn the serials' state
// changes). A document counts as delivered when every sink took it; a
// resend after a partial failure goes to every sink again, so each must
// accept a repeat (deterministic event ids; Open-SCS states already
// reached).
type Tee []EventSink

// ReportEvents implements EventSink.
func (t Tee) ReportEvents(ctx context.Context, id string, doc []byte) error {
	for _, s := range t {
		if err := s.ReportEvents(ctx, id, doc); err != nil {
			return err
		}
	}
	return nil
}

// Health implements EventSink.
func (t Tee) Health(ctx context.Context) error {
	for _, s := range t {
		if err := s.Health(ctx); err != nil {
			return err
		}
	}
	return nil
}
