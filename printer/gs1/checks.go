package gs1

// csumAlpha checks the GS1 alphanumeric check character pair (GMN, AI 8013).
// It returns the 0-based position and a message when wrong.
func csumAlpha(s string) (int, string) {
	const cset82s = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	const cset32 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	primes := [...]int{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89}
	if len(s) < 2 {
		return 0, "check character pair missing"
	}
	n := len(s) - 2
	if n > len(primes) {
		return 0, "too long for a check character pair"
	}
	sum := 0
	for i := 0; i < n; i++ {
		idx := -1
		for j := 0; j < len(cset82s); j++ {
			if cset82s[j] == s[i] {
				idx = j
				break
			}
		}
		if idx < 0 {
			return i, "invalid CSET 82 character"
		}
		sum += idx * primes[n-1-i]
	}
	sum %= 1021
	c1, c2 := cset32[sum>>5], cset32[sum&31]
	if s[n] != c1 {
		return n, "bad check character " + quote(s[n:n+1]) + ", expected '" + string(c1) + "'"
	}
	if s[n+1] != c2 {
		return n, "bad check character " + quote(s[n+1:n+2]) + ", expected '" + string(c2) + "'"
	}
	return 0, ""
}

// checkIBAN validates an International Bank Account Number (ISO 13616):
// country letters, numeric check digits, mod-97 == 1.
func checkIBAN(s string) (int, string) {
	if len(s) < 5 {
		return 0, "IBAN too short"
	}
	for i := 0; i < 2; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return 0, "non-alphabetic IBAN country code"
		}
	}
	if !inList(iso3166Alpha2, s[:2]) {
		return 0, "invalid IBAN country code " + quote(s[:2])
	}
	for i := 2; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 2, "non-numeric IBAN checksum"
		}
	}
	rem := 0
	for k := 0; k < len(s); k++ {
		c := s[(k+4)%len(s)]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		default:
			return (k + 4) % len(s), "invalid IBAN character " + quote(string(c))
		}
	}
	if rem != 1 {
		return 2, "bad IBAN checksum"
	}
	return 0, ""
}
