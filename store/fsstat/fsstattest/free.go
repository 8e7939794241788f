package fsstattest

import (
	"testing"

	"github.com/serialine/serialine/store/fsstat"
)

func free(t testing.TB, dir string) int64 {
	t.Helper()
	u, err := fsstat.Of(dir)
	if err != nil {
		t.Fatal(err)
	}
	return int64(u.Free)
}
