package bench

import (
	"strconv"
	"strings"
	"time"

	"lbd/internal/octavia"
)

// Scenario is a benchmark: the pool, the load and what happens during the
// run. Parse builds one from YAML; Validate checks one built or changed in
// code (the CLI's overrides).
type Scenario struct {
	Name        string
	Description string
	// Duration is how long load is sent for each algorithm.
	Duration time.Duration
	// Rate is the open-loop request rate (requests per second over all
	// clients). Exactly one of Rate and Concurrency is set.
	Rate float64
	// Concurrency is the number of closed-loop workers, each sending its
	// next request as soon as the previous one is answered.
	Concurrency int
	// Clients is the number of client source addresses, 127.0.0.2 upwards.
	Clients int
	// ConnectionsPerClient caps the keep-alive connections one client opens
	// in open-loop mode; requests due while all are busy wait (and that wait
	// counts in their latency). A cap keeps an overloaded run from turning
	// into a storm of new connections that costs more CPU than the load.
	ConnectionsPerClient int
	// Timeout bounds one request.
	Timeout time.Duration
	// Path is the request target.
	Path string
	// Algorithms to compare, in order.
	Algorithms []octavia.Algorithm
	// HealthMonitor, when set, is the pool's Octavia health monitor.
	HealthMonitor *octavia.HealthMonitor
	Members       []Member
	Events        []Event
	Remap         Remap
}

// Member is one demo backend and its place in the pool.
type Member struct {
	Name         string
	Weight       int
	Latency      time.Duration
	Distribution string // fixed, uniform, exponential, lognormal
	Spread       time.Duration
	ErrorRate    float64
	MaxInFlight  int
}

// Action is what an Event does to its member.
type Action string

// Event actions.
const (
	// ActionDrain sets the member's weight to 0 by a live reload: no new
	// requests, those in flight finish.
	ActionDrain Action = "drain"
	// ActionUndrain restores the member's configured weight by a live reload.
	ActionUndrain Action = "undrain"
	// ActionFail makes the backend answer every request with 500 and its
	// health endpoint with 503.
	ActionFail Action = "fail"
	// ActionRecover restores the backend's health and configured error rate.
	ActionRecover Action = "recover"
)

// Event is something done to a member at a point of the run.
type Event struct {
	At     At
	Member string
	Action Action
}

// At is a point in a run: a fixed offset, or a fraction of the duration
// (written "40%"), which keeps its place when the duration is overridden.
type At struct {
	Offset   time.Duration
	Fraction float64 // used when Offset is 0
}

// In returns the offset of a in a run of duration d.
func (a At) In(d time.Duration) time.Duration {
	if a.Offset > 0 {
		return a.Offset
	}
	return time.Duration(a.Fraction * float64(d))
}

func (a At) String() string {
	if a.Offset > 0 {
		return a.Offset.String()
	}
	return strconv.FormatFloat(a.Fraction*100, 'f', -1, 64) + "%"
}

// parseAt reads "2s" or "40%".
func parseAt(s string) (At, bool) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f >= 100 {
			return At{}, false
		}
		return At{Fraction: f / 100}, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return At{}, false
	}
	return At{Offset: d}, true
}

// Remap configures the SOURCE_IP remap probe: Clients distinct addresses
// each make one request, Member leaves the pool, they ask again, it comes
// back, they ask once more.
type Remap struct {
	Member  string
	Clients int
}

// Defaults for fields a scenario file may leave out.
const (
	DefaultClients              = 32
	DefaultConnectionsPerClient = 16
	DefaultTimeout              = 5 * time.Second
	DefaultRemapClients         = 256
)

// DefaultAlgorithms are compared when a scenario names none.
var DefaultAlgorithms = []octavia.Algorithm{
	octavia.AlgorithmRoundRobin, octavia.AlgorithmLeastConnections, octavia.AlgorithmSourceIP,
}

// ParseAlgorithm accepts an Octavia lb_algorithm or a short name: RR, LC,
// SIP (SOURCE_IP), SIPP (SOURCE_IP_PORT); case does not matter.
func ParseAlgorithm(s string) (octavia.Algorithm, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	switch u {
	case "RR", "ROUND_ROBIN":
		return octavia.AlgorithmRoundRobin, true
	case "LC", "LEAST_CONNECTIONS":
		return octavia.AlgorithmLeastConnections, true
	case "SIP", "SOURCE_IP":
		return octavia.AlgorithmSourceIP, true
	case "SIPP", "SOURCE_IP_PORT":
		return octavia.AlgorithmSourceIPPort, true
	}
	return "", false
}

// Limits a scenario must stay within; they keep a run bounded.
const (
	maxDuration    = time.Hour
	maxRate        = 1_000_000
	maxConcurrency = 10_000
	maxClients     = 65_536
	maxConnsPer    = 1024
	maxMembers     = 64
)
