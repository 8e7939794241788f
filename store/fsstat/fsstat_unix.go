//go:build !windows

package fsstat

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func of(path string) (Usage, error) {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		err = unix.Statfs(filepath.Dir(path), &st)
	}
	if err != nil {
		return Usage{}, err
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on Linux, uint32 elsewhere
	return Usage{Free: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs}, nil
}
