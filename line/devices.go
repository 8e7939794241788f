package line

import (
	"context"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/vision"
)

// PLC is what the line needs from a PLC driver (devices/modbus.Client and
// devices/opcua.Client satisfy it). The contract of each method is the
// driver's (see package devices): NextTrigger reconnects with backoff by
// itself; DecideBatch and SetOutputs try one reconnect per call;
// NextGateResult reports what the reject gate did to each product (per the
// driver's gate_results mode) as long as NextTrigger is being called.
type PLC interface {
	Connect(ctx context.Context) error
	NextTrigger(ctx context.Context) (devices.Trigger, error)
	DecideBatch(ctx context.Context, vs []devices.Verdict) error
	NextGateResult(ctx context.Context) (devices.GateResult, error)
	SetOutputs(ctx context.Context, o devices.Outputs) error
	Close(ctx context.Context) error
}

// Camera is what the line needs from a camera driver (vision/dmcc,
// vision/keyence, vision/pattern clients): Connect, Read, Close with the
// contract of vision.Camera.
type Camera interface {
	Connect(ctx context.Context) error
	Read(ctx context.Context) (vision.Result, error)
	Close(ctx context.Context) error
}

// Upstream is what the line needs from the site server client
// (*upstream.Client satisfies it).
type Upstream interface {
	RequestSerials(ctx context.Context, gtin string, n int) (upstream.Pool, error)
	// RequestSerialsWithID is RequestSerials with the caller's request id:
	// asked again with the same id, the site server hands back the pool it
	// already issued for it (replies lost) instead of issuing another.
	RequestSerialsWithID(ctx context.Context, id, gtin string, n int) (upstream.Pool, error)
	ReturnSerials(ctx context.Context, gtin string, serials []string) error
	ReportEvents(ctx context.Context, id string, doc []byte) error
}

var (
	_ Camera   = vision.Camera(nil)
	_ Upstream = (*upstream.Client)(nil)
)
