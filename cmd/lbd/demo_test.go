package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunDemoSurvivesAMemberDying runs scripts/run-demo.sh (make run) on
// ports of its own and kills one demo server, as a newcomer does to see
// health checks: lbd keeps serving, the script shows the member go ERROR,
// starts the server again and shows it back ONLINE; it prints lbd's PID
// and a reload command with it, which works; Ctrl-C stops everything.
func TestRunDemoSurvivesAMemberDying(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("run-demo.sh needs curl: make test installs it (scripts/ensure-deps.sh)")
	}
	bin := t.TempDir()
	if err := os.Symlink(binary(t), filepath.Join(bin, "lbd")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "lbctl"), "../lbctl").CombinedOutput(); err != nil {
		t.Fatalf("go build lbctl: %v\n%s", err, out)
	}
	dir := t.TempDir()
	port, s1, s2, tlsPort := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "demo.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`loadbalancers:
  - name: lb1
    vip_address: 127.0.0.1
    listeners:
      - name: listener1
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: pool1
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 1, max_retries_down: 1, url_path: /}
          members:
            - {name: server1, address: 127.0.0.1, protocol_port: %d}
            - {name: server2, address: 127.0.0.1, protocol_port: %d}
`, port, s1, s2)), 0o644)

	cmd := exec.Command("bash", "../../scripts/run-demo.sh")
	cmd.Env = append(os.Environ(), "CONFIG="+cfg, fmt.Sprintf("LISTEN=127.0.0.1:%d", port),
		fmt.Sprintf("SERVER1=127.0.0.1:%d", s1), fmt.Sprintf("SERVER2=127.0.0.1:%d", s2),
		fmt.Sprintf("HTTPS=127.0.0.1:%d", tlsPort),
		"BIN="+bin, "STATE_DIR="+filepath.Join(dir, "state"), "LBD_ARGS=--api-addr= --admin-addr=127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's process group, for Ctrl-C
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	lines := make(chan string, 100)
	var out syncBuffer
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(lines)
	}()
	// expect waits for a line of the script's output matching re.
	expect := func(re string) []string {
		t.Helper()
		r := regexp.MustCompile(re)
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the demo ended before printing %q\noutput:\n%s\nlbd's log:\n%s", re, out.String(), logs.String())
				}
				if m := r.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("the demo never printed %q\noutput:\n%s\nlbd's log:\n%s", re, out.String(), logs.String())
			}
		}
	}
	banner := expect(`^lbd \(PID (\d+)\) is balancing .* server2 \(127\.0\.0\.1:\d+, PID (\d+)\)`)
	lbdPID, server2PID := banner[1], banner[2]
	reloadCmd := expect(`^Reload after editing .*:  (kill -HUP (\d+))$`)
	if reloadCmd[2] != lbdPID {
		t.Errorf("the reload command signals %s, lbd is %s", reloadCmd[2], lbdPID)
	}
	expect(`^Press Ctrl-C to stop\.`)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	get := func() string {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	if out, err := exec.Command("kill", server2PID).CombinedOutput(); err != nil {
		t.Fatalf("kill server2: %v %s", err, out)
	}
	expect(`^==> server2 \(.*PID ` + server2PID + `\) stopped`)
	expect(`^==> lbd: member server2 \(127\.0\.0\.1:\d+\) is ERROR`)
	for i := range 4 {
		if got := get(); !strings.Contains(got, "from server1") {
			t.Errorf("request %d with server2 down: %q", i, got)
		}
	}
	expect(`^==> starting server2 again \(PID \d+\)`)
	expect(`^==> lbd: member server2 \(127\.0\.0\.1:\d+\) is ONLINE again`)
	seen := map[string]bool{}
	for range 4 {
		seen[strings.TrimSpace(get())] = true
	}
	if !seen["Hello World! from server1"] || !seen["Hello World! from server2"] {
		t.Errorf("after server2 came back: %v", seen)
	}

	// The HTTPS listener, with its self-signed certificate, balances
	// HTTP/1.1 and HTTP/2 requests alike.
	for _, h2 := range []bool{false, true} {
		seen := map[string]bool{}
		for range 4 {
			seen[httpsGet(t, fmt.Sprintf("https://127.0.0.1:%d/", tlsPort), h2)] = true
		}
		proto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if !seen["Hello World! from server1 "+proto] || !seen["Hello World! from server2 "+proto] {
			t.Errorf("HTTPS (HTTP/2: %v): %v", h2, seen)
		}
	}

	// The printed reload command reaches this lbd.
	if out, err := exec.Command("sh", "-c", reloadCmd[1]).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", reloadCmd[1], err, out)
	}
	waitLog(t, &logs, `"msg":"reloaded"`)

	// Ctrl-C: the terminal sends SIGINT to the whole process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Ctrl-C did not stop the demo\noutput:\n%s", out.String())
	}
	if !strings.Contains(logs.String(), `"msg":"lbd stopped"`) {
		t.Errorf("lbd did not drain and stop:\n%s", logs.String())
	}
	var pid int
	fmt.Sscan(lbdPID, &pid)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("lbd (PID %d) still runs after Ctrl-C", pid)
	}
}

// httpsGet fetches url over TLS without verifying the certificate (curl
// -k), in HTTP/2 when h2, and returns the body and the protocol spoken.
func httpsGet(t *testing.T, url string, h2 bool) string {
	t.Helper()
	var p http.Protocols
	p.SetHTTP1(!h2)
	p.SetHTTP2(h2)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: &p, DisableKeepAlives: !h2}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)) + " " + resp.Proto
}
