package tij

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/serialine/serialine/printer"
)

// Every command the driver sends, as it goes on the wire.
func TestCommandEncode(t *testing.T) {
	cases := []struct {
		cmd        Command
		noTrailing bool
		want       string
		err        string
	}{
		{Command{Name: "SLA", Args: []string{"CARTON", "ID=", "GS1="}}, false, "SLA|CARTON|ID=|GS1=|\r", ""},
		{Command{Name: "SEL", Args: []string{"CARTON", "A", "B"}}, false, "SEL|CARTON|A|B|\r", ""},
		{Command{Name: "JDU", Args: []string{"LOT=A1"}}, false, "JDU|LOT=A1|\r", ""},
		{Command{Name: "JDA", Args: []string{"LOT=A1"}}, false, "JDA|LOT=A1|\r", ""},
		{Command{Name: "JDI", Args: []string{"ID=SN1", "GS1=0109501101530003\x1d21SN1"}}, false, "JDI|ID=SN1|GS1=0109501101530003\x1d21SN1|\r", ""},
		{Command{Name: "SLI", Args: []string{"CARTON", "ID=SN1"}}, false, "SLI|CARTON|ID=SN1|\r", ""},
		{Command{Name: "QSZ"}, false, "QSZ|\r", ""},
		{Command{Name: "QSZ"}, true, "QSZ\r", ""},
		{Command{Name: "CQI"}, false, "CQI|\r", ""},
		{Command{Name: "CQI", Args: []string{"2"}}, true, "CQI|2\r", ""},
		{Command{Name: "GST"}, false, "GST|\r", ""},
		{Command{Name: "SST", Args: []string{"RUNNING"}}, false, "SST|RUNNING|\r", ""},
		{Command{Name: "GFT"}, false, "GFT|\r", ""},
		{Command{Name: "GWN"}, false, "GWN|\r", ""},
		{Command{Name: "CAF"}, false, "CAF|\r", ""},
		{Command{Name: "CEM"}, false, "CEM|\r", ""},
		{Command{Name: "GPC"}, false, "GPC|\r", ""},
		{Command{Name: "SPC", Args: []string{"1000"}}, false, "SPC|1000|\r", ""},
		{Command{Name: "EAN", Args: []string{"1"}}, false, "EAN|1|\r", ""},
		{Command{Name: "JDI", Args: []string{"ID=a|b"}}, false, "", "contains '|'"},
		{Command{Name: "JDI", Args: []string{"ID=a\rb"}}, false, "", "contains '|', CR"},
		{Command{Name: "jdi"}, false, "", "3 upper-case"},
		{Command{Name: "JDIX"}, false, "", "3 upper-case"},
	}
	for _, c := range cases {
		got, err := c.cmd.Encode(c.noTrailing)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.cmd, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%v: %q, %v; want %q", c.cmd, got, err, c.want)
		}
	}
}

type messageWant struct {
	msg   Message
	async bool
	ev    printer.Event
	ack   error // for replies: ReplyErr result (nil = ACK)
}

