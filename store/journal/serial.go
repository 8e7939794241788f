package journal

import (
	"fmt"

	"github.com/serialine/serialine/printer/gs1"
)

// checkSerial is the default Options.CheckSerial: the GS1 rules for AI 21
// (1–20 characters of GS1 character set 82), from printer/gs1.
func checkSerial(s string) error { return gs1.CheckValue("21", s) }

// checkGTIN checks a GTIN-14 (AI 01: 14 digits, valid check digit).
func checkGTIN(g string) error {
	if err := gs1.CheckValue("01", g); err != nil {
		return fmt.Errorf("%w: GTIN %q: %w", ErrInvalid, g, err)
	}
	return nil
}
