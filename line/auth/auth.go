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
	"slices"
	"sort"
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
)

func (r Role) rank() int {
	switch r {
	case RoleOperator:
		return 1
	case RoleSupervisor:
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
	Name        string    `json:"name"`
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
	Role       Role      `json:"role"`
	MustChange bool      `json:"must_change"`
	Started    time.Time `json:"started"`
	LastUsed   time.Time `json:"last_used"`
	Expires    time.Time `json:"expires"` // the earlier of idle and absolute expiry
}

// Signature is an electronic signature: the signer re-entered the password;
// meaning and reason say what the signature stands for.
type Signature struct {
	User    string
	Role    Role
	Meaning string
	Reason  string
	Subject string // the record signed
	At      time.Time
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
	s := &Service{o: o, db: db, log: log, sessions: map[string]*Session{}, hashSem: make(chan struct{}, o.MaxConcurrentHashes)}
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
	h, err := s.hash(pw)
	if err != nil {
		return err
	}
	now := s.o.Now()
	r := record{User: User{Name: name, Role: role, MustChange: true, Created: now, Changed: now}, Hash: h}
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

// verify checks name's password, counting failures and locking the account
// after MaxFailures. action names the attempt in the audit trail
// ("auth.login", "auth.sign"). It audits refusals itself.
//
// The outcome is settled in one transaction against the record as it is
// after the (slow) password check, not as it was before: attempts running
// at the same time cannot get past a lockout that one of them triggered,
// nor a disable or password change made meanwhile.
func (s *Service) verify(ctx context.Context, name, pw, action, client string) (record, error) {
	r, found, err := s.get(name)
	if err != nil {
		return record{}, err
	}
	who := name
	if who == "" {
		who = "(empty user name)"
	}
	refuse := func(why string, sentinel error, role string) (record, error) {
		if aerr := s.audit(ctx, AuditEntry{Who: who, Role: role, Action: action + ".refused", Reason: why + client}); aerr != nil {
			return record{}, errors.Join(fmt.Errorf("auth: %s: %w", name, sentinel), aerr)
		}
		return record{}, fmt.Errorf("auth: %s: %w", name, sentinel)
	}
	lockedMsg := func(r record) string {
		return "account locked until " + r.LockedUntil.UTC().Format(time.RFC3339)
	}
	if !found {
		_, _ = s.check(s.dummy, pw)
		return refuse("unknown user", ErrBadCredentials, "")
	}
	if r.Disabled {
		return refuse("account disabled", ErrDisabled, string(r.Role))
	}
	if s.o.Now().Before(r.LockedUntil) {
		return refuse(lockedMsg(r), ErrLocked, string(r.Role))
	}
	if s.beforeCheck != nil {
		s.beforeCheck(name, pw)
	}
	ok, err := s.check(r.Hash, pw)
	if err != nil {
		return record{}, fmt.Errorf("auth: %s: %w", name, err)
	}
	checked := r.Hash
	var outcome int // what the settling transaction decided
	const (
		accepted = iota
		failed
		lockedNow
		lockedMeanwhile
		disabledMeanwhile
		changedMeanwhile
	)
	now := s.o.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("auth: user %q: %w", name, ErrUnknownUser)
		}
		r = record{}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("auth: user %q: %w: %v", name, ErrCorrupt, err)
		}
		switch {
		case r.Disabled:
			outcome = disabledMeanwhile
			return nil
		case now.Before(r.LockedUntil):
			outcome = lockedMeanwhile
			return nil
		case r.Hash != checked:
			outcome = changedMeanwhile
			return nil
		case ok:
			outcome = accepted
			if r.Failures == 0 && r.LockedUntil.IsZero() {
				return nil
			}
			r.Failures, r.LockedUntil = 0, time.Time{}
		default:
			outcome = failed
			r.Failures++
			if r.Failures >= s.o.MaxFailures {
				r.LockedUntil = now.Add(s.o.LockoutFor)
				r.Failures = 0
				outcome = lockedNow
			}
		}
		return putRecord(b, r)
	})
	if err != nil {
		return record{}, err
	}
	role := string(r.Role)
	switch outcome {
	case accepted:
		return r, nil
	case disabledMeanwhile:
		return refuse("account disabled", ErrDisabled, role)
	case lockedMeanwhile:
		return refuse(lockedMsg(r), ErrLocked, role)
	case changedMeanwhile:
		return refuse("password changed during the attempt", ErrBadCredentials, role)
	case lockedNow:
		s.dropSessions(name)
		if err := s.audit(ctx, AuditEntry{Who: name, Role: role, Action: "auth.lockout",
			Reason: fmt.Sprintf("%d consecutive failed passwords; locked for %s", s.o.MaxFailures, s.o.LockoutFor)}); err != nil {
			return record{}, err
		}
		s.log.Warn("account locked", "user", name)
		return refuse("wrong password; account now locked", ErrLocked, role)
	}
	return refuse(fmt.Sprintf("wrong password (%d of %d)", r.Failures, s.o.MaxFailures), ErrBadCredentials, role)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Login checks the password and opens a session. client (e.g. the remote
// address) is recorded in the audit trail. Refusals wrap ErrBadCredentials,
// ErrLocked or ErrDisabled.
func (s *Service) Login(ctx context.Context, name, password, client string) (Session, error) {
	if client != "" {
		client = " from " + client
	}
	r, err := s.verify(ctx, name, password, "auth.login", client)
	if err != nil {
		return Session{}, err
	}
	tb := make([]byte, 32)
	if _, err := io.ReadFull(s.o.Rand, tb); err != nil {
		return Session{}, fmt.Errorf("auth: token: %w", err)
	}
	now := s.o.Now()
	sess := &Session{Token: base64.RawURLEncoding.EncodeToString(tb), User: r.Name, Role: r.Role,
		MustChange: r.MustChange, Started: now, LastUsed: now}
	s.setExpiry(sess)
	if err := s.audit(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.login", Reason: "login" + client}); err != nil {
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
	r, err := s.verify(ctx, name, oldPW, "auth.password.change", "")
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
	r, err := s.verify(ctx, sess.User, password, "auth.sign", " ("+after+")")
	if err != nil {
		return Signature{}, err
	}
	sig := Signature{User: r.Name, Role: r.Role, Meaning: meaning, Reason: reason, Subject: subject, At: s.o.Now()}
	if err := s.audit(ctx, AuditEntry{Who: r.Name, Role: string(r.Role), Action: "auth.sign",
		Reason: reason, After: "meaning=" + meaning + " " + after}); err != nil {
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
	return out, err
}

// CreateUser creates a user with a temporary password (must-change). by is
// the admin's session.
func (s *Service) CreateUser(ctx context.Context, by Session, name string, role Role, tempPW string) error {
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
		return fail(fmt.Errorf("auth: role %q: want operator, supervisor or admin: %w", role, ErrInvalid))
	}
	if err := s.checkPolicy(name, tempPW); err != nil {
		return fail(err)
	}
	if err := s.putNew(name, role, tempPW); err != nil {
		return fail(err)
	}
	return s.audit(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.create",
		After: fmt.Sprintf("user=%s role=%s", name, role)})
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
	if err := s.audit(ctx, AuditEntry{Who: by.User, Role: string(by.Role), Action: "auth.user.update",
		Before: describe(before), After: describe(after)}); err != nil {
		return User{}, err
	}
	return r.User, nil
}

func describe(u User) string {
	parts := []string{"user=" + u.Name, "role=" + string(u.Role)}
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
func Roles() []Role { return slices.Clone([]Role{RoleOperator, RoleSupervisor, RoleAdmin}) }
