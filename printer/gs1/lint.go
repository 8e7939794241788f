package gs1

import "strings"

// lint applies the syntax dictionary linter named l to part, the component
// of the value starting at offset off (0-based) within the whole value v.
// Positions in errors are 1-based within v.
func lint(ai, l, part string, off int, v string) *Error {
	at := func(i int, rule, msg string) *Error { return newErr(ai, off+i+1, rule, msg) }
	switch l {
	case "csum":
		if !checkDigitOK(part) {
			n := len(part) - 1
			return at(n, RuleCheckDigit, "bad check digit "+quote(part[n:])+", expected '"+string(rune('0'+checkDigit(part[:n])))+"'")
		}
	case "csumalpha":
		if i, msg := csumAlpha(part); msg != "" {
			return at(i, RuleCheckDigit, msg)
		}
	case "gcppos1", "gcppos2":
		skip := 0
		if l == "gcppos2" {
			skip = 1
		}
		// The GS1 Company Prefix is at least 4 digits long (prefixes starting
		// with "0000" are shorter GTIN-8 style prefixes and still digits).
		for i := skip; i < skip+4 && i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return at(i, "gcp", "non-numeric company prefix "+quote(part[i:i+1]))
			}
		}
		if len(part) < skip+4 {
			return at(0, "gcp", "company prefix incomplete")
		}
	case "yymmd0", "yymmdd":
		return checkDate(ai, part, off, 2, l == "yymmd0")
	case "yyyymmdd":
		return checkDate(ai, part, off, 4, false)
	case "hhmi":
		if e := checkRange(ai, part[:2], off, 0, 23, "invalid hour of day"); e != nil {
			return e
		}
		return checkRange(ai, part[2:4], off+2, 0, 59, "invalid minutes in the hour")
	case "hh":
		return checkRange(ai, part, off, 0, 23, "invalid hour of day")
	case "mi":
		return checkRange(ai, part, off, 0, 59, "invalid minutes in the hour")
	case "ss":
		return checkRange(ai, part, off, 0, 59, "invalid seconds in the minute")
	case "hyphen":
		for i := 0; i < len(part); i++ {
			if part[i] != '-' {
				return at(i, "hyphen", "only '-' permitted")
			}
		}
	case "yesno":
		if part != "0" && part != "1" {
			return at(0, "yesno", "neither 0 nor 1 for yes or no")
		}
	case "nonzero":
		if strings.Trim(part, "0") == "" {
			return at(0, "nonzero", "zero not permitted")
		}
	case "zero":
		if part != "0" {
			return at(0, "zero", "zero is required")
		}
	case "nozeroprefix":
		if len(part) > 1 && part[0] == '0' {
			return at(0, "nozeroprefix", "zero prefix is not permitted")
		}
	case "hasnondigit":
		if allDigits(part) {
			return at(0, "hasnondigit", "a non-digit character is required")
		}
	case "pcenc":
		for i := 0; i < len(part); i++ {
			if part[i] == '%' {
				for k := 1; k <= 2; k++ {
					if i+k >= len(part) {
						return at(i, "pcenc", "incomplete % escape")
					}
					if !isHex(part[i+k]) {
						return at(i+k, "pcenc", "invalid character for percent encoding")
					}
				}
				i += 2
			}
		}
	case "pieceoftotal":
		h := len(part) / 2
		piece, total := atoiN(part[:h]), atoiN(part[h:])
		switch {
		case piece == 0:
			return at(0, "pieceoftotal", "piece number cannot be zero")
		case total == 0:
			return at(0, "pieceoftotal", "total number cannot be zero")
		case piece > total:
			return at(0, "pieceoftotal", "piece number exceeds total")
		}
	case "posinseqslash":
		slash := -1
		for i := 0; i < len(part); i++ {
			c := part[i]
			switch {
			case c == '/':
				if slash >= 0 {
					return at(i, "posinseqslash", "single sequence separator ('/') only")
				}
				slash = i
			case c < '0' || c > '9':
				return at(i, "posinseqslash", "invalid character "+quote(part[i:i+1])+" in sequence")
			}
		}
		switch {
		case slash < 0:
			return at(0, "posinseqslash", "no sequence separator ('/')")
		case slash == 0 || slash == len(part)-1:
			return at(slash, "posinseqslash", "sequence separator '/' cannot start or end")
		}
		pos, tot := atoiN(part[:slash]), atoiN(part[slash+1:])
		switch {
		case pos == 0:
			return at(0, "posinseqslash", "sequence position cannot be zero")
		case tot == 0:
			return at(slash+1, "posinseqslash", "sequence total cannot be zero")
		case pos > tot:
			return at(0, "posinseqslash", "sequence position greater than total")
		}
	case "winding":
		if part != "0" && part != "1" && part != "9" {
			return at(0, "winding", "invalid winding direction (0, 1 or 9 only)")
		}
	case "iso5218":
		if part != "0" && part != "1" && part != "2" && part != "9" {
			return at(0, "iso5218", "invalid biological sex code (0, 1, 2 or 9 only)")
		}
	case "mediatype":
		n := atoiN(part)
		if !((n >= 1 && n <= 10) || n >= 80) {
			return at(len(part), "mediatype", "invalid AIDC media type")
		}
	case "latitude":
		if atoiN(part) > 1800000000 {
			return at(len(part)-1, "latitude", "invalid latitude")
		}
	case "longitude":
		if atoiN(part) > 3600000000 {
			return at(len(part)-1, "longitude", "invalid longitude")
		}
	case "importeridx":
		c := part[0]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return at(0, "importeridx", "invalid importer index "+quote(part))
		}
	case "iso3166":
		if !inList(iso3166Num, part) {
			return at(0, "iso3166", "unknown country code "+quote(part))
		}
	case "iso3166999":
		if part != "999" && !inList(iso3166Num, part) {
			return at(0, "iso3166", "unknown country code "+quote(part))
		}
	case "iso3166alpha2":
		if !inList(iso3166Alpha2, part) {
			return at(0, "iso3166", "unknown country code "+quote(part))
		}
	case "iso4217":
		if !inList(iso4217Num, part) {
			return at(0, "iso4217", "unknown currency code "+quote(part))
		}
	case "packagetype":
		if !inList(packageTypes, part) {
			return at(0, "packagetype", "invalid package type "+quote(part))
		}
	case "iban":
		if i, msg := checkIBAN(part); msg != "" {
			return at(i, "iban", msg)
		}
	case "couponcode":
		if i, msg := checkCouponCode(part); msg != "" {
			return at(i, "coupon", msg)
		}
	case "couponposoffer":
		if i, msg := checkCouponPosOffer(part); msg != "" {
			return at(i, "coupon", msg)
		}
	default:
		return newErr(ai, 0, RuleSyntax, "linter "+quote(l)+" not implemented")
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func atoiN(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func inList(list []string, s string) bool {
	lo, hi := 0, len(list)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case list[m] < s:
			lo = m + 1
		case list[m] > s:
			hi = m
		default:
			return true
		}
	}
	return false
}

