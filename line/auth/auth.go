// Package auth holds the controller's local users, sessions and electronic
// signatures.
//
// Users live in their own bbolt file (Options.Path), apart from the unit
// journal: the journal is the legal production record, the user file is
// configuration that an admin edits. Passwords are stored as argon2id
// hashes (PHC string format). Roles are ranked operator < supervisor <
// admin: a higher role may do everything a lower one may.
//
// First start: when the user file holds no user, Open creates the user
// "admin" with a random one-time password, returned once in
// FirstStart.Password for the caller to print, and marks it must-change:
// the session it gets can do nothing but change the password. Only the hash
// is stored. There is no default password.
//
// Sessions are random bearer tokens held in memory (a restart logs
// everyone out); they expire after an idle timeout and an absolute
// lifetime. After MaxFailures consecutive failed passwords (at login or
// when signing) the account is locked for LockoutFor; an admin may unlock
// it earlier. Every login, logout, failure, lockout, password change,
// signature and user change is appended to the audit trail (Options.Audit).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Role is a user's role.
type Role string

// Roles, lowest first.
const (
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
	// RoleQA is quality assurance: it ranks with supervisor (may do what a
	// supervisor may) and is the only role that may release a batch (the
	// second step of the batch record review).
	RoleQA Role = "qa"
)

