package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"lbd/internal/loadgen"
	"lbd/internal/octavia/reconcile"
)

var loadCommand = command{
	summary: "Send an open-loop load (requests fall due at the rate, whatever the answers do) that steps through rates in turn, " +
		"printing each second's requests, failures and latency; with --pool also the pool's members ONLINE, and after each step up " +
		"when the first new member came ONLINE and when the count settled (the autoscaling demo's figures).",
	usage:   "lbctl load --target HOST:PORT --steps RATE:DURATION,... [--pool POOL] [flags]",
	example: "lbctl load --target 127.0.0.1:8090 --steps 35:20s,140:40s,35:60s --pool web-pool --endpoint http://127.0.0.1:9886",
	define:  defineLoad,
}

func defineLoad(fs *flag.FlagSet) runner {
	target := fs.String("target", "127.0.0.1:8080", "the listener, host:port")
	path := fs.String("path", "/", "request path")
	steps := fs.String("steps", "50:30s", "RATE:DURATION,... requests per second for how long, in turn; 0 pauses (e.g. 25:30s,100:60s,25:60s)")
	clients := fs.Int("clients", 4, "source addresses (127.0.0.2, ...)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of each request")
	output := fs.String("o", "text", "output: text (a line per second and a summary) or json (the summary and every second)")
	pool := fs.String("pool", "", "also count the pool's members ONLINE each second (through lbd's API, --endpoint), and say after each step up when the first new one came ONLINE and when the count settled")
	var endpoint string
	registerEndpoint(fs, &endpoint)
	token := fs.String("token", os.Getenv("LBD_API_TOKEN"), "with --pool: X-Auth-Token for lbd (env LBD_API_TOKEN)")
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("load takes no arguments (%q)", pos[0])
		}
		return runLoad(ctx, loadOptions{target: *target, path: *path, steps: *steps, clients: *clients, timeout: *timeout,
			output: *output, pool: *pool, endpoint: endpoint, token: *token}, stdout)
	}
}

type loadOptions struct {
	target, path, steps string
	clients             int
	timeout             time.Duration
	output, pool        string
	endpoint, token     string
}

