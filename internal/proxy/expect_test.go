package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExpectContinue: a request with Expect: 100-continue reaches the
// member head first, and its body as soon as the client sends it, whether
// or not the member sends 100 Continue (issue 18: with a member that never
// did, lbd held the body back and the client got 504 after
// timeout_member_data, where HAProxy forwards it and the request
// succeeds). A 100 from the member is relayed; a final answer before the
// body is relayed, and ends both connections.
func TestExpectContinue(t *testing.T) {
	member, _ := rawMember(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
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
		case "/continue":
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		case "/refuse":
			io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
			io.Copy(io.Discard, br)
			return
		}
		body := make([]byte, 5)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n%s", body)
	})
	p := freePort(t)
	startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member},
		Extra: "timeout_member_data: 3000"}))
	ask := func(t *testing.T, target string, waitFor100 bool) (answers []string, took time.Duration) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		start := time.Now()
		io.WriteString(c, "POST "+target+" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		if waitFor100 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for 100 Continue: %v", err)
			}
			answers = append(answers, strings.TrimSpace(line))
			br.ReadString('\n')
		} else {
			// A client's wait for a 100 that does not come (curl's is 1 s).
			time.Sleep(200 * time.Millisecond)
		}
		io.WriteString(c, "hello")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(line, "HTTP/") {
				answers = append(answers, strings.TrimSpace(line))
			}
			if line == "\r\n" && len(answers) > 0 && !strings.HasPrefix(answers[len(answers)-1], "HTTP/1.1 1") {
				break
			}
		}
		return answers, time.Since(start)
	}
	t.Run("member sends no 100", func(t *testing.T) {
		answers, took := ask(t, "/quiet", false)
		if len(answers) != 1 || answers[0] != "HTTP/1.1 200 OK" {
			t.Errorf("answers %q, want 200 OK", answers)
		}
		if took > 2*time.Second {
			t.Errorf("answered after %v: the body waited for a 100 that never came", took)
		}
	})
	t.Run("member sends 100", func(t *testing.T) {
		answers, _ := ask(t, "/continue", true)
		if strings.Join(answers, "|") != "HTTP/1.1 100 Continue|HTTP/1.1 200 OK" {
			t.Errorf("answers %q, want 100 Continue then 200 OK", answers)
		}
	})
	t.Run("member refuses at once", func(t *testing.T) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		// The client gives up on the body, as curl does after a final
		// answer: lbd relays the answer and closes.
		got, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(got), "HTTP/1.1 417 ") || !strings.Contains(string(got), "Connection: close\r\n") {
			t.Errorf("answer %q, want 417 with Connection: close", got)
		}
	})
}
