package opcua_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
)

// TestBasic256Sha256AgainstSecureEndpoints goes as far as the simulator
// allows: it advertises Basic256Sha256 endpoints with a certificate, the
// client discovers and selects one and builds its own certificate, and the
// secure channel then fails because gopcua v0.8.0's server does not
// implement encrypted channels (it answers BadServiceUnsupported). The
// failure is a retryable disconnect, not the permanent "no endpoint" one.
// End-to-end Basic256Sha256 needs a real server: not tested here.
func TestBasic256Sha256AgainstSecureEndpoints(t *testing.T) {
	_, ep := newSim(t, plcsim.Options{SecureEndpoints: true})
	c := testConfig(ep)
	c.SecurityPolicy, c.SecurityMode = opcua.PolicyBasic256Sha256, "SignAndEncrypt"
	c.Timeout = 300 * time.Millisecond
	cl, err := opcua.New(c, opcua.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	err = cl.Connect(ctxT(t))
	if !errors.Is(err, devices.ErrDisconnected) || devices.IsPermanent(err) {
		t.Fatalf("Connect = %v; want a retryable disconnect at the secure channel", err)
	}
}
