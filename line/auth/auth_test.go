package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/line/auth"
)

type memAudit struct {
	mu sync.Mutex
	e  []auth.AuditEntry
}

func (m *memAudit) AppendAudit(_ context.Context, e auth.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e = append(m.e, e)
	return nil
}

func (m *memAudit) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.e {
		out = append(out, e.Who+":"+e.Action)
	}
	return out
}

func (m *memAudit) has(who, action string) bool {
	for _, a := range m.actions() {
		if a == who+":"+action {
			return true
		}
	}
	return false
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc   *auth.Service
	audit *memAudit
	clock *clock
	first *auth.FirstStart
	path  string
}

var fastHash = auth.HashParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func open(t *testing.T, path string, a *memAudit, c *clock) (*auth.Service, *auth.FirstStart) {
	t.Helper()
	s, first, err := auth.Open(context.Background(), auth.Options{Path: path, Audit: a, Now: c.Now, Hash: fastHash,
		MaxFailures: 3, LockoutFor: 10 * time.Minute, IdleTimeout: 15 * time.Minute, SessionLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s, first
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{audit: &memAudit{}, clock: &clock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)},
		path: filepath.Join(t.TempDir(), "users.db")}
	f.svc, f.first = open(t, f.path, f.audit, f.clock)
	t.Cleanup(func() { f.svc.Close() })
	return f
}