// runLoad sends an open-loop load that steps through rates (the demo's
// 1× → 4× → 1×), printing each second's requests, failures and latency.
func runLoad(ctx context.Context, o loadOptions, stdout io.Writer) error {
	plan, err := parseSteps(o.steps)
	if err != nil {
		return err
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("-o %q: must be text or json", o.output)
	}
	var tl loadgen.Timeline
	var members *memberWatch
	if o.pool != "" {
		members = &memberWatch{c: reconcile.NewDirect(o.endpoint, o.token), pool: o.pool}
		if err := members.resolve(ctx); err != nil {
			return err
		}
	}
	l := loadgen.Open{Target: loadgen.Target{Addr: o.target, Path: o.path, Clients: o.clients, Timeout: o.timeout}, ConnsPerClient: 64}
	start := time.Now()
	done := make(chan uint64)
	go func() { done <- l.Steps(ctx, start, plan, &tl) }()
	printed := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	mtick := time.NewTicker(250 * time.Millisecond) // the members' count, finer than the lines
	defer mtick.Stop()
	var due uint64
	for running := true; running; {
		select {
		case due = <-done:
			running = false
		case <-tick.C:
		case <-mtick.C:
			members.sample(ctx, time.Since(start))
			continue
		}
		if o.output != "text" {
			continue
		}
		// A second is complete once its requests' answers are in: print
		// those a timeout behind.
		secs := tl.Seconds()
		for ; printed < len(secs) && (!running || time.Duration(printed+1)*time.Second+o.timeout/5 < time.Since(start)); printed++ {
			s := secs[printed]
			fmt.Fprintf(stdout, "%4ds  %5d req  %5d ok  %3d failed  p50 %6s  p95 %6s  max %6s%s\n", int(s.At.Seconds()), s.Requests, s.OK, s.Failed,
				msOf(s.P50), msOf(s.P95), msOf(s.Max), members.at(s.At))
		}
	}
	secs := tl.Seconds()
	sum := loadSummary{Requests: due, Seconds: secs, Steps: members.steps(plan, secs)}
	for _, s := range secs {
		sum.OK += s.OK
		sum.Failed += s.Failed
		if s.P95 > sum.PeakP95 {
			sum.PeakP95, sum.PeakP95At = s.P95, s.At
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(stdout, "%d requests: %d ok, %d failed; peak p95 %s at %ds\n", sum.Requests, sum.OK, sum.Failed, msOf(sum.PeakP95), int(sum.PeakP95At.Seconds()))
	for _, st := range sum.Steps {
		fmt.Fprintln(stdout, st)
	}
	for i, f := range tl.Failures() {
		if i == 5 {
			fmt.Fprintf(stdout, "  ... %d more\n", sum.Failed-5)
			break
		}
		fmt.Fprintf(stdout, "  failed at %.1fs: %s status %d %v\n", f.Due.Seconds(), f.Failure, f.Status, f.Err)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed", sum.Failed, sum.Requests)
	}
	return nil
}

type loadSummary struct {
	Requests  uint64           `json:"requests"`
	Steps     []stepFigures    `json:"steps,omitempty"`
	OK        int              `json:"ok"`
	Failed    int              `json:"failed"`
	PeakP95   time.Duration    `json:"peak_p95_ns"`
	PeakP95At time.Duration    `json:"peak_p95_at_ns"`
	Seconds   []loadgen.Second `json:"seconds"`
}

func msOf(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// parseSteps reads "RATE:DURATION,...".
func parseSteps(s string) ([]loadgen.Step, error) {
	var out []loadgen.Step
	for _, part := range strings.Split(s, ",") {
		r, d, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("--steps %q: %q is not RATE:DURATION", s, part)
		}
		rate, err := strconv.ParseFloat(r, 64)
		if err != nil || rate < 0 {
			return nil, fmt.Errorf("--steps %q: rate %q must be a number of requests per second, 0 or more", s, r)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("--steps %q: duration %q must be positive, with its unit (30s)", s, d)
		}
		out = append(out, loadgen.Step{Rate: rate, For: dur})
	}
	if len(out) == 0 {
		return nil, errors.New("--steps: none given")
	}
	return out, nil
}

// memberWatch counts a pool's members ONLINE (weight above 0) each second.
type memberWatch struct {
	c       *reconcile.Client
	pool    string
	poolID  string
	mu      sync.Mutex
	samples []memberSample
}

type memberSample struct {
	at     time.Duration
	online int
}

func (w *memberWatch) resolve(ctx context.Context) error {
	p, err := w.c.Pool(ctx, "", w.pool)
	if err != nil {
		return err
	}
	w.poolID = p.ID
	return nil
}

func (w *memberWatch) sample(ctx context.Context, at time.Duration) {
	if w == nil {
		return
	}
	ms, err := w.c.Members(ctx, w.poolID)
	if err != nil {
		return
	}
	n := 0
	for _, m := range ms {
		if m.OperatingStatus == "ONLINE" && m.Weight > 0 {
			n++
		}
	}
	w.mu.Lock()
	w.samples = append(w.samples, memberSample{at, n})
	w.mu.Unlock()
}

// at is the count last seen by the end of the second starting at t, as a
// column of a second's line.
func (w *memberWatch) at(t time.Duration) string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := -1
	for _, s := range w.samples {
		if s.at <= t+time.Second {
			n = s.online
		}
	}
	if n < 0 {
		return ""
	}
	return fmt.Sprintf("  members %d", n)
}

// stepFigures is what followed one step up of the load.
type stepFigures struct {
	From, To   float64       `json:"-"`
	At         time.Duration `json:"at_ns"`
	Before     int           `json:"members_before"`
	FirstNew   time.Duration `json:"first_new_member_online_after_ns"` // -1: none
	Settled    int           `json:"members_settled"`
	SettleTime time.Duration `json:"settled_after_ns"`
	PeakP95    time.Duration `json:"peak_p95_ns"`
	Failed     int           `json:"failed"`
}

func (f stepFigures) String() string {
	first := "no new member came ONLINE"
	if f.FirstNew >= 0 {
		first = fmt.Sprintf("first new member ONLINE after %.1fs", f.FirstNew.Seconds())
	}
	return fmt.Sprintf("step %g → %g/s at %ds: %s; %d → %d members, settled after %.1fs; peak p95 %s; %d failed",
		f.From, f.To, int(f.At.Seconds()), first, f.Before, f.Settled, f.SettleTime.Seconds(), msOf(f.PeakP95), f.Failed)
}

// steps computes, for each step to a higher rate, when the first new
// member came ONLINE and when the count settled (the last change before
// the step's end), with the step's peak p95 and failures.
func (w *memberWatch) steps(plan []loadgen.Step, secs []loadgen.Second) []stepFigures {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []stepFigures
	var at time.Duration
	for i, st := range plan {
		start, end := at, at+st.For
		at = end
		if i == 0 || st.Rate <= plan[i-1].Rate {
			continue
		}
		f := stepFigures{From: plan[i-1].Rate, To: st.Rate, At: start, FirstNew: -1, Before: -1}
		for _, s := range w.samples {
			switch {
			case s.at <= start:
				f.Before = s.online
			case s.at <= end:
				if f.Before >= 0 && f.FirstNew < 0 && s.online > f.Before {
					f.FirstNew = s.at - start
				}
				if s.online != f.Settled {
					f.Settled, f.SettleTime = s.online, s.at-start
				}
			}
		}
		for _, s := range secs {
			if s.At >= start && s.At < end {
				f.PeakP95 = max(f.PeakP95, s.P95)
				f.Failed += s.Failed
			}
		}
		out = append(out, f)
	}
	return out
}
