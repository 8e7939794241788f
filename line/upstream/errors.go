package upstream

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrUnauthorized: the site server refused the token (HTTP 401/403). Not retried.
	ErrUnauthorized = errors.New("upstream: unauthorized")
	// ErrRejected: the site server refused the request as invalid (other 4xx). Not retried.
	ErrRejected = errors.New("upstream: request rejected")
	// ErrUnavailable: the site server could not be reached or kept failing (5xx,
	// network errors) until the retry budget ran out. The caller keeps running
	// from its local pool and tries again later.
	ErrUnavailable = errors.New("upstream: unavailable")
	// ErrBadResponse: the reply could not be decoded or does not match the request.
	ErrBadResponse = errors.New("upstream: bad response")
)