// admin logs in with the one-time password, changes it and returns a session.
func (f *fixture) admin(t *testing.T) auth.Session {
	t.Helper()
	ctx := context.Background()
	s, err := f.svc.Login(ctx, f.first.User, f.first.Password, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !s.MustChange {
		t.Fatal("first admin session must require a password change")
	}
	if err := f.svc.ChangePassword(ctx, s.Token, s.User, f.first.Password, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	s, err = f.svc.Session(s.Token)
	if err != nil || s.MustChange {
		t.Fatalf("after change: %+v %v", s, err)
	}
	return s
}

func TestFirstStartOneTimePassword(t *testing.T) {
	f := newFixture(t)
	if f.first == nil || f.first.User != "admin" || len(f.first.Password) != 16 {
		t.Fatalf("first start: %+v", f.first)
	}
	f.admin(t)
	ctx := context.Background()
	// the one-time password no longer works
	if _, err := f.svc.Login(ctx, "admin", f.first.Password, ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("one-time password after change: %v", err)
	}
	// reopening: no new admin, no password handed out
	f.svc.Close()
	s2, first2 := open(t, f.path, f.audit, f.clock)
	defer s2.Close()
	if first2 != nil {
		t.Fatalf("second start generated a password again: %+v", first2)
	}
	if _, err := s2.Login(ctx, "admin", "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	if !f.audit.has("system", "auth.user.create") || !f.audit.has("admin", "auth.password.change") {
		t.Fatalf("audit: %v", f.audit.actions())
	}
}

func TestLockoutAfterFailures(t *testing.T) {
	f := newFixture(t)
	adm := f.admin(t)
	ctx := context.Background()
	if err := f.svc.CreateUser(ctx, adm, "olga", auth.RoleOperator, "temporary-pass-1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := f.svc.Login(ctx, "olga", "wrong", ""); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := f.svc.Login(ctx, "olga", "wrong", ""); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("third failure should lock: %v", err)
	}
	if _, err := f.svc.Login(ctx, "olga", "temporary-pass-1", ""); !errors.Is(err, auth.ErrLocked) {
		t.Fatalf("locked account accepted the right password: %v", err)
	}
	f.clock.Add(10*time.Minute + time.Second)
	if _, err := f.svc.Login(ctx, "olga", "temporary-pass-1", ""); err != nil {
		t.Fatalf("after lockout expiry: %v", err)
	}
	// admin unlock
	for i := 0; i < 3; i++ {
		f.svc.Login(ctx, "olga", "wrong", "")
	}
	if _, err := f.svc.UpdateUser(ctx, adm, "olga", auth.UserChange{Unlock: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "olga", "temporary-pass-1", ""); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if !f.audit.has("olga", "auth.lockout") || !f.audit.has("olga", "auth.login.refused") || !f.audit.has("admin", "auth.user.update") {
		t.Fatalf("audit: %v", f.audit.actions())
	}
	if _, err := f.svc.Login(ctx, "nobody", "x", ""); !errors.Is(err, auth.ErrBadCredentials) || !f.audit.has("nobody", "auth.login.refused") {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	adm := f.admin(t)
	f.clock.Add(14 * time.Minute)
	if _, err := f.svc.Session(adm.Token); err != nil {
		t.Fatalf("within idle timeout: %v", err)
	}
	f.clock.Add(15 * time.Minute) // idle timer was refreshed 14 min in: 29 > 14+15
	if _, err := f.svc.Session(adm.Token); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("idle expiry: %v", err)
	}
	// absolute lifetime (1h) even when used
	s, err := f.svc.Login(context.Background(), "admin", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		f.clock.Add(12 * time.Minute)
		_, err = f.svc.Session(s.Token)
	}
	if !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("absolute expiry: %v", err)
	}
	if _, err := f.svc.Session("garbage"); !errors.Is(err, auth.ErrNoSession) {
		t.Fatal(err)
	}
	s, _ = f.svc.Login(context.Background(), "admin", "correct horse battery", "")
	if err := f.svc.Logout(context.Background(), s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(s.Token); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestSignature(t *testing.T) {
	f := newFixture(t)
	adm := f.admin(t)
	ctx := context.Background()
	if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, "temporary-pass-2"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CreateUser(ctx, adm, "otto", auth.RoleOperator, "temporary-pass-3"); err != nil {
		t.Fatal(err)
	}
	sam, _ := f.svc.Login(ctx, "sam", "temporary-pass-2", "")
	otto, _ := f.svc.Login(ctx, "otto", "temporary-pass-3", "")
	sig, err := f.svc.Sign(ctx, sam, "reconciliation of batch B1", "temporary-pass-2", "approved", "shift end", auth.RoleSupervisor)
	if err != nil || sig.User != "sam" || sig.Meaning != "approved" || !sig.At.Equal(f.clock.Now()) {
		t.Fatalf("sign: %+v %v", sig, err)
	}
	if _, err := f.svc.Sign(ctx, sam, "reconciliation of batch B1", "wrong", "approved", "x", auth.RoleSupervisor); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := f.svc.Sign(ctx, sam, "reconciliation of batch B1", "temporary-pass-2", "", "x", auth.RoleSupervisor); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("no meaning: %v", err)
	}
	if _, err := f.svc.Sign(ctx, otto, "reconciliation of batch B1", "temporary-pass-3", "approved", "x", auth.RoleSupervisor); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("operator signing: %v", err)
	}
	if _, err := f.svc.Sign(ctx, sam, " ", "temporary-pass-2", "approved", "x", auth.RoleSupervisor); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("no subject: %v", err)
	}
	for _, want := range []string{"sam:auth.sign", "sam:auth.sign.refused", "otto:auth.sign.refused"} {
		if !strings.Contains(strings.Join(f.audit.actions(), ","), want) {
			t.Errorf("audit lacks %s: %v", want, f.audit.actions())
		}
	}
	// the signature's record names what was signed (21 CFR 11.70: linked)
	f.audit.mu.Lock()
	defer f.audit.mu.Unlock()
	signed := false
	for _, e := range f.audit.e {
		if e.Action == "auth.sign" {
			signed = true
			if sig.Subject != "reconciliation of batch B1" || !strings.Contains(e.After, "subject=reconciliation of batch B1") ||
				!strings.Contains(e.After, "meaning=approved") || e.Reason != "shift end" {
				t.Errorf("signature record: %+v (signature %+v)", e, sig)
			}
		}
	}
	if !signed {
		t.Error("no auth.sign record")
	}
}

// TestHashParamsBounded: parameters that would make every login allocate
// gigabytes (or that argon2 refuses) are refused at Open.
func TestHashParamsBounded(t *testing.T) {
	for _, h := range []auth.HashParams{{Time: 1, MemoryKiB: 4, Threads: 1}, {Time: 1, MemoryKiB: 4 << 20, Threads: 1}, {Time: 0, MemoryKiB: 64, Threads: 1}} {
		_, _, err := auth.Open(context.Background(), auth.Options{Path: filepath.Join(t.TempDir(), "u.db"), Audit: &memAudit{}, Hash: h})
		if !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", h, err)
		}
	}
}

