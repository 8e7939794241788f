package upstream

import (
	"context"
	"encoding/json"
	"fmt"
)

// SSCCRequest is the body of POST /v1/sscc/requests.
type SSCCRequest struct {
	RequestID string `json:"request_id"`
	Count     int    `json:"count"`
	Line      string `json:"line,omitempty"`
}

// SSCCPool is one batch of SSCCs issued by the site server.
type SSCCPool struct {
	ID        string   `json:"pool_id"`
	RequestID string   `json:"request_id"`
	SSCCs     []string `json:"ssccs"` // 18 digits each, check digit included
}

// SSCCReturnRequest is the body of POST /v1/sscc/returns.
type SSCCReturnRequest struct {
	RequestID string   `json:"request_id"`
	SSCCs     []string `json:"ssccs"`
	Line      string   `json:"line,omitempty"`
}

// RequestSSCCsWithID asks the site server for n SSCCs (logistic unit
// codes for cases and pallets) with the caller's request id, kept until
// the pool is imported like RequestSerialsWithID. The journal checks every
// SSCC (ImportIDPool) and refuses a bad pool whole.
func (c *Client) RequestSSCCsWithID(ctx context.Context, id string, n int) (SSCCPool, error) {
	if n <= 0 || id == "" {
		return SSCCPool{}, fmt.Errorf("upstream: request SSCCs: count %d must be > 0 and the request id set", n)
	}
	req := SSCCRequest{RequestID: id, Count: n, Line: c.o.Line}
	var p SSCCPool
	body, _ := json.Marshal(req)
	if err := c.do(ctx, "/v1/sscc/requests", id, "application/json", body, &p); err != nil {
		return SSCCPool{}, fmt.Errorf("upstream: request %d SSCCs: %w", n, err)
	}
	if p.ID == "" || p.RequestID != id || len(p.SSCCs) == 0 || len(p.SSCCs) > n {
		return SSCCPool{}, fmt.Errorf("upstream: request SSCCs: %w: pool %q for request %q with %d SSCCs (asked %d)",
			ErrBadResponse, p.ID, p.RequestID, len(p.SSCCs), n)
	}
	return p, nil
}

// ReturnSSCCs hands unused SSCCs back to the site server.
func (c *Client) ReturnSSCCs(ctx context.Context, ssccs []string) error {
	if len(ssccs) == 0 {
		return nil
	}
	req := SSCCReturnRequest{RequestID: c.o.NewID(), SSCCs: ssccs, Line: c.o.Line}
	var rep ReturnReply
	body, _ := json.Marshal(req)
	if err := c.do(ctx, "/v1/sscc/returns", req.RequestID, "application/json", body, &rep); err != nil {
		return fmt.Errorf("upstream: return %d SSCCs: %w", len(ssccs), err)
	}
	if rep.Accepted != len(ssccs) {
		return fmt.Errorf("upstream: return SSCCs: %w: accepted %d of %d", ErrBadResponse, rep.Accepted, len(ssccs))
	}
	return nil
}
