package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSystemdUnitHA: configs/lbd-ha.service (docs/ha.md) runs lbd with
// the network capabilities keepalived needs and no others, lets keepalived
// send VRRP and gratuitous ARPs, keeps Debian's keepalived.service off,
// and gives lbd only flags it has; systemd-analyze verifies it where
// installed.
func TestSystemdUnitHA(t *testing.T) {
	const path = "../../configs/lbd-ha.service"
	u := parseUnit(t, path)
	svc := "Service"
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		caps := strings.Fields(u.one(t, svc, k))
		slices.Sort(caps)
		if !slices.Equal(caps, []string{"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}) {
			t.Errorf("[Service] %s=%v, want exactly CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_NET_RAW", k, caps)
		}
	}
	if af := strings.Fields(u.one(t, svc, "RestrictAddressFamilies")); !slices.Contains(af, "AF_PACKET") || !slices.Contains(af, "AF_NETLINK") {
		t.Errorf("RestrictAddressFamilies=%v: keepalived needs AF_PACKET (gratuitous ARP) and AF_NETLINK (addresses)", af)
	}
	if c := u.one(t, "Unit", "Conflicts"); c != "keepalived.service" {
		t.Errorf("[Unit] Conflicts=%q: Debian's keepalived.service must not run beside the one lbd runs", c)
	}
	argv := strings.Fields(u.one(t, svc, "ExecStart"))
	helpOut, _ := exec.Command(binary(t), "--help").CombinedOutput()
	help := string(helpOut)
	flags := map[string]string{}
	for i := 1; i < len(argv); i++ {
		name := strings.TrimLeft(argv[i], "-")
		if !strings.Contains(help, "  -"+name+" ") && !strings.Contains(help, "  -"+name+"\n") {
			t.Errorf("ExecStart flag --%s: lbd has no such flag", name)
		}
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			flags[name] = argv[i+1]
			i++
		}
	}
	for _, f := range []string{"state", "vrrp-interface", "instance-name", "keepalived-dir", "admin-addr", "token-file"} {
		if flags[f] == "" {
			t.Errorf("ExecStart lacks --%s", f)
		}
	}
	if !strings.HasPrefix(flags["keepalived-dir"], "/run/"+u.one(t, svc, "RuntimeDirectory")+"/") {
		t.Errorf("--keepalived-dir %q is not under the RuntimeDirectory", flags["keepalived-dir"])
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed (%v): the unit's keys were checked above only", err)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "lbd-ha.service")
	os.WriteFile(local, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/lbd", binary(t))), 0o644)
	if out, err := exec.Command(analyze, "verify", "--man=no", local).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