func TestUserAdminRules(t *testing.T) {
	f := newFixture(t)
	adm := f.admin(t)
	ctx := context.Background()
	if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, "short"); !errors.Is(err, auth.ErrWeakPassword) {
		t.Fatalf("weak: %v", err)
	}
	if err := f.svc.CreateUser(ctx, adm, "bad name", auth.RoleSupervisor, "long-enough-pw"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("name: %v", err)
	}
	if err := f.svc.CreateUser(ctx, adm, "sam", "king", "long-enough-pw"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("role: %v", err)
	}
	if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, "long-enough-pw"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CreateUser(ctx, adm, "sam", auth.RoleSupervisor, "long-enough-pw"); !errors.Is(err, auth.ErrUserExists) {
		t.Fatalf("dup: %v", err)
	}
	sam, _ := f.svc.Login(ctx, "sam", "long-enough-pw", "")
	if err := f.svc.CreateUser(ctx, sam, "eve", auth.RoleAdmin, "long-enough-pw"); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("supervisor creating users: %v", err)
	}
	op := auth.RoleOperator
	if _, err := f.svc.UpdateUser(ctx, adm, "admin", auth.UserChange{Role: &op}); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("self demote: %v", err)
	}
	if _, err := f.svc.UpdateUser(ctx, adm, "sam", auth.UserChange{Role: &op}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(sam.Token); !errors.Is(err, auth.ErrNoSession) {
		t.Fatalf("role change must end sessions: %v", err)
	}
	yes := true
	if _, err := f.svc.UpdateUser(ctx, adm, "sam", auth.UserChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "sam", "long-enough-pw", ""); !errors.Is(err, auth.ErrDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	users, err := f.svc.Users()
	if err != nil || len(users) != 2 || users[1].Name != "sam" || users[1].Role != auth.RoleOperator || !users[1].Disabled {
		t.Fatalf("users: %+v %v", users, err)
	}
	if !f.audit.has("admin", "auth.user.create.refused") || !f.audit.has("sam", "auth.user.create.refused") {
		t.Fatalf("audit: %v", f.audit.actions())
	}
}

func TestRoles(t *testing.T) {
	if !auth.RoleAdmin.AtLeast(auth.RoleSupervisor) || auth.RoleOperator.AtLeast(auth.RoleSupervisor) || auth.Role("x").AtLeast(auth.RoleOperator) {
		t.Fatal("role ranking")
	}
}

type failingAudit struct{}

func (failingAudit) AppendAudit(context.Context, auth.AuditEntry) error {
	return errors.New("journal full")
}

// TestFirstStartNeedsItsAuditRecord: when the first admin's creation cannot
// be audited, Open fails and leaves no admin behind, so the next start
// creates one (with a password someone has seen) instead of none.
func TestFirstStartNeedsItsAuditRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	if _, _, err := auth.Open(context.Background(), auth.Options{Path: path, Audit: failingAudit{}, Hash: fastHash}); err == nil || !strings.Contains(err.Error(), "journal full") {
		t.Fatalf("open with a failing audit trail: %v", err)
	}
	s, first, err := auth.Open(context.Background(), auth.Options{Path: path, Audit: &memAudit{}, Hash: fastHash})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if first == nil {
		t.Fatal("second start: no first-start admin, the first one's password was never shown")
	}
}
