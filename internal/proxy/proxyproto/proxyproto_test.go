package proxyproto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParseV1(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Header
		n    int
		err  error
	}{
		{"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /", Header{Version: 1, Src: netip.MustParseAddrPort("192.0.2.1:56324"), Dst: netip.MustParseAddrPort("198.51.100.2:443")}, 45, nil},
		{"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", Header{Version: 1, Src: netip.MustParseAddrPort("[2001:db8::1]:1"), Dst: netip.MustParseAddrPort("[::1]:65535")}, 36, nil},
		{"PROXY UNKNOWN whatever\r\nX", Header{Version: 1, Local: true}, 24, nil},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443", Header{}, 0, ErrIncomplete},
		{"PROX", Header{}, 0, ErrIncomplete},
		{"PROXY TCP4 ::1 ::1 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 1.2.3.4. 1.2.3.4 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 256.2.3.4 1.2.3.4 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 192.0.2.1  198.51.100.2 1 443\r\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n", Header{}, 0, ErrMalformed},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 1 443 x\r\n", Header{}, 0, ErrMalformed},
		{"PROXY UDP4 192.0.2.1 198.51.100.2 1 443\r\n", Header{}, 0, ErrMalformed},
		{"GET / HTTP/1.1\r\n", Header{}, 0, ErrNotProxy},
	} {
		h, n, err := Parse([]byte(c.in))
		if !errors.Is(err, c.err) || h != c.want || n != c.n {
			t.Errorf("%q: %+v %d %v, want %+v %d %v", c.in, h, n, err, c.want, c.n, c.err)
		}
	}
	long := append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 120)...)
	if _, _, err := Parse(long); !errors.Is(err, ErrMalformed) {
		t.Errorf("a line past 107 bytes: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct{ src, dst string }{
		{"192.0.2.1:40000", "198.51.100.2:80"},
		{"[2001:db8::7]:1", "[2001:db8::8]:443"},
		{"192.0.2.1:5", "[2001:db8::8]:443"}, // mixed: sent as IPv6
	} {
		src, dst := netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst)
		for _, v := range []int{1, 2} {
			var b []byte
			if v == 1 {
				b = AppendV1(nil, src, dst)
			} else {
				b = AppendV2(nil, src, dst, &SSL{ALPN: "h2", Cert: true, CertConn: true, Version: "TLSv1.3", CN: "client"})
			}
			b = append(b, "payload"...)
			h, n, err := Parse(b)
			if err != nil || string(b[n:]) != "payload" {
				t.Fatalf("v%d %s: %v, rest %q", v, c.src, err, b[n:])
			}
			if h.Src.Addr().Unmap() != src.Addr().Unmap() || h.Src.Port() != src.Port() || h.Dst.Addr().Unmap() != dst.Addr().Unmap() || h.Version != v {
				t.Errorf("v%d: %+v, want %s -> %s", v, h, src, dst)
			}
		}
	}
}

func TestParseV2(t *testing.T) {
	base := AppendV2(nil, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), nil)
	local := append([]byte(nil), base...)
	local[12] = 0x20
	if h, n, err := Parse(local); err != nil || !h.Local || n != len(local) {
		t.Errorf("LOCAL: %+v %d %v", h, n, err)
	}
	for name, mut := range map[string]func(b []byte) []byte{
		"version 1 in a v2 header": func(b []byte) []byte { b[12] = 0x11; return b },
		"command 2":                func(b []byte) []byte { b[12] = 0x22; return b },
		"unknown family":           func(b []byte) []byte { b[13] = 0x41; return b },
		"short addresses":          func(b []byte) []byte { b[15] = 4; return b[:20] },
		"broken TLV":               func(b []byte) []byte { b[15] = 14; return append(b, 0x20, 0) },
		"too long":                 func(b []byte) []byte { b[14], b[15] = 0xff, 0xff; return b },
		"UDP peer":                 func(b []byte) []byte { b[13] = 0x12; return b },
	} {
		if _, _, err := Parse(mut(append([]byte(nil), base...))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	if _, _, err := Parse(base[:20]); !errors.Is(err, ErrIncomplete) {
		t.Errorf("cut short: %v", err)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	v2 := AppendV2(nil, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), nil)
	if n := testing.AllocsPerRun(100, func() { Parse(v2) }); n != 0 {
		t.Errorf("v2: %.1f allocations", n)
	}
	v1 := AppendV1(nil, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"))
	if n := testing.AllocsPerRun(100, func() { Parse(v1) }); n != 0 {
		t.Errorf("v1 over IPv4: %.1f allocations", n)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		AppendV2(buf[:0], netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), nil)
	}); n != 0 {
		t.Errorf("AppendV2: %.1f allocations", n)
	}
}

func BenchmarkParseV1(b *testing.B) {
	in := []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
	b.ReportAllocs()
	for range b.N {
		Parse(in)
	}
}

func BenchmarkParseV2(b *testing.B) {
	in := AppendV2(nil, netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("198.51.100.2:443"), nil)
	b.ReportAllocs()
	for range b.N {
		Parse(in)
	}
}

// FuzzParse: Parse never panics; what it accepts it accepts whole (the
// count is within the input, the bytes after it are left), an accepted
// header written again with AppendV1 or AppendV2 parses to the same
// addresses, and a prefix of an accepted header is ErrIncomplete.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nrest"))
	f.Add([]byte("PROXY TCP6 ::1 ::2 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(AppendV2(nil, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), &SSL{CN: "x"}))
	f.Add(AppendV2(nil, netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::2]:2"), nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := Parse(in)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with count %d", err, n)
			}
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("count %d of %d bytes", n, len(in))
		}
		for cut := 1; cut < n; cut += 7 {
			if _, _, err := Parse(in[:cut]); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("prefix of %d bytes of an accepted header: %v", cut, err)
			}
		}
		if h.Local {
			return
		}
		for _, out := range [][]byte{AppendV1(nil, h.Src, h.Dst), AppendV2(nil, h.Src, h.Dst, nil)} {
			g, m, err := Parse(out)
			if err != nil || m != len(out) || g.Src.Addr().Unmap() != h.Src.Addr().Unmap() || g.Src.Port() != h.Src.Port() ||
				g.Dst.Addr().Unmap() != h.Dst.Addr().Unmap() || g.Dst.Port() != h.Dst.Port() {
				t.Fatalf("%+v written as %q reads %+v %v", h, out, g, err)
			}
		}
	})
}
