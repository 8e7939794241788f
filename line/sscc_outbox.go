package line

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/store/journal"
)

// OutboxSSCCReturn is the outbox kind of unused SSCCs handed back to the
// site server (line/aggregate puts them, with the journal step that marks
// them returned, in one transaction); the payload is SSCCReturnPayload.
const OutboxSSCCReturn = "sscc-return"

// SSCCReturnPayload is the payload of an OutboxSSCCReturn item.
type SSCCReturnPayload struct {
	SSCCs []string `json:"ssccs"`
}

// ssccReturner is the site-server client's SSCC return (*upstream.Client).
type ssccReturner interface {
	ReturnSSCCs(ctx context.Context, ssccs []string) error
}

// decodeSSCCReturn decodes an OutboxSSCCReturn payload strictly: at
// least one SSCC, no unknown fields, nothing after the object.
func decodeSSCCReturn(payload []byte) (SSCCReturnPayload, error) {
	var p SSCCReturnPayload
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("sscc return: %w", err)
	}
	if dec.More() {
		return p, errors.New("sscc return: data after the JSON object")
	}
	if len(p.SSCCs) == 0 {
		return p, errors.New("sscc return: no SSCCs")
	}
	return p, nil
}

// ssccReturnerOf finds the SSCC return service of the line's upstream (the
// site server client itself or the serial source of an upstream.Split).
func ssccReturnerOf(up Upstream) (ssccReturner, bool) {
	switch u := up.(type) {
	case ssccReturner:
		return u, true
	case upstream.Split:
		r, ok := u.Serials.(ssccReturner)
		return r, ok
	}
	return nil, false
}

// forwardSSCCReturn sends one OutboxSSCCReturn item. An undecodable item
// is kept (errUndecodable), never acknowledged.
func (c *Controller) forwardSSCCReturn(ctx context.Context, it journal.OutboxItem) error {
	p, err := decodeSSCCReturn(it.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", errUndecodable, err)
	}
	r, ok := ssccReturnerOf(c.o.Upstream)
	if !ok {
		return fmt.Errorf("outbox item %d: the site server client cannot return SSCCs", it.ID)
	}
	err = r.ReturnSSCCs(ctx, p.SSCCs)
	if errors.Is(err, upstream.ErrRejected) {
		c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("site server refused returned SSCCs: %v", err))
		return nil
	}
	return err
}
