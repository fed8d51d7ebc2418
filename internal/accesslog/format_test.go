package accesslog

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The expected lines below are what HAProxy 2.6 (Debian 12) wrote, with
// Octavia's default user_log_format as the amphora renders it, for the
// same exchanges (a GET answered 404, a TCP connection, a request to a
// member that refused the connection, a malformed request); project and
// load balancer IDs stand in for Octavia's substitutions.

var accepted = time.Date(2026, time.December, 3, 20, 35, 30, 75_000_000, time.UTC)

func httpRecord() *Record {
	r := &Record{}
	r.Reset(HTTP, accepted)
	r.ProjectID = "proj"
	r.LoadBalancer = Object{ID: "lbid", Name: "web-lb"}
	r.Listener = Object{ID: "11111111-1111-1111-1111-111111111111", Name: "listener1"}
	r.Pool = Object{ID: "22222222-2222-2222-2222-222222222222", Name: "pool1"}
	r.Member = Object{ID: "33333333-3333-3333-3333-333333333333", Name: "server1"}
	r.MemberAddr = netip.MustParseAddrPort("127.0.0.1:15081")
	r.Client = netip.MustParseAddrPort("127.0.0.1:60082")
	r.Frontend = netip.MustParseAddrPort("127.0.0.1:15080")
	r.SetRequest([]byte("GET"), []byte(`/a%22b?x="y`), []byte("HTTP/1.1"))
	r.Status = 404
	r.BytesOut, r.BytesIn = 500, 92
	r.WaitRequest, r.Connect, r.Response, r.Total = 0, time.Millisecond, 3*time.Millisecond, 2025*time.Millisecond
	return r
}

