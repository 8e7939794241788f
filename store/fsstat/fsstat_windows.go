//go:build windows

package fsstat

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

func of(path string) (Usage, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		path = filepath.Dir(path)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return Usage{}, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return Usage{}, err
	}
	return Usage{Free: free, Total: total}, nil
}
