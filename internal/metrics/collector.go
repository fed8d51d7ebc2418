package metrics

import (
	"maps"
	"slices"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/buildinfo"
	"lbd/internal/certs"
	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
	"lbd/internal/proxy/tlsterm"
	"lbd/internal/stats"
)

// Source is what the collector reads; proxy.Runtime provides it.
type Source interface {
	Config() *octavia.Config
	ListenerTraffic(id string) *stats.Traffic
	PoolMembers(poolID string) []*balancer.Member
	PoolReady(poolID string) (primaries, backups int)
	IdleConns(poolID string, st *balancer.State) int
	OperatingStatus(id string) (octavia.OperatingStatus, bool)
	MemberViews(lb *octavia.LoadBalancer, p *octavia.Pool, out []proxy.MemberView) []proxy.MemberView
	ApplyStats() proxy.ApplyStats
	EventLoopStats() proxy.EventLoopStats
	MemberHealth(poolID, memberID string) (health.MemberState, bool)
	ListenerTLS(listenerID string) (*tlsterm.Stats, []*certs.Bundle)
	HTTP2Errors() map[string]uint64
	PoolMonitor(poolID string) *health.Monitor
	AccessLogStats() accesslog.Stats
}

// collector turns a Source into lbd's families at scrape time.
type collector struct {
	src   Source
	host  hostReader
	build buildinfo.Info
	// memberBuckets writes each member's latency histograms with every
	// bucket (Options.MemberBuckets); without it a member's histograms
	// are their +Inf bucket, sum and count, and the buckets are its pool's.
	memberBuckets bool
}

func newCollector(src Source, opts Options) *collector {
	return &collector{src: src, host: procHost{}, build: buildinfo.Read(), memberBuckets: opts.MemberBuckets}
}

// collect reads every counter once and writes the families into e. Which
// series exist depends on the configuration of the moment.
func (c *collector) collect(e *exposition) {
	cfg := c.src.Config()
	var lbTotal, lbRequests uint64
	var lbActive int64
	listeners := 0
	for _, lb := range cfg.LoadBalancers {
		e.value(lbdLoadBalancerInfo, 1, lb.ID, nameOr(lb.Name, lb.ID), lb.VIPAddress, lb.Provider)
		for _, l := range lb.Listeners {
			tr := c.src.ListenerTraffic(l.ID)
			if tr == nil {
				continue
			}
			e.value(lbdListenerInfo, 1, l.ID, nameOr(l.Name, l.ID), lb.ID, string(l.Protocol), e.itoa(l.ProtocolPort))
			listeners++
			lbActive += tr.Active.Load()
			lbTotal += tr.Connections.Load()
			lbRequests += tr.Requests.Load()
			c.listener(e, lb, l, tr)
			if p := lb.ListenerPool(l); p != nil {
				c.pool(e, lb, p, l)
			}
		}
	}
	e.value(lbCurrentConnections, float64(lbActive))
	e.value(lbConnectionsTotal, float64(lbTotal))
	e.value(lbRequestsTotal, float64(lbRequests))
	e.value(lbListeners, float64(listeners))
	if cpu, ok := c.host.cpuPercent(); ok {
		e.value(lbCPU, cpu)
	}
	if mem, ok := c.host.memoryPercent(); ok {
		e.value(lbMemory, mem)
	}

	c.probes(e, cfg)

	as := c.src.ApplyStats()
	e.value(lbdReloads, float64(as.Successes), "success")
	e.value(lbdReloads, float64(as.Failures), "failure")
	e.value(lbdConfigGeneration, float64(as.Generation))
	if as.Successes > 0 {
		e.value(lbdConfigLastSuccess, float64(as.LastSuccess.UnixNano())/float64(time.Second))
	}
	e.value(lbdBuildInfo, 1, c.build.Version, c.build.ShortRevision(), c.build.GoVersion)

	al := c.src.AccessLogStats()
	e.value(lbdAccessLogLines, float64(al.Written), "written")
	e.value(lbdAccessLogLines, float64(al.Dropped), "dropped")
	e.value(lbdAccessLogLines, float64(al.Failed), "failed")

	h2 := c.src.HTTP2Errors()
	for _, k := range slices.Sorted(maps.Keys(h2)) {
		e.value(lbdHTTP2Errors, float64(h2[k]), k)
	}

	ls := c.src.EventLoopStats()
	e.value(lbdEventLoops, float64(ls.Loops))
	e.value(lbdEventLoopAdopted, float64(ls.Adopted))
	e.value(lbdEventLoopRequests, float64(ls.Requests))
	for i, reason := range proxy.HandoffReasons {
		e.value(lbdEventLoopHandoffs, float64(ls.Handoffs[i]), reason)
	}
}

