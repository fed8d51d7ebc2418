package metrics

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// contentType is the Prometheus text format's, which every Prometheus
// version scrapes.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Options are the choices of what /metrics exposes.
type Options struct {
	// MemberBuckets writes every bucket of each member's latency
	// histograms (lbd_member_connect_duration_seconds,
	// lbd_member_response_duration_seconds). Off, a member's histograms
	// are their +Inf bucket, sum and count (its mean latency and rate) and
	// the buckets are its pool's (lbd_pool_*_duration_seconds): 2 × 19
	// series fewer per member, three fifths of a member's series, which at
	// 10,000 members is the difference between a scrape Prometheus takes
	// in its stride and one it does not (docs/metrics.md).
	MemberBuckets bool
}

// Handler serves /metrics for src: lbd's families, which the collector
// writes itself (exposition.go), then the Go runtime's and the process's
// from client_golang's collectors and any extra ones, gathered from a
// registry of the handler's own (no global state).
func Handler(src Source, opts Options, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		reg.MustRegister(c)
	}
	h := &handler{col: newCollector(src, opts), reg: reg}
	h.expositions.New = func() any { return newExposition(lbdFamilies) }
	return h
}

type handler struct {
	col *collector
	reg prometheus.Gatherer
	// Scrapes take an exposition and a gzip stream each, so a slow or
	// stalled scraper holds up no other; pooled, so that their buffers
	// serve the next scrape.
	expositions sync.Pool
	gzips       sync.Pool
	// spare is one exposition kept out of the pool, which a garbage
	// collection empties: a scrape of 10,000 members fills buffers of
	// tens of megabytes, and growing them again at every scrape cost more
	// than writing them (an uncompressed scrape: about 60 % of its CPU).
	spare atomic.Pointer[exposition]
	// cache keeps the compressed series of blocks of members from one
	// gzip scrape to the next (gzip.go).
	cache blockCache
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := h.spare.Swap(nil)
	if x == nil {
		x = h.expositions.Get().(*exposition)
	}
	defer func() {
		if !h.spare.CompareAndSwap(nil, x) {
			h.expositions.Put(x)
		}
	}()
	x.reset()
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	x.cache = nil
	if gz {
		x.cache = &h.cache
		h.cache.begin()
		defer h.cache.end()
	}
	h.col.collect(x)
	// A collector that fails leaves its families out; the rest are
	// served, as promhttp's ContinueOnError does.
	mfs, _ := h.reg.Gather()

	w.Header().Set("Content-Type", contentType)
	if !gz {
		if err := x.writeTo(w); err != nil {
			return // the scraper went away
		}
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return
			}
		}
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	g, _ := h.gzips.Get().(*gzipStream)
	if g == nil {
		g = &gzipStream{}
	}
	defer h.gzips.Put(g)
	g.reset(w)
	if err := x.writeGzip(g); err != nil {
		return
	}
	// The text of client_golang's families comes in many small writes;
	// the compressor is at its best given whole lines.
	x.other.Reset()
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&x.other, mf); err != nil {
			return
		}
	}
	g.Write(x.other.Bytes())
	if g.close() == nil {
		h.cache.commit(x.made, x.spliced)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
