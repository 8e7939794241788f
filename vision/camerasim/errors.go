package camerasim

import "errors"

// ErrNoSymbol is returned by Decode when no DataMatrix could be read.
var ErrNoSymbol = errors.New("camerasim: no DataMatrix decoded")
