package journal

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Audit actions of batch record signatures and close-outs, as line/records
// writes them into the audit trail (After is the record as JSON).
const (
	// AuditActionRecordSignature is a batch record signature: Before is
	// the batch id; After holds the step (production or qa) and the
	// figures it sealed.
	AuditActionRecordSignature = "record.signature"
	// AuditActionRecordCloseout is a supervisor's close-out of a reject the
	// gate did not confirm: Before is the serial, After names the batch.
	// It changes the batch record, so the signatures before it no longer
	// hold.
	AuditActionRecordCloseout = "record.closeout"
)

// Review steps of a batch record signature (line/records' StepProduction and
// StepQA).
const (
	signStepProduction = "production"
	signStepQA         = "qa"
)

// sealedFigures are the unit counts a batch record signature sealed (the
// part of line/records' Figures the journal can recount).
type sealedFigures struct {
	Drawn        int `json:"drawn"`
	Commissioned int `json:"commissioned"`
	Rejected     int `json:"rejected"`
	Sampled      int `json:"sampled"`
	Returned     int `json:"returned"`
	Uncertain    int `json:"uncertain"`
}

func (f sealedFigures) String() string {
	return fmt.Sprintf("drawn %d = commissioned %d + rejected %d + sampled %d + returned %d + uncertain %d",
		f.Drawn, f.Commissioned, f.Rejected, f.Sampled, f.Returned, f.Uncertain)
}

func figuresOf(c Counters) sealedFigures {
	return sealedFigures{Drawn: c.Total(), Commissioned: c.Commissioned, Rejected: c.Rejected, Sampled: c.Sampled,
		Returned: c.Returned, Uncertain: c.Uncertain}
}

// isSignature reports whether e is a signature of batch id's record (either
// kind) — the entries an archive's header carries.
func isSignature(e AuditEntry, id string) bool {
	return (e.Action == AuditActionSign || e.Action == AuditActionRecordSignature) && e.Before == id
}

// closeoutBatch is the batch a close-out entry names ("" when e is none).
func closeoutBatch(e AuditEntry) string {
	if e.Action != AuditActionRecordCloseout {
		return ""
	}
	var c struct {
		Batch string `json:"batch"`
	}
	if json.Unmarshal([]byte(e.After), &c) != nil {
		return ""
	}
	return c.Batch
}

// signedOff says why batch b's record is not signed off for archiving (nil:
// it is). Signed off is either
//   - a reconciliation signature (reconciliation.sign), written by a
//     controller without the two-step review; or
//   - a production sign-off followed by a QA release (record.signature),
//     both sealing the batch's figures as they are now, with no close-out
//     recorded after them: a record changed after signing is signed again
//     before it leaves the live journal.
func signedOff(tx *bolt.Tx, b Batch) error {
	var prod, qa *sealedFigures
	legacy, reopened := false, false
	err := forEachAudit(tx, 1, func(e AuditEntry) error {
		switch {
		case e.Action == AuditActionSign && e.Before == b.ID:
			legacy = true
		case e.Action == AuditActionRecordSignature && e.Before == b.ID:
			var s struct {
				Step    string        `json:"step"`
				Figures sealedFigures `json:"figures"`
			}
			if err := json.Unmarshal([]byte(e.After), &s); err != nil {
				return fmt.Errorf("%w: audit entry %d: batch %q signature: %w", ErrCorrupt, e.Seq, b.ID, err)
			}
			switch s.Step {
			case signStepProduction:
				prod, qa, reopened = &s.Figures, nil, false
			case signStepQA:
				qa = &s.Figures
			}
		case closeoutBatch(e) == b.ID:
			if prod != nil {
				prod, qa, reopened = nil, nil, true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := figuresOf(b.Counters)
	switch {
	case legacy && prod == nil && !reopened:
		return nil
	case reopened:
		return fmt.Errorf("%w: batch %q: a reject close-out was recorded after its batch record was signed: sign it again (production, then QA)", ErrInvalid, b.ID)
	case prod == nil:
		return fmt.Errorf("%w: batch %q: its reconciliation is not signed (production sign-off and QA release)", ErrInvalid, b.ID)
	case *prod != now:
		return fmt.Errorf("%w: batch %q: its batch record changed after signing (signed: %s; now: %s): sign it again", ErrInvalid, b.ID, *prod, now)
	case qa == nil:
		return fmt.Errorf("%w: batch %q: its batch record is signed by production but not yet released by QA", ErrInvalid, b.ID)
	case *qa != now:
		return fmt.Errorf("%w: batch %q: its batch record changed after the QA release (released: %s; now: %s): sign it again", ErrInvalid, b.ID, *qa, now)
	}
	return nil
}
