package metrics_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/lbdtest/pki"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// tlsEnv is a runtime serving one TERMINATED_HTTPS listener with a
// certificate expiring at notAfter.
type tlsEnv struct {
	rt      *proxy.Runtime
	handler http.Handler
	cfg     *octavia.Config
	ca      *pki.CA
	leaf    *pki.Cert
	ref     string
	addr    string
}

func startTLS(t *testing.T, notAfter time.Time) *tlsEnv {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	member, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "a"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ca := pki.NewCA(t, "metrics ca")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com", NotAfter: notAfter})
	ref := pki.Write(t, t.TempDir(), "www.pem", leaf.BundlePEM())
	port := freePort(t)
	cfg, err := octavia.Parse("tls.yaml", fmt.Appendf(nil, `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: https
        protocol: TERMINATED_HTTPS
        protocol_port: %d
        default_tls_container_ref: %s
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: a, address: 127.0.0.1, protocol_port: %d}
`, port, ref, portOf(member.Addr())))
	if err != nil {
		t.Fatal(err)
	}
	rt := proxy.New(log, proxy.Options{})
	h := metrics.Handler(rt, metrics.Options{})
	if err := rt.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return &tlsEnv{rt: rt, handler: h, cfg: cfg, ca: ca, leaf: leaf, ref: ref, addr: fmt.Sprintf("127.0.0.1:%d", port)}
}

// TestTLSFamilies: handshakes by version, ALPN and failure reason, and
// the expiry of each certificate a TERMINATED_HTTPS listener serves.
func TestTLSFamilies(t *testing.T) {
	e := startTLS(t, time.Date(2031, 5, 17, 12, 0, 0, 0, time.UTC))
	ca, leaf, ref, addr, cfg, h := e.ca, e.leaf, e.ref, e.addr, e.cfg, e.handler
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "www.example.com", RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
	}
	// Plain HTTP to the TLS port fails its handshake.
	c, _ := net.Dial("tcp", addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadAll(c)
	c.Close()

	id := cfg.LoadBalancers[0].Listeners[0].ID
	fams := scrape(t, h)
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"lbd_tls_handshakes_total", map[string]string{"listener": id, "version": "TLSv1.3"}, 2},
		{"lbd_tls_handshakes_total", map[string]string{"listener": id, "version": "TLSv1.2"}, 0},
		{"lbd_tls_alpn_negotiated_total", map[string]string{"listener": id, "protocol": "h2"}, 1},
		{"lbd_tls_alpn_negotiated_total", map[string]string{"listener": id, "protocol": "http/1.1"}, 1},
		{"lbd_tls_handshake_failures_total", map[string]string{"listener": id, "reason": "not_tls"}, 1},
		{"lbd_tls_certificate_not_after_seconds", map[string]string{"listener": id, "ref": ref, "cn": "www.example.com"}, float64(leaf.Cert.NotAfter.Unix())},
		{"octavia_listener_http_requests_total", map[string]string{"listener": id}, 2},
	} {
		if got := value(t, fams, c.family, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
}

// TestCertificateExpiryAlert: a real Prometheus with configs/lbd-alerts.yml
// scrapes lbd serving a certificate that expires in ten days, and the
// alert a month ahead goes pending (it fires after its hour).
func TestCertificateExpiryAlert(t *testing.T) {
	bin := tool(t, "prometheus")
	e := startTLS(t, time.Now().Add(10*24*time.Hour))
	target := httpServer(t, e.handler)
	dir := t.TempDir()
	rules, err := filepath.Abs("../../configs/lbd-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	promPort := freePort(t)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: lbd
    static_configs: [{targets: ["%s"]}]
`, rules, strings.TrimPrefix(target, "http://"))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	id := e.cfg.LoadBalancers[0].Listeners[0].ID
	q := fmt.Sprintf(`ALERTS{alertname="LbdCertificateExpiresSoon",alertstate="pending",listener=%q,cn="www.example.com"}`, id)
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", promPort, url.QueryEscape(q))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v, err := promQuery(api); err == nil && v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pending LbdCertificateExpiresSoon alert\nprometheus logs:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond) // Prometheus evaluates every second
	}
	// The week-ahead alert stays quiet for a certificate ten days out.
	q = `ALERTS{alertname="LbdCertificateExpiresVerySoon"}`
	if v, err := promQuery(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", promPort, url.QueryEscape(q))); err == nil {
		t.Errorf("LbdCertificateExpiresVerySoon is %v for a certificate ten days out", v)
	}
}
