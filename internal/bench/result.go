package bench

import (
	"slices"
	"time"

	"lbd/internal/loadgen"
)

// result turns a run's recorder into its RunResult; sent is how many
// requests the generator sent (or found due).
func (r *recorder) result(s *Scenario, alg string, sent uint64) *RunResult {
	dur := s.Duration.Seconds()
	res := &RunResult{
		Algorithm:    alg,
		Sent:         sent,
		Responses:    r.latency.Count(),
		Status:       map[string]uint64{},
		Failures:     map[string]uint64{},
		Unattributed: r.unattributed.Load(),
		SendLagP99MS: ms(r.lag.Quantile(0.99)),
		Latency: LatencySummary{
			P50:  ms(r.latency.Quantile(0.50)),
			P90:  ms(r.latency.Quantile(0.90)),
			P99:  ms(r.latency.Quantile(0.99)),
			P999: ms(r.latency.Quantile(0.999)),
			Max:  ms(r.latency.Max()),
			Mean: r.latency.Mean() / 1e6,
		},
	}
	res.ThroughputRPS = float64(res.Responses) / dur
	for i, name := range []string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		if n := r.status[i].Load(); n > 0 {
			res.Status[name] = n
		}
	}
	for f := loadgen.Connect; f < loadgen.NumFailures; f++ {
		if n := r.failures[f].Load(); n > 0 {
			res.Failures[f.String()] = n
		}
	}
	res.Errors = r.errors()
	if res.Sent > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Sent)
	}
	res.CDF = thinCDF(r.latency.CDF(), 400)

	var signed uint64
	for i := range r.memberReq {
		signed += r.memberReq[i].Load()
	}
	touched := make([]bool, len(s.Members))
	for _, e := range s.Events {
		touched[s.member(e.Member)] = true
	}
	var norm []float64
	for i, m := range s.Members {
		mr := MemberResult{
			Name:     m.Name,
			Weight:   m.Weight,
			Requests: r.memberReq[i].Load(),
			Errors:   r.memberErr[i].Load(),
			P50MS:    ms(r.memberLat[i].Quantile(0.5)),
			P99MS:    ms(r.memberLat[i].Quantile(0.99)),
		}
		if signed > 0 {
			mr.Share = float64(mr.Requests) / float64(signed)
		}
		res.Members = append(res.Members, mr)
		if !touched[i] && m.Weight > 0 {
			norm = append(norm, float64(mr.Requests)/float64(m.Weight))
		}
	}
	res.Fairness = jain(norm)
	res.StickyClients = r.sticky()
	res.Timeline = Timeline{BucketS: time.Duration(r.bucket).Seconds(), Counts: map[string][]uint32{}}
	last := 0 // trim empty buckets at the end
	for b := 0; b < len(r.timelineErr); b++ {
		if r.timelineErr[b].Load() > 0 {
			last = b
		}
		for m := range r.members {
			if r.timeline[b*r.members+m].Load() > 0 {
				last = b
			}
		}
	}
	res.Timeline.Errors = make([]uint32, last+1)
	for b := range res.Timeline.Errors {
		res.Timeline.Errors[b] = r.timelineErr[b].Load()
	}
	for m, mem := range s.Members {
		row := make([]uint32, last+1)
		for b := range row {
			row[b] = r.timeline[b*r.members+m].Load()
		}
		res.Timeline.Counts[mem.Name] = row
	}
	for i, e := range r.events {
		er := EventResult{
			AtS:                 time.Duration(e.applied.Load()).Seconds(),
			Member:              s.Events[i].Member,
			Action:              s.Events[i].Action,
			MemberRequestsAfter: e.after.Load(),
			LastRequestAfterS:   -1,
		}
		if l := e.last.Load(); l >= 0 {
			er.LastRequestAfterS = time.Duration(l - e.applied.Load()).Seconds()
		}
		res.Events = append(res.Events, er)
	}
	return res
}

// sticky is the fraction of clients with at least two attributed answers
// that were all from one member.
func (r *recorder) sticky() float64 {
	var eligible, one int
	for c := 0; c < len(r.clientMember)/r.members; c++ {
		var total uint32
		members := 0
		for m := range r.members {
			if n := r.clientMember[c*r.members+m].Load(); n > 0 {
				total += n
				members++
			}
		}
		if total >= 2 {
			eligible++
			if members == 1 {
				one++
			}
		}
	}
	if eligible == 0 {
		return 0
	}
	return float64(one) / float64(eligible)
}

// thinCDF keeps at most n points of a CDF, evenly spread over the
// fractions but always keeping the tail above 0.99 whole (up to n), where
// the interesting part of a latency distribution is.
func thinCDF(pts []CDFPoint, n int) []CDFPointMS {
	out := make([]CDFPointMS, 0, min(len(pts), n+1))
	step := 1.0 / float64(n/2)
	next := 0.0
	for i, p := range pts {
		if p.Fraction >= next || p.Fraction > 0.99 || i == len(pts)-1 {
			out = append(out, CDFPointMS{MS: ms(p.Value), Fraction: p.Fraction})
			next = p.Fraction + step
		}
	}
	if len(out) > n {
		// Too many tail points: keep every k-th, and the last.
		k := (len(out) + n - 1) / n
		thin := out[:0:0]
		for i := 0; i < len(out); i += k {
			thin = append(thin, out[i])
		}
		if thin[len(thin)-1] != out[len(out)-1] {
			thin = append(thin, out[len(out)-1])
		}
		out = slices.Clip(thin)
	}
	return out
}
