package auth

import "errors"

// Sentinel errors of package auth. Every error returned wraps one of them.
var (
	// ErrBadCredentials: unknown user or wrong password (the two are not
	// told apart to the caller).
	ErrBadCredentials = errors.New("wrong user name or password")
	// ErrLocked: too many failed attempts; the account is locked until the
	// lockout expires or an admin unlocks it.
	ErrLocked = errors.New("account locked")
	// ErrDisabled: the account was disabled by an admin.
	ErrDisabled = errors.New("account disabled")
	// ErrNoSession: the session token is unknown, logged out or expired.
	ErrNoSession = errors.New("no valid session")
	// ErrPasswordChange: the user must change the password before doing
	// anything else (first login, or after an admin reset).
	ErrPasswordChange = errors.New("password change required")
	// ErrForbidden: the user's role does not allow the action.
	ErrForbidden = errors.New("forbidden for this role")
	// ErrWeakPassword: the new password does not meet the policy.
	ErrWeakPassword = errors.New("password does not meet the policy")
	// ErrUserExists: a user of that name already exists.
	ErrUserExists = errors.New("user already exists")
	// ErrUnknownUser: no such user (admin operations only).
	ErrUnknownUser = errors.New("unknown user")
	// ErrInvalid: malformed input (empty name, unknown role, missing
	// signature meaning or reason…).
	ErrInvalid = errors.New("invalid input")
	// ErrCorrupt: a stored user record cannot be decoded.
	ErrCorrupt = errors.New("corrupt user store")
)
