package epcis

import "errors"

// ErrInvalid is wrapped by every error about bad input (GTIN, company
// prefix length, expiry date, empty serial list).
var ErrInvalid = errors.New("epcis: invalid input")
