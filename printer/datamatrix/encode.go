package datamatrix

// Data encodation: a shortest-path search over ASCII (with digit pairs),
// C40, Text and EDIFACT modes, at character granularity. Costs are counted
// in 1/24 codeword: an ASCII codeword costs 24, a C40/Text value 16 (three
// values per two codewords) and an EDIFACT value 18 (6 bits).

const (
	cwPad      = 129
	cwLatchC40 = 230
	cwLatchTxt = 239
	cwLatchEdi = 240
	cwUnlatch  = 254
	cwFNC1     = 232
	cwUpper    = 235
	ediUnlatch = 31 // EDIFACT unlatch value (6 bits)
)

// fnc1 is the internal marker for FNC1 in the input to the encoder.
const fnc1 = 0x100

// modes of the search state: ASCII; C40 and Text with the count of values
// mod 3; EDIFACT with the count of values mod 4.
const (
	mASCII = 0
	mC40   = 1 // 1..3
	mText  = 4 // 4..6
	mEdi   = 7 // 7..10
	nState = 11
)

const (
	unit   = 24 // one codeword
	inf    = int32(1 << 30)
	ediVal = 18
	c40Val = 16
)

// ediUnlatchCost is the cost of the EDIFACT unlatch after r values of the
// current group, so that the group's bytes come out whole.
var ediUnlatchCost = [4]int32{24, 30, 36, 18}

// c40Values returns the C40 (text=false) or Text (text=true) values of ch
// into v, and their count (0 when the mode cannot encode it).
func c40Values(ch int, text bool, v *[4]byte) int {
	if ch == fnc1 {
		v[0], v[1] = 1, 27
		return 2
	}
	if ch > 127 {
		// Upper Shift (shift2 + 30) then the value of ch-128
		var w [4]byte
		n := c40Values(ch-128, text, &w)
		if n == 0 {
			return 0
		}
		v[0], v[1] = 1, 30
		copy(v[2:], w[:n])
		return 2 + n
	}
	c := byte(ch)
	switch {
	case c == ' ':
		v[0] = 3
		return 1
	case c >= '0' && c <= '9':
		v[0] = c - '0' + 4
		return 1
	case !text && c >= 'A' && c <= 'Z':
		v[0] = c - 'A' + 14
		return 1
	case text && c >= 'a' && c <= 'z':
		v[0] = c - 'a' + 14
		return 1
	case c < 32:
		v[0], v[1] = 0, c
		return 2
	case c >= 33 && c <= 47:
		v[0], v[1] = 1, c-33
		return 2
	case c >= 58 && c <= 64:
		v[0], v[1] = 1, c-58+15
		return 2
	case c >= 91 && c <= 95:
		v[0], v[1] = 1, c-91+22
		return 2
	case c == 96:
		v[0], v[1] = 2, 0
		return 2
	case !text && c >= 'a' && c <= 'z':
		v[0], v[1] = 2, c-'a'+1
		return 2
	case text && c >= 'A' && c <= 'Z':
		v[0], v[1] = 2, c-'A'+1
		return 2
	case c >= 123 && c <= 127:
		v[0], v[1] = 2, c-123+27
		return 2
	}
	return 0
}

// encoder holds reusable buffers so batch encoding does not allocate.
type encoder struct {
	in       []int
	cost     []int32 // (n+1)*nState
	prev     []int32 // packed predecessor state index
	out      []byte
	vals     []byte
	c40n     [2][128 + 1]int8 // cached value counts for ASCII and FNC1
	prevPath []int32
	alt      []byte // second solution buffer
	starts   []int  // EDIFACT group start byte offsets of the last emit
	lastEdi  bool   // the last codewords call chose a path using EDIFACT
}

func newEncoder() *encoder {
	e := &encoder{}
	var v [4]byte
	for t := 0; t < 2; t++ {
		for ch := 0; ch < 128; ch++ {
			e.c40n[t][ch] = int8(c40Values(ch, t == 1, &v))
		}
		e.c40n[t][128] = 2 // FNC1
	}
	return e
}

