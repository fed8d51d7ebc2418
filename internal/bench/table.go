package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report for a terminal: one line per algorithm,
// then each member's share and peak in-flight count, then the SOURCE_IP
// remap probe and the events.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario %s\n", rep.Scenario)
	if rep.Description != "" {
		for _, l := range wrap(rep.Description, 100) {
			fmt.Fprintf(tw, "  %s\n", l)
		}
	}
	load := fmt.Sprintf("open loop at %g req/s", rep.Rate)
	if rep.Mode == "closed-loop" {
		load = fmt.Sprintf("closed loop, %d in flight", rep.Concurrency)
	}
	fmt.Fprintf(tw, "%s for %gs from %d client addresses; %d members; lbd: a child process\n",
		load, rep.DurationS, rep.Clients, len(rep.Members))
	if rep.HealthMonitor != "" {
		fmt.Fprintf(tw, "health monitor: %s\n", rep.HealthMonitor)
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "ALGORITHM\tREQ/S\tP50\tP90\tP99\tP99.9\tMAX\tERRORS\tFAIRNESS\tSTICKY\tGEN LAG P99\tLOAD AVG\t")
	for _, r := range rep.Runs {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.0f%%\t%s\t%.1f→%.1f\t\n",
			r.Algorithm, r.ThroughputRPS, FormatMS(r.Latency.P50), FormatMS(r.Latency.P90), FormatMS(r.Latency.P99),
			FormatMS(r.Latency.P999), FormatMS(r.Latency.Max), fmtErrors(r), r.Fairness, 100*r.StickyClients, FormatMS(r.SendLagP99MS),
			r.LoadAvg[0], r.LoadAvg[1])
	}
	// The rule is stated with the column, so that a run flagged and one
	// not flagged can be told apart by it, not guessed.
	fmt.Fprintf(tw, "GEN LAG P99: how late the generator sent its requests (99th percentile); over %s the run is flagged as overloaded\n", FormatMS(lagWarnMS))
	for _, r := range rep.Runs {
		if r.SendLagP99MS > lagWarnMS {
			fmt.Fprintf(tw, "warning: %s: GEN LAG P99 %s is over %s: 1%% of requests left the generator later than that after they were due; the machine was overloaded during this run, whose latencies say more about it than about the algorithm\n",
				r.Algorithm, FormatMS(r.SendLagP99MS), FormatMS(lagWarnMS))
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprint(tw, "SHARE (PEAK IN-FLIGHT)")
	for _, m := range rep.Members {
		fmt.Fprintf(tw, "\t%s w%d", m.Name, m.Weight)
	}
	fmt.Fprintln(tw, "\t")
	for _, r := range rep.Runs {
		fmt.Fprint(tw, r.Algorithm)
		for _, m := range r.Members {
			fmt.Fprintf(tw, "\t%5.1f%% (%d)", 100*m.Share, m.PeakInFlight)
		}
		fmt.Fprintln(tw, "\t")
	}

	for _, r := range rep.Runs {
		if rm := r.Remap; rm != nil {
			fmt.Fprintf(tw, "\n%s remap, %s leaves and returns (%d clients, %.1f%% were on it): moved on leave %.1f%%, moved on return %.1f%%, back on their original member %.1f%%\n",
				r.Algorithm, rm.Member, rm.Clients, 100*rm.OnMember, 100*rm.MovedOnLeave, 100*rm.MovedOnReturn, 100*rm.BackToOrigin)
		}
	}

	if len(rep.Events) > 0 {
		fmt.Fprintln(tw, "\nALGORITHM\tEVENT\tAT\tMEMBER'S REQUESTS AFTER\tLAST ONE AFTER\t")
		for _, r := range rep.Runs {
			for _, e := range r.Events {
				last := "-"
				if e.LastRequestAfterS >= 0 {
					last = FormatMS(e.LastRequestAfterS * 1000)
				}
				fmt.Fprintf(tw, "%s\t%s %s\t%.2fs\t%d\t%s\t\n", r.Algorithm, e.Action, e.Member, e.AtS, e.MemberRequestsAfter, last)
			}
		}
	}
	for _, r := range rep.Runs {
		for _, h := range r.Health {
			state := "down"
			if h.Healthy {
				state = "up"
			}
			fmt.Fprintf(tw, "%s: lbd marked %s %s at %.2fs\n", r.Algorithm, h.Member, state, h.AtS)
		}
	}
	return tw.Flush()
}

// lagWarnMS is the generator send lag (p99) above which a run is flagged.
const lagWarnMS = 50

func fmtErrors(r *RunResult) string {
	if r.Errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.2f%%)", r.Errors, 100*r.ErrorRate)
}

// FormatMS renders milliseconds with three significant digits and a unit,
// as the table and the charts show latencies.
func FormatMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	case v < 1000:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fs", v/1000)
}

// wrap breaks text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
