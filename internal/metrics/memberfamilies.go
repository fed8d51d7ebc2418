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
	// reads, if not 0, are the counters of counts its values are read
	// from, and nothing else: then same is changedCounts' answer for
	// them (unchanged), read once a block for every such family instead of
	// each family calling its value twice a member.
	reads countField
}

// unchanged is same(a, b), where changed is changedCounts(a, b).
func (s *memberFamily) unchanged(changed countField, a, b []memberView) bool {
	if s.reads != 0 {
		return changed&s.reads == 0
	}
	return s.same(a, b)
}

// countField is one of counts' counters, a bit each (changedCounts).
type countField uint32

const (
	cActive countField = 1 << iota
	cSessions
	cPicks
	cAttempts
	cBytesIn
	cBytesOut
	cConnErrors
	cRetries
	cRedispatches
	cClientAborts
	cMemberAborts
	cReuses
	cRequests
	cResponses
	cDowns
)

// changedCounts is which of counts' counters differ between a[i].n and
// b[i].n for some member i (a and b of the same length).
func changedCounts(a, b []memberView) countField {
	var c countField
	b = b[:len(a)]
	for i := range a {
		x, y := &a[i].n, &b[i].n
		if *x == *y {
			continue
		}
		c |= differs(x.active != y.active, cActive) | differs(x.sessions != y.sessions, cSessions) |
			differs(x.picks != y.picks, cPicks) | differs(x.attempts != y.attempts, cAttempts) |
			differs(x.bytesIn != y.bytesIn, cBytesIn) | differs(x.bytesOut != y.bytesOut, cBytesOut) |
			differs(x.connErrors != y.connErrors, cConnErrors) | differs(x.retries != y.retries, cRetries) |
			differs(x.redispatches != y.redispatches, cRedispatches) |
			differs(x.clientAborts != y.clientAborts, cClientAborts) |
			differs(x.memberAborts != y.memberAborts, cMemberAborts) | differs(x.reuses != y.reuses, cReuses) |
			differs(x.requests != y.requests, cRequests) | differs(x.responses != y.responses, cResponses) |
			differs(x.downs != y.downs, cDowns)
	}
	return c
}

func differs(d bool, f countField) countField {
	if d {
		return f
	}
	return 0
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
	}, func(a, b []memberView) bool { return true }, 0}, // its labels are all it says
	{memberStatus, func(c *collector, e *exposition, v *memberView, ml []byte) {
		e.stateLabelled(memberStatus, memberStates, memberStatePairs, v.status, ml)
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.status == b.status })
	}, 0},
	counterOf(memberCurrentSessions, cActive, func(v *memberView) float64 { return float64(v.n.active) }),
	counterOf(memberSessionsTotal, cSessions, func(v *memberView) float64 { return float64(v.n.sessions) }),
	counterOf(memberLoadbalanced, cPicks, func(v *memberView) float64 { return float64(v.n.picks) }),
	counterOf(memberWeight, 0, func(v *memberView) float64 { return float64(v.weight) }),
	counterOf(memberBytesIn, cBytesIn, func(v *memberView) float64 { return float64(v.n.bytesIn) }),
	counterOf(memberBytesOut, cBytesOut, func(v *memberView) float64 { return float64(v.n.bytesOut) }),
	counterOf(memberConnAttempts, cAttempts, func(v *memberView) float64 { return float64(v.n.attempts) }),
	counterOf(memberConnectionErrors, cConnErrors, func(v *memberView) float64 { return float64(v.n.connErrors) }),
	counterOf(memberResponseErrors, cMemberAborts, func(v *memberView) float64 { return float64(v.n.memberAborts) }),
	counterOf(memberRetries, cRetries, func(v *memberView) float64 { return float64(v.n.retries) }),
	counterOf(memberRedispatches, cRedispatches, func(v *memberView) float64 { return float64(v.n.redispatches) }),
	counterOf(memberClientAborts, cClientAborts, func(v *memberView) float64 { return float64(v.n.clientAborts) }),
	counterOf(memberServerAborts, cMemberAborts, func(v *memberView) float64 { return float64(v.n.memberAborts) }),
	{lbdMemberConnectSeconds, func(c *collector, e *exposition, v *memberView, ml []byte) {
		h := &v.connect
		e.histogramLabelled(lbdMemberConnectSeconds, c.buckets(h), h.count, h.sum, ml)
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.connect == b.connect })
	}, 0},
	monitored(memberCheckFailures, 0, func(v *memberView) float64 { return float64(v.checksFailed) }),
	monitored(memberCheckUpDown, cDowns, func(v *memberView) float64 { return float64(v.n.downs) }),
	{lbdMemberEjections, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.health {
			e.labelled(lbdMemberEjections, float64(v.ejections), ml)
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.ejections == b.ejections })
	}, 0},
	httpOnly(memberConnReuses, cReuses, func(v *memberView) float64 { return float64(v.n.reuses) }),
	httpOnly(memberIdleCurrent, 0, func(v *memberView) float64 { return float64(v.idle) }),
	httpOnly(memberIdleLimit, 0, func(v *memberView) float64 { return float64(proxy.MaxIdlePerMember) }),
	{memberHTTPResponses, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			for i, head := range responseCodeHeads {
				e.labelledBefore(memberHTTPResponses, float64(v.n.responses[i]), head, ml, uint8(i))
			}
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.n.responses == b.n.responses })
	}, cResponses},
	{lbdMemberResponseSeconds, func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			h := &v.response
			e.histogramLabelled(lbdMemberResponseSeconds, c.buckets(h), h.count, h.sum, ml)
		}
	}, func(a, b []memberView) bool {
		return sameAll(a, b, func(a, b *memberView) bool { return a.response == b.response })
	}, 0},
}

// counterOf is the memberFamily of f, one series a member labelled pool
// and member: value's, read from the counters reads alone (or 0).
func counterOf(f *family, reads countField, value func(v *memberView) float64) memberFamily {
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
	}, reads}
}

// httpOnly is counterOf for the members of HTTP pools.
func httpOnly(f *family, reads countField, value func(v *memberView) float64) memberFamily {
	m := counterOf(f, reads, value)
	write := m.write
	m.write = func(c *collector, e *exposition, v *memberView, ml []byte) {
		if v.http {
			write(c, e, v, ml)
		}
	}
	return m
}

// monitored is counterOf for the members a health monitor checks.
func monitored(f *family, reads countField, value func(v *memberView) float64) memberFamily {
	m := counterOf(f, reads, value)
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
