package journal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileDurably creates path with what fill writes, so that path is
// either complete and durable or absent: fill writes a temporary file next
// to it, which is synced, renamed to path (replacing it only when replace)
// and the folder synced. On any error the temporary file is removed.
func writeFileDurably(path string, mode os.FileMode, replace bool, fill func(w io.Writer) error) error {
	if !replace {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists", path)
		}
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !replace {
		if _, serr := os.Stat(path); serr == nil {
			err = fmt.Errorf("%s exists", path)
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