func (c *collector) listener(e *exposition, lb *octavia.LoadBalancer, l *octavia.Listener, tr *stats.Traffic) {
	id := l.ID
	up := lb.Enabled() && l.Enabled()
	e.state(listenerStatus, upDownStates, upDown(up), id)
	e.value(listenerCurrentSessions, float64(tr.Active.Load()), id)
	e.value(listenerMaxSessions, float64(tr.Peak.Load()), id)
	if limit := *l.ConnectionLimit; limit >= 0 {
		e.value(listenerLimitSessions, float64(limit), id)
	}
	e.value(listenerSessionsTotal, float64(tr.Connections.Load()), id)
	e.value(listenerConnectionsTotal, float64(tr.Connections.Load()+tr.Denied.Load()), id)
	e.value(listenerDeniedConnections, float64(tr.Denied.Load()), id)
	e.value(listenerBytesIn, float64(tr.BytesIn.Load()), id)
	e.value(listenerBytesOut, float64(tr.BytesOut.Load()), id)
	e.value(listenerRequestErrors, float64(tr.RequestErrors.Load()), id)
	if l.Protocol == octavia.ProtocolHTTP || l.Protocol == octavia.ProtocolTerminatedHTTPS {
		e.value(listenerHTTPRequests, float64(tr.Requests.Load()), id)
		for i, class := range stats.ResponseClasses {
			e.value(listenerHTTPResponses, float64(tr.Responses[i].Load()), id, class)
		}
		e.histogram(lbdListenerRequestSeconds, &tr.RequestTime, id)
	} else {
		e.histogram(lbdListenerSessionSeconds, &tr.SessionTime, id)
	}
	if st, bundles := c.src.ListenerTLS(id); st != nil {
		for i, v := range tlsterm.Versions {
			e.value(lbdTLSHandshakes, float64(st.ByVersion[i].Load()), id, v)
		}
		e.value(lbdTLSResumed, float64(st.Resumed.Load()), id)
		for i, p := range tlsterm.Protocols {
			if p == "" {
				p = "none"
			}
			e.value(lbdTLSALPN, float64(st.ByProtocol[i].Load()), id, p)
		}
		for i, r := range tlsterm.FailureReasons {
			e.value(lbdTLSFailures, float64(st.Failures[i].Load()), id, r)
		}
		refs := append([]string{l.DefaultTLSRef}, l.SNIContainerRefs...)
		if l.DefaultTLSRef == "" {
			refs = refs[1:]
		}
		for i, b := range bundles {
			ref := ""
			if i < len(refs) {
				ref = refs[i]
			}
			e.value(lbdTLSCertNotAfter, float64(b.NotAfter.Unix()), id, ref, b.Cert.Leaf.Subject.CommonName)
		}
	}
}

