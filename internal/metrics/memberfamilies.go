package metrics

import (
	"lbd/internal/octavia"
	"lbd/internal/proxy"
	"lbd/internal/stats"
)

// memberFamily writes a member's series of family f (a histogram's, a
// state's and a code's lines together) but the volatile ones; ml is the
// member's label pairs. same reports whether two views of a block's
// members, with the same labels, write the same values in f: one call a
// block and family, not one a member (they were a tenth of a busy gzip
// scrape).
type memberFamily struct {
	f     *family
	write func(c *collector, e *exposition, v *memberView, ml []byte)
	same  func(a, b []memberView) bool
}

// sameAll reports whether eq holds for each member of a and b (of the
// same length).
func sameAll(a, b []memberView, eq func(a, b *memberView) bool) bool {
	b = b[:len(a)]
	for i := range a {
		if !eq(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

var memberSeries = []memberFamily{
	{lbdMemberInfo, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.address != "" {
			e.value(lbdMemberInfo, 1, v.id, v.name, e.pool, v.address, e.itoa(v.port))
		}
	}, func(a, b []memberView) bool { return true }}, // its labels are all it says
	{memberStatus, func(c *collector, e *exposition, v *memberView, ml []byte) {
		e.stateLabelled(memberStatus, memberStates, memberStatePairs, v.status, ml)
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.status == b.status })
	}},
	counterOf(memberCurrentSessions, func(v *memberView) float64 { return float64(v.n.active) }),
	counterOf(memberSessionsTotal, func(v *memberView) float64 { return float64(v.n.sessions) }),
	counterOf(memberLoadbalanced, func(v *memberView) float64 { return float64(v.n.picks) }),
	counterOf(memberWeight, func(v *memberView) float64 { return float64(v.weight) }),
	counterOf(memberBytesIn, func(v *memberView) float64 { return float64(v.n.bytesIn) }),
	counterOf(memberBytesOut, func(v *memberView) float64 { return float64(v.n.bytesOut) }),
	counterOf(memberConnAttempts, func(v *memberView) float64 { return float64(v.n.attempts) }),
	counterOf(memberConnectionErrors, func(v *memberView) float64 { return float64(v.n.connErrors) }),
	counterOf(memberResponseErrors, func(v *memberView) float64 { return float64(v.n.memberAborts) }),
	counterOf(memberRetries, func(v *memberView) float64 { return float64(v.n.retries) }),
	counterOf(memberRedispatches, func(v *memberView) float64 { return float64(v.n.redispatches) }),
	counterOf(memberClientAborts, func(v *memberView) float64 { return float64(v.n.clientAborts) }),
	counterOf(memberServerAborts, func(v *memberView) float64 { return float64(v.n.memberAborts) }),
	{lbdMemberConnectSeconds, func(c *collector, e *exposition, v *memberView, ml []byte) {
		h := &v.connect
		e.histogramLabelled(lbdMemberConnectSeconds, c.buckets(h), h.count, h.sum, ml)
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.connect == b.connect })
	}},
	monitored(memberCheckFailures, func(v *memberView) float64 { return float64(v.checksFailed) }),
	monitored(memberCheckUpDown, func(v *memberView) float64 { return float64(v.n.downs) }),
	{lbdMemberEjections, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.health {
			e.labelled(lbdMemberEjections, float64(v.ejections), ml)
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.ejections == b.ejections })
	}},
	httpOnly(memberConnReuses, func(v *memberView) float64 { return float64(v.n.reuses) }),
	httpOnly(memberIdleCurrent, func(v *memberView) float64 { return float64(v.idle) }),
	httpOnly(memberIdleLimit, func(v *memberView) float64 { return float64(proxy.MaxIdlePerMember) }),
	{memberHTTPResponses, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			for i, head := range responseCodeHeads {
				e.labelledBefore(memberHTTPResponses, float64(v.n.responses[i]), head, ml, uint8(i))
			}
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.n.responses == b.n.responses })
	}},
	{lbdMemberResponseSeconds, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			h := &v.response
			e.histogramLabelled(lbdMemberResponseSeconds, c.buckets(h), h.count, h.sum, ml)
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.response == b.response })
	}},
}

// counterOf is the memberFamily of f, one series a member labelled pool
// and member: value's.
func counterOf(f *family, value func(v *memberView) float64) memberFamily {
	return memberFamily{f, func(c *collector, e *exposition, v *memberView, ml []byte) {
		e.labelled(f, value(v), ml)
	}, func(a, b []memberView) bool {
		b = b[:len(a)]
		for i := range a {
			if value(&a[i]) != value(&b[i]) {
				return false
			}
		}
		return true
	}}
}

// httpOnly is counterOf for the members of HTTP pools.
func httpOnly(f *family, value func(v *memberView) float64) memberFamily {
	m := counterOf(f, value)
	write := m.write
	m.write = func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			write(c, e, v, ml)
		}
	}
	return m
}

// monitored is counterOf for the members a health monitor checks.
func monitored(f *family, value func(v *memberView) float64) memberFamily {
	m := counterOf(f, value)
	write := m.write
	m.write = func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.health && v.monitor {
			write(c, e, v, ml)
		}
	}
	return m
}

// buckets is what a member's histogram shows of its finite buckets: all
// of them with Options.MemberBuckets, none otherwise (the +Inf bucket,
// the sum and the count stay: a member's mean latency and its rate).
func (c *collector) buckets(h *histogramView) []uint64 {
	if c.memberBuckets {
		return h.cum[:]
	}
	return nil
}

// The states of the status families, as HAProxy's promex names them.
var (
	upDownStates = []string{"UP", "DOWN"}
	memberStates = []string{"UP", "DOWN", "MAINT", "DRAIN", "NOLB"}
)

// The label pairs of a member's states and the starts of its response
// codes' lines, written once (labelPairs, lineHeads).
var (
	memberStatePairs  = labelPairs(",", "state", memberStates, closeLabels)
	responseCodeHeads = lineHeads(memberHTTPResponses, "code", stats.ResponseClasses[:])
)

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// haproxyState maps an operating_status back to the HAProxy server state
// Octavia's health manager derived it from (reference §2.2).
func haproxyState(s octavia.OperatingStatus) string {
	switch s {
	case octavia.OperatingError:
		return "DOWN"
	case octavia.OperatingOffline:
		return "MAINT"
	case octavia.OperatingDraining:
		return "DRAIN"
	}
	return "UP" // ONLINE and NO_MONITOR: the member takes traffic
}

// nameOr is an object's name for an info family, its ID when it has none.
func nameOr(name, id string) string {
	if name == "" {
		return id
	}
	return name
}
