package l7

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
	"testing"

	"lbd/internal/proxy/http1"
)

// FuzzMatch: for any request the parser accepts and any rule, Match never
// panics and agrees with a plain reference written with the strings
// package (split, trim, lower), which reads HAProxy's fetches the obvious
// way: the path before '?', every comma-separated value of every named
// field, every cookie of every Cookie field.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("GET /api/x?y HTTP/1.1\r\nHost: Example.com\r\nX-A: a, b\r\nCookie: s=1; t=2\r\n\r\n"), uint8(0), uint8(1), "X-A", "/api", false)
	f.Add([]byte("GET http://h/p.png HTTP/1.1\r\nHost: h\r\n\r\n"), uint8(2), uint8(4), "", "png", true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a,b\r\nCookie: =x;s=\r\n\r\n"), uint8(4), uint8(4), "s", "", false)
	f.Add([]byte("GET /%7e HTTP/1.1\r\nHost: x\r\nX-A:\r\n\r\n"), uint8(3), uint8(0), "x-a", "^$", false)
	f.Fuzz(func(t *testing.T, raw []byte, fetch, cmp uint8, key, value string, invert bool) {
		var h http1.Head
		if h.ReadHead(bufio.NewReader(bytes.NewReader(raw))) != nil || h.ParseRequest() != nil {
			return
		}
		rc := RuleConfig{Fetch: Fetch(fetch % 5), Compare: Compare(cmp % 5), Key: key, Value: value, Invert: invert}
		if rc.Fetch == FileType && rc.Compare != Regex {
			rc.Compare = EqualTo
		}
		tab, err := Compile([]PolicyConfig[int]{{ID: "p", Action: ToPool, Rules: []RuleConfig{rc}}})
		if err != nil {
			return // a pattern RE2 refuses: validation refuses it before
		}
		got := tab.Match(&h, nil) != nil
		if want := reference(&h, rc) != rc.Invert; got != want {
			t.Fatalf("rule %+v on %q: Match %v, reference %v", rc, raw, got, want)
		}
	})
}

// reference evaluates one rule the plain way.
func reference(h *http1.Head, rc RuleConfig) bool {
	v := Unquote(rc.Value)
	fold := rc.Fetch == HostName
	var re *regexp.Regexp
	if rc.Compare == Regex {
		pat := v
		if fold {
			pat = "(?i)" + pat
		}
		re = regexp.MustCompile(pat)
	}
	test := func(s string) bool {
		if rc.Compare == Regex {
			return re.MatchString(s)
		}
		a, b := s, v
		if fold {
			a, b = asciiLower(a), asciiLower(b)
		}
		switch rc.Compare {
		case StartsWith:
			return strings.HasPrefix(a, b)
		case EndsWith:
			return strings.HasSuffix(a, b)
		case Contains:
			return strings.Contains(a, b)
		}
		return a == b
	}
	target := string(h.Target)
	path := target
	if !strings.HasPrefix(target, "/") {
		_, rest, ok := strings.Cut(target, "://")
		i := strings.Index(rest, "/")
		if !ok || i < 0 || strings.Index(target, "://") == 0 {
			path = ""
		} else {
			path = rest[i:]
		}
	}
	path, _, _ = strings.Cut(path, "?")
	fields := func(name string) []string {
		var out []string
		for i := range h.NumFields() {
			n, val := h.Field(i)
			if strings.EqualFold(string(n), name) {
				out = append(out, string(val))
			}
		}
		return out
	}
	values := func(name string) []string {
		var out []string
		for _, f := range fields(name) {
			for _, p := range strings.Split(f, ",") {
				out = append(out, strings.Trim(p, " \t"))
			}
		}
		return out
	}
	switch rc.Fetch {
	case Path:
		return path != "" && test(path)
	case FileType:
		if path == "" {
			return false
		}
		if rc.Compare == Regex {
			return test(path)
		}
		return strings.HasSuffix(path, v)
	case HostName:
		for _, s := range values("host") {
			if test(s) {
				return true
			}
		}
	case Header:
		for _, s := range values(rc.Key) {
			if test(s) {
				return true
			}
		}
	case Cookie:
		for _, f := range fields("cookie") {
			left := len(f)
			for _, c := range strings.Split(f, ";") {
				if left <= len(rc.Key)+1 {
					break // HAProxy's extraction stops there
				}
				left -= len(c) + 1
				name, val, ok := strings.Cut(strings.Trim(c, " \t"), "=")
				if ok && strings.Trim(name, " \t") == rc.Key && test(strings.Trim(val, " \t")) {
					return true
				}
			}
		}
	}
	return false
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
