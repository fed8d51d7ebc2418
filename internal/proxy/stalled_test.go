package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/accesslog"
)

// stalledHarness is a listener with the given timeouts in front of a
// member that streams an endless response to GET /endless, sends 102
// Processing every 20 ms, and never a final response, to GET /interim,
// and 103 Early Hints as fast as it can to GET /flood.
func stalledHarness(t *testing.T, clientMS, memberMS int) (*Runtime, string) {
	member, _ := rawMember(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		switch strings.Fields(line)[1] {
		case "/endless":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
			chunk := strings.Repeat("x", 64<<10)
			for {
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
		case "/flood":
			for {
				if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"); err != nil {
					return
				}
			}
		case "/interim":
			for {
				if _, err := io.WriteString(c, "HTTP/1.1 102 Processing\r\n\r\n"); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond) // the member's pace
			}
		}
	})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member},
		Extra: fmt.Sprintf("timeout_client_data: %d\n        timeout_member_data: %d", clientMS, memberMS)}))
	return rt, fmt.Sprintf("127.0.0.1:%d", p)
}

// TestClientThatStopsReadingIsCut: clients that stop reading a large
// response are cut after timeout_client_data (300 ms here) without a byte
// taken, not after timeout_member_data (20 s), which is the member's: the
// write side of a spliced body has the client's idle timeout, as the read
// side has. (Issue 18: none of 50 such clients was cut within 20 s.)
func TestClientThatStopsReadingIsCut(t *testing.T) {
	rt, addr := stalledHarness(t, 300, 20000)
	const clients = 20
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 4096)
			if _, err := c.Read(buf); err != nil {
				t.Error(err)
			}
			// And no more reads: lbd fills the socket buffers and stalls.
			deadline := time.Now().Add(10 * time.Second)
			for activeConns(rt) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	took := time.Since(start)
	if n := activeConns(rt); n != 0 {
		t.Fatalf("%d of %d clients that stopped reading still connected after %v", n, clients, took)
	}
	// The socket buffers fill first (a few MiB each on loopback), then the
	// timeout runs.
	if took > 5*time.Second {
		t.Errorf("clients that stopped reading cut after %v, want about timeout_client_data (300ms) after the buffers filled", took)
	}
	t.Logf("%d clients that stopped reading cut within %v", clients, took.Round(time.Millisecond))
}

// TestInterimResponsesBoundedByMemberTimeout: a member that sends 102
// Processing forever, every 20 ms, holds the client no longer than
// timeout_member_data (500 ms here): the client gets the interim
// responses, then 504, as from a member that sends nothing. (HAProxy
// relays them forever: each one resets its timeout server.)
func TestInterimResponsesBoundedByMemberTimeout(t *testing.T) {
	_, addr := stalledHarness(t, 5000, 500)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.WriteString(c, "GET /interim HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	interim := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d interim responses and %v: %v", interim, time.Since(start), err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 102 ") {
			interim++
			br.ReadString('\n') // the empty line
			continue
		}
		if !strings.HasPrefix(line, "HTTP/1.1 504 ") {
			t.Fatalf("final response %q after %d interim responses, want 504", line, interim)
		}
		break
	}
	took := time.Since(start)
	if took < 400*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("504 after %v, want about timeout_member_data (500ms)", took)
	}
	if interim == 0 {
		t.Error("no interim response relayed")
	}
	t.Logf("504 after %d interim responses and %v", interim, took.Round(time.Millisecond))
}

// TestInterimFloodBounded: a member that sends interim responses as fast
// as it can gets maxInterim of them relayed, then its client a 502, long
// before timeout_member_data (5 s here).
func TestInterimFloodBounded(t *testing.T) {
	_, addr := stalledHarness(t, 5000, 5000)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.WriteString(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	interim := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d interim responses and %v: %v", interim, time.Since(start), err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 103 ") {
			interim++
			continue
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") {
			if !strings.HasPrefix(line, "HTTP/1.1 502 ") {
				t.Fatalf("final response %q after %d interim responses, want 502", line, interim)
			}
			break
		}
	}
	if interim != maxInterim {
		t.Errorf("%d interim responses relayed, want %d", interim, maxInterim)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("502 after %v", took)
	}
}

// TestBridgeTerminationNamesTheSide: a tunnel's termination state names the
// peer whose side failed: the one a direction reads from, or the one it
// writes to when the write failed (a peer that stopped reading), its
// timeout in lower case.
func TestBridgeTerminationNamesTheSide(t *testing.T) {
	write := func(err error) error { return fmt.Errorf("%w: %w", errCopyWrite, err) }
	tests := []struct {
		name     string
		up, down error
		want     accesslog.Termination
	}{
		{"client idle", errIdle, nil, accesslog.Term(accesslog.CauseClientTimeout, accesslog.PhaseData)},
		{"member stopped reading", write(errIdle), nil, accesslog.Term(accesslog.CauseServerTimeout, accesslog.PhaseData)},
		{"member idle", nil, errIdle, accesslog.Term(accesslog.CauseServerTimeout, accesslog.PhaseData)},
		{"client stopped reading", nil, write(errIdle), accesslog.Term(accesslog.CauseClientTimeout, accesslog.PhaseData)},
		{"client reset", io.ErrUnexpectedEOF, nil, accesslog.Term(accesslog.CauseClient, accesslog.PhaseData)},
		{"write to the client failed", nil, write(io.ErrClosedPipe), accesslog.Term(accesslog.CauseClient, accesslog.PhaseData)},
		{"write to the member failed", write(io.ErrClosedPipe), nil, accesslog.Term(accesslog.CauseServer, accesslog.PhaseData)},
		{"both ended", nil, nil, accesslog.Normal},
	}
	for _, tt := range tests {
		if got := bridgeTermination(tt.up, tt.down); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
