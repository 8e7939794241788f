package line

import (
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

// forwardSSCCReturn sends one OutboxSSCCReturn item.
func (c *Controller) forwardSSCCReturn(ctx context.Context, it journal.OutboxItem) error {
	var p SSCCReturnPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		c.log.Error("outbox item undecodable; dropped", "id", it.ID, "err", err)
		return nil
	}
	r, ok := c.o.Upstream.(ssccReturner)
	if !ok {
		return fmt.Errorf("outbox item %d: the site server client cannot return SSCCs", it.ID)
	}
	err := r.ReturnSSCCs(ctx, p.SSCCs)
	if errors.Is(err, upstream.ErrRejected) {
		c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("site server refused returned SSCCs: %v", err))
		return nil
	}
	return err
}
