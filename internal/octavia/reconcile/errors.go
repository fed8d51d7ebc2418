package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Error is a failed call, told so that a person can act on it: what lbctl
// was doing, what the service answered in its own words, and what to do
// next. Err is the underlying gophercloud error.
type Error struct {
	Op      string // what lbctl was doing, e.g. `create server "Server1"`
	Code    int    // HTTP status; 0 when no answer came
	Message string // the service's message (Octavia's faultstring, Neutron's and Nova's message)
	Hint    string // what to do about it
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d %s: ", e.Code, http.StatusText(e.Code))
	}
	if e.Message != "" {
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// HintFunc says what a person can do about a failed call, given its HTTP
// status (0 when no answer came) and the service's message; "" for nothing.
// The words depend on the command (its flags, what to run again), so the
// caller supplies them.
type HintFunc func(code int, msg string) string

// Describe turns an error from a gophercloud call into an *Error, or returns
// nil for nil. Errors that are already described keep their words. hint may
// be nil.
func Describe(op string, err error, hint HintFunc) error {
	if err == nil {
		return nil
	}
	if hint == nil {
		hint = func(int, string) string { return "" }
	}
	var known *Error
	if errors.As(err, &known) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Op: op, Message: "interrupted", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Op: op, Message: "no answer in time", Hint: "the service may be overloaded or unreachable; raise --timeout or retry", Err: err}
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		return &Error{Op: op, Err: err, Hint: hint(0, err.Error())}
	}
	msg := FaultMessage(ue.Body)
	return &Error{Op: op, Code: ue.Actual, Message: msg, Hint: hint(ue.Actual, msg), Err: err}
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// FaultMessage finds the service's own message in an error body: Octavia's
// {"faultstring"}, Neutron's {"NeutronError": {"message"}}, Nova's
// {"itemNotFound": {"message"}}, Keystone's {"error": {"message"}}, or the
// text of Glance's HTML page.
func FaultMessage(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if s, ok := m["faultstring"].(string); ok {
			return s
		}
		if s, ok := m["message"].(string); ok {
			return s
		}
		for _, v := range m {
			if inner, ok := v.(map[string]any); ok {
				if s, ok := inner["message"].(string); ok && s != "" {
					return s
				}
			}
		}
	}
	text := strings.Join(strings.Fields(htmlTag.ReplaceAllString(string(body), " ")), " ")
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return text
}

// isCode reports whether err is an HTTP error with that status.
func isCode(err error, code int) bool { return gophercloud.ResponseCodeIs(err, code) }

// IsBusy reports whether a load-balancer mutation failed only because the
// load balancer (or a parent) is PENDING_*: Octavia's 409 "... is immutable
// and cannot be updated" or "Invalid state PENDING_UPDATE of loadbalancer",
// or a 503 "project busy". Those are waited out and retried, never shown.
func IsBusy(err error) bool {
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Actual {
	case http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError:
		// A database deadlock (MySQL) or lock (SQLite) under concurrent
		// requests fails the whole transaction: nothing changed, so trying
		// again is safe.
		msg := strings.ToLower(FaultMessage(ue.Body))
		return strings.Contains(msg, "deadlock") || strings.Contains(msg, "database is locked")
	case http.StatusConflict:
		msg := strings.ToLower(FaultMessage(ue.Body))
		return strings.Contains(msg, "immutable") || strings.Contains(msg, "invalid state") || strings.Contains(msg, "pending")
	}
	return false
}

// Transient reports whether a failed read while waiting is worth another
// try: the service answered 5xx, or the connection failed. The wait's bound
// still applies.
func Transient(err error) bool {
	var e *Error
	if errors.As(err, &e) && e.Code >= 500 {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// WaitError is a wait that ran out of time or met a failed state.
type WaitError struct {
	What   string        // e.g. `load balancer "lb1" (id)`
	Want   string        // the status waited for
	Status string        // the last status seen
	After  time.Duration // how long lbctl waited
	Failed bool          // the resource went to ERROR (or similar) instead
	Hint   string
	Err    error // ctx error when interrupted
}

func (e *WaitError) Error() string {
	var s string
	switch {
	case e.Failed:
		s = fmt.Sprintf("%s went to %s while lbctl waited for %s", e.What, e.Status, e.Want)
	case e.Err != nil:
		s = fmt.Sprintf("interrupted while waiting for %s to become %s (it is %s after %s)", e.What, e.Want, e.Status, e.After.Round(time.Millisecond))
	default:
		s = fmt.Sprintf("%s is still %s after %s (waiting for %s)", e.What, e.Status, e.After.Round(time.Millisecond), e.Want)
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

func (e *WaitError) Unwrap() error { return e.Err }
