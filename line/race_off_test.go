//go:build !race

package line_test

// raceEnabled: built with the race detector (see race_on_test.go).
const raceEnabled = false
