package octavia

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one field: where it is, what was there and
// which rule it breaks.
type FieldError struct {
	File  string // config file, when the input came from one
	Line  int    // 1-based line in File, 0 when unknown
	Path  string // field path, e.g. loadbalancers[0].listeners[1].protocol_port; "" for a YAML syntax error
	Value any    // the offending value; nil when the field is missing
	Rule  string // what the value must satisfy, e.g. "must be between 1 and 65535"
	// Code and Fault, when Fault is set, are how Octavia's API answers this
	// problem: its HTTP status and its faultstring, word for word.
	Code  int
	Fault string
	// Detail marks a Rule that is Octavia's whole message for the problem
	// (a ValidationException's detail, such as "An SNI or default
	// certificate container reference must be provided for
	// TERMINATED_HTTPS protocol listeners."): the API answers it as
	// "Validation failure: <Rule>".
	Detail bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Path)
	if e.Value != nil {
		b.WriteString(": ")
		b.WriteString(FormatValue(e.Value))
	}
	if e.Path != "" || e.Value != nil {
		b.WriteString(": ")
	}
	b.WriteString(e.Rule)
	return b.String()
}

// FormatValue renders a field value for an error message: strings quoted,
// pointers followed.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case Protocol, Algorithm, MonitorType, PersistenceType, L7Action, L7RuleType, L7CompareType:
		return fmt.Sprintf("%q", x)
	case *int:
		if x == nil {
			return "null"
		}
		return fmt.Sprint(*x)
	case *float64:
		if x == nil {
			return "null"
		}
		return fmt.Sprint(*x)
	default:
		return fmt.Sprint(v)
	}
}

// ValidationError collects every problem found in one pass over the input.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return e.Errors[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual field errors.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe
	}
	return out
}

// problems accumulates field errors during validation.
type problems struct {
	list []*FieldError
}

func (p *problems) add(path string, value any, rule string, args ...any) {
	if len(args) > 0 {
		rule = fmt.Sprintf(rule, args...)
	}
	p.list = append(p.list, &FieldError{Path: path, Value: value, Rule: rule})
}

// detail adds a problem whose rule is Octavia's own message.
func (p *problems) detail(path string, value any, rule string, args ...any) {
	p.add(path, value, rule, args...)
	p.list[len(p.list)-1].Detail = true
}

// RuleRequired is the Rule of a FieldError for a required field that is
// missing, so callers (the REST API answers it as WSME does) can tell it
// from a bad value.
const RuleRequired = "is required"

func (p *problems) missing(path string) {
	p.list = append(p.list, &FieldError{Path: path, Rule: RuleRequired})
}

// octavia records a problem Octavia's API answers with code and msg; msg
// is the rule too.
func (p *problems) octavia(code int, path string, value any, msg string) {
	p.list = append(p.list, &FieldError{Path: path, Value: value, Rule: msg, Code: code, Fault: msg})
}

// wsme records a value WSME's type check refuses, with WSME's message.
func (p *problems) wsme(path string, value any, reason string) {
	field := path
	if i := strings.LastIndexAny(field, ".]"); i >= 0 {
		field = field[i+1:]
	}
	fault := fmt.Sprintf("Invalid input for field/attribute %s. Value: '%v'. %s", field, value, reason)
	p.list = append(p.list, &FieldError{Path: path, Value: value, Rule: reason, Code: 400, Fault: fault})
}

// enum records a value outside an enumeration.
func (p *problems) enum(path, value, allowed string) {
	p.wsme(path, value, "Value should be one of: "+allowed)
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.list}
}
