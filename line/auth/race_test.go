package auth

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

type nopAudit struct {
	mu      sync.Mutex
	actions []string
}

func (a *nopAudit) AppendAudit(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = append(a.actions, e.Who+":"+e.Action)
	return nil
}

// TestLockoutHoldsForAttemptsInFlight: an attempt that passed the lockout
// check before other attempts locked the account is settled against the
// account as it is after its password check: even the right password is
// then refused as locked. (Before, attempts queued behind the hash
// semaphore were all evaluated, so a burst of guesses got past the
// lockout.)
func TestLockoutHoldsForAttemptsInFlight(t *testing.T) {
	ctx := context.Background()
	audit := &nopAudit{}
	svc, first, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "users.db"), Audit: audit,
		Hash: HashParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	arrived, release := make(chan struct{}), make(chan struct{})
	svc.beforeCheck = func(_, pw string) {
		if pw == first.Password {
			close(arrived)
			<-release
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := svc.Login(ctx, first.User, first.Password, "")
		done <- err
	}()
	<-arrived // the right password passed the lockout check and waits before hashing
	for i := range svc.o.MaxFailures {
		_, err := svc.Login(ctx, first.User, "guess-"+string(rune('a'+i)), "")
		if i < svc.o.MaxFailures-1 && !errors.Is(err, ErrBadCredentials) || i == svc.o.MaxFailures-1 && !errors.Is(err, ErrLocked) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrLocked) {
		t.Fatalf("right password in flight while the account got locked: %v, want ErrLocked", err)
	}
	svc.mu.Lock()
	n := len(svc.sessions)
	svc.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d session(s) opened on a locked account", n)
	}
}
