package controlplane

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"lbd/internal/octavia"
)

// TestCloneLBIsTheJSONRoundTrip: cloneLB gives what the JSON round trip it
// replaced gave, for a graph with every field set (and, in a second
// graph, every slice and map empty), and shares nothing with the original.
func TestCloneLBIsTheJSONRoundTrip(t *testing.T) {
	for _, empty := range []bool{false, true} {
		var lb octavia.LoadBalancer
		n := 0
		fill(reflect.ValueOf(&lb).Elem(), &n, empty, 0)
		data, err := json.Marshal(&lb)
		if err != nil {
			t.Fatal(err)
		}
		var want octavia.LoadBalancer
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, err := cloneLB(&lb)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &want) {
			g, _ := json.Marshal(got)
			t.Errorf("empty=%v: cloneLB differs from the JSON round trip:\n got %s\nwant %s", empty, g, data)
		}
		if !empty && len(got.Pools) == 0 {
			t.Fatal("the filled graph has no pools")
		}
		if p := shared(reflect.ValueOf(got).Elem(), reflect.ValueOf(&lb).Elem(), "lb"); p != "" {
			t.Errorf("empty=%v: the copy shares %s with the original", empty, p)
		}
	}
}

// fill sets every exported field of v: strings, numbers and booleans to
// values that differ from field to field, pointers to filled values, slices
// and maps to two filled elements (none when empty).
func fill(v reflect.Value, n *int, empty bool, depth int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 8 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n, empty, depth+1)
		v.Set(p)
	case reflect.Slice:
		k := 2
		if empty || depth > 8 {
			k = 0
		}
		s := reflect.MakeSlice(v.Type(), k, k)
		for i := range k {
			fill(s.Index(i), n, empty, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		if !empty {
			for range 2 {
				k := reflect.New(v.Type().Key()).Elem()
				fill(k, n, empty, depth+1)
				e := reflect.New(v.Type().Elem()).Elem()
				fill(e, n, empty, depth+1)
				m.SetMapIndex(k, e)
			}
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n, empty, depth+1)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(*n%2 == 0)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	}
}

// shared names a pointer, slice or map of a that is b's too, "" if none.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && unsafe.Pointer(a.Index(0).Addr().Pointer()) == unsafe.Pointer(b.Index(0).Addr().Pointer()) {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		if !a.IsNil() && !b.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}
