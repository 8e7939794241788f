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
