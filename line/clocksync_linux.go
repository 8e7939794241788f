//go:build linux

package line

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SystemClockSync reads the kernel's clock discipline state (adjtimex,
// modes 0: read only), what `timedatectl` shows as "System clock
// synchronized": unsynchronised when the kernel state is TIME_ERROR or the
// STA_UNSYNC flag is set (no NTP/PTP daemon disciplines the clock).
func SystemClockSync() ClockSync {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return ClockSync{Detail: "adjtimex: " + err.Error()}
	}
	unsync := tx.Status&unix.STA_UNSYNC != 0
	if state == unix.TIME_ERROR || unsync {
		return ClockSync{Known: true, Detail: fmt.Sprintf("adjtimex: state %d, status %#x (unsynchronised), max error %d µs", state, tx.Status, tx.Maxerror)}
	}
	return ClockSync{Known: true, Synced: true, Detail: fmt.Sprintf("adjtimex: synchronised, max error %d µs", tx.Maxerror)}
}
