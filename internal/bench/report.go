package bench

// Report is the outcome of a benchmark: the setup and one RunResult per
// algorithm. It is what -o json prints.
type Report struct {
	Scenario      string       `json:"scenario"`
	Description   string       `json:"description,omitempty"`
	Mode          string       `json:"mode"` // open-loop or closed-loop
	Rate          float64      `json:"rate,omitempty"`
	Concurrency   int          `json:"concurrency,omitempty"`
	Clients       int          `json:"clients"`
	DurationS     float64      `json:"duration_s"`
	DataPlane     string       `json:"data_plane"`
	HealthMonitor string       `json:"health_monitor,omitempty"`
	Members       []MemberSpec `json:"members"`
	Events        []EventSpec  `json:"events,omitempty"`
	Host          Host         `json:"host"`
	Runs          []*RunResult `json:"runs"`
}

// MemberSpec is a member's profile as configured.
type MemberSpec struct {
	Name         string  `json:"name"`
	Weight       int     `json:"weight"`
	LatencyMS    float64 `json:"latency_ms"`
	Distribution string  `json:"distribution"`
	SpreadMS     float64 `json:"spread_ms,omitempty"`
	ErrorRate    float64 `json:"error_rate,omitempty"`
	MaxInFlight  int     `json:"max_inflight,omitempty"`
}

// EventSpec is an event as configured, with its time resolved.
type EventSpec struct {
	AtS    float64 `json:"at_s"`
	Member string  `json:"member"`
	Action Action  `json:"action"`
}

// Host describes where the benchmark ran.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Started   string `json:"started"`
}

// RunResult is one algorithm's run.
type RunResult struct {
	Algorithm string `json:"algorithm"`
	// Sent counts requests that fell due (open loop) or were started
	// (closed loop); Responses those answered, whatever the status.
	Sent          uint64            `json:"sent"`
	Responses     uint64            `json:"responses"`
	ThroughputRPS float64           `json:"throughput_rps"` // responses per second of the sending window
	Status        map[string]uint64 `json:"status"`         // responses by class: 2xx, 5xx, ...
	// Errors counts 5xx answers and requests that got no answer, the
	// latter by kind in Failures.
	Errors       uint64            `json:"errors"`
	ErrorRate    float64           `json:"error_rate"`
	Failures     map[string]uint64 `json:"failures,omitempty"`
	Latency      LatencySummary    `json:"latency_ms"`
	CDF          []CDFPointMS      `json:"latency_cdf"`
	SendLagP99MS float64           `json:"send_lag_p99_ms"` // how late the generator sent (its own health)
	Members      []MemberResult    `json:"members"`
	// Unattributed counts answers no member signed: lbd's own 502/503/504.
	Unattributed uint64 `json:"unattributed"`
	// Fairness is Jain's index over the weight-normalized request counts
	// of the members no event touches: 1 when each got requests in
	// proportion to its weight, 1/n when one got them all.
	Fairness float64 `json:"fairness"`
	// StickyClients is the fraction of clients with two or more answers
	// whose answers all came from one member.
	StickyClients float64        `json:"sticky_clients"`
	Remap         *RemapResult   `json:"remap,omitempty"`
	Events        []EventResult  `json:"events,omitempty"`
	Timeline      Timeline       `json:"timeline"`
	Health        []HealthChange `json:"health_changes,omitempty"`
	// LoadAvg is the machine's 1-minute load average before and after the
	// run (Linux), to tell a noisy neighbour from a slow algorithm.
	LoadAvg [2]float64 `json:"load_avg"`
}

// LatencySummary are latency percentiles in milliseconds.
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// CDFPointMS is a latency CDF step: Fraction of answers took at most MS.
type CDFPointMS struct {
	MS       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

// MemberResult is one member's part of a run.
type MemberResult struct {
	Name     string  `json:"name"`
	Weight   int     `json:"weight"`
	Requests uint64  `json:"requests"`
	Share    float64 `json:"share"`  // of all answers members signed
	Errors   uint64  `json:"errors"` // 5xx it answered
	// PeakInFlight is the most requests lbd had outstanding at the member
	// at once (sampled every millisecond), queued ones included;
	// BackendPeakInFlight the most the backend itself worked on at once.
	PeakInFlight        int64   `json:"peak_inflight"`
	BackendPeakInFlight int64   `json:"backend_peak_inflight"`
	P50MS               float64 `json:"p50_ms"`
	P99MS               float64 `json:"p99_ms"`
}

// RemapResult measures how SOURCE_IP moves clients: Clients addresses
// asked once (before), once with Member removed from the pool (leave) and
// once with it back (return).
type RemapResult struct {
	Member  string `json:"member"`
	Clients int    `json:"clients"`
	// OnMember is the fraction of clients the member had before it left:
	// the least a leave must move.
	OnMember      float64 `json:"on_member"`
	MovedOnLeave  float64 `json:"moved_on_leave"`
	MovedOnReturn float64 `json:"moved_on_return"`
	BackToOrigin  float64 `json:"back_to_original"`
}

// EventResult is an event and what followed it.
type EventResult struct {
	AtS    float64 `json:"at_s"` // when it took effect
	Member string  `json:"member"`
	Action Action  `json:"action"`
	// MemberRequestsAfter counts requests sent after the event took effect,
	// and before the member's next event did, that the member answered;
	// LastRequestAfterS is how long after the event the last of them was
	// sent (-1: none).
	MemberRequestsAfter uint64  `json:"member_requests_after"`
	LastRequestAfterS   float64 `json:"last_request_after_s"`
}

// HealthChange is a member's health as lbd saw it changing mid-run.
type HealthChange struct {
	AtS     float64 `json:"at_s"`
	Member  string  `json:"member"`
	Healthy bool    `json:"healthy"`
}

// Timeline counts answers per member, and errors, per interval of send
// time.
type Timeline struct {
	BucketS float64             `json:"bucket_s"`
	Counts  map[string][]uint32 `json:"counts"`
	Errors  []uint32            `json:"errors"` // 5xx answers and requests without one
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// jain is Jain's fairness index of xs: (Σx)² / (n·Σx²).
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
