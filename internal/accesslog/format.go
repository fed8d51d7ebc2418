package accesslog

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// AmphoraFormat is Octavia's default [haproxy_amphora] user_log_format, the
// line the amphora's HAProxy writes for each connection or request:
//
//	project_id lb_id listener_id client_ip client_port date "request line"
//	status bytes_sent bytes_uploaded client_cert_verify "client_cert_dn"
//	pool_id:listener_id member_id total_ms termination_state
//
// As Octavia does for TCP listeners, the request line and the status are
// written "-" on a TCP record.
const AmphoraFormat = "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"

// Format is a compiled HAProxy log-format string: Append writes a record
// with it and allocates nothing.
//
// It takes HAProxy's variables that mean something for lbd (%ci %cp %fi %fp
// %f %ft %b %s %si %sp %t %tr %T %Tl %Ts %ms %r %HM %HU %HP %HV %ST %B %U
// %TR %Tq %Tw %Tc %Tr %Ta %Tt %Th %Ti %ts %tsc %H %pid, and %% for a
// percent sign), the options {+Q} (quote) and {+X} (hexadecimal), the
// TLS sample fetches (%[ssl_c_verify], %[ssl_c_s_dn], %[ssl_fc_protocol]
// and the like: empty for a connection without TLS), Octavia's {{ project_id }} and
// {{ lb_id }}, and lbd's {{ lb_name }}, {{ listener_name }},
// {{ pool_name }} and {{ member_name }}. An empty value is written "-"
// ("" when quoted).
type Format struct {
	ops      []op
	hostname string
	pid      string
	source   string
}

type opKind uint8

const (
	opLiteral opKind = iota
	opClientIP
	opClientPort
	opFrontendIP
	opFrontendPort
	opFrontend
	opBackend
	opServer
	opServerIP
	opServerPort
	opDate      // %t, %tr: local, with milliseconds
	opDateGMT   // %T
	opDateLocal // %Tl
	opTimestamp // %Ts
	opMillis    // %ms
	opRequest   // %r
	opMethod    // %HM
	opURI       // %HU
	opPath      // %HP
	opVersion   // %HV
	opStatus    // %ST
	opBytesOut  // %B
	opBytesIn   // %U
	opTR
	opTw
	opTc
	opTr
	opTa
	opTt
	opZero // %Th, %Ti: no handshake or idle time is measured apart
	opTermination
	opTerminationCookie
	opHostname
	opPid
	opFetch // a sample fetch (o.lit names it)
	opProjectID
	opLBID
	opLBName
	opListenerName
	opPoolName
	opMemberName
)

type op struct {
	kind  opKind
	quote bool
	hex   bool
	lit   string
}

var variables = map[string]opKind{
	"ci": opClientIP, "cp": opClientPort, "fi": opFrontendIP, "fp": opFrontendPort,
	"f": opFrontend, "ft": opFrontend, "b": opBackend, "s": opServer, "si": opServerIP, "sp": opServerPort,
	"t": opDate, "tr": opDate, "T": opDateGMT, "Tl": opDateLocal, "Ts": opTimestamp, "ms": opMillis,
	"r": opRequest, "HM": opMethod, "HU": opURI, "HP": opPath, "HV": opVersion,
	"ST": opStatus, "B": opBytesOut, "U": opBytesIn,
	"TR": opTR, "Tq": opTR, "Tw": opTw, "Tc": opTc, "Tr": opTr, "Ta": opTa, "Tt": opTt, "Th": opZero, "Ti": opZero,
	"ts": opTermination, "tsc": opTerminationCookie, "H": opHostname, "pid": opPid,
}

// fetches are the sample fetches a format may name: Record.TLS's.
var fetches = map[string]bool{
	"ssl_c_verify": true, "ssl_c_s_dn": true, "ssl_c_i_dn": true, "ssl_c_used": true, "ssl_c_sha1": true,
	"ssl_c_notbefore": true, "ssl_c_notafter": true, "ssl_fc": true, "ssl_fc_protocol": true,
	"ssl_fc_cipher": true, "ssl_fc_sni": true,
}

var templates = map[string]opKind{
	"project_id": opProjectID, "lb_id": opLBID, "lb_name": opLBName, "listener_name": opListenerName,
	"pool_name": opPoolName, "member_name": opMemberName,
}

