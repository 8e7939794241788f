package zpl

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// chunks is a connection that delivers its reads in the pieces given and
// records what is written back.
type chunks struct {
	in  [][]byte
	out bytes.Buffer
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in[0])
	c.in[0] = c.in[0][n:]
	if len(c.in[0]) == 0 {
		c.in = c.in[1:]
	}
	return n, nil
}

func (c *chunks) Write(p []byte) (int, error) { return c.out.Write(p) }

// Serve splits a stream into ~ commands and ^XA…^XZ labels whatever the
// read boundaries, skips what lies between items and writes back only
// the answers tilde gives.
func TestServeItems(t *testing.T) {
	conn := &chunks{in: [][]byte{
		[]byte("\r\n  ~h"), []byte("s^xa^FN1^FDa~b^FS"), []byte("^X"), []byte("Z junk ^FO1,1~JA^XA^XZ~HS"),
	}}
	var got []string
	Serve(conn, func(name string) []byte {
		got = append(got, "~"+name)
		if name == "HS" {
			return []byte("<status>")
		}
		return nil
	}, func(body []byte) { got = append(got, "label "+string(body)) })
	want := []string{"~HS", "label ^FN1^FDa~b^FS", "~JA", "label ", "~HS"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
	if conn.out.String() != "<status><status>" {
		t.Errorf("written back %q", conn.out.String())
	}
}
