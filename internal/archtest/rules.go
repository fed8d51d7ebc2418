package archtest

// Rule forbids a package (or a tree of them) to link other packages. It is
// checked over the package's transitive dependencies without its tests, so
// an indirect import breaks it too; tests may import more (a health test
// may wire a balancer).
//
// Patterns are import paths; one ending in "/..." matches that path and
// everything below it, and "*" matches every package outside the standard
// library.
type Rule struct {
	Pkg    string   // the package the rule binds
	Forbid []string // what it must not link
	Except []string // what Forbid does not cover
	Why    string
	// Pending names the work that will make the rule hold; until then a
	// violation is logged, not failed.
	Pending string
}

// dataPlane is every package that forwards traffic or decides member health.
var dataPlane = []string{"lbd/internal/proxy/...", "lbd/internal/balancer", "lbd/internal/health"}

// cloud is the code that talks to a real OpenStack. The Barbican client
// is among it: the data plane and the control plane reach it through
// certs.Fetcher and controlplane.Options.Grant, and only lbd's main links it.
var cloud = []string{"github.com/gophercloud/...", "lbd/internal/octavia/reconcile", "lbd/internal/octavia/cloud", "lbd/internal/certs/barbican"}

// barbicanClient is the one part of gophercloud lbd's main links: its
// Barbican client (certificate refs, as Octavia reads them) and what that
// needs of gophercloud's core and Keystone authentication.
var barbicanClient = []string{
	"lbd/internal/certs/barbican",
	"github.com/gophercloud/gophercloud/v2", "github.com/gophercloud/gophercloud/v2/pagination",
	"github.com/gophercloud/gophercloud/v2/openstack", "github.com/gophercloud/gophercloud/v2/openstack/utils",
	"github.com/gophercloud/gophercloud/v2/openstack/identity/...",
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/...",
}

// testOnly are packages that only tests import.
var testOnly = []string{"lbd/internal/lbdtest/...", "lbd/internal/octavia/peertest", "lbd/internal/netnstest", "lbd/internal/statestore/etcdstore/etcdtest", "lbd/internal/autoscale/autoscaletest"}

