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

// Upstream is what the line needs from the site server: serial pools,
// returns, event reporting and a health check. The HTTP client
// (*upstream.Client), the Open-SCS OPC UA client (line/upstream/openscs)
// and their composition with an EPCIS capture client (upstream.Split)
// satisfy it. Errors: upstream.IsTransient means "try later" (the line runs
// from its local pool and the outbox keeps the message); anything else is a
// refusal a person must look at.
type Upstream interface {
	// RequestPool asks for serials; asked again with the same request id,
	// a site server that supports it hands back the pool it already issued
	// (replies lost) instead of issuing another.
	RequestPool(ctx context.Context, r upstream.PoolRequest) (upstream.Pool, error)
	// ReturnSerials hands unused serials back with idempotency key id; the
	// outcome is per serial (refused ones listed with their reason).
	ReturnSerials(ctx context.Context, id, gtin string, serials []string) (upstream.ReturnResult, error)
	// ReportEvents delivers one EPCIS 2.0 document (id: idempotency key).
	ReportEvents(ctx context.Context, id string, doc []byte) error
	// Health reports whether the site server answers (nil) or why not.
	Health(ctx context.Context) error
}

var (
	_ Camera   = vision.Camera(nil)
	_ Upstream = (*upstream.Client)(nil)
)
