package printersim

import (
	"strconv"
	"strings"

	"github.com/serialine/serialine/printer/zpl"
)

type zplFlags struct{ paperOut, ribbonOut, headOpen bool }

func (f zplFlags) stopped() bool { return f.paperOut || f.ribbonOut || f.headOpen }

// serveZPL speaks ZPL II on one connection: ^XA…^XZ label blocks (^DF
// stores a format, ^XF recalls one with ^FN values, ^GF prints a bitmap),
// ~HS host status, ~JA cancel all.
func (s *Server) serveZPL(c *simConn) {
	zpl.Serve(c.nc, s.zplTilde, s.zplLabel)
}

// zplTilde answers a ~ command.
func (s *Server) zplTilde(name string) []byte {
	switch name {
	case "HS":
		return zpl.EncodeHostStatus(s.hostStatus())
	case "JA":
		s.mu.Lock()
		s.stats.Cleared += uint64(len(s.queue))
		s.queue = nil
		s.unlock()
	}
	return nil
}

func (s *Server) hostStatus() zpl.HostStatus {
	s.mu.Lock()
	defer s.unlock()
	return zpl.HostStatus{
		PaperOut: s.zplFlags.paperOut, RibbonOut: s.zplFlags.ribbonOut, HeadOpen: s.zplFlags.headOpen,
		Paused: s.zplPaused, FormatsInBuffer: len(s.queue), BufferFull: len(s.queue) >= s.o.QueueCap,
		LabelLength: 600, ThermalTransfer: true,
	}
}

// zplLabel handles one ^XA…^XZ body.
func (s *Server) zplLabel(body []byte) {
	cmds, err := zpl.Tokenize(body)
	if err != nil {
		s.o.Logger.Warn("printersim: ZPL", "err", err)
		return
	}
	var (
		define, recall string
		fn             = -1
		fh             byte
		fields         = map[int]string{}
		r              record
	)
	for _, c := range cmds {
		switch c.Name {
		case "DF":
			define = strings.TrimSuffix(c.Params, ",")
		case "XF":
			recall = c.Params
		case "FN":
			n, err := strconv.Atoi(c.Params)
			if err != nil {
				s.o.Logger.Warn("printersim: ZPL ^FN", "params", c.Params)
				return
			}
			fn = n
		case "FH":
			fh = '_'
			if c.Params != "" {
				fh = c.Params[0]
			}
		case "FD":
			v := c.Params
			if fh != 0 {
				if v, err = zpl.UnescapeFH(v, fh); err != nil {
					s.o.Logger.Warn("printersim: ZPL ^FH", "err", err)
					return
				}
			}
			if fn >= 0 && define == "" {
				fields[fn] = v
			}
		case "FS":
			fn, fh = -1, 0
		case "GF":
			bm, err := zpl.ParseGraphicField(c.Params)
			if err != nil {
				s.o.Logger.Warn("printersim: ZPL ^GF", "err", err)
				return
			}
			r.img = bm.Image()
		case "FX":
			r.id = c.Params
		}
	}
	s.mu.Lock()
	defer s.unlock()
	if define != "" {
		s.formats[define] = string(body)
		return
	}
	if recall != "" {
		if _, ok := s.formats[recall]; !ok {
			s.o.Logger.Warn("printersim: ZPL ^XF of unknown format", "name", recall)
			return
		}
		r.fields = map[string]string{}
		for n, v := range fields {
			r.fields[strconv.Itoa(n)] = v
		}
		r.id = fields[s.o.ZPLIDField]
		r.data = fields[s.o.ZPLDataField]
	} else if r.img == nil {
		return // a label without variable data: not a unit's record
	}
	// A label printer has no refusal: the receive buffer takes it.
	s.queue = append(s.queue, r)
	s.stats.Accepted++
}
