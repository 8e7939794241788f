//go:build race

package line_test

// raceEnabled: built with the race detector, which slows every goroutine
// several times over; line-speed tests then run shorter batches.
const raceEnabled = true
