package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lbd/internal/octavia/reconcile"
)

var topCommand = command{
	summary: "Watch one load balancer live: each listener's and member's status, requests/s, active connections, p50 and p99 latency and errors/s, from the API and lbd's /metrics, refreshed every --interval (Ctrl-C stops).",
	usage:   "lbctl top NAME|ID [--metrics URL] [--interval D] [--once] [flags]",
	args:    "NAME|ID  the load balancer, by name or ID",
	example: "lbctl top lb1\nlbctl top lb1 --metrics http://10.0.0.5:9102/metrics --interval 5s",
	define:  defineTop,
}

func defineTop(fs *flag.FlagSet) runner {
	var cf clientFlags
	registerEndpoint(fs, &cf.endpoint)
	fs.StringVar(&cf.token, "token", os.Getenv("LBD_API_TOKEN"), "X-Auth-Token to send: lbd's static token or a Keystone token (env LBD_API_TOKEN)")
	def := os.Getenv("LBCTL_METRICS")
	if def == "" {
		def = "http://127.0.0.1:9102/metrics"
	}
	metricsURL := fs.String("metrics", def, "lbd's /metrics: its --admin-addr, or a PROMETHEUS listener (env LBCTL_METRICS)")
	interval := fs.Duration("interval", 2*time.Second, "how often to refresh; rates and latencies are over this interval")
	once := fs.Bool("once", false, "print one view (after one interval) and exit")
	return cf.wrap(func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) != 1 {
			return errors.New("top needs one load balancer: lbctl top NAME|ID")
		}
		if *interval <= 0 {
			return fmt.Errorf("--interval %s: must be positive", *interval)
		}
		clear := false
		if f, ok := stdout.(*os.File); ok && isTerminal(f) && !*once {
			clear = true
		}
		return runTop(ctx, &cf, pos[0], *metricsURL, *interval, *once, clear, stdout)
	})
}

// runTop samples the metrics every interval and prints the view.
func runTop(ctx context.Context, cf *clientFlags, name, metricsURL string, interval time.Duration, once, clear bool, stdout io.Writer) error {
	c := cf.client(reconcile.Advice{})
	lb, err := c.LoadBalancer(ctx, name)
	if err != nil {
		return err
	}
	prev, err := scrape(ctx, metricsURL)
	if err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, err := scrape(ctx, metricsURL)
		if err != nil {
			return err
		}
		now := time.Now()
		tree, err := c.Status(ctx, reconcile.Ref(lb))
		if err != nil {
			return err
		}
		ls, err := c.Listeners(ctx, lb.ID)
		if err != nil {
			return err
		}
		listeners := map[string]string{}
		for _, l := range ls {
			listeners[l.ID] = fmt.Sprintf("%s:%d", l.Protocol, l.ProtocolPort)
		}
		if clear {
			io.WriteString(stdout, "\x1b[H\x1b[2J")
		}
		v := topView{tree: tree, listeners: listeners, prev: prev, cur: cur, dt: now.Sub(last).Seconds()}
		fmt.Fprintf(stdout, "load balancer %s (%s, %s) at %s; %s, every %s\n\n", orID(lb.Name, lb.ID),
			tree.LoadBalancer.ProvisioningStatus, tree.LoadBalancer.OperatingStatus, cf.endpoint, now.Format("15:04:05"), interval)
		if err := v.write(stdout); err != nil {
			return err
		}
		if once {
			return nil
		}
		prev, last = cur, now
	}
}

// sample is one scrape: each family by name.
type sample map[string]*dto.MetricFamily

func scrape(ctx context.Context, url string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read lbd's metrics at %s: %w (lbd serves them on its --admin-addr: point --metrics, or LBCTL_METRICS, there)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read lbd's metrics at %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("lbd's metrics at %s: %w", url, err)
	}
	return fams, nil
}

// series finds the series of a family with all of the labels given.
func (s sample) series(family string, labels ...string) []*dto.Metric {
	f := s[family]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
			}
			ok = ok && found
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// sum adds the values of the matching series (counters and gauges).
func (s sample) sum(family string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.series(family, labels...) {
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		}
	}
	return total
}

// quantiles are the p50 and p99 of a histogram family's observations
// between two samples, in seconds; NaN when there were none.
func quantiles(prev, cur sample, family string, labels ...string) (p50, p99 float64) {
	ms := cur.series(family, labels...)
	if len(ms) != 1 || ms[0].Histogram == nil {
		return math.NaN(), math.NaN()
	}
	h := ms[0].Histogram
	var before *dto.Histogram
	if ps := prev.series(family, labels...); len(ps) == 1 {
		before = ps[0].Histogram
	}
	if len(h.Bucket) == 0 || len(h.Bucket) == 1 && math.IsInf(h.Bucket[0].GetUpperBound(), 1) {
		// Only the +Inf bucket: lbd exports a member's latency that way
		// unless --metrics-member-buckets; no quantile can be read.
		return math.NaN(), math.NaN()
	}
	bounds := make([]float64, len(h.Bucket))
	counts := make([]float64, len(h.Bucket))
	for i, b := range h.Bucket {
		bounds[i] = b.GetUpperBound()
		counts[i] = float64(b.GetCumulativeCount())
		if before != nil && i < len(before.Bucket) {
			counts[i] -= float64(before.Bucket[i].GetCumulativeCount())
		}
	}
	total := float64(h.GetSampleCount())
	if before != nil {
		total -= float64(before.GetSampleCount())
	}
	return quantile(0.5, bounds, counts, total), quantile(0.99, bounds, counts, total)
}