func (e *encoder) valCount(ch int, text bool) int {
	t := 0
	if text {
		t = 1
	}
	if ch == fnc1 {
		return int(e.c40n[t][128])
	}
	if ch < 128 {
		return int(e.c40n[t][ch])
	}
	var v [4]byte
	return c40Values(ch, text, &v)
}

// codewords encodes in (bytes, or fnc1 markers) into data codewords without
// padding, and picks the symbol size. It returns the codewords (owned by
// e) and the size index, or -1 when the data does not fit.
func (e *encoder) codewords(in []int) ([]byte, int) {
	cw, si, edi := e.solve(in, true)
	e.lastEdi = edi
	if !edi || si < 0 {
		return cw, si
	}
	// EDIFACT's end-of-symbol rules depend on the size; keep the EDIFACT
	// solution only when it gives a strictly smaller symbol.
	e.alt = append(e.alt[:0], cw...)
	cw2, si2, _ := e.solve(in, false)
	if si2 >= 0 && si2 <= si {
		e.lastEdi = false
		return cw2, si2
	}
	return e.alt, si
}

// search runs the shortest-path search, filling e.cost and e.prev.
func (e *encoder) search(in []int, edifact bool) {
	n := len(in)
	ns := (n + 1) * nState
	if cap(e.cost) < ns {
		e.cost = make([]int32, ns)
		e.prev = make([]int32, ns)
	}
	cost := e.cost[:ns]
	prev := e.prev[:ns]
	for i := range cost {
		cost[i] = inf
	}
	cost[mASCII] = 0
	prev[0] = -1
	relax := func(to int, c int32, from int) {
		if c < cost[to] {
			cost[to] = c
			prev[to] = int32(from)
		}
	}
	for i := 0; i <= n; i++ {
		base := i * nState
		// unlatch to ASCII, then latch from ASCII (same position)
		for _, m := range [2]int{mC40, mText} {
			if c := cost[base+m]; c < inf {
				relax(base+mASCII, c+unit, base+m)
			}
		}
		if edifact {
			for r := 0; r < 4; r++ {
				if c := cost[base+mEdi+r]; c < inf {
					relax(base+mASCII, c+ediUnlatchCost[r], base+mEdi+r)
				}
			}
		}
		if c := cost[base+mASCII]; c < inf {
			relax(base+mC40, c+unit, base+mASCII)
			relax(base+mText, c+unit, base+mASCII)
			if edifact {
				relax(base+mEdi, c+unit, base+mASCII)
			}
		}
		if i == n {
			break
		}
		ch := in[i]
		next := base + nState
		if c := cost[base+mASCII]; c < inf {
			switch {
			case i+1 < n && isDigit(ch) && isDigit(in[i+1]):
				relax(next+nState+mASCII, c+unit, base+mASCII)
			case ch > 127 && ch != fnc1:
				relax(next+mASCII, c+2*unit, base+mASCII)
			default:
				relax(next+mASCII, c+unit, base+mASCII)
			}
		}
		for t, m := range [2]int{mC40, mText} {
			k := e.valCount(ch, t == 1)
			if k == 0 {
				continue
			}
			for r := 0; r < 3; r++ {
				if c := cost[base+m+r]; c < inf {
					relax(next+m+(r+k)%3, c+int32(k)*c40Val, base+m+r)
				}
			}
		}
		if edifact && ch >= 32 && ch <= 94 {
			for r := 0; r < 4; r++ {
				if c := cost[base+mEdi+r]; c < inf {
					relax(next+mEdi+(r+1)%4, c+ediVal, base+mEdi+r)
				}
			}
		}
	}
}

