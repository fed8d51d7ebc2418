package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
)

// maxBodyRead is how much of a response body a probe reads before it closes
// the connection: enough for a small status page, never a download. HAProxy's
// check buffer is 16 KiB as well.
const maxBodyRead = 16 << 10

// HTTPChecker sends one HTTP request on a fresh connection and passes when
// the response's status code is in Expect (Octavia types HTTP and HTTPS).
//
// The request is written by hand rather than through net/http's client, so
// that "HTTP/1.0" really goes on the wire when Version is 1.0 (net/http only
// speaks 1.1), as HAProxy's "option httpchk" sends it. The body is read up to
// 16 KiB and the connection is then closed: a probe never reuses a connection.
//
// A Monitor's prober does a plain HTTP check (TLS false) itself, inline on
// a non-blocking socket, and calls Check only for HTTPS and zoned addresses
// (httpprobe.go): the same request, the same parsing and verdict, but the
// connection reset once the response head is in, as HAProxy closes its
// checks.
type HTTPChecker struct {
	Timeouts
	// TLS makes this an HTTPS check: a TLS handshake without certificate
	// verification, like HAProxy's "check-ssl verify none".
	TLS bool
	// Method is the request method; empty means GET.
	Method string
	// Path is the request target; empty means "/".
	Path string
	// Version is "1.0" or "1.1"; empty means 1.0, HAProxy's default when
	// Octavia's http_version is unset.
	Version string
	// Host is the Host header (Octavia's domain_name), also sent as TLS SNI.
	// When empty, an HTTP/1.1 request carries the target address instead,
	// because HTTP/1.1 requires a Host header; HTTP/1.0 requests carry none.
	Host string
	// Expect is the set of passing status codes (Octavia's expected_codes).
	Expect Codes
}

// Check implements Checker.
func (c *HTTPChecker) Check(ctx context.Context, target netip.AddrPort) error {
	conn, done, err := c.dial(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer done()
	if c.TLS {
		tc := tls.Client(conn, &tls.Config{
			InsecureSkipVerify: true, // as Octavia: "check-ssl verify none"
			ServerName:         c.Host,
			MinVersion:         tls.VersionTLS10, // a probe should not fail on an old but working backend
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			return errors.New(describeIOError("tls handshake", err))
		}
		conn = tc
	}
	method := orDefault(c.Method, "GET")
	if _, err := io.WriteString(conn, c.request(method, target)); err != nil {
		return errors.New(describeIOError("send request", err))
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), &http.Request{Method: method})
	if err != nil {
		return c.verdict(nil, err)
	}
	// Read a bounded part of the body so that a server which writes its
	// response in one go is not cut off by a reset; the outcome is decided by
	// the status line alone, as HAProxy's "http-check expect rstatus" does.
	io.CopyN(io.Discard, resp.Body, maxBodyRead)
	resp.Body.Close()
	return c.verdict(resp, nil)
}

// verdict is a check's outcome from what http.ReadResponse returned: its
// error, or the status code against Expect. The prober's inline checks
// (httpprobe.go) and Check share it.
func (c *HTTPChecker) verdict(resp *http.Response, err error) error {
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errors.New("connection closed before a response")
		}
		if _, ok := err.(net.Error); ok || isTimeout(err) {
			return errors.New(describeIOError("response", err))
		}
		return fmt.Errorf("malformed response: %s", rootCause(err))
	}
	if !c.Expect.Contains(resp.StatusCode) {
		return fmt.Errorf("status %d not in %s", resp.StatusCode, c.Expect.String())
	}
	return nil
}

// request renders the request head.
func (c *HTTPChecker) request(method string, target netip.AddrPort) string {
	version := orDefault(c.Version, "1.0")
	host := c.Host
	if host == "" && version != "1.0" {
		host = target.String()
	}
	req := method + " " + orDefault(c.Path, "/") + " HTTP/" + version + "\r\n"
	if host != "" {
		req += "Host: " + host + "\r\n"
	}
	if version != "1.0" {
		req += "Connection: close\r\n"
	}
	return req + "User-Agent: lbd-health-check\r\n\r\n"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
