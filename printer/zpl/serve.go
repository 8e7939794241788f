package zpl

import (
	"bytes"
	"io"
	"strings"
)

// Serve reads a ZPL stream the way a printer does, item by item, until rw
// fails or more than 4 MiB of an unfinished label pile up. Each ~ command
// goes to tilde (its two-letter name, upper case), whose answer, when not
// nil, is written back; each ^XA…^XZ label goes to label (the body between
// the two). Bytes between items are skipped. It is the receiving side of
// the simulated printers.
func Serve(rw io.ReadWriter, tilde func(name string) []byte, label func(body []byte)) {
	var buf []byte
	rb := make([]byte, 32<<10)
	for {
		n, err := rw.Read(rb)
		if err != nil {
			return
		}
		buf = append(buf, rb[:n]...)
		for {
			used, reply := nextItem(buf, tilde, label)
			if used == 0 {
				break
			}
			buf = buf[used:]
			if reply != nil {
				if _, err := rw.Write(reply); err != nil {
					return
				}
			}
		}
		if len(buf) > 4<<20 {
			return // a runaway label; a real printer would choke too
		}
	}
}

// nextItem consumes one complete item from buf: (0, nil) when more bytes
// are needed.
func nextItem(buf []byte, tilde func(string) []byte, label func([]byte)) (int, []byte) {
	i := 0
	for i < len(buf) && buf[i] != '^' && buf[i] != '~' {
		i++
	}
	if i > 0 {
		return i, nil // junk or white space between items
	}
	if len(buf) < 3 {
		return 0, nil
	}
	if buf[0] == '~' {
		return 3, tilde(strings.ToUpper(string(buf[1:3])))
	}
	if !strings.EqualFold(string(buf[:3]), "^XA") {
		return 1, nil
	}
	end := bytes.Index(bytes.ToUpper(buf), []byte("^XZ"))
	if end < 0 {
		return 0, nil
	}
	label(buf[3:end])
	return end + 3, nil
}
