package ha

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"lbd/internal/statestore/etcdstore"
)

// Flags are lbd's command-line flags for sharing the state (etcd) and for
// ACTIVE_STANDBY (keepalived). Register them, then build Options.
type Flags struct {
	State string

	EtcdCACert, EtcdCert, EtcdKey string
	EtcdInsecureSkipVerify        bool
	EtcdUser, EtcdPasswordFile    string
	EtcdTimeout                   time.Duration
	EtcdMaxTxnOps                 int
	EtcdMaxRequestBytes           int

	Name              string
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration

	VRRPInterface         string
	VRRPIP                string
	VRRPID                int
	VRRPPriority          int
	VRRPAdvertInt         time.Duration
	VRRPCheckInterval     time.Duration
	VRRPFailCount         int
	VRRPSuccessCount      int
	VRRPGARPRefresh       time.Duration
	VRRPGARPRefreshRepeat int
	Keepalived            string
	KeepalivedDir         string
}

// Register adds the flags to fs. Defaults are Octavia's where it has the
// setting ([keepalived_vrrp]).
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.State, "state", "", "share the desired state with other lbd instances in etcd: etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds:// for TLS); instead of --state-dir")
	fs.StringVar(&f.EtcdCACert, "etcd-cacert", "", "CA bundle verifying etcd's certificate (TLS; as etcdctl --cacert)")
	fs.StringVar(&f.EtcdCert, "etcd-cert", "", "client certificate for etcd (as etcdctl --cert)")
	fs.StringVar(&f.EtcdKey, "etcd-key", "", "the client certificate's key (as etcdctl --key)")
	fs.BoolVar(&f.EtcdInsecureSkipVerify, "etcd-insecure-skip-tls-verify", false, "do not verify etcd's certificate (as etcdctl --insecure-skip-tls-verify)")
	fs.StringVar(&f.EtcdUser, "etcd-user", "", "etcd user, NAME or NAME:PASSWORD (as etcdctl --user); the password may come from --etcd-password-file or LBD_ETCD_PASSWORD")
	fs.StringVar(&f.EtcdPasswordFile, "etcd-password-file", "", "file whose first line is the etcd user's password")
	fs.DurationVar(&f.EtcdTimeout, "etcd-timeout", 5*time.Second, "how long one etcd request may take (as etcdctl --command-timeout); an API change waits at most this for etcd")
	fs.IntVar(&f.EtcdMaxTxnOps, "etcd-max-txn-ops", 128, "etcd's --max-txn-ops: larger whole-state changes are stored in several transactions")
	fs.IntVar(&f.EtcdMaxRequestBytes, "etcd-max-request-bytes", 1536*1024, "etcd's --max-request-bytes")
	fs.StringVar(&f.Name, "instance-name", "", "this instance's name among those sharing the state (default: the host name)")
	fs.DurationVar(&f.HeartbeatInterval, "heartbeat-interval", 3*time.Second, "how often this instance reports its members' health and its role to the others")
	fs.DurationVar(&f.HeartbeatTimeout, "heartbeat-timeout", 10*time.Second, "an instance silent for longer is not counted in the shared operating status")
	fs.StringVar(&f.VRRPInterface, "vrrp-interface", "", "interface carrying VRRP and the VIPs of ACTIVE_STANDBY load balancers; set it to run keepalived (needs --state etcd://...)")
	fs.StringVar(&f.VRRPIP, "vrrp-ip", "", "this instance's address on --vrrp-interface, the other instances' unicast peer (default: the interface's first address)")
	fs.IntVar(&f.VRRPID, "vrrp-id", 1, "VRRP virtual_router_id, the same on every instance (Octavia's is 1)")
	fs.IntVar(&f.VRRPPriority, "vrrp-priority", 0, "VRRP priority (default: 100 for the first instance registered, 90 for the others, as Octavia's MASTER and BACKUP)")
	fs.DurationVar(&f.VRRPAdvertInt, "vrrp-advert-int", time.Second, "VRRP advertisement interval (Octavia's vrrp_advert_int)")
	fs.DurationVar(&f.VRRPCheckInterval, "vrrp-check-interval", 5*time.Second, "how often keepalived asks lbd whether its listeners are up (Octavia's vrrp_check_interval)")
	fs.IntVar(&f.VRRPFailCount, "vrrp-fail-count", 2, "failed checks before the instance gives the VIPs up (Octavia's vrrp_fail_count)")
	fs.IntVar(&f.VRRPSuccessCount, "vrrp-success-count", 2, "passed checks before it may take them again (Octavia's vrrp_success_count)")
	fs.DurationVar(&f.VRRPGARPRefresh, "vrrp-garp-refresh", 5*time.Second, "the MASTER sends gratuitous ARPs again this often (Octavia's vrrp_garp_refresh_interval)")
	fs.IntVar(&f.VRRPGARPRefreshRepeat, "vrrp-garp-refresh-count", 2, "gratuitous ARPs per refresh (Octavia's vrrp_garp_refresh_count)")
	fs.StringVar(&f.Keepalived, "keepalived", "keepalived", "keepalived's path or name in PATH")
	fs.StringVar(&f.KeepalivedDir, "keepalived-dir", "/run/lbd/keepalived", "where lbd writes keepalived's configuration and pid files")
}

