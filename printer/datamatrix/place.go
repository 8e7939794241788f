package datamatrix

// placement implements the ECC 200 module placement algorithm (ISO/IEC
// 16022 Annex F): it maps codeword bits onto the nrow×ncol mapping matrix
// (the symbol without finder patterns and region borders).
type placement struct {
	nrow, ncol int
	m          []byte // 0 unset, 2|bit set
	cw         []byte
}

func (p *placement) module(row, col, chr, bit int) {
	if row < 0 {
		row += p.nrow
		col += 4 - ((p.nrow + 4) % 8)
	}
	if col < 0 {
		col += p.ncol
		row += 4 - ((p.ncol + 4) % 8)
	}
	v := (p.cw[chr] >> (7 - uint(bit))) & 1
	p.m[row*p.ncol+col] = 2 | v
}

func (p *placement) utah(row, col, chr int) {
	p.module(row-2, col-2, chr, 0)
	p.module(row-2, col-1, chr, 1)
	p.module(row-1, col-2, chr, 2)
	p.module(row-1, col-1, chr, 3)
	p.module(row-1, col, chr, 4)
	p.module(row, col-2, chr, 5)
	p.module(row, col-1, chr, 6)
	p.module(row, col, chr, 7)
}

func (p *placement) corner1(chr int) {
	nr, nc := p.nrow, p.ncol
	p.module(nr-1, 0, chr, 0)
	p.module(nr-1, 1, chr, 1)
	p.module(nr-1, 2, chr, 2)
	p.module(0, nc-2, chr, 3)
	p.module(0, nc-1, chr, 4)
	p.module(1, nc-1, chr, 5)
	p.module(2, nc-1, chr, 6)
	p.module(3, nc-1, chr, 7)
}

func (p *placement) corner2(chr int) {
	nr, nc := p.nrow, p.ncol
	p.module(nr-3, 0, chr, 0)
	p.module(nr-2, 0, chr, 1)
	p.module(nr-1, 0, chr, 2)
	p.module(0, nc-4, chr, 3)
	p.module(0, nc-3, chr, 4)
	p.module(0, nc-2, chr, 5)
	p.module(0, nc-1, chr, 6)
	p.module(1, nc-1, chr, 7)
}

func (p *placement) corner3(chr int) {
	nr, nc := p.nrow, p.ncol
	p.module(nr-3, 0, chr, 0)
	p.module(nr-2, 0, chr, 1)
	p.module(nr-1, 0, chr, 2)
	p.module(0, nc-2, chr, 3)
	p.module(0, nc-1, chr, 4)
	p.module(1, nc-1, chr, 5)
	p.module(2, nc-1, chr, 6)
	p.module(3, nc-1, chr, 7)
}

func (p *placement) corner4(chr int) {
	nr, nc := p.nrow, p.ncol
	p.module(nr-1, 0, chr, 0)
	p.module(nr-1, nc-1, chr, 1)
	p.module(0, nc-3, chr, 2)
	p.module(0, nc-2, chr, 3)
	p.module(0, nc-1, chr, 4)
	p.module(1, nc-3, chr, 5)
	p.module(1, nc-2, chr, 6)
	p.module(1, nc-1, chr, 7)
}

func (p *placement) run() {
	nr, nc := p.nrow, p.ncol
	chr := 0
	row, col := 4, 0
	for {
		if row == nr && col == 0 {
			p.corner1(chr)
			chr++
		}
		if row == nr-2 && col == 0 && nc%4 != 0 {
			p.corner2(chr)
			chr++
		}
		if row == nr-2 && col == 0 && nc%8 == 4 {
			p.corner3(chr)
			chr++
		}
		if row == nr+4 && col == 2 && nc%8 == 0 {
			p.corner4(chr)
			chr++
		}
		for {
			if row < nr && col >= 0 && p.m[row*nc+col] == 0 {
				p.utah(row, col, chr)
				chr++
			}
			row -= 2
			col += 2
			if row < 0 || col >= nc {
				break
			}
		}
		row++
		col += 3
		for {
			if row >= 0 && col < nc && p.m[row*nc+col] == 0 {
				p.utah(row, col, chr)
				chr++
			}
			row += 2
			col -= 2
			if row >= nr || col < 0 {
				break
			}
		}
		row += 3
		col++
		if row >= nr && col >= nc {
			break
		}
	}
	if p.m[nr*nc-1] == 0 {
		p.m[nr*nc-1] = 3
		p.m[(nr-1)*nc-2] = 3
	}
}