// ParseFormat compiles a log-format string. It fails on a variable, option
// or sample fetch it does not know, naming it.
func ParseFormat(s string) (*Format, error) {
	f := &Format{source: s, pid: strconv.Itoa(os.Getpid())}
	f.hostname, _ = os.Hostname()
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, op{kind: opLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == ' ':
			lit.WriteByte(' ') // HAProxy's escaped space
			i += 2
		case c == '{' && strings.HasPrefix(s[i:], "{{"):
			end := strings.Index(s[i:], "}}")
			if end < 0 {
				return nil, fmt.Errorf("log format %q: %q has no closing }}", s, s[i:])
			}
			name := strings.TrimSpace(s[i+2 : i+end])
			kind, ok := templates[name]
			if !ok {
				return nil, fmt.Errorf("log format %q: unknown template variable {{ %s }} (known: project_id, lb_id, lb_name, listener_name, pool_name, member_name)", s, name)
			}
			flush()
			f.ops = append(f.ops, op{kind: kind})
			i += end + 2
		case c == '%':
			if i+1 < len(s) && s[i+1] == '%' {
				lit.WriteByte('%')
				i += 2
				continue
			}
			o, n, err := parseVariable(s[i+1:])
			if err != nil {
				return nil, fmt.Errorf("log format %q: %w", s, err)
			}
			flush()
			f.ops = append(f.ops, o)
			i += 1 + n
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return f, nil
}

// parseVariable reads what follows a '%': options in braces, then a
// variable name or a sample fetch in brackets. It returns the op and the
// bytes it read.
func parseVariable(s string) (op, int, error) {
	var o op
	n := 0
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return o, 0, fmt.Errorf("%%%s: options have no closing }", s)
		}
		for _, opt := range strings.Split(s[1:end], ",") {
			switch opt {
			case "+Q":
				o.quote = true
			case "+X":
				o.hex = true
			case "-Q", "-X", "+E", "-E", "":
			default:
				return o, 0, fmt.Errorf("%%{%s}: unknown option %q (known: +Q, +X, +E)", s[1:end], opt)
			}
		}
		n = end + 1
		s = s[end+1:]
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return o, 0, fmt.Errorf("%%[%s: sample fetch has no closing ]", s[1:])
		}
		name := s[1:end]
		if !fetches[name] {
			return o, 0, fmt.Errorf("sample fetch %%[%s] is not supported (lbd knows the client-certificate fetches only, ssl_c_verify and the like)", name)
		}
		o.kind, o.lit = opFetch, name
		return o, n + end + 1, nil
	}
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	// The longest known name wins: %Tt before %T, %tsc before %ts.
	for ; end > 0; end-- {
		if kind, ok := variables[s[:end]]; ok {
			o.kind = kind
			return o, n + end, nil
		}
	}
	return o, 0, fmt.Errorf("%%%s: unknown variable", firstWord(s))
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " %"); i >= 0 {
		return s[:i]
	}
	return s
}

// String is the format string the Format was compiled from.
func (f *Format) String() string { return f.source }

// Append writes r as one line (without its newline) to dst.
func (f *Format) Append(dst []byte, r *Record) []byte {
	for i := range f.ops {
		o := &f.ops[i]
		if o.kind == opLiteral {
			dst = append(dst, o.lit...)
			continue
		}
		dst = f.appendOp(dst, o, r)
	}
	return dst
}