// Rules are lbd's import rules.
var Rules = []Rule{
	{Pkg: "lbd/internal/octavia", Forbid: []string{"*"}, Except: []string{"gopkg.in/yaml.v3"},
		Why: "the model every package speaks: the standard library and yaml.v3 only, so nothing it imports can import it back"},
	{Pkg: "lbd/internal/stats", Forbid: []string{"*"},
		Why: "plain atomic counters, read by everyone"},
	{Pkg: "lbd/internal/accesslog", Forbid: []string{"*"},
		Why: "the data plane hands it plain values; it writes them and knows nothing of lbd"},
	{Pkg: "lbd/internal/balancer", Forbid: []string{"*"}, Except: []string{"lbd/internal/stats"},
		Why: "picks members from plain values: no Octavia model, no health checks, no sockets"},
	{Pkg: "lbd/internal/health", Forbid: []string{"lbd/..."}, Except: []string{"lbd/internal/stats"},
		Why: "takes plain values; the proxy translates the model into them and the model validates them"},
	{Pkg: "lbd/internal/proxy/...", Forbid: concat(cloud, []string{"lbd/internal/controlplane", "lbd/internal/octavia/api", "lbd/internal/octavia/auth", "lbd/internal/metrics"}),
		Why: "the data plane: the control plane and the metrics exposition drive and read it, never the other way round"},
	{Pkg: "lbd/internal/proxy/http1", Forbid: []string{"*"},
		Why: "HTTP/1.x heads, bodies and rules, shared by both HTTP engines: no connection, member or configuration"},
	{Pkg: "lbd/internal/proxy/l7", Forbid: []string{"*"}, Except: []string{"lbd/internal/proxy/http1"},
		Why: "L7 matching over a parsed head: no connection, pool or configuration model"},
	{Pkg: "lbd/internal/proxy/stick", Forbid: []string{"*"},
		Why: "a bounded key-to-member-ID table: no member, pool or request"},
	{Pkg: "lbd/internal/proxy/proxyproto", Forbid: []string{"*"},
		Why: "the PROXY protocol's wire format: nothing that runs"},
	{Pkg: "lbd/internal/proxy/evloop", Forbid: []string{"*"},
		Why: "a reactor for sockets: it knows nothing of HTTP, balancers or listeners"},
	{Pkg: "lbd/internal/proxy/tlsterm", Forbid: []string{"lbd/..."}, Except: []string{"lbd/internal/certs"},
		Why: "crypto/tls configurations from plain values: the proxy translates the model into them"},
	{Pkg: "lbd/internal/certs", Forbid: []string{"*"}, Except: []string{"software.sslmate.com/src/go-pkcs12/...", "golang.org/x/crypto/..."},
		Why: "reads certificate material; a remote source (Barbican) comes in as a Fetcher, so the data plane links no cloud client"},
	{Pkg: "lbd/internal/metrics", Forbid: concat(cloud, []string{"lbd/internal/controlplane", "lbd/internal/octavia/api"}),
		Why: "reads the running data plane; knows nothing of the API or the cloud"},
	{Pkg: "lbd/internal/controlplane", Forbid: concat(dataPlane, cloud, []string{"lbd/internal/metrics"}),
		Why: "drives the data plane through octavia.DataPlane only, so the API's state and the data plane stay apart"},
	{Pkg: "lbd/internal/controlplane", Forbid: []string{"go.etcd.io/...", "lbd/internal/statestore/etcdstore/...", "lbd/internal/ha/..."},
		Why: "stores and follows the state through statestore's interfaces: any backend, shared or not"},
	{Pkg: "lbd/internal/statestore/...", Forbid: []string{"lbd/internal/octavia/...", "lbd/internal/controlplane", "lbd/internal/ha/..."},
		Why: "keys and values under revisions: what they mean is the control plane's business"},
	{Pkg: "lbd/internal/ha", Forbid: concat(dataPlane, cloud, []string{"lbd/internal/controlplane", "lbd/internal/octavia/api", "lbd/internal/metrics"}),
		Why: "instances sharing a state: it wraps the data plane through octavia.DataPlane and reads no control plane"},
	{Pkg: "lbd/internal/ha/keepalived", Forbid: []string{"*"},
		Why: "writes keepalived's configuration and runs it: no model, no etcd"},
	{Pkg: "lbd/internal/octavia/api", Forbid: []string{"lbd/..."}, Except: []string{"lbd/internal/octavia", "lbd/internal/octavia/auth", "lbd/internal/buildinfo"},
		Why: "HTTP in front of a Service; it holds no state and reaches no data plane"},
	{Pkg: "lbd/internal/octavia/auth", Forbid: []string{"lbd/..."},
		Why: "who is calling and what they may do; nothing else"},
	{Pkg: "lbd/internal/octavia/reconcile", Forbid: concat(dataPlane, []string{"lbd/internal/controlplane", "lbd/internal/metrics", "lbd/internal/octavia/cloud",
		"github.com/gophercloud/gophercloud/v2/openstack/compute/...", "github.com/gophercloud/gophercloud/v2/openstack/networking/..."}),
		Why: "a client of an Octavia API, wherever it runs: the cloud side links no data plane, and the tree's reconciler no Nova or Neutron"},
	{Pkg: "lbd/internal/octavia/cloud", Forbid: concat(dataPlane, []string{"lbd/internal/controlplane", "lbd/internal/metrics"}),
		Why: "provisions on a real cloud: the cloud side links no data plane"},
	{Pkg: "lbd/cmd/lbd", Forbid: concat(cloud, testOnly, []string{"lbd/internal/bench/...", "lbd/internal/loadgen", "lbd/internal/demo"}),
		Except: barbicanClient,
		Why:    "the daemon links neither gophercloud (but for the Barbican client that reads certificate refs: +0.4 MB) nor the CLI's, benchmarks' or tests' tooling"},
	{Pkg: "lbd/cmd/lbctl", Forbid: []string{"lbd/internal/controlplane", "lbd/internal/octavia/api", "lbd/internal/metrics"},
		Why: "lbctl drives lbd through its API, as any Octavia client does"},
	{Pkg: "lbd/cmd/lbctl", Forbid: dataPlane,
		Why: "the operator's CLI does not carry the data plane with it: lbctl bench runs lbd as a child process"},
	{Pkg: "lbd/internal/statestore", Forbid: []string{"lbd/..."},
		Why: "keys, values and revisions, as etcd keeps them: what the keys mean is the control plane's business"},
	{Pkg: "lbd/internal/lowprio", Forbid: []string{"lbd/..."},
		Why: "runs the functions it is handed; what they do is the caller's business"},
	{Pkg: "lbd/internal/buildinfo", Forbid: []string{"*"},
		Why: "reads the build Go stamped into the binary; everyone may import it"},
	{Pkg: "lbd/internal/flagdoc", Forbid: []string{"lbd/..."},
		Why: "renders flag sets it is handed"},
	{Pkg: "lbd/internal/archtest", Forbid: []string{"lbd/..."},
		Why: "reads the code from the outside, as the go command sees it"},
	{Pkg: "lbd/internal/bench/...", Forbid: concat(dataPlane, cloud, []string{"lbd/internal/controlplane", "lbd/internal/octavia/api", "lbd/internal/metrics"}),
		Why: "benchmarks the algorithms on loopback against an lbd child process, as a user meets it: no data plane in-process, no cloud"},
	{Pkg: "lbd/internal/autoscale/...", Forbid: concat(dataPlane, []string{"lbd/internal/controlplane", "lbd/internal/metrics", "lbd/internal/octavia/api", "lbd/internal/octavia/cloud",
		"github.com/gophercloud/gophercloud/v2/openstack/compute/...", "github.com/gophercloud/gophercloud/v2/openstack/networking/..."}),
		Why: "the autoscaler drives lbd and the cloud from the outside; the Nova provider lives in internal/octavia/cloud"},
	{Pkg: "lbd/internal/demo", Forbid: []string{"lbd/..."},
		Why: "a stand-in web server: it tests lbd from the outside"},
	{Pkg: "lbd/internal/loadgen", Forbid: dataPlane,
		Why: "a load generator does not link the data plane it loads"},
	{Pkg: "lbd/...", Forbid: testOnly,
		Why: "test helpers are for tests only: no package's own code links them"},
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