func (c *collector) pool(e *exposition, lb *octavia.LoadBalancer, p *octavia.Pool, l *octavia.Listener) {
	label := p.ID + ":" + l.ID
	e.value(lbdPoolInfo, 1, label, nameOr(p.Name, p.ID), lb.ID, string(p.LBAlgorithm), string(p.Protocol))
	members := c.src.PoolMembers(p.ID)
	// The served members are the configured ones, in order, unless the
	// pool is not served: then only the configuration is known.
	configured := p.Members
	if len(members) != len(configured) {
		for _, m := range configured {
			e.value(lbdMemberInfo, 1, m.ID, nameOr(m.Name, m.ID), label, m.Address, e.itoa(m.ProtocolPort))
		}
		configured = nil
	}
	primaries, backups := c.src.PoolReady(p.ID)
	up := p.Enabled() && primaries+backups > 0
	e.state(poolStatus, upDownStates, upDown(up), label)
	e.value(poolActiveMembers, float64(primaries), label)
	e.value(poolBackupMembers, float64(backups), label)

	var sum counts
	var lat poolLatency
	var pvs []proxy.MemberView
	if configured != nil {
		e.pviews = c.src.MemberViews(lb, p, e.pviews)
		pvs = e.pviews
	}
	for start := 0; start < len(members); start += memberBlock {
		end := min(start+memberBlock, len(members))
		var cfgs []*octavia.Member
		var blockViews []proxy.MemberView
		if configured != nil {
			cfgs, blockViews = configured[start:end], pvs[start:end]
		}
		c.members(e, p, label, start/memberBlock, members[start:end], cfgs, blockViews, &sum, &lat)
	}
	h := &lat.connect
	e.histogramOf(lbdPoolConnectSeconds, h.cum[:], h.count, h.sum, label)
	if p.Protocol == octavia.ProtocolHTTP {
		h := &lat.response
		e.histogramOf(lbdPoolResponseSeconds, h.cum[:], h.count, h.sum, label)
	}
	if p.HealthMonitor != nil {
		e.value(poolCheckUpDown, float64(sum.downs), label)
	}
	e.value(poolCurrentSessions, float64(sum.active), label)
	e.value(poolSessionsTotal, float64(sum.sessions), label)
	e.value(poolLoadbalanced, float64(sum.picks), label)
	e.value(poolConnAttempts, float64(sum.attempts), label)
	e.value(poolBytesIn, float64(sum.bytesIn), label)
	e.value(poolBytesOut, float64(sum.bytesOut), label)
	e.value(poolConnectionErrors, float64(sum.connErrors), label)
	e.value(poolResponseErrors, float64(sum.memberAborts), label)
	e.value(poolRetries, float64(sum.retries), label)
	e.value(poolRedispatches, float64(sum.redispatches), label)
	e.value(poolClientAborts, float64(sum.clientAborts), label)
	e.value(poolMemberAborts, float64(sum.memberAborts), label)
	if p.Protocol == octavia.ProtocolHTTP {
		e.value(poolConnReuses, float64(sum.reuses), label)
		e.value(poolHTTPRequests, float64(sum.requests), label)
		for i, class := range stats.ResponseClasses {
			e.value(poolHTTPResponses, float64(sum.responses[i]), label, class)
		}
	}
}

// counts is one reading of a member's traffic counters, or their sum over
// a pool: a member's series and its pool's come from the same reading.
type counts struct {
	active                                       int64
	sessions, picks, attempts, bytesIn, bytesOut uint64
	connErrors, retries, redispatches            uint64
	clientAborts, memberAborts, reuses, requests uint64
	responses                                    [len(stats.ResponseClasses)]uint64
	downs                                        uint64
}

// readCounts reads m's counters once. A session is a request on HTTP, a
// connection on TCP.
func readCounts(m *balancer.Member, http bool) counts {
	tr := m.Traffic
	n := counts{
		active: m.Active(), sessions: tr.Connections.Load(), picks: m.Picks(),
		bytesIn: tr.BytesIn.Load(), bytesOut: tr.BytesOut.Load(), connErrors: tr.ConnectErrors.Load(),
		retries: tr.Retries.Load(), redispatches: tr.Redispatches.Load(), clientAborts: tr.ClientAborts.Load(),
		memberAborts: tr.MemberAborts.Load(), reuses: tr.Reuses.Load(), requests: tr.Requests.Load(),
	}
	n.attempts = n.sessions + n.connErrors
	if http {
		n.sessions = n.requests
	}
	for i := range n.responses {
		n.responses[i] = tr.Responses[i].Load()
	}
	return n
}

func (s *counts) add(n *counts) {
	s.active += n.active
	s.sessions += n.sessions
	s.picks += n.picks
	s.attempts += n.attempts
	s.bytesIn += n.bytesIn
	s.bytesOut += n.bytesOut
	s.connErrors += n.connErrors
	s.retries += n.retries
	s.redispatches += n.redispatches
	s.clientAborts += n.clientAborts
	s.memberAborts += n.memberAborts
	s.reuses += n.reuses
	s.requests += n.requests
	for i := range s.responses {
		s.responses[i] += n.responses[i]
	}
	s.downs += n.downs
}

