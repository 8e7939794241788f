package datamatrix

import "github.com/boombuler/barcode/utils"

// rsTables holds GF(256) log/antilog tables (primitive polynomial 0x12D, as
// ECC 200 specifies) taken from boombuler/barcode's Galois field, and one
// generator polynomial per ECC block length used by the square sizes.
type rsTables struct {
	exp [512]byte
	log [256]byte
	gen map[int][]byte // block ECC length -> generator coefficients (highest degree first, leading 1 dropped)
}

func newRSTables() *rsTables {
	gf := utils.NewGaloisField(301, 256, 1) // 301 = 0x12D
	t := &rsTables{gen: map[int][]byte{}}
	for i := 0; i < 255; i++ {
		t.exp[i] = byte(gf.ALogTbl[i])
		t.exp[i+255] = byte(gf.ALogTbl[i])
	}
	// log from our antilog table: boombuler's LogTbl maps 1 to 255 (α^255 = 1),
	// which would overflow exp[] for 1·1 products.
	for i := 0; i < 255; i++ {
		t.log[t.exp[i]] = byte(i)
	}
	for _, s := range sizes {
		n := s.eccCW / s.blocks
		if _, ok := t.gen[n]; ok {
			continue
		}
		// g(x) = prod_{i=1..n} (x - a^i), coefficients highest degree first.
		g := []byte{1}
		for i := 1; i <= n; i++ {
			next := make([]byte, len(g)+1)
			for j, c := range g {
				next[j] ^= c
				next[j+1] ^= t.mul(c, t.exp[i])
			}
			g = next
		}
		t.gen[n] = g[1:]
	}
	return t
}

func (t *rsTables) mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return t.exp[int(t.log[a])+int(t.log[b])]
}

// encodeBlock writes len(ecc) RS check codewords of data into ecc.
func (t *rsTables) encodeBlock(data []byte, stride, start, count int, ecc []byte) {
	g := t.gen[len(ecc)]
	for i := range ecc {
		ecc[i] = 0
	}
	n := len(ecc)
	for k := 0; k < count; k++ {
		fb := data[start+k*stride] ^ ecc[0]
		copy(ecc, ecc[1:])
		ecc[n-1] = 0
		if fb != 0 {
			lf := int(t.log[fb])
			for j := 0; j < n; j++ {
				if g[j] != 0 {
					ecc[j] ^= t.exp[lf+int(t.log[g[j]])]
				}
			}
		}
	}
}

// addECC appends the interleaved error correction codewords of size s to cw
// (which holds exactly s.dataCW data codewords) and returns the result.
func (t *rsTables) addECC(cw []byte, s *size, scratch []byte) []byte {
	nb := s.blocks
	per := s.eccCW / nb
	total := s.dataCW + s.eccCW
	if cap(cw) < total {
		n := make([]byte, len(cw), total)
		copy(n, cw)
		cw = n
	}
	cw = cw[:total]
	if cap(scratch) < per {
		scratch = make([]byte, per)
	}
	ecc := scratch[:per]
	for b := 0; b < nb; b++ {
		count := (s.dataCW - b + nb - 1) / nb // data codewords b, b+nb, …
		t.encodeBlock(cw[:s.dataCW], nb, b, count, ecc)
		j := eccSlot(s, b)
		for k := 0; k < per; k++ {
			cw[s.dataCW+j+k*nb] = ecc[k]
		}
	}
	return cw
}

// eccSlot is the interleave position of block b's ECC codewords. In the
// 144×144 symbol (8 blocks of 156 and 2 of 155 data codewords) the ECC
// interleave starts with block 8, as ISO/IEC 16022 lays it out and
// decoders (ZXing, zint, libdmtx) expect.
func eccSlot(s *size, b int) int {
	if s.rows == 144 {
		return (b + 2) % s.blocks
	}
	return b
}