func (r Role) rank() int {
	switch r {
	case RoleOperator:
		return 1
	case RoleSupervisor, RoleQA:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r ranks at least min.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// AuditEntry is one audit-trail record written by auth (mirrors
// journal.AuditEntry).
type AuditEntry struct {
	Who    string // user name ("" when unknown)
	Role   string
	Action string // "auth.login", "auth.login.refused", "auth.sign", …
	Reason string
	Before string
	After  string
}

// AuditLog is where auth writes its audit trail. The journal (through an
// adapter) implements it. AppendAudit must be durable when it returns nil.
type AuditLog interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
}

// Options configures Open.
type Options struct {
	// Path is the bbolt user file; created when missing.
	Path string
	// Audit receives every auth event; required.
	Audit AuditLog
	// Logger logs operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source for salts, tokens and generated
	// passwords (safe for concurrent use); nil means crypto/rand.Reader.
	Rand io.Reader
	// Hash are the argon2id parameters for new hashes; zero means
	// DefaultHashParams().
	Hash HashParams
	// IdleTimeout ends a session not used for this long; default 15m.
	IdleTimeout time.Duration
	// SessionLifetime ends a session this long after login whatever its
	// use; default 12h.
	SessionLifetime time.Duration
	// MaxFailures is the number of consecutive failed passwords that locks
	// an account; default 5.
	MaxFailures int
	// LockoutFor is how long a lockout lasts; default 15m.
	LockoutFor time.Duration
	// MinPasswordLen is the minimum password length in characters;
	// default 10.
	MinPasswordLen int
	// AdminName is the name of the first-start admin; default "admin".
	AdminName string
	// MaxConcurrentHashes bounds the argon2id computations running at once
	// (each takes Hash.MemoryKiB of memory), so a burst of login attempts
	// cannot exhaust the line PC's memory; default 2.
	MaxConcurrentHashes int
}

// User is a stored user (without the hash).
type User struct {
	Name string `json:"name"`
	// FullName is the person's printed name, shown with every signature
	// (21 CFR 11.50); "" for users created before it was asked.
	FullName string `json:"full_name,omitempty"`
	// Lang is the user's language for the HMI, reports and messages
	// ("en", "de"); "" = the line's default.
	Lang        string    `json:"lang,omitempty"`
	Role        Role      `json:"role"`
	MustChange  bool      `json:"must_change"`
	Disabled    bool      `json:"disabled"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Created     time.Time `json:"created"`
	Changed     time.Time `json:"password_changed"`
}

type record struct {
	User
	Hash string `json:"hash"`
}

// Session is a logged-in user.
type Session struct {
	Token      string    `json:"-"`
	User       string    `json:"user"`
	FullName   string    `json:"full_name,omitempty"`
	Lang       string    `json:"lang,omitempty"`
	Role       Role      `json:"role"`
	Client     string    `json:"-"` // client address at login (lockouts of signatures count per address)
	MustChange bool      `json:"must_change"`
	Started    time.Time `json:"started"`
	LastUsed   time.Time `json:"last_used"`
	Expires    time.Time `json:"expires"` // the earlier of idle and absolute expiry
}

// Signature is an electronic signature: the signer re-entered the password;
// meaning and reason say what the signature stands for.
type Signature struct {
	User     string
	FullName string
	Role     Role
	Meaning  string
	Reason   string
	Subject  string // the record signed
	At       time.Time
}

// FirstStart is returned by Open when it created the first admin.
type FirstStart struct {
	User     string
	Password string // one-time; print it once, it is not stored
}

// Service is the user store and session table. Its methods are safe for
// concurrent use.
type Service struct {
	o   Options
	db  *bolt.DB
	log *slog.Logger

	hashSem chan struct{} // bounds concurrent argon2id runs

	// beforeCheck, when set (by tests of this package), is called by
	// verify after the lockout check and before the password hash.
	beforeCheck func(name, pw string)

	mu       sync.Mutex
	sessions map[string]*Session // by sha256(token)
	locks    map[lockKey]*lockState
	// dummy is a hash to check unknown users against, so that timing does
	// not tell whether a user exists.
	dummy string
}

var bucketUsers = []byte("users")

// Open opens (or creates) the user file. When it holds no user it creates
// the first admin with a one-time password and returns it in *FirstStart
// (nil otherwise).
func Open(ctx context.Context, o Options) (*Service, *FirstStart, error) {
	if o.Path == "" {
		return nil, nil, fmt.Errorf("auth: Options.Path is empty: %w", ErrInvalid)
	}
	if o.Audit == nil {
		return nil, nil, fmt.Errorf("auth: Options.Audit is nil: %w", ErrInvalid)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams()
	}
	if h := o.Hash; h.Time == 0 || h.Time > maxTime || h.Threads == 0 || h.MemoryKiB < 8*uint32(h.Threads) || h.MemoryKiB > maxMemoryKiB {
		return nil, nil, fmt.Errorf("auth: Options.Hash %+v: want 1<=Time<=%d, Threads>=1, 8*Threads<=MemoryKiB<=%d: %w", h, maxTime, maxMemoryKiB, ErrInvalid)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 15 * time.Minute
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 12 * time.Hour
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.LockoutFor <= 0 {
		o.LockoutFor = 15 * time.Minute
	}
	if o.MinPasswordLen <= 0 {
		o.MinPasswordLen = 10
	}
	if o.AdminName == "" {
		o.AdminName = "admin"
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = 2
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(o.Path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("auth: open user file %s: %w", o.Path, err)
	}
	s := &Service{o: o, db: db, log: log, sessions: map[string]*Session{}, locks: map[lockKey]*lockState{}, hashSem: make(chan struct{}, o.MaxConcurrentHashes)}
	s.dummy, err = s.hash("dummy-password")
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	var empty bool
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketUsers)
		if err != nil {
			return err
		}
		empty = b.Stats().KeyN == 0
		return nil
	})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("auth: init %s: %w", o.Path, err)
	}
	if !empty {
		return s, nil, nil
	}
	pw, err := generatePassword(o.Rand, 16)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := s.putNew(o.AdminName, RoleAdmin, pw); err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := s.audit(ctx, AuditEntry{Who: "system", Role: "system", Action: "auth.user.create",
		Reason: "first start: one-time admin password generated, change forced at first login",
		After:  fmt.Sprintf("user=%s role=%s", o.AdminName, RoleAdmin)}); err != nil {
		// Without its record the admin must not stay: its password was
		// never shown, and the next start would not make a new one.
		if derr := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Delete([]byte(o.AdminName)) }); derr != nil {
			err = errors.Join(err, fmt.Errorf("auth: removing the unaudited first admin: %w", derr))
		}
		db.Close()
		return nil, nil, err
	}
	log.Info("first start: created admin user with a one-time password", "user", o.AdminName)
	return s, &FirstStart{User: o.AdminName, Password: pw}, nil
}

// Close closes the user file. Sessions are lost.
func (s *Service) Close() error { return s.db.Close() }

func (s *Service) hash(pw string) (string, error) {
	s.hashSem <- struct{}{}
	defer func() { <-s.hashSem }()
	return hashPassword(s.o.Rand, s.o.Hash, pw)
}

func (s *Service) check(hash, pw string) (bool, error) {
	s.hashSem <- struct{}{}
	defer func() { <-s.hashSem }()
	return checkPassword(hash, pw)
}

func (s *Service) audit(ctx context.Context, e AuditEntry) error {
	if err := s.o.Audit.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("auth: audit %s: %w", e.Action, err)
	}
	return nil
}

// auditRefusal records a refusal whose own error the caller returns; a
// failure to write the record is logged, not lost.
func (s *Service) auditRefusal(ctx context.Context, e AuditEntry) {
	if err := s.audit(ctx, e); err != nil {
		s.log.Error("audit trail write failed for a refusal", "action", e.Action, "user", e.Who, "err", err)
	}
}

func (s *Service) putNew(name string, role Role, pw string) error {
	return s.putNewUser(name, "", "", role, pw)
}

func (s *Service) putNewUser(name, fullName, lang string, role Role, pw string) error {
	h, err := s.hash(pw)
	if err != nil {
		return err
	}
	now := s.o.Now()
	r := record{User: User{Name: name, FullName: fullName, Lang: lang, Role: role, MustChange: true, Created: now, Changed: now}, Hash: h}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("auth: user %q: %w", name, ErrUserExists)
		}
		return putRecord(b, r)
	})
}

func putRecord(b *bolt.Bucket, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.Name), v)
}

func (s *Service) get(name string) (record, bool, error) {
	var r record
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("auth: user %q: %w: %v", name, ErrCorrupt, err)
		}
		return nil
	})
	return r, found, err
}

func (s *Service) update(name string, fn func(*record) error) (record, error) {
	var r record
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("auth: user %q: %w", name, ErrUnknownUser)
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("auth: user %q: %w: %v", name, ErrCorrupt, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
		return putRecord(b, r)
	})
	return r, err
}

// verify checks name's password, counting failures per user and client
// address and locking that pair after MaxFailures. action names the attempt
// in the audit trail ("auth.login", "auth.sign"); addr is the client's
// address (host, without port; "" when unknown). It audits refusals itself.
//
// The lockout is kept per user name and client address: an anonymous
// caller guessing passwords locks itself out for that user, never the
// user's own terminal at another address. Every refusal costs one password
// hash, known user or not, locked or not, so neither the answer nor its
// timing tells them apart.
//
// The outcome is settled against the lockout as it is after the (slow)
// password check, not as it was before: attempts running at the same time
// cannot get past a lockout that one of them triggered, nor a disable or
// password change made meanwhile.
func (s *Service) verify(ctx context.Context, name, pw, action, addr, note string) (record, error) {
	r, found, err := s.get(name)
	if err != nil {
		return record{}, err
	}
	who := name
	if who == "" {
		who = "(empty user name)"
	}
	from := note
	if addr != "" {
		from = " from " + addr + note
	}
	refuse := func(why string, sentinel error, role string) (record, error) {
		rerr := &refusal{cause: fmt.Errorf("auth: %s: %w", name, sentinel)}
		if aerr := s.audit(ctx, AuditEntry{Who: who, Role: role, Action: action + ".refused", Reason: why + from}); aerr != nil {
			return record{}, errors.Join(rerr, aerr)
		}
		return record{}, rerr
	}
	key := lockKey{user: name, addr: addr}
	if until, locked := s.lockedUntil(key, r); locked {
		_, _ = s.check(s.dummy, pw)
		return refuse("account locked for this client address until "+until.UTC().Format(time.RFC3339), ErrLocked, string(r.Role))
	}
	if !found {
		_, _ = s.check(s.dummy, pw)
		if lockedNow := s.countFailure(key); lockedNow {
			return refuse("unknown user; client address now locked for this name", ErrBadCredentials, "")
		}
		return refuse("unknown user", ErrBadCredentials, "")
	}
	if r.Disabled {
		_, _ = s.check(s.dummy, pw)
		return refuse("account disabled", ErrDisabled, string(r.Role))
	}
	if s.beforeCheck != nil {
		s.beforeCheck(name, pw)
	}
	ok, err := s.check(r.Hash, pw)
	if err != nil {
		return record{}, fmt.Errorf("auth: %s: %w", name, err)
	}
	checked := r.Hash
	// settle against the stored record as it is now
	cur, found, err := s.get(name)
	if err != nil {
		return record{}, err
	}
	role := string(cur.Role)
	switch {
	case !found:
		return refuse("user removed during the attempt", ErrBadCredentials, role)
	case cur.Disabled:
		return refuse("account disabled", ErrDisabled, role)
	case cur.Hash != checked:
		return refuse("password changed during the attempt", ErrBadCredentials, role)
	}
	if until, locked := s.lockedUntil(key, cur); locked {
		return refuse("account locked for this client address until "+until.UTC().Format(time.RFC3339), ErrLocked, role)
	}
	if ok {
		s.mu.Lock()
		delete(s.locks, key)
		s.mu.Unlock()
		return cur, nil
	}
	if s.countFailure(key) {
		if err := s.audit(ctx, AuditEntry{Who: name, Role: role, Action: "auth.lockout",
			Reason: fmt.Sprintf("%d consecutive failed passwords%s; locked for %s for this client address", s.o.MaxFailures, from, s.o.LockoutFor)}); err != nil {
			return record{}, err
		}
		s.log.Warn("account locked for a client address", "user", name, "addr", addr)
		return refuse("wrong password; account now locked for this client address", ErrLocked, role)
	}
	s.mu.Lock()
	n := 0
	if ls := s.locks[key]; ls != nil {
		n = ls.failures
	}
	s.mu.Unlock()
	return refuse(fmt.Sprintf("wrong password (%d of %d)", n, s.o.MaxFailures), ErrBadCredentials, role)
}

// lockKey is what a lockout applies to: a user name from one client address.
type lockKey struct{ user, addr string }

// lockState counts consecutive failures of one lockKey.
type lockState struct {
	failures int
	until    time.Time
}

// lockedUntil reports whether key is locked now: by its own failures, or by
// a lockout stored in the user record (files written by older versions).
func (s *Service) lockedUntil(key lockKey, r record) (time.Time, bool) {
	now := s.o.Now()
	if now.Before(r.LockedUntil) {
		return r.LockedUntil, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ls := s.locks[key]; ls != nil && now.Before(ls.until) {
		return ls.until, true
	}
	return time.Time{}, false
}

// countFailure counts one failed password of key and reports whether it
// locked key now.
func (s *Service) countFailure(key lockKey) bool {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.locks[key]
	if ls == nil {
		if len(s.locks) >= maxLockEntries {
			s.sweepLocksLocked(now)
		}
		ls = &lockState{}
		s.locks[key] = ls
	}
	if !ls.until.IsZero() && !now.Before(ls.until) { // an expired lockout starts afresh
		ls.failures, ls.until = 0, time.Time{}
	}
	ls.failures++
	if ls.failures >= s.o.MaxFailures {
		ls.failures = 0
		ls.until = now.Add(s.o.LockoutFor)
		return true
	}
	return false
}

// maxLockEntries bounds the failure table: a flood of guesses for made-up
// names from many addresses cannot grow it without limit.
const maxLockEntries = 10000

func (s *Service) sweepLocksLocked(now time.Time) {
	for k, v := range s.locks {
		if v.until.IsZero() || !now.Before(v.until) {
			delete(s.locks, k)
		}
	}
	for k := range s.locks { // still full: drop the oldest-looking half at random
		if len(s.locks) < maxLockEntries/2 {
			break
		}
		delete(s.locks, k)
	}
}

// refusal is the error of a refused password (login or signature): its
// text is the same whatever the cause — unknown user, wrong password,
// lockout, disabled account — so that the answer does not tell whether a
// user exists; errors.Is still finds the cause (ErrBadCredentials,
// ErrLocked, ErrDisabled) for the audit trail and for tests.
type refusal struct{ cause error }

// RefusalText is the text of every refused login.
const RefusalText = "user name or password not accepted (after 5 failed attempts from one terminal, logins from it are refused for 15 minutes; an admin can unlock)"

func (e *refusal) Error() string { return RefusalText }
func (e *refusal) Unwrap() error { return e.cause }

// IsRefusal reports whether err is a refused password (any cause).
func IsRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Login checks the password and opens a session. client (e.g. the remote
// address) is recorded in the audit trail. Refusals wrap ErrBadCredentials,
// ErrLocked or ErrDisabled.
func (s *Service) Login(ctx context.Context, name, password, client string) (Session, error) {
	addr := clientHost(client)
	r, err := s.verify(ctx, name, password, "auth.login", addr, "")
	if err != nil {
		return Session{}, err
	}
	tb := make([]byte, 32)
	if _, err := io.ReadFull(s.o.Rand, tb); err != nil {
		return Session{}, fmt.Errorf("auth: token: %w", err)
	}
	now := s.o.Now()
	sess := &Session{Token: base64.RawURLEncoding.EncodeToString(tb), User: r.Name, Role: r.Role,
		FullName: r.FullName, Lang: r.Lang, MustChange: r.MustChange, Started: now, LastUsed: now, Client: addr}
	s.setExpiry(sess)
	from := ""
	if addr != "" {
		from = " from " + addr
	}
	if err := s.audit(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.login", Reason: "login" + from}); err != nil {
		return Session{}, err
	}
	s.mu.Lock()
	for k, v := range s.sessions { // sweep expired sessions
		if !now.Before(v.Expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[hashToken(sess.Token)] = sess
	s.mu.Unlock()
	return *sess, nil
}

func (s *Service) setExpiry(sess *Session) {
	sess.Expires = sess.LastUsed.Add(s.o.IdleTimeout)
	if abs := sess.Started.Add(s.o.SessionLifetime); abs.Before(sess.Expires) {
		sess.Expires = abs
	}
}

// Session returns the live session of token and refreshes its idle timer.
// An unknown or expired token wraps ErrNoSession.
func (s *Service) Session(token string) (Session, error) {
	now := s.o.Now()
	key := hashToken(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[key]
	if !ok || token == "" {
		return Session{}, fmt.Errorf("auth: %w", ErrNoSession)
	}
	if !now.Before(sess.Expires) {
		delete(s.sessions, key)
		return Session{}, fmt.Errorf("auth: session of %s expired: %w", sess.User, ErrNoSession)
	}
	sess.LastUsed = now
	s.setExpiry(sess)
	return *sess, nil
}

// Peek returns the live session of token like Session but does not
// refresh its idle timer: for background traffic (status streams, list
// refreshes) that must not keep an unattended panel logged in.
func (s *Service) Peek(token string) (Session, error) {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hashToken(token)]
	if !ok || token == "" {
		return Session{}, fmt.Errorf("auth: %w", ErrNoSession)
	}
	if !now.Before(sess.Expires) {
		return Session{}, fmt.Errorf("auth: session of %s expired: %w", sess.User, ErrNoSession)
	}
	return *sess, nil
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	key := hashToken(token)
	s.mu.Lock()
	sess, ok := s.sessions[key]
	delete(s.sessions, key)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("auth: %w", ErrNoSession)
	}
	return s.audit(ctx, AuditEntry{Who: sess.User, Role: string(sess.Role), Action: "auth.logout"})
}

func (s *Service) dropSessions(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.sessions {
		if v.User == name {
			delete(s.sessions, k)
		}
	}
}

func (s *Service) checkPolicy(name, pw string) error {
	if utf8.RuneCountInString(pw) < s.o.MinPasswordLen {
		return fmt.Errorf("auth: password shorter than %d characters: %w", s.o.MinPasswordLen, ErrWeakPassword)
	}
	if strings.Contains(strings.ToLower(pw), strings.ToLower(name)) {
		return fmt.Errorf("auth: password contains the user name: %w", ErrWeakPassword)
	}
	distinct := map[rune]bool{}
	for _, r := range pw {
		distinct[r] = true
	}
	if len(distinct) < minDistinctRunes {
		return fmt.Errorf("auth: password uses fewer than %d different characters (e.g. \"aaaaaaaaaa\"): %w", minDistinctRunes, ErrWeakPassword)
	}
	return nil
}

// minDistinctRunes is the least number of different characters a password
// must use: "aaaaaaaaaa" or "abababababab" are refused whatever their length.
const minDistinctRunes = 4

// ChangePassword changes name's password after checking the old one (a
// wrong old password counts as a failure). It clears must-change and ends
// the user's other sessions; the session token (if any) stays valid.
func (s *Service) ChangePassword(ctx context.Context, token, name, oldPW, newPW string) error {
	r, err := s.verify(ctx, name, oldPW, "auth.password.change", s.clientOf(token), "")
	if err != nil {
		return err
	}
	if err := s.checkPolicy(name, newPW); err != nil {
		s.auditRefusal(ctx, AuditEntry{Who: name, Role: string(r.Role), Action: "auth.password.change.refused", Reason: err.Error()})
		return err
	}
	if newPW == oldPW {
		s.auditRefusal(ctx, AuditEntry{Who: name, Role: string(r.Role), Action: "auth.password.change.refused", Reason: "new password equals the old one"})
		return fmt.Errorf("auth: new password equals the old one: %w", ErrWeakPassword)
	}
	h, err := s.hash(newPW)
	if err != nil {
		return err
	}
	if _, err := s.update(name, func(r *record) error {
		r.Hash, r.MustChange, r.Changed = h, false, s.o.Now()
		return nil
	}); err != nil {
		return err
	}
	keep := hashToken(token)
	s.mu.Lock()
	for k, v := range s.sessions {
		if v.User == name {
			if k == keep {
				v.MustChange = false
			} else {
				delete(s.sessions, k)
			}
		}
	}
	s.mu.Unlock()
	return s.audit(ctx, AuditEntry{Who: name, Role: string(r.Role), Action: "auth.password.change"})
}

// Sign makes an electronic signature for the user of sess over subject,
// the record signed (e.g. "reconciliation of batch B1"): the password is
// checked again (failures count towards lockout), subject, meaning and
// reason are required, and min is the least role allowed. The signature —
// signer, role, meaning, reason, time and subject — is audited, refusals
// too; the caller records the signed action itself.
func (s *Service) Sign(ctx context.Context, sess Session, subject, password, meaning, reason string, min Role) (Signature, error) {
	after := "subject=" + subject
	if strings.TrimSpace(subject) == "" || strings.TrimSpace(meaning) == "" || strings.TrimSpace(reason) == "" {
		s.auditRefusal(ctx, AuditEntry{Who: sess.User, Role: string(sess.Role), Action: "auth.sign.refused",
			Reason: "subject, meaning and reason are required", After: after})
		return Signature{}, fmt.Errorf("auth: signature needs a subject, a meaning and a reason: %w", ErrInvalid)
	}
	if !sess.Role.AtLeast(min) {
		s.auditRefusal(ctx, AuditEntry{Who: sess.User, Role: string(sess.Role), Action: "auth.sign.refused",
			Reason: fmt.Sprintf("role %s may not sign (needs %s): %s", sess.Role, min, reason), After: after})
		return Signature{}, fmt.Errorf("auth: %s may not sign: %w", sess.Role, ErrForbidden)
	}
	r, err := s.verify(ctx, sess.User, password, "auth.sign", sess.Client, " ("+after+")")
	if err != nil {
		return Signature{}, err
	}
	sig := Signature{User: r.Name, FullName: r.FullName, Role: r.Role, Meaning: meaning, Reason: reason, Subject: subject, At: s.o.Now()}
	if err := s.audit(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.sign",
		Reason: reason, After: "meaning=" + meaning + " " + after}); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

// CoSign is an electronic signature by another person at the same
// terminal (a supervisor co-signing an operator's action): user's password
// is checked (failures count towards the lockout of user from client) and
// the user must have at least role min. Refusals wrap the causes Sign's do.
func (s *Service) CoSign(ctx context.Context, user, password, subject, meaning, reason string, min Role, client string) (Signature, error) {
	after := "subject=" + subject
	if strings.TrimSpace(meaning) == "" || strings.TrimSpace(reason) == "" {
		return Signature{}, fmt.Errorf("auth: co-signature needs a meaning and a reason: %w", ErrInvalid)
	}
	r, err := s.verify(ctx, user, password, "auth.sign", clientHost(client), " (co-signature, "+after+")")
	if err != nil {
		return Signature{}, err
	}
	if !r.Role.AtLeast(min) {
		s.auditRefusal(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.sign.refused",
			Reason: fmt.Sprintf("role %s may not co-sign (needs %s)", r.Role, min), After: after})
		return Signature{}, fmt.Errorf("auth: %s may not co-sign: %w", r.Role, ErrForbidden)
	}
	if r.MustChange {
		return Signature{}, fmt.Errorf("auth: %s must change the password before signing: %w", r.Name, ErrPasswordChange)
	}
	sig := Signature{User: r.Name, FullName: r.FullName, Role: r.Role, Meaning: meaning, Reason: reason, Subject: subject, At: s.o.Now()}
	if err := s.audit(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.sign",
		Reason: reason, After: "meaning=" + meaning + " co-signature " + after}); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

// Users lists users by name.
func (s *Service) Users() ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("auth: user %q: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, r.User)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	now := s.o.Now()
	s.mu.Lock()
	for i := range out {
		for k, ls := range s.locks {
			if k.user != out[i].Name {
				continue
			}
			if now.Before(ls.until) && ls.until.After(out[i].LockedUntil) {
				out[i].LockedUntil = ls.until
			}
			out[i].Failures = max(out[i].Failures, ls.failures)
		}
	}
	s.mu.Unlock()
	return out, err
}

// clientHost is the host part of a client address ("10.0.0.7:51234" ->
// "10.0.0.7"); the lockout counts per host, not per connection.
func clientHost(client string) string {
	if h, _, err := net.SplitHostPort(client); err == nil {
		return h
	}
	return client
}

// clientOf is the client address of token's session ("" when none).
func (s *Service) clientOf(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[hashToken(token)]; sess != nil {
		return sess.Client
	}
	return ""
}

// NewUser is a user an admin creates.
type NewUser struct {
	Name     string
	FullName string // required: shown with every signature of the user
	Role     Role
	Password string // temporary; changed at the first login
	Lang     string // "" = line default
}

// CreateUser creates a user with a temporary password (must-change). by is
// the admin's session. The user's full name is the name; use Create to set
// it.
func (s *Service) CreateUser(ctx context.Context, by Session, name string, role Role, tempPW string) error {
	return s.Create(ctx, by, NewUser{Name: name, FullName: name, Role: role, Password: tempPW})
}

// Create creates a user with a temporary password (must-change), full
// name and language. by is the admin's session.
func (s *Service) Create(ctx context.Context, by Session, nu NewUser) error {
	name, role, tempPW := nu.Name, nu.Role, nu.Password
	fail := func(err error) error {
		s.auditRefusal(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.create.refused",
			Reason: err.Error(), After: fmt.Sprintf("user=%s role=%s", name, role)})
		return err
	}
	if !by.Role.AtLeast(RoleAdmin) {
		return fail(fmt.Errorf("auth: create user: %w", ErrForbidden))
	}
	if !validName(name) {
		return fail(fmt.Errorf("auth: user name %q: want 1-32 letters, digits, '.', '-' or '_': %w", name, ErrInvalid))
	}
	if !role.Valid() {
		return fail(fmt.Errorf("auth: role %q: want operator, supervisor, qa or admin: %w", role, ErrInvalid))
	}
	if err := checkFullName(nu.FullName); err != nil {
		return fail(err)
	}
	if !validLang(nu.Lang) {
		return fail(fmt.Errorf("auth: language %q: want one of %s: %w", nu.Lang, strings.Join(Languages, ", "), ErrInvalid))
	}
	if err := s.checkPolicy(name, tempPW); err != nil {
		return fail(err)
	}
	if err := s.putNewUser(name, strings.TrimSpace(nu.FullName), nu.Lang, role, tempPW); err != nil {
		return fail(err)
	}
	return s.audit(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.create",
		After: fmt.Sprintf("user=%s role=%s full_name=%q", name, role, strings.TrimSpace(nu.FullName))})
}

func validName(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// UserChange is an admin change to a user; nil fields stay as they are.
type UserChange struct {
	Role        *Role   // new role
	FullName    *string // new full name (required non-empty)
	Lang        *string // new language ("" = line default)
	Disabled    *bool   // disable or enable
	Unlock      bool    // clear lockout and failure count
	NewPassword *string // temporary password (forces change at next login)
}

// UpdateUser applies an admin change to user name. An admin cannot demote
// or disable itself (so the last admin cannot lock everyone out).
func (s *Service) UpdateUser(ctx context.Context, by Session, name string, c UserChange) (User, error) {
	fail := func(err error) (User, error) {
		s.auditRefusal(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.update.refused",
			Reason: err.Error(), After: "user=" + name})
		return User{}, err
	}
	if !by.Role.AtLeast(RoleAdmin) {
		return fail(fmt.Errorf("auth: update user: %w", ErrForbidden))
	}
	if name == by.User && ((c.Role != nil && *c.Role != RoleAdmin) || (c.Disabled != nil && *c.Disabled)) {
		return fail(fmt.Errorf("auth: an admin cannot demote or disable itself: %w", ErrInvalid))
	}
	if c.Role != nil && !c.Role.Valid() {
		return fail(fmt.Errorf("auth: role %q: %w", *c.Role, ErrInvalid))
	}
	if c.FullName != nil {
		if err := checkFullName(*c.FullName); err != nil {
			return fail(err)
		}
	}
	if c.Lang != nil && !validLang(*c.Lang) {
		return fail(fmt.Errorf("auth: language %q: want one of %s: %w", *c.Lang, strings.Join(Languages, ", "), ErrInvalid))
	}
	var hash string
	if c.NewPassword != nil {
		if err := s.checkPolicy(name, *c.NewPassword); err != nil {
			return fail(err)
		}
		h, err := s.hash(*c.NewPassword)
		if err != nil {
			return fail(err)
		}
		hash = h
	}
	var before, after User
	r, err := s.update(name, func(r *record) error {
		before = r.User
		if c.Role != nil {
			r.Role = *c.Role
		}
		if c.Disabled != nil {
			r.Disabled = *c.Disabled
		}
		if c.Unlock {
			r.Failures, r.LockedUntil = 0, time.Time{}
		}
		if c.FullName != nil {
			r.FullName = strings.TrimSpace(*c.FullName)
		}
		if c.Lang != nil {
			r.Lang = *c.Lang
		}
		if hash != "" {
			r.Hash, r.MustChange, r.Changed = hash, true, s.o.Now()
		}
		after = r.User
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if c.Role != nil || (c.Disabled != nil && *c.Disabled) || hash != "" {
		s.dropSessions(name)
	}
	if c.Unlock {
		s.mu.Lock()
		for k := range s.locks {
			if k.user == name {
				delete(s.locks, k)
			}
		}
		s.mu.Unlock()
	}
	if c.FullName != nil || c.Lang != nil {
		s.mu.Lock()
		for _, v := range s.sessions {
			if v.User == name {
				v.FullName, v.Lang = r.FullName, r.Lang
			}
		}
		s.mu.Unlock()
	}
	if err := s.audit(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.update",
		Before: describe(before), After: describe(after)}); err != nil {
		return User{}, err
	}
	return r.User, nil
}

func describe(u User) string {
	parts := []string{"user=" + u.Name, "role=" + string(u.Role)}
	if u.FullName != "" {
		parts = append(parts, "full_name="+strconvQuote(u.FullName))
	}
	if u.Lang != "" {
		parts = append(parts, "lang="+u.Lang)
	}
	if u.Disabled {
		parts = append(parts, "disabled")
	}
	if u.MustChange {
		parts = append(parts, "must_change")
	}
	if !u.LockedUntil.IsZero() {
		parts = append(parts, "locked_until="+u.LockedUntil.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// Roles lists the valid roles, lowest first.
func Roles() []Role { return slices.Clone([]Role{RoleOperator, RoleSupervisor, RoleQA, RoleAdmin}) }

// Languages are the languages a user may choose (message catalogues of
// line/i18n).
var Languages = []string{"en", "de"}

func validLang(l string) bool { return l == "" || slices.Contains(Languages, l) }

func checkFullName(n string) error {
	n = strings.TrimSpace(n)
	if n == "" || utf8.RuneCountInString(n) > 80 || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("auth: full name %q: want 1-80 printable characters: %w", n, ErrInvalid)
	}
	return nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// SetLanguage sets the language of the user of token (any role may choose
// its own language); lang is one of Languages or "" (line default).
func (s *Service) SetLanguage(ctx context.Context, token, lang string) error {
	sess, err := s.Peek(token)
	if err != nil {
		return err
	}
	if !validLang(lang) {
		return fmt.Errorf("auth: language %q: want one of %s: %w", lang, strings.Join(Languages, ", "), ErrInvalid)
	}
	var before string
	if _, err := s.update(sess.User, func(r *record) error { before = r.Lang; r.Lang = lang; return nil }); err != nil {
		return err
	}
	s.mu.Lock()
	for _, v := range s.sessions {
		if v.User == sess.User {
			v.Lang = lang
		}
	}
	s.mu.Unlock()
	return s.audit(ctx, AuditEntry{Who: sess.User, Role: string(sess.Role), Action: "auth.user.language", Before: before, After: lang})
}
