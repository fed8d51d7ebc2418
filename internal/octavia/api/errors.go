package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an answer other than success, rendered as Octavia's (WSME's)
// fault body. Services return it for every failure a client caused or may
// act on; any other error becomes a 500.
type Error struct {
	Code    int    // HTTP status
	Message string // faultstring
	Debug   string // debuginfo; empty: null
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Resource names as Octavia prints them in messages (data_models._name()).
const (
	KindLoadBalancer  = "Load Balancer"
	KindListener      = "Listener"
	KindPool          = "Pool"
	KindMember        = "Member"
	KindHealthMonitor = "Health Monitor"
)

// NotFound is Octavia's 404 "<Resource> <id> not found.".
func NotFound(kind, id string) *Error {
	return Errorf(http.StatusNotFound, "%s %s not found.", kind, id)
}

// Immutable is Octavia's 409 for a change under a parent that is not ACTIVE.
func Immutable(kind, id string) *Error {
	return Errorf(http.StatusConflict, "%s %s is immutable and cannot be updated.", kind, id)
}

// PendingState is Octavia's 409 for a load balancer that is not ACTIVE.
func PendingState(state, id string) *Error {
	return Errorf(http.StatusConflict, "Invalid state %s of loadbalancer resource %s", state, id)
}

// Invalid is Octavia's 400 "Validation failure: <detail>".
func Invalid(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "Validation failure: "+format, args...)
}

// InvalidInput is WSME's 400 for a field that fails its type or range; a
// nil value is a missing one, printed as Python's None.
func InvalidInput(field string, value any, reason string) *Error {
	if value == nil {
		value = "None"
	}
	return Errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%v'. %s", field, value, reason)
}

// errForbidden is Octavia's policy denial.
var errForbidden = Errorf(http.StatusForbidden, "Policy does not allow this request to be performed.")

// fault is the body of every error answer.
type fault struct {
	FaultCode   string  `json:"faultcode"`
	FaultString string  `json:"faultstring"`
	DebugInfo   *string `json:"debuginfo"`
}

// writeError answers with err's fault body. Errors that are not *Error are
// logged by the caller and answered as 500 without detail.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: http.StatusInternalServerError, Message: "Internal Server Error"}
	}
	f := fault{FaultCode: "Client", FaultString: e.Message}
	if e.Debug != "" {
		f.DebugInfo = &e.Debug
	}
	if e.Code >= 500 {
		f.FaultCode = "Server"
	}
	writeJSON(w, e.Code, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