// Enabled reports whether the flags ask for a shared state.
func (f *Flags) Enabled() bool { return f.State != "" }

// Options builds the options from the flags and the environment (getenv:
// os.Getenv in lbd), checking them.
func (f *Flags) Options(getenv func(string) string) (Options, error) {
	var o Options
	if f.State == "" {
		if f.VRRPInterface != "" {
			return o, errors.New("--vrrp-interface needs --state etcd://...: the instances find their VRRP peers and password there")
		}
		return o, nil
	}
	cfg, err := etcdstore.ParseURL(f.State)
	if err != nil {
		return o, fmt.Errorf("--state: %w", err)
	}
	cfg.CACert, cfg.Cert, cfg.Key, cfg.InsecureSkipVerify = f.EtcdCACert, f.EtcdCert, f.EtcdKey, f.EtcdInsecureSkipVerify
	cfg.RequestTimeout, cfg.MaxTxnOps, cfg.MaxRequestBytes = f.EtcdTimeout, f.EtcdMaxTxnOps, f.EtcdMaxRequestBytes
	if f.EtcdUser != "" {
		user, pass, hasPass := strings.Cut(f.EtcdUser, ":")
		cfg.Username = user
		switch {
		case hasPass:
			cfg.Password = pass
		case f.EtcdPasswordFile != "":
			data, err := os.ReadFile(f.EtcdPasswordFile)
			if err != nil {
				return o, fmt.Errorf("--etcd-password-file: %w", err)
			}
			cfg.Password, _, _ = strings.Cut(strings.TrimSpace(string(data)), "\n")
		default:
			cfg.Password = getenv("LBD_ETCD_PASSWORD")
		}
		if cfg.Password == "" {
			return o, errors.New("--etcd-user without a password: give NAME:PASSWORD, --etcd-password-file or LBD_ETCD_PASSWORD")
		}
	}
	if f.Name == "" {
		f.Name, _ = os.Hostname()
	}
	if f.Name == "" || strings.ContainsAny(f.Name, "/ \t\n") {
		return o, fmt.Errorf("--instance-name %q: want a name without slashes or spaces", f.Name)
	}
	if f.HeartbeatInterval <= 0 || f.HeartbeatTimeout < 2*f.HeartbeatInterval {
		return o, fmt.Errorf("--heartbeat-timeout %s must be at least twice --heartbeat-interval %s", f.HeartbeatTimeout, f.HeartbeatInterval)
	}
	o = Options{Name: f.Name, Etcd: cfg, HeartbeatInterval: f.HeartbeatInterval, HeartbeatTimeout: f.HeartbeatTimeout}
	if f.VRRPInterface == "" {
		return o, nil
	}
	if f.VRRPID < 1 || f.VRRPID > 255 {
		return o, fmt.Errorf("--vrrp-id %d: must be between 1 and 255", f.VRRPID)
	}
	if f.VRRPPriority < 0 || f.VRRPPriority > 254 {
		return o, fmt.Errorf("--vrrp-priority %d: must be between 1 and 254", f.VRRPPriority)
	}
	if f.VRRPAdvertInt < 10*time.Millisecond || f.VRRPCheckInterval < time.Second || f.VRRPFailCount < 1 || f.VRRPSuccessCount < 1 {
		return o, errors.New("--vrrp-advert-int, --vrrp-check-interval (at least 1s), --vrrp-fail-count and --vrrp-success-count must be positive")
	}
	o.VRRP = &VRRPOptions{
		Interface: f.VRRPInterface, IP: f.VRRPIP, RouterID: f.VRRPID, Priority: f.VRRPPriority,
		AdvertInt: f.VRRPAdvertInt, CheckInterval: f.VRRPCheckInterval, Fall: f.VRRPFailCount, Rise: f.VRRPSuccessCount,
		GARPRefresh: f.VRRPGARPRefresh, GARPRefreshRepeat: f.VRRPGARPRefreshRepeat,
		Keepalived: f.Keepalived, Dir: f.KeepalivedDir,
	}
	return o, nil
}
