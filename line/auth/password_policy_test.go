package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/serialine/serialine/line/auth"
)

// TestPasswordFewDistinctCharacters: a long password made of one or two
// repeated characters is refused.
func TestPasswordFewDistinctCharacters(t *testing.T) {
	f := newFixture(t)
	adm := f.admin(t)
	ctx := context.Background()
	for _, pw := range []string{"aaaaaaaaaa", "abababababab", "1111111111111"} {
		if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, pw); !errors.Is(err, auth.ErrWeakPassword) {
			t.Errorf("%q: err = %v, want ErrWeakPassword", pw, err)
		}
	}
	if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, "abcdabcdabcd"); err != nil {
		t.Errorf("four distinct characters: %v", err)
	}
}
