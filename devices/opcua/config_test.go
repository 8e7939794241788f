package opcua_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
)

func TestNodeMapReportsEveryMistake(t *testing.T) {
	y := `
trigger: level
product_seq: "ns=abc;s=Seq"
seq_width: 8
plc_heartbeat: ""
controller_heartbeat: "ns=1;s=Controller.Heartbeat"
decisions: "ns=1;s=Gate.Decision"
confirmations: "ns=1;s=Gate.Confirmation.%d.%d"
slots: 0
line_stop: "ns=1;s=Interlock.LineStop"
light: "ns=1;s=Interlock.Light"
horn: "ns=1;s=Interlock.Horn"
`
	var m opcua.NodeMap
	if err := configs.DecodeStrictBytes("nodes.yaml", []byte(y), &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range m.Validate() {
		got = append(got, p.Path)
	}
	want := []string{"trigger", "seq_width", "plc_heartbeat", "decisions", "confirmations", "slots"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("problem paths %v, want %v\n%v", got, want, m.Validate())
	}
	m.Trigger = opcua.TriggerCounter
	if p := m.Validate(); p[0].Path != "product_seq" {
		t.Fatalf("counter mode with a bad product_seq: %v", p)
	}
	if p := opcua.DefaultNodeMap().Validate(); len(p) != 0 {
		t.Fatalf("default map invalid: %v", p)
	}
}

func TestConfigValidate(t *testing.T) {
	c := opcua.DefaultConfig("http://plc")
	c.SecurityPolicy = opcua.PolicyBasic256Sha256
	c.SecurityMode = "None"
	c.Certificate = "client.der"
	c.Auth = opcua.AuthUsername
	c.PublishInterval = 0
	msg := c.Validate().Err().Error()
	for _, want := range []string{
		`endpoint: must be opc.tcp://host:port, got "http://plc"`,
		`security_mode: must be "Sign" or "SignAndEncrypt" with Basic256Sha256`,
		"certificate: certificate and private_key go together",
		"username: must be set with auth username",
		"publish_interval: must be >= 1ms",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if _, err := opcua.New(c, opcua.Options{}); !errors.Is(err, configs.ErrInvalid) {
		t.Fatalf("New with invalid config: %v", err)
	}
	n := opcua.DefaultConfig("opc.tcp://plc:4840")
	n.TrustedServerCerts = "pki/trusted"
	if msg := n.Validate().Err(); msg == nil || !strings.Contains(msg.Error(), "trusted_server_certs: only with security_policy Basic256Sha256") {
		t.Errorf("trusted_server_certs with policy None: %v", msg)
	}
}

func TestValueCodec(t *testing.T) {
	for _, tc := range []struct {
		v     any
		width int
		want  uint64
		bad   bool
	}{
		{uint16(7), 16, 7, false},
		{uint32(70000), 16, 0, true},
		{uint32(70000), 32, 70000, false},
		{uint64(1 << 40), 32, 0, true},
		{int32(-1), 32, 0, true},
		{int64(5), 64, 5, false},
		{true, 16, 1, false},
		{"12", 32, 0, true},
		{float64(1), 32, 0, true},
		{nil, 32, 0, true},
	} {
		got, err := opcua.Uint(tc.v, tc.width)
		if tc.bad {
			if !errors.Is(err, devices.ErrBadValue) {
				t.Errorf("Uint(%T %v, %d) err %v, want ErrBadValue", tc.v, tc.v, tc.width, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Uint(%T %v, %d) = %d, %v", tc.v, tc.v, tc.width, got, err)
		}
	}
	if b, err := opcua.Bool(uint8(1)); !b || err != nil {
		t.Errorf("Bool(1) = %v %v", b, err)
	}
	if _, err := opcua.Bool(uint16(2)); !errors.Is(err, devices.ErrBadValue) {
		t.Errorf("Bool(2): %v", err)
	}
	seq, code := opcua.UnpackSlot(opcua.PackSlot(123456789, 2))
	if seq != 123456789 || code != 2 {
		t.Errorf("slot round trip %d %d", seq, code)
	}
}

func FuzzValue(f *testing.F) {
	f.Add(uint64(0), uint8(0), uint8(16))
	f.Add(uint64(1<<40), uint8(3), uint8(32))
	f.Add(uint64(1<<63), uint8(7), uint8(64))
	f.Fuzz(func(t *testing.T, raw uint64, kind uint8, w uint8) {
		width := []int{16, 32, 64}[int(w)%3]
		var v any
		switch kind % 8 {
		case 0:
			v = uint16(raw)
		case 1:
			v = uint32(raw)
		case 2:
			v = raw
		case 3:
			v = int64(raw)
		case 4:
			v = int32(raw)
		case 5:
			v = raw%2 == 0
		case 6:
			v = float32(raw)
		case 7:
			v = []byte{byte(raw)}
		}
		u, err := opcua.Uint(v, width)
		if err != nil {
			if !errors.Is(err, devices.ErrBadValue) {
				t.Fatalf("error not ErrBadValue: %v", err)
			}
			return
		}
		if width < 64 && u>>width != 0 {
			t.Fatalf("%d does not fit %d bits but was accepted", u, width)
		}
		seq, code := opcua.UnpackSlot(raw)
		if opcua.PackSlot(seq, code) != raw {
			t.Fatalf("slot %d does not round-trip", raw)
		}
	})
}

// FuzzNodeMap: any YAML either fails to decode or validates without
// panicking; a map that validates yields parseable slot node ids.
func FuzzNodeMap(f *testing.F) {
	f.Add([]byte("trigger: counter\nproduct_seq: \"ns=1;s=A\"\nseq_width: 32\nplc_heartbeat: \"ns=1;i=5\"\ncontroller_heartbeat: \"ns=1;s=B\"\ndecisions: \"ns=1;s=D.%d\"\nconfirmations: \"ns=1;s=C.%d\"\nslots: 4\nline_stop: \"ns=1;s=L\"\nlight: \"ns=1;s=Li\"\nhorn: \"ns=1;s=H\"\n"))
	f.Add([]byte("decisions: \"%s%d%x\"\n"))
	f.Fuzz(func(t *testing.T, y []byte) {
		var m opcua.NodeMap
		if err := configs.DecodeStrictBytes("fuzz", y, &m); err != nil {
			return
		}
		if len(m.Validate()) > 0 {
			return
		}
		c := opcua.DefaultConfig("opc.tcp://127.0.0.1:4840")
		c.Nodes = m
		if _, err := opcua.New(c, opcua.Options{}); err != nil {
			t.Fatalf("valid map refused: %v", err)
		}
	})
}
