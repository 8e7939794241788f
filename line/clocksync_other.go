//go:build !linux

package line

// SystemClockSync: this system's clock state is not read (Windows' w32time
// state needs its service API); nothing is refused because of it.
func SystemClockSync() ClockSync { return ClockSync{Detail: "not reported on this system"} }
