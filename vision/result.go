// Package vision checks each camera read of a printed GS1 DataMatrix against
// what was printed on that unit and decides, before the reject gate, whether
// the unit passes: does it decode, is the content exactly the element string
// printed (field by field: GTIN, serial, lot, expiry), is the ISO/IEC 15415
// grade good enough for the market, and do the reads line up with the units
// (skipped, duplicated, unexpected reads; runs of no-reads or low grades
// hold the line).
//
// Camera drivers live below: vision/dmcc (Cognex DataMan DMCC),
// vision/keyence (Keyence SR), vision/pattern (a configurable result format
// for other readers) and vision/camerasim (a simulated camera that really
// decodes the printed symbol images). Every driver satisfies Camera.
package vision

import (
	"context"
	"time"

	"github.com/serialine/serialine/vision/grade"
)

// Result is one camera read as a driver reports it.
type Result struct {
	// Data is the decoded content with the symbology identifier and the
	// leading FNC1 stripped; GS1 separators (FNC1) are GS (0x1D). Empty for
	// a no-read.
	Data string
	// SymbologyID is the AIM identifier the reader reported ("]d2" for GS1
	// DataMatrix, "]d1" for plain DataMatrix), "" when not reported.
	SymbologyID string
	// NoRead is true when the camera saw a trigger but decoded nothing.
	NoRead bool
	// Grade is the print-quality grade; zero (ungraded) when the reader
	// sent none.
	Grade grade.Report
	// At is when the driver received the result (driver clock).
	At time.Time
	// Raw is the result as received after framing (and base64) decoding,
	// for the journal and for diagnosis.
	Raw string
}

// Camera is what every camera driver offers, modelled on benthos' Input:
//
//   - Connect(ctx) opens the connection and switches reading on. Its error
//     means the camera cannot be used now (ErrDisconnected: dial or I/O
//     failure, retry with backoff; ErrRefused: the reader refused setup,
//     a configuration problem). Connect may be called again after any
//     failure or after ErrDisconnected from Read; reconnection is the
//     caller's, through devices.Retry.
//   - Read(ctx) blocks for the next result. ErrGarbled (a *LineError): one
//     line was not understood, the connection is fine, call Read again.
//     ErrDisconnected: the connection is gone and closed, call Connect.
//     ctx.Err(): the context ended, nothing lost (the next Read returns the
//     next result). ErrNotConnected / ErrClosed: misuse.
//   - Close(ctx) switches reading off (best effort) and closes; after it,
//     Read returns ErrClosed. Safe to call more than once.
type Camera interface {
	Connect(ctx context.Context) error
	Read(ctx context.Context) (Result, error)
	Close(ctx context.Context) error
}
