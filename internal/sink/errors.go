package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncd-dev/syncd/internal/textutil"
)

// ErrUnauthorized is matched (errors.Is) by every 401 and 403 answer. Omni
// organisation keys never expire, so either status means the key is wrong,
// revoked or of the wrong kind: retrying cannot help and the run must stop.
var ErrUnauthorized = errors.New("scim: unauthorized: the API key is invalid or revoked (an Omni organisation API key is required)")

// ErrOutcomeUnknown is wrapped when a write may or may not have reached Omni
// (a timeout, a reset after sending, a 5xx) and retries ran out before that
// could be settled. The caller keeps its journal entry pending and resolves it
// later; for a create, by looking the user up by userName.
var ErrOutcomeUnknown = errors.New("scim: outcome unknown: the write may or may not have been applied")

// maxErrorBody bounds the raw body kept in an Error, and so in the audit log.
const maxErrorBody = 4 << 10

// Error is a non-2xx answer from the SCIM API.
type Error struct {
	Method string
	// Path is the request path without its query, which may hold an email.
	Path   string
	Status int
	// Code is Omni's "error" code or the SCIM "scimType".
	Code string
	// Message is Omni's "message" or the SCIM "detail".
	Message string
	// Body is the first 4 KiB of the raw body with the API key redacted.
	Body string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scim %s %s: status %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(textutil.Clip(e.Message, 300, ""))
	}
	if e.Unwrap() != nil {
		// The operator reading this needs the hint more than the code.
		b.WriteString(" (")
		b.WriteString(strings.TrimPrefix(ErrUnauthorized.Error(), "scim: unauthorized: "))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrUnauthorized) stop a run on 401 and 403
// while errors.As still reaches the status and body.
func (e *Error) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// What an answer means, beside its status (kept for the audit row): matched
// with errors.Is against any error from the Client.
var (
	// ErrExists: Omni already has a user with this userName (409).
	ErrExists = errors.New("scim: a user with this userName already exists")
	// ErrNotFound: no such user (404).
	ErrNotFound = errors.New("scim: no such user")
	// ErrInvalid: Omni judged the request's values invalid (400); sending
	// them again cannot help.
	ErrInvalid = errors.New("scim: the values were refused as invalid")
)

// Is lets errors.Is match an answer by its meaning.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrExists:
		return e.Status == http.StatusConflict
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	}
	return false
}

// IsStatus reports whether err is, or wraps, an *Error with that status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// retryable reports whether the answer is worth another attempt: rate
// limiting and server-side failures are; a request Omni judged and refused
// would be refused again.
func (e *Error) retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// parseError builds an Error from an answer, reading Omni's documented
// {"error","message"} body and the SCIM error body alike. The key is
// redacted before anything is kept or cut, so no piece of it survives, and
// after NUL bytes are dropped, so none can split it. What is kept is valid
// UTF-8 without NUL.
func parseError(method, path string, status int, header http.Header, body []byte, now time.Time, red redactor) *Error {
	body = red.bytes([]byte(textutil.Clean(string(body))))
	e := &Error{
		Method:     method,
		Path:       path,
		Status:     status,
		Body:       textutil.Clip(string(body), maxErrorBody, ""),
		RetryAfter: parseRetryAfter(header.Get("Retry-After"), now),
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return e
	}
	get := func(name string) (string, bool) {
		raw, ok := lookupFold(fields, name)
		if !ok {
			return "", false
		}
		return looseString(raw)
	}
	if raw, ok := lookupFold(fields, "error"); ok {
		// Some gateways nest the error: {"error":{"code":…,"message":…}}.
		var nested map[string]json.RawMessage
		if json.Unmarshal(raw, &nested) == nil {
			if v, ok := lookupFold(nested, "code"); ok {
				e.Code, _ = looseString(v)
			}
			if v, ok := lookupFold(nested, "message"); ok {
				e.Message, _ = looseString(v)
			}
		} else {
			e.Code, _ = looseString(raw)
		}
	}
	if e.Code == "" {
		e.Code, _ = get("scimType")
	}
	if e.Message == "" {
		if v, ok := get("message"); ok {
			e.Message = v
		} else if v, ok := get("detail"); ok {
			e.Message = v
		}
	}
	// The decoded fields too, in case the body escaped the key in a way the
	// byte-level pass did not foresee.
	e.Code = textutil.Clip(red.string(textutil.Clean(e.Code)), 200, "")
	e.Message = textutil.Clip(red.string(textutil.Clean(e.Message)), 1000, "")
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date. Anything else, or a
// date in the past, is no advice at all.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// A day is far beyond any MaxElapsed; larger values are nonsense
		// and would overflow.
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// transportError is an attempt that got no complete answer.
type transportError struct {
	Method, Path string
	Err          error
	// Sent is false only when the request surely never left (the dial or
	// the TLS handshake failed); otherwise a write may have been applied.
	Sent bool
	// Final marks a failure another attempt would meet again (a TLS
	// certificate this client does not trust): it is not retried.
	Final bool
}

func (e *transportError) Error() string {
	return fmt.Sprintf("scim %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *transportError) Unwrap() error { return e.Err }
