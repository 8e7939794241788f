// Package corpus generates GS1 payloads for round-trip tests and
// benchmarks: pharma-style element strings with random serials, lots,
// expiry dates (including day 00) and NHRNs, deterministic for a seed.
package corpus

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// cset82 without "(" and ")" so payloads also work with zint --gs1parens.
const cset82NoParens = "!\"%&'*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

const upperDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// Generator produces bracketed payloads "(01)…(17)…(10)…(21)…".
type Generator struct {
	r *rand.Rand
}

// New returns a generator seeded with seed.
func New(seed uint64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// GTIN returns a random GTIN-14 with a correct check digit.
func (g *Generator) GTIN() string {
	var b [14]byte
	b[0] = byte('0' + g.r.IntN(9))
	for i := 1; i < 13; i++ {
		b[i] = byte('0' + g.r.IntN(10))
	}
	sum := 0
	w := 3
	for i := 12; i >= 0; i-- {
		sum += int(b[i]-'0') * w
		w = 4 - w
	}
	b[13] = byte('0' + (10-sum%10)%10)
	return string(b[:])
}

func (g *Generator) str(set string, min, max int) string {
	n := min + g.r.IntN(max-min+1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(set[g.r.IntN(len(set))])
	}
	return b.String()
}

// Date returns a random valid YYMMDD; with day00 it sometimes ends in 00.
func (g *Generator) Date(day00 bool) string {
	y := 20 + g.r.IntN(40)
	m := 1 + g.r.IntN(12)
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 {
		days = 29
	}
	d := 1 + g.r.IntN(days)
	if day00 && g.r.IntN(5) == 0 {
		d = 0
	}
	return pad2(y) + pad2(m) + pad2(d)
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Pharma returns one pack payload: GTIN, expiry, lot, serial and
// sometimes an NHRN (710-715), in varying order and character mixes.
func (g *Generator) Pharma() string {
	var b strings.Builder
	b.WriteString("(01)" + g.GTIN())
	set := upperDigits
	switch g.r.IntN(4) {
	case 0:
		set = "0123456789"
	case 1:
		set = cset82NoParens
	}
	parts := []string{
		"(17)" + g.Date(true),
		"(10)" + g.str(set, 1, 20),
		"(21)" + g.str(set, 1, 20),
	}
	if g.r.IntN(4) == 0 {
		parts = append(parts, "(71"+strconv.Itoa(g.r.IntN(6))+")"+g.str("0123456789", 1, 20))
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	for _, p := range parts {
		b.WriteString(p)
	}
	return b.String()
}

// HandPicked are payloads chosen to exercise edge cases: every CSET 82
// punctuation character, maximum lengths, day-00 expiry, every NHRN AI,
// literal parentheses, long symbols.
func HandPicked() []string {
	return []string{
		"(01)09501101530003(21)ABC",
		"(01)09501101530003(17)290300(10)LOT1(21)S1",
		"(01)09501101530003(17)240229(10)LEAP(21)LEAP1",
		"(01)09501101530003(21)!\"%&'*+,-./:;<=>?_",
		"(01)09501101530003(21)AB\\(CD)EF",
		"(01)09501101530003(10)!\"%&'*+,-.(21)/:;<=>?_z",
		"(01)09501101530003(21)abcdefghijklmnopqrst",
		"(01)09501101530003(21)ABCDEFGHIJKLMNOPQRST(10)01234567890123456789",
		"(01)09501101530003(21)12345678901234567890(10)ZZZZZZZZZZZZZZZZZZZZ(17)991231",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(710)123456789",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(711)3400930000000",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(712)654321",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(713)1234567",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(714)5440987",
		"(01)09501101530003(17)290331(10)ABC123(21)XYZ987(715)0123456789",
		"(01)00300123456785(21)1234567890ABCDEFGHIJ(17)300100(10)L",
		"(00)123456789012345675",
		"(01)09501101530003(3103)001250(15)250101",
		"(01)09501101530003(11)200101(13)200102(15)200103(16)200104(17)200105",
		"(01)09501101530003(21)a",
		"(01)09501101530003(21)0",
		"(01)09501101530003(21)Aa0!Bb1\"Cc2%Dd3&",
		"(01)09501101530003(240)ADDITIONAL-ID-30-CHARACTERS-XX",
		"(01)09501101530003(91)" + strings.Repeat("x", 90),
		"(01)09501101530003(92)" + strings.Repeat("Ab1.", 22) + "Zz",
		"(01)09501101530003(21)AAAAAAAAAAAAAAAAAAAA(10)aaaaaaaaaaaaaaaaaaaa(240)000000000000000000000000000000",
		"(414)9501101020917(254)ABC",
		"(8004)9501101123456789012345678901",
		"(01)09501101530003(10)L(21)S(7003)2503311200",
		"(01)09501101530003(21)%%%%%%%%%%%%%%%%%%%%",
		"(01)09501101530003(21)____----....////",
		"(01)09501101530003(8200)HTTPS://EXAMPLE.COM/A?B=C&D=E",
		"(01)09501101530003(10)12(21)34(17)290100",
	}
}