// messageCases is the codec table of every reply and asynchronous message
// the driver reads; FuzzParseMessage is seeded from it.
var messageCases = func() []struct {
	line string
	want messageWant
	err  string
} {
	type want = messageWant
	return []struct {
		line string
		want messageWant
		err  string
	}{
		{"ACK\r", want{msg: Message{Name: "ACK"}}, ""},
		{"ACK|\r", want{msg: Message{Name: "ACK"}}, ""},
		{"\nACK\r\n", want{msg: Message{Name: "ACK"}}, ""},
		{"ERR|QFULL|queue full|", want{msg: Message{Name: "ERR", Fields: []string{"QFULL", "queue full"}}, ack: printer.ErrQueueFull}, ""},
		{"ERR|NOJOB|no job selected|", want{msg: Message{Name: "ERR", Fields: []string{"NOJOB", "no job selected"}}, ack: printer.ErrRefused}, ""},
		{"NAK|7|", want{msg: Message{Name: "NAK", Fields: []string{"7"}}, ack: printer.ErrRefused}, ""},
		{"QSZ|3|16|", want{msg: Message{Name: "QSZ", Fields: []string{"3", "16"}}, ack: printer.ErrProtocol}, ""},
		{"GST|RUNNING|running|", want{msg: Message{Name: "GST", Fields: []string{"RUNNING", "running"}}, ack: printer.ErrProtocol}, ""},
		{"GFT|1|HEAD|print head fault|", want{msg: Message{Name: "GFT", Fields: []string{"1", "HEAD", "print head fault"}}, ack: printer.ErrProtocol}, ""},
		{"GWN|0|", want{msg: Message{Name: "GWN", Fields: []string{"0"}}, ack: printer.ErrProtocol}, ""},
		{"GPC|12345|", want{msg: Message{Name: "GPC", Fields: []string{"12345"}}, ack: printer.ErrProtocol}, ""},
		{"PRS|7|SN1|", want{msg: Message{Name: "PRS", Fields: []string{"7", "SN1"}}, async: true,
			ev: printer.Event{Kind: printer.PrintStart, Counter: 7, RecordID: "SN1"}}, ""},
		{"PRC|8|SN2|", want{msg: Message{Name: "PRC", Fields: []string{"8", "SN2"}}, async: true,
			ev: printer.Event{Kind: printer.PrintComplete, Counter: 8, RecordID: "SN2"}}, ""},
		{"STS|FAULT|jet stopped|", want{msg: Message{Name: "STS", Fields: []string{"FAULT", "jet stopped"}}, async: true,
			ev: printer.Event{Kind: printer.Status, Code: "FAULT", Text: "jet stopped"}}, ""},
		{"ERS|F|HEAD|print head fault|", want{msg: Message{Name: "ERS", Fields: []string{"F", "HEAD", "print head fault"}}, async: true,
			ev: printer.Event{Kind: printer.Fault, Code: "HEAD", Text: "print head fault"}}, ""},
		{"ERS|W|INKLOW|ink low|", want{msg: Message{Name: "ERS", Fields: []string{"W", "INKLOW", "ink low"}}, async: true,
			ev: printer.Event{Kind: printer.Warning, Code: "INKLOW", Text: "ink low"}}, ""},
		{"ERS|W|NODATA|no data|", want{msg: Message{Name: "ERS", Fields: []string{"W", "NODATA", "no data"}}, async: true,
			ev: printer.Event{Kind: printer.Missed, Code: "NODATA", Text: "no data", Empty: true}}, ""},
		{"ERS|W|OVERLAP|print go while printing|", want{msg: Message{Name: "ERS", Fields: []string{"W", "OVERLAP", "print go while printing"}}, async: true,
			ev: printer.Event{Kind: printer.Missed, Code: "OVERLAP", Text: "print go while printing"}}, ""},
		{"ERS|W|NOPRINT|printer not running|", want{msg: Message{Name: "ERS", Fields: []string{"W", "NOPRINT", "printer not running"}}, async: true,
			ev: printer.Event{Kind: printer.Missed, Code: "NOPRINT", Text: "printer not running"}}, ""},
		{"ERS|F|NODATA|no data|", want{msg: Message{Name: "ERS", Fields: []string{"F", "NODATA", "no data"}}, async: true,
			ev: printer.Event{Kind: printer.Fault, Code: "NODATA", Text: "no data"}}, ""},
		{"ERS|W|QCLR|queue cleared|", want{msg: Message{Name: "ERS", Fields: []string{"W", "QCLR", "queue cleared"}}, async: true,
			ev: printer.Event{Kind: printer.QueueCleared, Code: "QCLR", Text: "queue cleared"}}, ""},
		{"", want{}, "empty line"},
		{"AC", want{}, "want 3 letters"},
		{"ack|", want{}, "upper-case"},
		{"ACK|\x01|", want{}, "byte 0x01"},
		{"ACK|\xff|", want{}, "byte 0xff"},
	}
}()

// Every reply and asynchronous message the driver reads.
func TestParseMessageAndEvent(t *testing.T) {
	for _, c := range messageCases {
		m, err := ParseMessage([]byte(c.line))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, printer.ErrProtocol) {
				t.Errorf("%q: err %v, want ErrProtocol %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m, c.want.msg) {
			t.Errorf("%q: %#v, %v; want %#v", c.line, m, err, c.want.msg)
			continue
		}
		if m.IsAsync() != c.want.async {
			t.Errorf("%q: async %v", c.line, m.IsAsync())
		}
		if m.IsAsync() {
			ev, err := ParseEvent(m, DefaultLayout(), Codes{})
			if err != nil || ev != c.want.ev {
				t.Errorf("%q: event %v, %v; want %v", c.line, ev, err, c.want.ev)
			}
			continue
		}
		err = ReplyErr("X", m, Codes{})
		if c.want.ack == nil && err != nil || c.want.ack != nil && !errors.Is(err, c.want.ack) {
			t.Errorf("%q: ReplyErr %v, want %v", c.line, err, c.want.ack)
		}
		if c.want.ack == printer.ErrRefused && errors.Is(err, printer.ErrQueueFull) {
			t.Errorf("%q: ReplyErr %v must not be queue full", c.line, err)
		}
		// Round trip: the simulator writes messages with String().
		if m2, err := ParseMessage([]byte(m.String() + "\r")); err != nil || !reflect.DeepEqual(m2, m) {
			t.Errorf("%q: round trip %#v, %v", c.line, m2, err)
		}
	}
}

