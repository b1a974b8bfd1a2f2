package dream

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error by what the caller can do about it. The edge
// answers each kind with one HTTP status:
//
//	KindInvalid         400 Bad Request
//	KindUnauthenticated 401 Unauthorized
//	KindForbidden       403 Forbidden
//	KindNotFound        404 Not Found
//	KindMethod          405 Method Not Allowed
//	KindConflict        409 Conflict
//	KindTooLarge        413 Content Too Large
//	KindRateLimited     429 Too Many Requests
//	KindInternal        500 Internal Server Error
//	KindUnavailable     503 Service Unavailable
//	KindTimeout         504 Gateway Timeout
type Kind int

// The kinds of error.
const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthenticated
	KindForbidden
	KindNotFound
	KindMethod
	KindConflict
	KindTooLarge
	KindRateLimited
	KindUnavailable
	KindTimeout
)

// kindStatus is the HTTP status of each kind of error.
var kindStatus = map[Kind]int{
	KindInternal:        http.StatusInternalServerError,
	KindInvalid:         http.StatusBadRequest,
	KindUnauthenticated: http.StatusUnauthorized,
	KindForbidden:       http.StatusForbidden,
	KindNotFound:        http.StatusNotFound,
	KindMethod:          http.StatusMethodNotAllowed,
	KindConflict:        http.StatusConflict,
	KindTooLarge:        http.StatusRequestEntityTooLarge,
	KindRateLimited:     http.StatusTooManyRequests,
	KindUnavailable:     http.StatusServiceUnavailable,
	KindTimeout:         http.StatusGatewayTimeout,
}

// HTTPStatus is the status every surface answers an error of kind k with:
// the API's JSON and the dashboard's pages alike.
func (k Kind) HTTPStatus() int {
	if status, ok := kindStatus[k]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// Error is the one error type users see. Code is the wire "error" string
// that the SDK exposes as DreamAPIException.code; many codes are phrases
// such as "Tier limit reached" because the published SDK and its users match
// on them. Fields carries the extra members some errors have on the wire
// (for example usageCount and limit). Lower-level errors are logged and
// never shown: they become an internal error.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string]any
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// For returns a copy of e that names param, the request field it concerns;
// the copy carries it on the wire as "param", so that a form can show the
// error beside that field.
func (e *Error) For(param string) *Error {
	c := *e
	c.Fields = make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		c.Fields[k] = v
	}
	c.Fields["param"] = param
	return &c
}

// Param is the request field e concerns, "" when it names none.
func (e *Error) Param() string {
	p, _ := e.Fields["param"].(string)
	return p
}

// Errorf returns an error of the given kind and code with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Shown is err as a user is shown it: its own *Error, or ErrInternal for
// anything else or an internal error, whose details stay in the logs;
// internal says which, for the caller to log.
func Shown(err error) (e *Error, internal bool) {
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e, false
	}
	return ErrInternal, true
}

// ErrorKind returns the kind of err: its own if it is or wraps an *Error,
// KindInternal otherwise.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Errors of the request pipeline, with the exact wire strings of the
// customer-facing API (spec api.md Part 2 §2).
var (
	ErrMissingAuthentication = &Error{Kind: KindUnauthenticated, Code: "Missing authentication",
		Message: "Provide Authorization: Bearer {secret_key} or X-Publishable-Key header"}
	ErrInvalidSecretKey = &Error{Kind: KindUnauthenticated, Code: "Invalid API key",
		Message: "API key not found or expired"}
	ErrInvalidPublishableKey = &Error{Kind: KindUnauthenticated, Code: "Invalid publishable key",
		Message: "Publishable key not found or invalid"}
	ErrSecretKeyRequired = &Error{Kind: KindForbidden, Code: "Forbidden",
		Message: "This endpoint requires a secret key (backend only)"}
	ErrForeignPublishableKey = &Error{Kind: KindForbidden, Code: "Forbidden",
		Message: "Publishable key does not belong to this account"}
	ErrSubscriptionExpired = &Error{Kind: KindForbidden, Code: "subscription_expired",
		Message: "Subscription expired. Please renew at dashboard to restore API access."}
	ErrMissingEndUserToken = &Error{Kind: KindUnauthenticated, Code: "Invalid or missing end-user token",
		Message: "Missing end-user token (send X-Clerk-Token with a valid JWT)"}
	ErrInvalidEndUserToken = &Error{Kind: KindUnauthenticated, Code: "Invalid or missing end-user token",
		Message: "Token verification failed"}
	ErrPublishableKeyMismatch = &Error{Kind: KindForbidden, Code: "Publishable key mismatch",
		Message: "End-user token does not match this project"}
	ErrUnboundEndUserToken = &Error{Kind: KindUnauthenticated, Code: "Invalid or missing end-user token",
		Message: "The end-user token names no project: it needs a publishableKey claim or public metadata"}
	ErrInternal = &Error{Kind: KindInternal, Code: "internal_error", Message: "Internal error"}
)

// LimitReached is the refusal of a usage increment at the limit of the end
// user's plan.
func LimitReached(count int64, limit Limit) *Error {
	return &Error{
		Kind:    KindForbidden,
		Code:    "Tier limit reached",
		Message: "Please upgrade to unlock more requests",
		Fields:  map[string]any{"usageCount": count, "limit": limit},
	}
}

// CustomerExists is the refusal of a second customer with one email in
// one environment.
func CustomerExists(email string) *Error {
	return Errorf(KindConflict, "Customer already exists", "A customer with email %s already exists in this project", email)
}

// RateLimitExceeded is the refusal of a request over the per-user rate
// limit; retryAfter is in whole seconds.
func RateLimitExceeded(perMinute int, retryAfter int) *Error {
	return &Error{
		Kind:    KindRateLimited,
		Code:    "Rate limit exceeded",
		Message: fmt.Sprintf("Maximum %d requests per minute", perMinute),
		Fields:  map[string]any{"retryAfter": retryAfter},
	}
}
