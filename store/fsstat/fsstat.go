// Package fsstat tells how much room is left on the file system that holds
// a path: the line holds before the journal's disk is full.
package fsstat

import "fmt"

// Usage is a file system's size and the room left in it for an ordinary
// (non-root) user, in bytes.
type Usage struct {
	Free  uint64 // available to the process's user
	Total uint64
}

// String formats u as "12.3 GiB free of 50.0 GiB".
func (u Usage) String() string {
	return fmt.Sprintf("%s free of %s", Bytes(u.Free), Bytes(u.Total))
}

// Bytes formats n in binary units (KiB, MiB, GiB, TiB).
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// Of returns the usage of the file system holding path (a file or a
// folder; a file that does not exist yet is looked up by its folder).
func Of(path string) (Usage, error) {
	u, err := of(path)
	if err != nil {
		return Usage{}, fmt.Errorf("fsstat: %s: %w", path, err)
	}
	return u, nil
}