// badEvents parse as messages but not as events.
var badEvents = []string{"PRC|x|SN1|", "PRS||", "STS|", "ERS|F|", "ERS|X|HEAD|t|", "ACK|"}

// badFaultLists parse as messages but not as fault lists (the counts
// overflowing 2*n must not pass for a match).
var badFaultLists = []string{"GFT|2|HEAD|x|", "GFT|x|", "GFT|1|HEAD|", "GFT|9223372036854775808|", "GWN|18446744073709551615|", "GFT|-1|"}

func TestParseEventErrorsAndLayouts(t *testing.T) {
	for _, line := range badEvents {
		m, err := ParseMessage([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseEvent(m, DefaultLayout(), Codes{}); !errors.Is(err, printer.ErrProtocol) {
			t.Errorf("%q: %v, want ErrProtocol", line, err)
		}
	}
	// A printer that reports only the counter, and one that puts the ID first.
	m, _ := ParseMessage([]byte("PRC|41|"))
	ev, err := ParseEvent(m, Layout{Counter: 0, RecordID: -1}, Codes{})
	if err != nil || ev.Counter != 41 || ev.RecordID != "" {
		t.Errorf("counter-only: %v %v", ev, err)
	}
	m, _ = ParseMessage([]byte("PRC|SN9|"))
	ev, err = ParseEvent(m, Layout{Counter: -1, RecordID: 0}, Codes{})
	if err != nil || ev.Counter != 0 || ev.RecordID != "SN9" {
		t.Errorf("id-only: %v %v", ev, err)
	}
	// Custom codes.
	m, _ = ParseMessage([]byte("ERR|Q1|full|"))
	if err := ReplyErr("JDI", m, Codes{QueueFull: []string{"Q1"}}); !errors.Is(err, printer.ErrQueueFull) {
		t.Errorf("custom queue-full code: %v", err)
	}
}

func TestParseFaultList(t *testing.T) {
	m, _ := ParseMessage([]byte("GFT|2|HEAD|print head fault|INKOUT|ink out|"))
	got, err := ParseFaultList(m)
	want := []Fault{{"HEAD", "print head fault"}, {"INKOUT", "ink out"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%v %v", got, err)
	}
	for _, line := range badFaultLists {
		m, _ := ParseMessage([]byte(line))
		if _, err := ParseFaultList(m); !errors.Is(err, printer.ErrProtocol) {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, c := range messageCases {
		f.Add([]byte(c.line))
	}
	for _, s := range append(append([]string{"GFT|2|HEAD|print head fault|INKOUT|ink out|", "|||", "\x1d"}, badEvents...), badFaultLists...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !errors.Is(err, printer.ErrProtocol) {
				t.Fatalf("error %v not ErrProtocol", err)
			}
			return
		}
		if len(m.Name) != 3 {
			t.Fatalf("name %q", m.Name)
		}
		if m.IsAsync() {
			if _, err := ParseEvent(m, DefaultLayout(), Codes{}); err != nil && !errors.Is(err, printer.ErrProtocol) {
				t.Fatalf("event error %v not ErrProtocol", err)
			}
		} else {
			_ = ReplyErr("X", m, Codes{})
			if m.Name == "GFT" || m.Name == "GWN" {
				if _, err := ParseFaultList(m); err != nil && !errors.Is(err, printer.ErrProtocol) {
					t.Fatalf("fault list error %v not ErrProtocol", err)
				}
			}
		}
		// What parses re-encodes to something that parses the same.
		m2, err := ParseMessage([]byte(m.String()))
		if err != nil || m2.Name != m.Name || len(m2.Fields) != len(m.Fields) && !(len(m.Fields) == 1 && m.Fields[0] == "") {
			t.Fatalf("round trip of %q: %#v %v", m.String(), m2, err)
		}
	})
}