// checkDigit computes the GS1 mod-10 check digit of the digits s.
func checkDigit(s string) int {
	sum := 0
	w := 3
	for i := len(s) - 1; i >= 0; i-- {
		sum += int(s[i]-'0') * w
		w = 4 - w
	}
	return (10 - sum%10) % 10
}

func checkDigitOK(s string) bool {
	if len(s) < 2 {
		return false
	}
	return int(s[len(s)-1]-'0') == checkDigit(s[:len(s)-1])
}

// CheckDigit returns the GS1 mod-10 check digit for the digits s (e.g. the
// first 13 digits of a GTIN-14).
func CheckDigit(s string) (byte, error) {
	if !allDigits(s) || s == "" {
		return 0, newErr("", 0, RuleNumeric, "check digit needs digits only")
	}
	return byte('0' + checkDigit(s)), nil
}

func checkRange(ai, s string, off, lo, hi int, msg string) *Error {
	n := atoiN(s)
	if n < lo || n > hi {
		return newErr(ai, off+1, RuleDate, msg+" "+quote(s))
	}
	return nil
}

var monthDays = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// checkDate checks YYMMDD (ylen 2) or YYYYMMDD (ylen 4); day00 allows day 00.
func checkDate(ai, s string, off, ylen int, day00 bool) *Error {
	y := atoiN(s[:ylen])
	m := atoiN(s[ylen : ylen+2])
	d := atoiN(s[ylen+2 : ylen+4])
	if m < 1 || m > 12 {
		return newErr(ai, off+ylen+1, RuleDate, "invalid month "+quote(s[ylen:ylen+2]))
	}
	if d == 0 && day00 {
		return nil
	}
	if ylen == 2 {
		// GS1 General Specifications 7.12: the century is chosen within a
		// sliding window; only leap-year-ness matters here, and 2-digit years
		// are leap when divisible by 4 (2000 was a leap year).
		y += 2000
	}
	max := monthDays[m]
	if m == 2 && !(y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
		max = 28
	}
	if d < 1 || d > max {
		return newErr(ai, off+ylen+3, RuleDate, "invalid day "+quote(s[ylen+2:ylen+4]))
	}
	return nil
}
