package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// maxBody bounds a request body; a batch of a few thousand members fits.
const maxBody = 8 << 20

// body describes one request body: WSME's argument name (the controller's
// parameter, which prefixes Octavia's messages), the envelope key and the
// attributes allowed inside.
type body struct {
	arg      string // e.g. "load_balancer", "listener_"
	envelope string // e.g. "loadbalancer"
	shape    shape
	list     bool // the envelope holds a list (batch member update)
	// mandatory are attributes WSME requires: a body without one is a
	// 400 naming it (an empty value is the validation's to judge).
	mandatory []string
}

// decode reads r's body, checks it against b the way WSME does (unknown
// attributes are a 400), and unmarshals the envelope's content into dst.
// For PUT, dst is a *Patch, which keeps "absent" apart from "null".
func decode(r *http.Request, b body, dst any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return Errorf(http.StatusBadRequest, "Request body could not be read: %v", err)
	}
	if len(data) > maxBody {
		return Errorf(http.StatusRequestEntityTooLarge, "Request is larger than %d bytes", maxBody)
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return Errorf(http.StatusBadRequest, "Request is not in valid JSON format")
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return InvalidInput(b.arg, doc, "Value not a valid dict")
	}
	if unknown := unknownKeys(root, shape{b.envelope: nil}); len(unknown) > 0 {
		return unknownAttrs(b.arg, unknown)
	}
	inner, ok := root[b.envelope]
	if !ok || inner == nil {
		return InvalidInput(b.envelope, nil, "Mandatory field missing.")
	}
	var objs []any
	if b.list {
		list, ok := inner.([]any)
		if !ok {
			return InvalidInput(b.arg, doc, fmt.Sprintf("Value not a valid list: %v", inner))
		}
		objs = list
	} else {
		objs = []any{inner}
	}
	for _, o := range objs {
		m, ok := o.(map[string]any)
		if !ok {
			return InvalidInput(b.envelope, o, "Value not a valid dict")
		}
		if err := checkShape(m, b.shape, b.arg+"."+b.envelope); err != nil {
			return err
		}
		for _, k := range b.mandatory {
			if v, ok := m[k]; !ok || v == nil {
				return InvalidInput(k, nil, "Mandatory field missing.")
			}
		}
	}
	if t := reflect.TypeOf(dst).Elem(); t.Kind() != reflect.Map { // a Patch is coerced by ApplyPatch
		if inner, err = coerce(inner, t, b.envelope); err != nil {
			return err
		}
	}
	raw, err := json.Marshal(inner)
	if err != nil {
		return fmt.Errorf("encode request body: %w", err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return typeError(err)
	}
	return nil
}

// checkShape reports the first object (depth first) with attributes its
// shape does not allow, naming it by WSME's dotted argument path.
func checkShape(m map[string]any, s shape, path string) error {
	if unknown := unknownKeys(m, s); len(unknown) > 0 {
		return unknownAttrs(path, unknown)
	}
	for k, v := range m {
		sub := s[k]
		if sub == nil {
			continue
		}
		var items []any
		switch x := v.(type) {
		case map[string]any:
			items = []any{x}
		case []any:
			items = x
		}
		for _, it := range items {
			if o, ok := it.(map[string]any); ok {
				if err := checkShape(o, sub, path+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func unknownKeys(m map[string]any, s shape) []string {
	var out []string
	for k := range m {
		if _, ok := s[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func unknownAttrs(arg string, names []string) *Error {
	noun := "attribute"
	if len(names) > 1 {
		noun = "attributes"
	}
	return Errorf(http.StatusBadRequest, "Unknown %s for argument %s: %s", noun, arg, strings.Join(names, ", "))
}

// typeError turns a JSON type mismatch into WSME's message naming the
// attribute.
func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if i := strings.LastIndexByte(field, '.'); i >= 0 {
			field = field[i+1:]
		}
		return InvalidInput(field, te.Value, "Value should be "+kindNoun(te.Type))
	}
	return Errorf(http.StatusBadRequest, "Request is not in valid JSON format")
}

func kindNoun(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "string" // WSME's wording
	case reflect.Slice:
		return "a list"
	default:
		return "a dict"
	}
}

// Patch is the attributes of a PUT body, raw. Absent attributes keep their
// value; null resets one to its default, as Octavia does.
type Patch map[string]json.RawMessage

// ApplyPatch overlays p on *obj (an octavia model struct) through its JSON
// form: present attributes replace, converted as WSME would (coerce), and
// null ones are removed so that SetDefaults fills them in again. On error
// *obj is unchanged.
func ApplyPatch[T any](obj *T, p Patch) error {
	cur, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode object for update: %w", err)
	}
	doc, err := decodeJSON(cur)
	if err != nil {
		return fmt.Errorf("decode object for update: %w", err)
	}
	m, _ := doc.(map[string]any)
	changes := map[string]any{}
	for k, v := range p {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(m, k)
			continue
		}
		if changes[k], err = decodeJSON(v); err != nil {
			return fmt.Errorf("decode attribute %s: %w", k, err)
		}
	}
	if _, err := coerce(changes, reflect.TypeFor[T](), ""); err != nil {
		return err
	}
	maps.Copy(m, changes)
	merged, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode updated object: %w", err)
	}
	var fresh T
	if err := json.Unmarshal(merged, &fresh); err != nil {
		return typeError(err)
	}
	*obj = fresh
	return nil
}

// decodeJSON decodes a JSON document keeping numbers as json.Number, so
// that coerce sees them as written.
func decodeJSON(data []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}
