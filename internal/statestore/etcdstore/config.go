package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config says where the etcd cluster is and how to talk to it.
type Config struct {
	// Endpoints are the cluster's client addresses, host:port.
	Endpoints []string
	// Prefix is the root of every key lbd writes ("/lbd"): the desired
	// state under Prefix/state/, the instances under Prefix/members/ and
	// Prefix/instances/, locks under Prefix/locks/.
	Prefix string

	// TLS: on when any of these is set or the URL's scheme is etcds. As
	// etcdctl's --cacert, --cert, --key and --insecure-skip-tls-verify.
	TLS                bool
	CACert             string
	Cert, Key          string
	InsecureSkipVerify bool
	// Username and Password authenticate (etcdctl's --user and
	// --password); empty: no authentication.
	Username, Password string

	// DialTimeout bounds the first connection. Default 5 s.
	DialTimeout time.Duration
	// RequestTimeout bounds one request (a commit, a page of a load).
	// Default 5 s (etcdctl's --command-timeout).
	RequestTimeout time.Duration
	// MaxTxnOps and MaxRequestBytes are the server's --max-txn-ops and
	// --max-request-bytes: whole-state changes larger than that are
	// committed in several transactions. Defaults are etcd's: 128 and
	// 1.5 MiB.
	MaxTxnOps       int
	MaxRequestBytes int

	// Dialer, when set, opens the connections to the endpoints (tests
	// reach etcd in a network namespace with it).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
}

// DefaultPrefix is the key prefix of an etcd URL without a path.
const DefaultPrefix = "/lbd"

// ParseURL reads lbd's --state value for etcd:
// etcd://HOST:PORT[,HOST:PORT...]/PREFIX, or etcds:// for TLS. The rest
// of Config (certificates, credentials) comes from flags.
func ParseURL(s string) (Config, error) {
	var c Config
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		return c, fmt.Errorf("%q: not a URL (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)", s)
	case scheme == "etcds":
		c.TLS = true
	case scheme != "etcd":
		return c, fmt.Errorf("%q: scheme %q is not etcd or etcds", s, scheme)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if strings.ContainsAny(hosts, "@?#") {
		return c, fmt.Errorf("%q: credentials and options go in flags (--etcd-user, --etcd-cacert...), not in the URL", s)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return c, fmt.Errorf("%q: endpoint %q is not HOST:PORT", s, h)
		}
		c.Endpoints = append(c.Endpoints, h)
	}
	path, err := url.PathUnescape(path)
	if err != nil {
		return c, fmt.Errorf("%q: prefix: %w", s, err)
	}
	c.Prefix = "/" + strings.Trim(path, "/")
	if c.Prefix == "/" {
		c.Prefix = DefaultPrefix
	}
	return c, nil
}

// URL renders the configuration as ParseURL reads it.
func (c Config) URL() string {
	scheme := "etcd"
	if c.tlsOn() {
		scheme = "etcds"
	}
	return scheme + "://" + strings.Join(c.Endpoints, ",") + c.Prefix
}

func (c Config) tlsOn() bool {
	return c.TLS || c.CACert != "" || c.Cert != "" || c.Key != "" || c.InsecureSkipVerify
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = 128
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 1536 * 1024
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Prefix = "/" + strings.Trim(c.Prefix, "/")
	return c
}

// tlsConfig builds the client's TLS configuration, nil for plain text.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.tlsOn() {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd CA certificate: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA certificate %s: no PEM certificate in it", c.CACert)
		}
	}
	switch {
	case c.Cert != "" && c.Key != "":
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	case c.Cert != "" || c.Key != "":
		return nil, errors.New("etcd client certificate: give both the certificate and its key (--etcd-cert and --etcd-key)")
	}
	return t, nil
}
