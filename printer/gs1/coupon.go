package gs1

// North American coupon linters for AI (8110) and AI (8112), following the
// GS1 Barcode Syntax Tests ("couponcode", "couponposoffer"). They return the
// 0-based position and a message, or "" when the data is valid.

// couponScan walks digits-only coupon data field by field.
type couponScan struct {
	s   string
	p   int
	pos int    // error position
	msg string // error message
}

func (c *couponScan) fail(pos int, msg string) bool {
	if c.msg == "" {
		c.pos, c.msg = pos, msg
	}
	return false
}

// vli reads one VLI digit accepted by ok, returning its value.
func (c *couponScan) vli(name string, ok func(byte) bool) (int, bool) {
	if c.p >= len(c.s) {
		return 0, c.fail(c.p, name+" VLI missing")
	}
	d := c.s[c.p]
	if !ok(d) {
		return 0, c.fail(c.p, "invalid "+name+" VLI "+quote(c.s[c.p:c.p+1]))
	}
	c.p++
	return int(d - '0'), true
}

// field consumes n digits.
func (c *couponScan) field(name string, n int) bool {
	if len(c.s)-c.p < n {
		return c.fail(c.p, name+" incomplete")
	}
	c.p += n
	return true
}

// code reads one digit accepted by ok.
func (c *couponScan) code(name string, ok func(byte) bool) bool {
	if c.p >= len(c.s) {
		return c.fail(c.p, name+" missing")
	}
	if !ok(c.s[c.p]) {
		return c.fail(c.p, "invalid "+name+" "+quote(c.s[c.p:c.p+1]))
	}
	c.p++
	return true
}

func digitIn(lo, hi byte, extra ...byte) func(byte) bool {
	return func(d byte) bool {
		if d >= lo && d <= hi {
			return true
		}
		for _, e := range extra {
			if d == e {
				return true
			}
		}
		return false
	}
}

func firstNonDigit(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return i
		}
	}
	return -1
}

// purchase checks a purchase requirement VLI + requirement, its code and
// its family code.
func (c *couponScan) purchase(nth string) bool {
	n, ok := c.vli(nth+" purchase requirement", digitIn('1', '5'))
	return ok && c.field(nth+" purchase requirement", n) &&
		c.code(nth+" purchase requirement code", digitIn('0', '4', '9')) &&
		c.field(nth+" purchase family code", 3)
}

// gcp checks a GS1 Company Prefix VLI (0-6 -> 6-12 digits; with nine, 9
// means "none") and the prefix itself.
func (c *couponScan) gcp(name string, nine bool) bool {
	ok := digitIn('0', '6')
	if nine {
		ok = digitIn('0', '6', '9')
	}
	n, good := c.vli(name, ok)
	if !good {
		return false
	}
	if nine && n == 9 {
		return true
	}
	return c.field(name, n+6)
}

func checkCouponCode(s string) (int, string) {
	if i := firstNonDigit(s); i >= 0 {
		return i, "non-numeric character " + quote(s[i:i+1])
	}
	c := &couponScan{s: s}
	run := func() bool {
		if !c.gcp("primary GS1 company prefix", false) || !c.field("offer code", 6) {
			return false
		}
		n, ok := c.vli("save value", digitIn('1', '5'))
		if !ok || !c.field("save value", n) || !c.purchase("1st") {
			return false
		}
		if c.p < len(s) && s[c.p] == '1' { // additional rules and 2nd purchase
			c.p++
			if !c.code("additional purchase rules code", digitIn('0', '3')) || !c.purchase("2nd") || !c.gcp("2nd purchase GS1 company prefix", true) {
				return false
			}
		}
		if c.p < len(s) && s[c.p] == '2' { // 3rd purchase
			c.p++
			if !c.purchase("3rd") || !c.gcp("3rd purchase GS1 company prefix", true) {
				return false
			}
		}
		exp := ""
		if c.p < len(s) && s[c.p] == '3' { // expiration date
			c.p++
			start := c.p
			if !c.field("expiration date", 6) {
				return false
			}
			if e := checkDate("", s[start:c.p], start, 2, false); e != nil {
				return c.fail(start, "invalid expiration date")
			}
			exp = s[start:c.p]
		}
		if c.p < len(s) && s[c.p] == '4' { // start date
			c.p++
			start := c.p
			if !c.field("start date", 6) {
				return false
			}
			if e := checkDate("", s[start:c.p], start, 2, false); e != nil {
				return c.fail(start, "invalid start date")
			}
			if exp != "" && s[start:c.p] > exp {
				return c.fail(start, "expiration date before start date")
			}
		}
		if c.p < len(s) && s[c.p] == '5' { // serial number
			c.p++
			n, ok := c.vli("serial number", digitIn('0', '9'))
			if !ok || !c.field("serial number", n+6) {
				return false
			}
		}
		if c.p < len(s) && s[c.p] == '6' { // retailer GCP/GLN
			c.p++
			n, ok := c.vli("retailer GCP/GLN", digitIn('1', '7'))
			if !ok || !c.field("retailer GCP/GLN", n+6) {
				return false
			}
		}
		if c.p < len(s) && s[c.p] == '9' { // miscellaneous
			c.p++
			if !c.code("save value code", digitIn('0', '2', '5', '6')) ||
				!c.code("save value applies to item", digitIn('0', '2')) ||
				!c.code("store coupon flag", digitIn('0', '9')) ||
				!c.code("don't multiply flag", digitIn('0', '1')) {
				return false
			}
		}
		if c.p != len(s) {
			return c.fail(c.p, "excess data")
		}
		return true
	}
	if !run() {
		return c.pos, c.msg
	}
	return 0, ""
}

func checkCouponPosOffer(s string) (int, string) {
	if i := firstNonDigit(s); i >= 0 {
		return i, "non-numeric character " + quote(s[i:i+1])
	}
	c := &couponScan{s: s}
	ok := c.code("coupon format (0 or 1)", digitIn('0', '1')) &&
		c.gcp("coupon funder ID", false) &&
		c.field("offer code", 6)
	if ok {
		n, good := c.vli("serial number", digitIn('0', '9'))
		ok = good && c.field("serial number", n+6)
	}
	if ok && c.p != len(s) {
		c.fail(c.p, "reserved trailing characters")
		ok = false
	}
	if !ok {
		return c.pos, c.msg
	}
	return 0, ""
}