func amphora(t *testing.T) *Format {
	t.Helper()
	f, err := ParseFormat(AmphoraFormat)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAmphoraFormatMatchesHAProxy(t *testing.T) {
	f := amphora(t)
	tcp := &Record{}
	tcp.Reset(TCP, time.Date(2026, time.December, 3, 20, 35, 32, 162_000_000, time.UTC))
	tcp.ProjectID = "proj"
	tcp.LoadBalancer.ID = "lbid"
	tcp.Listener.ID, tcp.Pool.ID, tcp.Member.ID = "tcp1", "tcpb", "m1"
	tcp.Client = netip.MustParseAddrPort("127.0.0.1:60782")
	tcp.BytesOut, tcp.BytesIn = 502, 79
	tcp.Connect, tcp.Total = 0, 3*time.Millisecond

	refused := httpRecord()
	refused.Listener.ID, refused.Pool.ID, refused.Member.ID = "dead", "deadb", "m1"
	refused.Client = netip.MustParseAddrPort("127.0.0.1:59008")
	refused.Accepted = time.Date(2026, time.December, 3, 20, 35, 32, 220_000_000, time.UTC)
	refused.SetRequestString("GET / HTTP/1.1")
	refused.Status, refused.BytesOut, refused.BytesIn = 503, 217, 82
	refused.Total = 3025 * time.Millisecond
	refused.Termination = Term(CauseServer, PhaseConnect)

	bad := httpRecord()
	bad.Pool, bad.Member = Object{}, Object{}
	bad.Client = netip.MustParseAddrPort("127.0.0.1:46242")
	bad.Accepted = time.Date(2026, time.December, 3, 20, 35, 41, 232_000_000, time.UTC)
	bad.SetRequestString("")
	bad.Status, bad.BytesOut, bad.BytesIn, bad.Total = 400, 0, 0, 0
	bad.Termination = Term(CauseProxy, PhaseRequest)

	for _, c := range []struct {
		name string
		r    *Record
		want string
	}{
		{"http", httpRecord(), `proj lbid 11111111-1111-1111-1111-111111111111 127.0.0.1 60082 03/Dec/2026:20:35:30.075 "GET /a%22b?x=#22y HTTP/1.1" 404 500 92 - "" 22222222-2222-2222-2222-222222222222:11111111-1111-1111-1111-111111111111 33333333-3333-3333-3333-333333333333 2025 ----`},
		{"tcp", tcp, `proj lbid tcp1 127.0.0.1 60782 03/Dec/2026:20:35:32.162 - - 502 79 - "" tcpb:tcp1 m1 3 ----`},
		{"refused", refused, `proj lbid dead 127.0.0.1 59008 03/Dec/2026:20:35:32.220 "GET / HTTP/1.1" 503 217 82 - "" deadb:dead m1 3025 SC--`},
		{"bad request", bad, `proj lbid 11111111-1111-1111-1111-111111111111 127.0.0.1 46242 03/Dec/2026:20:35:41.232 "<BADREQ>" 400 0 0 - "" 11111111-1111-1111-1111-111111111111 <NOSRV> 0 PR--`},
	} {
		if got := string(f.Append(nil, c.r)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestEveryVariable: each variable writes its field of the record.
func TestEveryVariable(t *testing.T) {
	r := httpRecord()
	r.Termination = Term(CauseClient, PhaseData)
	tcp := httpRecord()
	tcp.Flavour = TCP
	none := &Record{}
	none.Reset(HTTP, accepted)
	for _, c := range []struct {
		format string
		r      *Record
		want   string
	}{
		{"%ci:%cp", r, "127.0.0.1:60082"},
		{"%fi:%fp", r, "127.0.0.1:15080"},
		{"%ci %cp %fi", none, "- - -"},
		{"%f %ft", r, "11111111-1111-1111-1111-111111111111 11111111-1111-1111-1111-111111111111"},
		{"%b", r, "22222222-2222-2222-2222-222222222222:11111111-1111-1111-1111-111111111111"},
		{"%s %si %sp", r, "33333333-3333-3333-3333-333333333333 127.0.0.1 15081"},
		{"%s %si", none, "<NOSRV> -"},
		{"%t", r, "03/Dec/2026:20:35:30.075"},
		{"%T", r, "03/Dec/2026:20:35:30 +0000"},
		{"%Ts.%ms", r, "1796330130.075"},
		{"%r", r, `GET /a%22b?x=#22y HTTP/1.1`},
		{"%{+Q}r", tcp, `-`},
		{"%HM %HU %HP %HV", r, `GET /a%22b?x=#22y /a%22b HTTP/1.1`},
		{"%ST %B %U", r, "404 500 92"},
		{"%ST %B %U", tcp, "- 500 92"},
		{"%ST", none, "-1"},
		{"%{+X}B", r, "0x1f4"},
		{"%TR/%Tw/%Tc/%Tr/%Ta", r, "0/0/1/3/2025"},
		{"%TR/%Tw/%Tc/%Tr/%Tt", none, "-1/-1/-1/-1/-1"},
		{"%Th %Ti", r, "0 0"},
		{"%ts %tsc %{+Q}ts", r, `CD CD-- "CD"`},
		{"%[ssl_c_verify] %{+Q}[ssl_c_s_dn]", r, `- ""`},
		{"{{ project_id }} {{lb_id}} {{ lb_name }} {{ listener_name }} {{ pool_name }} {{ member_name }}", r, "proj lbid web-lb listener1 pool1 server1"},
		{"{{ member_name }} {{ project_id }}", none, "- -"},
		{`100%% a\ b`, r, "100% a b"},
		{"%{+Q}f", r, `"11111111-1111-1111-1111-111111111111"`},
	} {
		f, err := ParseFormat(c.format)
		if err != nil {
			t.Errorf("%s: %v", c.format, err)
			continue
		}
		if got := string(f.Append(nil, c.r)); got != c.want {
			t.Errorf("%s: got %q, want %q", c.format, got, c.want)
		}
	}
}

func TestEscaping(t *testing.T) {
	r := httpRecord()
	r.SetRequestString("GET /x\r\nInjected: 1 HTTP/1.1")
	r.Listener.ID = "a\"b#c\x7f"
	f, _ := ParseFormat("%f %{+Q}r")
	want := `a#22b#23c#7F "GET /x#0D#0AInjected: 1 HTTP/1.1"`
	if got := string(f.Append(nil, r)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRequestLineCut(t *testing.T) {
	r := &Record{}
	long := strings.Repeat("a", 3000)
	r.SetRequest([]byte("GET"), []byte("/"+long), []byte("HTTP/1.1"))
	line := string(r.Request())
	if len(line) != MaxRequestLine || !strings.HasPrefix(line, "GET /aaa") || !strings.HasSuffix(line, " HTTP/1.1") {
		t.Errorf("cut line: %d bytes, %.20q...%q", len(line), line, line[len(line)-12:])
	}
	r.SetRequest([]byte(long), []byte("/"), []byte(long))
	if len(r.Request()) > MaxRequestLine {
		t.Errorf("method and version too long: %d bytes", len(r.Request()))
	}
}

func TestParseFormatErrors(t *testing.T) {
	for format, want := range map[string]string{
		"%f %Zz":              "%Zz: unknown variable",
		"%[req.hdr(host)]":    "sample fetch %[req.hdr(host)] is not supported",
		"{{ tenant }}":        "unknown template variable {{ tenant }}",
		"{{ lb_id ":           "has no closing }}",
		"%{+Z}r":              `unknown option "+Z"`,
		"%[ssl_c_verify":      "no closing ]",
		"%{+Q":                "no closing }",
		AmphoraFormat + " %x": "%x: unknown variable",
	} {
		_, err := ParseFormat(format)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", format, err, want)
		}
	}
}

func TestFormatAllocatesNothing(t *testing.T) {
	f := amphora(t)
	r := httpRecord()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], r) }); n != 0 {
		t.Errorf("Append allocates %v times a line", n)
	}
}
