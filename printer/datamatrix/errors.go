package datamatrix

import "errors"

// ErrTooLong is returned when the data does not fit the largest square
// symbol (144×144, 1558 data codewords).
var ErrTooLong = errors.New("datamatrix: data too long for a 144x144 symbol")
