package keepalived

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is what lbd tells keepalived, as Octavia's amphora agent does
// (octavia/amphorae/drivers/keepalived/jinja/templates/keepalived_base.template):
// one VRRP instance, unicast to the peers, with a check script that makes
// the instance FAULT (and give the VIP up) when lbd's listeners are down.
// Octavia runs one VRRP instance per load balancer on a pair of amphorae
// of its own; lbd's instances serve every ACTIVE_STANDBY load balancer, so
// one VRRP instance carries all of their VIPs, which move together.
type Config struct {
	// Name is this lbd instance (keepalived's router_id).
	Name string
	// Interface carries VRRP and the VIPs.
	Interface string
	// SourceIP is this instance's address on Interface (unicast_src_ip).
	SourceIP string
	// Peers are the other instances' addresses (unicast_peer).
	Peers []string
	// RouterID is VRRP's virtual_router_id (Octavia: 1).
	RouterID int
	// Priority: Octavia's 100 for the MASTER, 90 for the BACKUP.
	Priority int
	// AdvertInt is the advertisement interval (Octavia's
	// [keepalived_vrrp] vrrp_advert_int: 1 s).
	AdvertInt time.Duration
	// AuthPass is the VRRP password (auth_type PASS; at most 8
	// characters, Octavia's are 7 hexadecimal digits).
	AuthPass string
	// VIPs are the addresses keepalived moves.
	VIPs []string
	// Check is the check script's command line; CheckInterval, Fall and
	// Rise its timing (Octavia: 5 s, 2, 2).
	Check         string
	CheckInterval time.Duration
	Fall, Rise    int
	// GARPRefresh and GARPRefreshRepeat: gratuitous ARPs the MASTER sends
	// again (Octavia: every 5 s, 2 at a time).
	GARPRefresh       time.Duration
	GARPRefreshRepeat int
	// ScriptUser runs the check script.
	ScriptUser string
}

// InstanceName is the VRRP instance's name.
const InstanceName = "lbd_vips"

// Render writes the configuration file. Without VIPs it has no VRRP
// instance: keepalived then runs idle.
func (c *Config) Render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by lbd (instance %s); rewritten on every change, do not edit.\n", c.Name)
	b.WriteString("global_defs {\n")
	fmt.Fprintf(&b, "  router_id %s\n", quote(c.Name))
	if c.ScriptUser != "" {
		fmt.Fprintf(&b, "  script_user %s\n", c.ScriptUser)
	}
	// Scripts run only if no one but their owner can replace them.
	b.WriteString("  enable_script_security\n")
	b.WriteString("}\n")
	if len(c.VIPs) == 0 {
		return b.Bytes()
	}
	fmt.Fprintf(&b, "\nvrrp_script lbd_check {\n  script %s\n  interval %s\n  timeout %s\n  fall %d\n  rise %d\n}\n",
		quote(c.Check), seconds(c.CheckInterval), seconds(c.CheckInterval), c.Fall, c.Rise)
	fmt.Fprintf(&b, "\nvrrp_instance %s {\n", InstanceName)
	// No "state": every instance starts BACKUP and priority decides, so
	// that nopreempt holds (Octavia 15's fix of the Zed template, where a
	// returning MASTER took the VIP back).
	fmt.Fprintf(&b, "  interface %s\n", c.Interface)
	fmt.Fprintf(&b, "  virtual_router_id %d\n", c.RouterID)
	fmt.Fprintf(&b, "  priority %d\n", c.Priority)
	b.WriteString("  nopreempt\n  accept\n")
	fmt.Fprintf(&b, "  advert_int %s\n", seconds(c.AdvertInt))
	// A new MASTER sends its gratuitous ARPs at once and a second set
	// garp_master_delay later: keepalived's default (and Octavia's) is
	// 5 s. A client that missed the first set (under load, or within
	// its neighbour table's locktime) kept sending to the dead MASTER's
	// MAC for those 5 s (TestHA/KillMaster: 5.7 s, once in about ten
	// runs on a loaded machine); 1 s bounds that to about 1.7 s.
	b.WriteString("  garp_master_delay 1\n")
	fmt.Fprintf(&b, "  garp_master_refresh %s\n", seconds(c.GARPRefresh))
	fmt.Fprintf(&b, "  garp_master_refresh_repeat %d\n", c.GARPRefreshRepeat)
	fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", c.AuthPass)
	// Unicast, as Octavia's (clouds drop multicast); an instance alone
	// (its peers not registered yet) advertises by multicast until they
	// are, and keepalived refuses unicast without peers.
	if len(c.Peers) > 0 {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n", c.SourceIP)
		b.WriteString("  unicast_peer {\n")
		for _, p := range c.Peers {
			fmt.Fprintf(&b, "    %s\n", p)
		}
		b.WriteString("  }\n")
	}
	same, other := c.families()
	b.WriteString("  virtual_ipaddress {\n")
	for _, v := range same {
		fmt.Fprintf(&b, "    %s dev %s\n", v, c.Interface)
	}
	b.WriteString("  }\n")
	if len(other) > 0 {
		// VRRP advertises one family: the other's VIPs move with it
		// without being advertised.
		b.WriteString("  virtual_ipaddress_excluded {\n")
		for _, v := range other {
			fmt.Fprintf(&b, "    %s dev %s\n", v, c.Interface)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  track_script {\n    lbd_check\n  }\n}\n")
	return b.Bytes()
}

// families splits the VIPs into those of the source address's family and
// the others, each sorted.
func (c *Config) families() (same, other []string) {
	src, _ := netip.ParseAddr(c.SourceIP)
	for _, v := range c.VIPs {
		a, err := netip.ParseAddr(v)
		if err == nil && a.Is4() == src.Is4() {
			same = append(same, v)
		} else {
			other = append(other, v)
		}
	}
	slices.Sort(same)
	slices.Sort(other)
	return same, other
}

// seconds renders a duration as keepalived takes it: decimal seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// quote quotes a string for keepalived's configuration.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
