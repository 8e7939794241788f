//go:build windows

package journal

import (
	"errors"

	"golang.org/x/sys/windows"
)

// syncDir is a no-op on Windows: NTFS makes a rename durable with the
// file's own flush (directories cannot be opened for FlushFileBuffers).
func syncDir(string) error { return nil }

// isDiskFull reports whether err says the volume is full.
func isDiskFull(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}