func (f *Format) appendOp(dst []byte, o *op, r *Record) []byte {
	http := r.Flavour == HTTP
	switch o.kind {
	case opClientIP:
		return appendAddr(dst, r.Client, o.quote)
	case opClientPort:
		return appendPort(dst, r.Client, o)
	case opFrontendIP:
		return appendAddr(dst, r.Frontend, o.quote)
	case opFrontendPort:
		return appendPort(dst, r.Frontend, o)
	case opFrontend:
		return appendString(dst, r.Listener.ID, o.quote)
	case opBackend:
		if r.Pool.ID == "" {
			return appendString(dst, r.Listener.ID, o.quote)
		}
		if o.quote {
			dst = append(dst, '"')
		}
		dst = appendEscaped(dst, r.Pool.ID)
		dst = append(dst, ':')
		dst = appendEscaped(dst, r.Listener.ID)
		if o.quote {
			dst = append(dst, '"')
		}
		return dst
	case opServer:
		if r.Member.ID == "" {
			return appendString(dst, "<NOSRV>", o.quote)
		}
		return appendString(dst, r.Member.ID, o.quote)
	case opServerIP:
		return appendAddr(dst, r.MemberAddr, o.quote)
	case opServerPort:
		return appendPort(dst, r.MemberAddr, o)
	case opDate:
		return closeQuote(r.Accepted.AppendFormat(openQuote(dst, o.quote), "02/Jan/2006:15:04:05.000"), o.quote)
	case opDateGMT:
		return closeQuote(r.Accepted.UTC().AppendFormat(openQuote(dst, o.quote), "02/Jan/2006:15:04:05 -0700"), o.quote)
	case opDateLocal:
		return closeQuote(r.Accepted.AppendFormat(openQuote(dst, o.quote), "02/Jan/2006:15:04:05 -0700"), o.quote)
	case opTimestamp:
		return appendInt(dst, r.Accepted.Unix(), o)
	case opMillis:
		ms := r.Accepted.Nanosecond() / int(time.Millisecond)
		dst = openQuote(dst, o.quote)
		dst = append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		return closeQuote(dst, o.quote)
	case opRequest:
		if !http {
			return append(dst, '-')
		}
		line := r.Request()
		if len(line) == 0 {
			return appendString(dst, "<BADREQ>", o.quote)
		}
		return closeQuote(appendEscaped(openQuote(dst, o.quote), line), o.quote)
	case opMethod, opURI, opPath, opVersion:
		if !http {
			return append(dst, '-')
		}
		return appendRequestPart(dst, r.Request(), o)
	case opStatus:
		if !http {
			return append(dst, '-')
		}
		if r.Status == 0 {
			return appendInt(dst, -1, o)
		}
		return appendInt(dst, int64(r.Status), o)
	case opBytesOut:
		return appendInt(dst, r.BytesOut, o)
	case opBytesIn:
		return appendInt(dst, r.BytesIn, o)
	case opTR:
		if !http {
			return appendInt(dst, -1, o)
		}
		return appendMillis(dst, r.WaitRequest, o)
	case opTw:
		if r.Connect == NoTime && r.Member.ID == "" {
			return appendInt(dst, -1, o)
		}
		return appendInt(dst, 0, o)
	case opTc:
		return appendMillis(dst, r.Connect, o)
	case opTr:
		return appendMillis(dst, r.Response, o)
	case opTa, opTt:
		return appendMillis(dst, r.Total, o)
	case opZero:
		return appendInt(dst, 0, o)
	case opTermination:
		return closeQuote(append(openQuote(dst, o.quote), r.Termination[:]...), o.quote)
	case opTerminationCookie:
		// lbd sets no persistence cookie: HAProxy writes "--" for those.
		return closeQuote(append(openQuote(dst, o.quote), r.Termination[0], r.Termination[1], '-', '-'), o.quote)
	case opHostname:
		return appendString(dst, f.hostname, o.quote)
	case opPid:
		return appendString(dst, f.pid, o.quote)
	case opFetch:
		return appendString(dst, r.TLS.fetch(o.lit), o.quote)
	case opProjectID:
		return appendString(dst, r.ProjectID, o.quote)
	case opLBID:
		return appendString(dst, r.LoadBalancer.ID, o.quote)
	case opLBName:
		return appendString(dst, r.LoadBalancer.Name, o.quote)
	case opListenerName:
		return appendString(dst, r.Listener.Name, o.quote)
	case opPoolName:
		return appendString(dst, r.Pool.Name, o.quote)
	case opMemberName:
		return appendString(dst, r.Member.Name, o.quote)
	}
	return dst
}

func openQuote(dst []byte, q bool) []byte {
	if q {
		return append(dst, '"')
	}
	return dst
}

func closeQuote(dst []byte, q bool) []byte { return openQuote(dst, q) }

// appendString writes s escaped, "-" when empty and unquoted.
func appendString[T string | []byte](dst []byte, s T, quote bool) []byte {
	if !quote {
		if len(s) == 0 {
			return append(dst, '-')
		}
		return appendEscaped(dst, s)
	}
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped writes s with what would break a log line (control bytes,
// bytes above 0x7e, '"' and '#') as HAProxy writes them: '#' and two hex
// digits.
func appendEscaped[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '#' {
			dst = append(dst, '#', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func appendInt(dst []byte, v int64, o *op) []byte {
	dst = openQuote(dst, o.quote)
	if o.hex && v >= 0 {
		dst = append(dst, "0x"...)
		dst = strconv.AppendUint(dst, uint64(v), 16)
	} else {
		dst = strconv.AppendInt(dst, v, 10)
	}
	return closeQuote(dst, o.quote)
}

func appendMillis(dst []byte, d time.Duration, o *op) []byte {
	if d < 0 {
		return appendInt(dst, -1, o)
	}
	return appendInt(dst, d.Milliseconds(), o)
}

// appendAddr writes an address's IP, "-" when there is no address.
func appendAddr(dst []byte, ap netip.AddrPort, quote bool) []byte {
	if !ap.IsValid() {
		return appendString(dst, "", quote)
	}
	dst = openQuote(dst, quote)
	dst = ap.Addr().Unmap().AppendTo(dst)
	return closeQuote(dst, quote)
}

// appendPort writes an address's port, "-" when there is no address.
func appendPort(dst []byte, ap netip.AddrPort, o *op) []byte {
	if !ap.IsValid() {
		return appendString(dst, "", o.quote)
	}
	return appendInt(dst, int64(ap.Port()), o)
}

// appendRequestPart writes one part of the request line: the method, the
// URI, the path (the URI without its query) or the version.
func appendRequestPart(dst []byte, line []byte, o *op) []byte {
	method, rest := cut(line)
	uri, version := cut(rest)
	var part []byte
	switch o.kind {
	case opMethod:
		part = method
	case opURI:
		part = uri
	case opPath:
		part = uri
		for i, c := range part {
			if c == '?' {
				part = part[:i]
				break
			}
		}
	case opVersion:
		part = version
	}
	return appendString(dst, part, o.quote)
}

func cut(b []byte) (before, after []byte) {
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}