// memberBlock is how many members' series a chunk holds (gzip.go).
const memberBlock = 64

// memberView is everything a member's series say but the volatile ones:
// two equal views print the same lines.
type memberView struct {
	id, name, address       string // name and address: "" without configuration
	port                    int
	http, monitor, health   bool // the pool speaks HTTP, has a monitor; the monitor knows the member
	status                  string
	weight                  int
	n                       counts
	checksFailed, ejections uint64
	idle                    int
	connect, response       histogramView
}

type histogramView struct {
	cum   [len(stats.LatencyBuckets)]uint64
	count uint64
	sum   float64
}

func (h *histogramView) add(n *histogramView) {
	for i := range h.cum {
		h.cum[i] += n.cum[i]
	}
	h.count += n.count
	h.sum += n.sum
}

// poolLatency is a pool's latency histograms: its members' added up, from
// the same reading as their own series.
type poolLatency struct{ connect, response histogramView }

func viewHistogram(h *stats.Histogram) histogramView {
	cum, count, sum := h.Snapshot()
	return histogramView{cum, count, sum}
}

// members writes the series of one block of a pool's members, and adds
// their counters to sum and their latencies to lat. cfgs and pvs, the same members' configuration and
// what the data plane says of them, are nil when the pool is not served as
// configured. In a gzip scrape, a block whose members print what they
// printed last time reuses that compressed text (gzip.go).
func (c *collector) members(e *exposition, p *octavia.Pool, label string, block int, ms []*balancer.Member, cfgs []*octavia.Member, pvs []proxy.MemberView, sum *counts, lat *poolLatency) {
	http := p.Protocol == octavia.ProtocolHTTP
	views, changes := e.views[:0], e.changes[:0]
	for i, m := range ms {
		// Read in place: a view is 600 bytes.
		views = append(views, memberView{id: m.ID, http: http, monitor: p.HealthMonitor != nil, weight: m.Weight, n: readCounts(m, http)})
		v := &views[len(views)-1]
		var status octavia.OperatingStatus
		var hs *health.MemberState
		if cfgs != nil {
			om, pv := cfgs[i], &pvs[i]
			v.name, v.address, v.port = nameOr(om.Name, om.ID), om.Address, om.ProtocolPort
			status, hs, v.health, v.idle = pv.Status, &pv.Health, pv.Known, pv.Idle
		} else {
			status, _ = c.src.OperatingStatus(m.ID)
			st, known := c.src.MemberHealth(p.ID, m.ID)
			hs, v.health = &st, known
			v.idle = c.src.IdleConns(p.ID, m.State)
		}
		v.status = haproxyState(status)
		if v.health {
			v.checksFailed, v.ejections = hs.ChecksFailed, hs.Ejections
			if v.monitor {
				v.n.downs = hs.Downs
			}
		}
		v.connect = viewHistogram(&m.Traffic.ConnectTime)
		if http {
			v.response = viewHistogram(&m.Traffic.ResponseTime)
		} else {
			v.idle = 0
		}
		sum.add(&v.n)
		lat.connect.add(&v.connect)
		lat.response.add(&v.response)
		changes = append(changes, hs.LastChange)
	}
	e.views, e.changes = views, changes
	var b *cachedBlock
	if e.cache == nil {
		c.writeMembers(e, label, views, nil, nil)
	} else if old, same := e.cache.get(blockKey{label, block}, views); same {
		b = old
		e.reuse(b.chunks)
	} else {
		// The block keeps the views; the next block's go to a spare slice.
		b = e.cache.newBlock(views, len(e.cat.families))
		e.views = e.cache.spareViews()
		e.mark()
		c.writeMembers(e, label, views, old, b)
		e.keep(b.chunks)
		e.made = append(e.made, madeBlock{blockKey{label, block}, b})
		for i := range views {
			if v := &views[i]; v.health && v.monitor {
				b.lastChange[i] = e.series(b.lastChange[i][:0], memberCheckLastChange, label, v.id)
			}
		}
	}
	// The volatile series, fresh every time: whole seconds, as HAProxy
	// counts them; a cached block keeps their text up to the value.
	now := time.Now()
	for i := range views {
		v := &views[i]
		if !v.health || !v.monitor {
			continue
		}
		age := float64(int64(now.Sub(changes[i]) / time.Second))
		if b == nil {
			e.value(memberCheckLastChange, age, label, v.id)
			continue
		}
		e.valueAfter(memberCheckLastChange, b.lastChange[i], age)
	}
}