// mean is a histogram's mean between two samples: its sum's increase
// over its count's, NaN without observations.
func mean(prev, cur sample, family string, labels ...string) float64 {
	ms := cur.series(family, labels...)
	if len(ms) != 1 || ms[0].Histogram == nil {
		return math.NaN()
	}
	h := ms[0].Histogram
	sum, count := h.GetSampleSum(), float64(h.GetSampleCount())
	if ps := prev.series(family, labels...); len(ps) == 1 && ps[0].Histogram != nil {
		sum -= ps[0].Histogram.GetSampleSum()
		count -= float64(ps[0].Histogram.GetSampleCount())
	}
	if count <= 0 {
		return math.NaN()
	}
	return sum / count
}

// quantile interpolates within the bucket where the rank falls, as
// Prometheus' histogram_quantile does.
func quantile(q float64, bounds, cum []float64, total float64) float64 {
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range cum {
		if c >= rank {
			if c == below {
				return bounds[i]
			}
			return lower + (bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = bounds[i], c
	}
	return lower // beyond the last finite bucket
}

// topView is one refresh: the tree from the API, counters from two
// scrapes dt seconds apart.
type topView struct {
	tree      *reconcile.StatusTree
	listeners map[string]string // ID → PROTOCOL:PORT
	prev, cur sample
	dt        float64
}

func (v *topView) rate(family string, labels ...string) float64 {
	d := v.cur.sum(family, labels...) - v.prev.sum(family, labels...)
	return math.Max(d, 0) / v.dt
}

func (v *topView) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row(tw, "LISTENER", "", "STATUS", "REQ/S", "ACTIVE", "P50", "P99", "ERR/S")
	lb := &v.tree.LoadBalancer
	for _, l := range lb.Listeners {
		id := []string{"listener", l.ID}
		p50, p99 := quantiles(v.prev, v.cur, "lbd_listener_request_duration_seconds", id...)
		reqs := v.rate("octavia_listener_http_requests_total", id...)
		if !strings.HasPrefix(v.listeners[l.ID], "HTTP:") {
			reqs = v.rate("octavia_listener_sessions_total", id...)
		}
		errs := v.rate("octavia_listener_request_errors_total", id...) + v.rate("octavia_listener_http_responses_total", "listener", l.ID, "code", "5xx")
		row(tw, orID(l.Name, l.ID), v.listeners[l.ID], l.OperatingStatus, fmt.Sprintf("%.1f", reqs),
			v.cur.sum("octavia_listener_current_sessions", id...), ms(p50), ms(p99), fmt.Sprintf("%.1f", errs))
	}
	row(tw)
	// A member's mean response time always; its p99 when lbd exports its
	// buckets (--metrics-member-buckets), "-" otherwise.
	row(tw, "MEMBER", "ADDRESS", "STATUS", "REQ/S", "ACTIVE", "AVG", "P99", "ERR/S", "POOL")
	for _, l := range lb.Listeners {
		for _, p := range l.Pools {
			pool := p.ID + ":" + l.ID // as Octavia's families label a pool
			members := slices.Clone(p.Members)
			slices.SortFunc(members, func(a, b reconcile.StatusObject) int {
				return strings.Compare(orID(a.Name, a.Address), orID(b.Name, b.Address))
			})
			for _, m := range members {
				ids := []string{"pool", pool, "member", m.ID}
				avg := mean(v.prev, v.cur, "lbd_member_response_duration_seconds", ids...)
				_, p99 := quantiles(v.prev, v.cur, "lbd_member_response_duration_seconds", ids...)
				errs := v.rate("octavia_member_connection_errors_total", ids...) + v.rate("octavia_member_response_errors_total", ids...) +
					v.rate("octavia_member_http_responses_total", "pool", pool, "member", m.ID, "code", "5xx")
				row(tw, dash(m.Name), fmt.Sprintf("%s:%d", m.Address, m.ProtocolPort), m.OperatingStatus,
					fmt.Sprintf("%.1f", v.rate("octavia_member_loadbalanced_total", ids...)),
					v.cur.sum("octavia_member_current_sessions", ids...), ms(avg), ms(p99), fmt.Sprintf("%.1f", errs), orID(p.Name, p.ID))
			}
		}
	}
	return tw.Flush()
}

// ms formats seconds as milliseconds, "-" when there is no value.
func ms(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return fmt.Sprintf("%.1fms", s*1000)
}
