package api

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// coerce converts the attribute values of a decoded request body (numbers
// as json.Number) to the JSON types of t's fields the way WSME's fromjson
// does, so that lbd accepts what Octavia accepts: integers given as strings
// ("80", " 81 ", "8_2"), as floats (truncated) or as booleans; booleans
// given as integers or as one of WSME's unambiguous strings ("yes", "1",
// "off", ...); floats given as strings. Whatever WSME would refuse, or
// answer with a 500, is a 400 naming the attribute, its value and the rule.
// Maps and slices are converted in place; the converted value is returned.
func coerce(v any, t reflect.Type, field string) (any, error) {
	if v == nil {
		return nil, nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, InvalidInput(field, pyText(v), "Value should be a dict")
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			x, ok := m[name]
			if !ok || !f.IsExported() {
				continue
			}
			c, err := coerce(x, f.Type, name)
			if err != nil {
				return nil, err
			}
			m[name] = c
		}
		return m, nil
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, InvalidInput(field, pyText(v), "Value should be a dict")
		}
		for k, x := range m {
			c, err := coerce(x, t.Elem(), field)
			if err != nil {
				// Octavia shows the whole dict as the value.
				return nil, InvalidInput(field, pyText(v), "Value should be "+kindNoun(t.Elem()))
			}
			m[k] = c
		}
		return m, nil
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return nil, InvalidInput(field, pyText(v), "Value should be a list")
		}
		for i, x := range list {
			c, err := coerce(x, t.Elem(), field)
			if err != nil {
				return nil, err
			}
			list[i] = c
		}
		return list, nil
	case reflect.Bool:
		return coerceBool(v, field)
	case reflect.Int, reflect.Int64, reflect.Int32:
		return coerceInt(v, field)
	case reflect.Float64, reflect.Float32:
		return coerceFloat(v, field)
	case reflect.String:
		if _, ok := v.(string); !ok {
			return nil, InvalidInput(field, pyText(v), "Value should be "+kindNoun(t))
		}
	}
	return v, nil
}

// jsonName is the name encoding/json gives a struct field.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// WSME's unambiguous booleans (wsme/rest/json.py ENUM_TRUE and ENUM_FALSE):
// exact, lower-case strings.
var (
	boolTrue  = []string{"true", "t", "yes", "y", "on", "1"}
	boolFalse = []string{"false", "f", "no", "n", "off", "0"}
)

func coerceBool(v any, field string) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		if n, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return n != 0, nil
		}
	case string:
		if slices.Contains(boolTrue, x) {
			return true, nil
		}
		if slices.Contains(boolFalse, x) {
			return false, nil
		}
	}
	return nil, InvalidInput(field, pyText(v), "Value not an unambiguous boolean: "+pyText(v))
}

func coerceInt(v any, field string) (any, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return json.Number("1"), nil
		}
		return json.Number("0"), nil
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return x, nil
		}
		// Python's int() of a float truncates it.
		if f, err := x.Float64(); err == nil && math.Abs(f) < math.MaxInt64 { // false for NaN too
			return json.Number(strconv.FormatInt(int64(f), 10)), nil
		}
	case string:
		if n, ok := pyInt(x); ok {
			return json.Number(strconv.FormatInt(n, 10)), nil
		}
	}
	return nil, InvalidInput(field, pyText(v), "Value should be an integer")
}

// pyInt parses s as Python's int() does in base 10: surrounding white
// space, an optional sign, and digits that single underscores may separate.
func pyInt(s string) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' || strings.Contains(digits, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-len(digits)]+strings.ReplaceAll(digits, "_", ""), 10, 64)
	return n, err == nil
}

func coerceFloat(v any, field string) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return x, nil
	case bool:
		if x {
			return json.Number("1"), nil
		}
		return json.Number("0"), nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimFunc(x, unicode.IsSpace), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
	}
	return nil, InvalidInput(field, pyText(v), "Value should be a number")
}

// pyText renders a JSON value as Octavia's messages show it (Python's
// str()): strings bare, booleans as True and False, the rest as JSON.
func pyText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