// writeMembers writes a block of members' series but the volatile ones,
// one family at a time: each family's buffer is written from start to end
// in one go, where writing each member's 35 lines to 35 buffers in turn
// missed the cache at nearly every line (a scrape of 10,000 members fills
// 60 MB of buffers). Each member's labels are written once
// (exposition.blockLabels).
//
// In a gzip scrape, b is the new block and old the block as the scrape
// before left it (nil if none): when its members are the same members
// with the same labels, b takes old's label pairs as they are, and a
// family whose values did not change (under traffic: the status, the
// weight, the error counters, ...) is not written again, its chunk is
// spliced in again; b.chunks gets each family's chunk of the new block
// that way.
func (c *collector) writeMembers(e *exposition, poolLabel string, views []memberView, old, b *cachedBlock) {
	labelled := old != nil && len(old.views) == len(views)
	for i := 0; labelled && i < len(views); i++ {
		labelled = sameLabels(&old.views[i], &views[i])
	}
	switch {
	case b == nil:
		e.blockLabels(poolLabel, views, &e.own)
	case labelled && old.labels != nil:
		b.labels = old.labels // the same members: their labels' text too
		e.useLabels(poolLabel, b.labels)
	default:
		b.labels = &memberLabels{}
		e.blockLabels(poolLabel, views, b.labels)
	}
	var changed countField
	if labelled {
		changed = changedCounts(old.views, views)
	}
	for i := range memberSeries {
		s := &memberSeries[i]
		if labelled && s.unchanged(changed, old.views, views) {
			if ch := old.chunks[s.f.id]; ch != nil {
				e.reuseChunk(s.f.id, ch)
				b.chunks[s.f.id] = ch
			}
			continue
		}
		if b != nil {
			e.codeLines(s.f)
		}
		for i := range views {
			s.write(c, e, &views[i], e.memberAt(i))
		}
		if b != nil {
			e.endLines(s.f, b.chunks)
		}
	}
}

// sameLabels reports whether two views of a member print the same lines
// with the same labels (their values aside).
func sameLabels(a, b *memberView) bool {
	return a.id == b.id && a.name == b.name && a.address == b.address && a.port == b.port &&
		a.http == b.http && a.monitor == b.monitor && a.health == b.health
}

// probes sums the health probes of every pool by type.
func (c *collector) probes(e *exposition, cfg *octavia.Config) {
	type agg struct {
		passed, failed uint64
		cum            [len(stats.LatencyBuckets)]uint64
		count          uint64
		sum            float64
	}
	byType := map[health.Type]*agg{}
	for _, lb := range cfg.LoadBalancers {
		for _, p := range lb.Pools {
			mon := c.src.PoolMonitor(p.ID)
			if mon == nil {
				continue
			}
			for _, pc := range mon.ProbeCounts() {
				if pc.Passed+pc.Failed == 0 {
					continue
				}
				a := byType[pc.Type]
				if a == nil {
					a = &agg{}
					byType[pc.Type] = a
				}
				a.passed += pc.Passed
				a.failed += pc.Failed
				cum, count, sum := mon.ProbeDurations(pc.Type).Snapshot()
				for i := range cum {
					a.cum[i] += cum[i]
				}
				a.count += count
				a.sum += sum
			}
		}
	}
	for t, a := range byType {
		e.value(lbdHealthProbes, float64(a.passed), t.String(), "pass")
		e.value(lbdHealthProbes, float64(a.failed), t.String(), "fail")
		e.histogramOf(lbdHealthProbeSeconds, a.cum[:], a.count, a.sum, t.String())
	}
}
