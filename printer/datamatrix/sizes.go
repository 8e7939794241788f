package datamatrix

// size describes one square ECC 200 symbol size (ISO/IEC 16022 Table 7).
type size struct {
	rows       int // = cols (square only)
	regions    int // data regions per side
	dataCW     int // data codewords
	eccCW      int // error correction codewords (all blocks)
	blocks     int // interleaved Reed-Solomon blocks
	regionSide int // data region side in modules
}

// sizes lists the 24 square ECC 200 sizes, smallest first.
var sizes = [...]size{
	{10, 1, 3, 5, 1, 8},
	{12, 1, 5, 7, 1, 10},
	{14, 1, 8, 10, 1, 12},
	{16, 1, 12, 12, 1, 14},
	{18, 1, 18, 14, 1, 16},
	{20, 1, 22, 18, 1, 18},
	{22, 1, 30, 20, 1, 20},
	{24, 1, 36, 24, 1, 22},
	{26, 1, 44, 28, 1, 24},
	{32, 2, 62, 36, 1, 14},
	{36, 2, 86, 42, 1, 16},
	{40, 2, 114, 48, 1, 18},
	{44, 2, 144, 56, 1, 20},
	{48, 2, 174, 68, 1, 22},
	{52, 2, 204, 84, 2, 24},
	{64, 4, 280, 112, 2, 14},
	{72, 4, 368, 144, 4, 16},
	{80, 4, 456, 192, 4, 18},
	{88, 4, 576, 224, 4, 20},
	{96, 4, 696, 272, 4, 22},
	{104, 4, 816, 336, 6, 24},
	{120, 6, 1050, 408, 6, 18},
	{132, 6, 1304, 496, 8, 20},
	{144, 6, 1558, 620, 10, 22},
}

// MaxDataCodewords is the capacity of the largest square symbol (144×144).
const MaxDataCodewords = 1558
