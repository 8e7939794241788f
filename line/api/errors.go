package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/serialine/serialine/line/auth"
)

// Sentinel errors. Controller implementations wrap them (fmt.Errorf("…: %w",
// api.ErrRefused)) so the API answers with the right HTTP status and code.
var (
	// ErrNotFound: the batch, unit or alarm does not exist (404 not_found).
	ErrNotFound = errors.New("not found")
	// ErrInvalidState: the PackML state machine or the unit's state forbids
	// the command (409 invalid_state).
	ErrInvalidState = errors.New("invalid state")
	// ErrRefused: a precondition failed — line clearance, pool too low,
	// reconciliation does not balance… (409 refused).
	ErrRefused = errors.New("refused")
	// ErrBadRequest: the input is malformed or invalid (400 bad_request).
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: a device or the journal cannot serve the request now
	// (503 unavailable).
	ErrUnavailable = errors.New("unavailable")
	// ErrOptions: New or Serve was given incomplete or contradictory
	// options (a programming or configuration error, not a request's).
	ErrOptions = errors.New("invalid options")
)

// Error codes of JSON error bodies.
const (
	CodeBadRequest        = "bad_request"
	CodeUnauthorized      = "unauthorized"             // no or expired session, wrong credentials
	CodeLocked            = "locked"                   // account locked after failed attempts
	CodeForbidden         = "forbidden"                // role too low
	CodePasswordChange    = "password_change_required" // change the password first
	CodeSignatureRequired = "signature_required"
	CodeSignatureInvalid  = "signature_invalid" // wrong password in an e-signature
	CodeWeakPassword      = "weak_password"
	CodeConflict          = "conflict" // e.g. user exists
	CodeNotFound          = "not_found"
	CodeInvalidState      = "invalid_state"
	CodeRefused           = "refused"
	CodeUnavailable       = "unavailable"
	CodeInternal          = "internal"
)

// plain makes an error chain's text readable for an operator: package
// prefixes ("auth: ", "journal: " …) and the sentinel texts the chain ends
// with (": bad request", ": refused" …, which the code carries) go.
func plain(msg string) string {
	for {
		cut := false
		for _, s := range []string{": bad request", ": invalid state", ": refused", ": not found", ": unavailable", ": invalid record", ": invalid input"} {
			if strings.HasSuffix(msg, s) {
				msg, cut = strings.TrimSuffix(msg, s), true
			}
		}
		if !cut {
			break
		}
	}
	// A prefix starts the text or follows ": " or "(": "this line: x" keeps its word.
	for _, p := range []string{"auth: ", "journal: ", "line: ", "records: ", "reconcile: ", "api: "} {
		var b strings.Builder
		for rest := msg; ; {
			i := strings.Index(rest, p)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			pre := b.String() + rest[:i]
			b.WriteString(rest[:i])
			if !(pre == "" || strings.HasSuffix(pre, ": ") || strings.HasSuffix(pre, "(")) {
				b.WriteString(p)
			}
			rest = rest[i+len(p):]
		}
		msg = b.String()
	}
	return msg
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and message of an error response.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is an error with its HTTP status and code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// toError maps any error to its HTTP status and code.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	msg := plain(err.Error())
	switch {
	case errors.Is(err, auth.ErrLocked):
		return &Error{http.StatusForbidden, CodeLocked, msg}
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrDisabled), errors.Is(err, auth.ErrNoSession):
		return &Error{http.StatusUnauthorized, CodeUnauthorized, msg}
	case errors.Is(err, auth.ErrForbidden):
		return &Error{http.StatusForbidden, CodeForbidden, msg}
	case errors.Is(err, auth.ErrPasswordChange):
		return &Error{http.StatusForbidden, CodePasswordChange, msg}
	case errors.Is(err, auth.ErrWeakPassword):
		return &Error{http.StatusBadRequest, CodeWeakPassword, msg}
	case errors.Is(err, auth.ErrUserExists):
		return &Error{http.StatusConflict, CodeConflict, msg}
	case errors.Is(err, auth.ErrUnknownUser):
		return &Error{http.StatusNotFound, CodeNotFound, msg}
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, ErrBadRequest):
		return &Error{http.StatusBadRequest, CodeBadRequest, msg}
	case errors.Is(err, ErrNotFound):
		return &Error{http.StatusNotFound, CodeNotFound, msg}
	case errors.Is(err, ErrInvalidState):
		return &Error{http.StatusConflict, CodeInvalidState, msg}
	case errors.Is(err, ErrRefused):
		return &Error{http.StatusConflict, CodeRefused, msg}
	case errors.Is(err, ErrUnavailable):
		return &Error{http.StatusServiceUnavailable, CodeUnavailable, msg}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{http.StatusServiceUnavailable, CodeUnavailable, msg}
	}
	return &Error{http.StatusInternalServerError, CodeInternal, msg}
}
