package gs1

import "strings"

// EPC returns the EPC pure-identity URI of the message's serialised GTIN:
// urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial, where the GS1
// Company Prefix has companyPrefixLen digits (6..12). The serial is escaped
// as the EPC Tag Data Standard requires for URI-reserved characters.
func (m Message) EPC(companyPrefixLen int) (string, error) {
	gtin, ok := m.Value("01")
	if !ok {
		return "", ErrNoGTIN
	}
	serial, ok := m.Value("21")
	if !ok {
		return "", newErr("21", 0, RuleRequires, "an SGTIN needs a serial number (21)")
	}
	if companyPrefixLen < 6 || companyPrefixLen > 12 {
		return "", ErrCompanyPrefix
	}
	var b strings.Builder
	b.WriteString("urn:epc:id:sgtin:")
	b.WriteString(gtin[1 : 1+companyPrefixLen])
	b.WriteByte('.')
	b.WriteByte(gtin[0])
	b.WriteString(gtin[1+companyPrefixLen : 13])
	b.WriteByte('.')
	for i := 0; i < len(serial); i++ {
		c := serial[i]
		switch c {
		case '"', '%', '&', '/', '<', '>', '?', '#':
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
