package ha_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lbd/internal/ha"
)

func TestFlags(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	env := map[string]string{"LBD_ETCD_PASSWORD": "from-env"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		args  []string
		err   string
		check func(t *testing.T, o ha.Options)
	}{
		{args: nil, check: func(t *testing.T, o ha.Options) {
			if o.Etcd.Endpoints != nil || o.VRRP != nil {
				t.Errorf("no --state: %+v", o)
			}
		}},
		{args: []string{"--vrrp-interface", "eth0"}, err: "--vrrp-interface needs --state etcd://"},
		{args: []string{"--state", "/var/lib/lbd"}, err: "--state: \"/var/lib/lbd\": not a URL"},
		{args: []string{"--state", "etcds://10.0.0.1:2379,10.0.0.2:2379/prod", "--etcd-cacert", "ca.pem", "--etcd-user", "lbd:pw", "--instance-name", "vm1"},
			check: func(t *testing.T, o ha.Options) {
				e := o.Etcd
				if strings.Join(e.Endpoints, ",") != "10.0.0.1:2379,10.0.0.2:2379" || e.Prefix != "/prod" || !e.TLS || e.CACert != "ca.pem" ||
					e.Username != "lbd" || e.Password != "pw" || o.Name != "vm1" || o.VRRP != nil {
					t.Errorf("options %+v", o)
				}
			}},
		{args: []string{"--state", "etcd://h:1/p", "--etcd-user", "lbd", "--etcd-password-file", pwFile},
			check: func(t *testing.T, o ha.Options) {
				if o.Etcd.Password != "from-file" {
					t.Errorf("password %q, want the file's first line", o.Etcd.Password)
				}
			}},
		{args: []string{"--state", "etcd://h:1/p", "--etcd-user", "lbd"},
			check: func(t *testing.T, o ha.Options) {
				if o.Etcd.Password != "from-env" {
					t.Errorf("password %q, want LBD_ETCD_PASSWORD's", o.Etcd.Password)
				}
			}},
		{args: []string{"--state", "etcd://h:1/p", "--heartbeat-interval", "5s", "--heartbeat-timeout", "6s"}, err: "at least twice --heartbeat-interval"},
		{args: []string{"--state", "etcd://h:1/p", "--instance-name", "a/b"}, err: "--instance-name \"a/b\""},
		{args: []string{"--state", "etcd://h:1/p", "--vrrp-interface", "eth0", "--vrrp-id", "256"}, err: "--vrrp-id 256"},
		{args: []string{"--state", "etcd://h:1/p", "--vrrp-interface", "eth0"}, check: func(t *testing.T, o ha.Options) {
			v := o.VRRP
			// Octavia's [keepalived_vrrp] defaults.
			if v == nil || v.RouterID != 1 || v.AdvertInt.Seconds() != 1 || v.CheckInterval.Seconds() != 5 || v.Fall != 2 || v.Rise != 2 ||
				v.GARPRefresh.Seconds() != 5 || v.GARPRefreshRepeat != 2 {
				t.Errorf("VRRP defaults %+v", v)
			}
		}},
	} {
		var f ha.Flags
		fs := flag.NewFlagSet("lbd", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o, err := f.Options(getenv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		tc.check(t, o)
	}
}
