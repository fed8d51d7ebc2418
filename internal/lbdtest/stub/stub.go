// Package stub has members for tests and benchmarks that cost almost nothing.
//
// Only tests and benchmarks import it. It must not import any lbd package.
package stub

import (
	"bufio"
	"net"
	"testing"
)

// FixedServer starts a member that answers every request on its keep-alive
// connections with resp, as soon as the request's head has arrived, and
// allocates nothing per request: a stand-in for nginx so cheap that a
// benchmark against it measures what sits in front. Requests must have no
// body. It stops when the test ends; it returns its address.
func FixedServer(tb testing.TB, resp []byte) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for { // a request without a body ends with an empty line
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