// solve searches, picks the end state and symbol size, and emits.
func (e *encoder) solve(in []int, edifact bool) ([]byte, int, bool) {
	e.search(in, edifact)
	n := len(in)
	end := n * nState
	type cand struct {
		state  int
		total  int  // codewords including a final unlatch / pad value
		full   int  // codewords when the symbol is exactly full (no unlatch), or -1
		ediEnd bool // ends in EDIFACT at a group boundary (unlatch only if room)
		tail   int  // >= 0: input index from which the rest goes in ASCII after an implicit EDIFACT end
		window int  // codewords before that tail: the symbol must have at most 2 more
	}
	var cands [16]cand
	nc := 0
	add := func(c cand) { cands[nc] = c; nc++ }
	if c := e.cost[end+mASCII]; c < inf {
		add(cand{end + mASCII, int(c / unit), -1, false, -1, 0})
	}
	for _, m := range [2]int{mC40, mText} {
		if c := e.cost[end+m]; c < inf {
			add(cand{end + m, int(c/unit) + 1, int(c / unit), false, -1, 0})
		}
		if c := e.cost[end+m+2]; c < inf { // a Shift-1 pad value completes the triple
			add(cand{end + m + 2, int((c+c40Val)/unit) + 1, int((c + c40Val) / unit), false, -1, 0})
		}
	}
	if edifact {
		if c := e.cost[end+mEdi]; c < inf {
			add(cand{end + mEdi, int(c / unit), -1, true, -1, 0})
		}
		for r := 1; r < 4; r++ {
			if c := e.cost[end+mEdi+r]; c < inf {
				add(cand{end + mEdi + r, int((c + ediUnlatchCost[r]) / unit), -1, false, -1, 0})
			}
		}
		// ISO/IEC 16022 5.2.8.2: with at most two codewords left at an
		// EDIFACT group boundary, the last characters go in ASCII without
		// an unlatch.
		for i := max(0, n-4); i < n; i++ {
			c := e.cost[i*nState+mEdi]
			if c >= inf {
				continue
			}
			if k := asciiLen(in[i:]); k <= 2 {
				add(cand{i*nState + mEdi, int(c/unit) + k, -1, false, i, int(c / unit)})
			}
		}
	}
	fits := func(c *cand, capacity int) bool {
		if c.tail >= 0 {
			return capacity-c.window <= 2 && capacity >= c.total
		}
		return c.total <= capacity || c.full == capacity
	}
	// fewest codewords first (stable: ASCII/C40/Text before EDIFACT)
	for i := 1; i < nc; i++ {
		for j := i; j > 0 && cands[j].total < cands[j-1].total; j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	bestSize, bestCand := len(sizes), -1
	for ci := 0; ci < nc; ci++ {
		for si := 0; si < bestSize; si++ {
			if fits(&cands[ci], sizes[si].dataCW) {
				bestSize, bestCand = si, ci
				break
			}
		}
	}
	if bestCand < 0 {
		return nil, -1, false
	}
	c := cands[bestCand]
	capacity := sizes[bestSize].dataCW
	unlatch := c.total <= capacity
	out, usedEdi := e.emit(in, c.state, unlatch && c.tail < 0)
	if c.tail >= 0 {
		out = appendASCII(out, in[c.tail:])
	}
	// EDIFACT groups need at least three codewords left at their start
	// (a decoder returns to ASCII with two or fewer).
	need := len(out)
	for _, b := range e.starts {
		need = max(need, b+3)
	}
	chosen := bestSize
	for need > sizes[bestSize].dataCW {
		bestSize++
		if bestSize == len(sizes) {
			return nil, -1, usedEdi
		}
	}
	if bestSize != chosen && !unlatch && c.state%nState != mASCII && c.state%nState < mEdi {
		out = append(out, cwUnlatch) // no longer exactly full: padding follows
	}
	if c.ediEnd && sizes[bestSize].dataCW-len(out) >= 3 {
		out = append(out, ediUnlatch<<2)
	}
	e.out = out
	return out, bestSize, usedEdi
}

// emit walks the predecessor chain back from endState and writes codewords.
// It records EDIFACT group start offsets in e.starts.
func (e *encoder) emit(in []int, endState int, unlatchAtEnd bool) ([]byte, bool) {
	states := e.prevPath[:0]
	for s := int32(endState); s >= 0; s = e.prev[s] {
		states = append(states, s)
		if s == 0 {
			break
		}
	}
	e.prevPath = states
	out := e.out[:0]
	vals := e.vals[:0]
	e.starts = e.starts[:0]
	usedEdi := false
	flushVals := func() {
		for len(vals) >= 3 {
			x := int(vals[0])*1600 + int(vals[1])*40 + int(vals[2]) + 1
			out = append(out, byte(x>>8), byte(x))
			vals = vals[3:]
		}
	}
	// EDIFACT bit packing
	var acc uint32
	nbits := 0
	ediCount := 0
	ediPut := func(v byte) {
		if ediCount%4 == 0 {
			e.starts = append(e.starts, len(out))
		}
		ediCount++
		acc = acc<<6 | uint32(v)
		nbits += 6
		for nbits >= 8 {
			out = append(out, byte(acc>>(nbits-8)))
			nbits -= 8
		}
	}
	ediUnlatchFlush := func() {
		ediPut(ediUnlatch)
		if nbits > 0 {
			out = append(out, byte(acc<<(8-nbits)))
			nbits = 0
		}
		acc = 0
		ediCount = 0
	}
	var v [4]byte
	for k := len(states) - 1; k > 0; k-- {
		from, to := int(states[k]), int(states[k-1])
		fi, fm := from/nState, from%nState
		ti, tm := to/nState, to%nState
		switch {
		case fi == ti: // latch / unlatch
			switch {
			case fm == mASCII && tm == mC40:
				out = append(out, cwLatchC40)
			case fm == mASCII && tm == mText:
				out = append(out, cwLatchTxt)
			case fm == mASCII && tm == mEdi:
				out = append(out, cwLatchEdi)
				usedEdi = true
				acc, nbits, ediCount = 0, 0, 0
			case fm >= mEdi:
				ediUnlatchFlush()
			default:
				flushVals()
				out = append(out, cwUnlatch)
			}
		case fm == mASCII:
			ch := in[fi]
			switch {
			case ti == fi+2:
				out = append(out, byte((ch-'0')*10+(in[fi+1]-'0')+130))
			case ch == fnc1:
				out = append(out, cwFNC1)
			case ch > 127:
				out = append(out, cwUpper, byte(ch-127))
			default:
				out = append(out, byte(ch+1))
			}
		case fm >= mEdi:
			ediPut(byte(in[fi] & 63))
		default:
			n := c40Values(in[fi], fm >= mText, &v)
			vals = append(vals, v[:n]...)
			flushVals()
		}
	}
	last := endState % nState
	switch {
	case last >= mEdi:
		if last != mEdi { // partial group: explicit unlatch
			ediUnlatchFlush()
		}
	case last != mASCII:
		if len(vals) == 2 {
			vals = append(vals, 0) // Shift 1 pad value completes the triple
		}
		flushVals()
		if unlatchAtEnd {
			out = append(out, cwUnlatch)
		}
	}
	e.out = out
	e.vals = vals[:0]
	return out, usedEdi
}

// asciiLen is the number of ASCII-mode codewords for in.
func asciiLen(in []int) int {
	k := 0
	for i := 0; i < len(in); i++ {
		switch {
		case i+1 < len(in) && isDigit(in[i]) && isDigit(in[i+1]):
			i++
			k++
		case in[i] > 127 && in[i] != fnc1:
			k += 2
		default:
			k++
		}
	}
	return k
}

// appendASCII appends in encoded in ASCII mode.
func appendASCII(out []byte, in []int) []byte {
	for i := 0; i < len(in); i++ {
		ch := in[i]
		switch {
		case i+1 < len(in) && isDigit(ch) && isDigit(in[i+1]):
			out = append(out, byte((ch-'0')*10+(in[i+1]-'0')+130))
			i++
		case ch == fnc1:
			out = append(out, cwFNC1)
		case ch > 127:
			out = append(out, cwUpper, byte(ch-127))
		default:
			out = append(out, byte(ch+1))
		}
	}
	return out
}

func isDigit(ch int) bool { return ch >= '0' && ch <= '9' }
