package metrics

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// contentType is the Prometheus text format's, which every Prometheus
// version scrapes.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves /metrics for src: lbd's families, which the collector
// writes itself (exposition.go), then the Go runtime's and the process's
// from client_golang's collectors and any extra ones, gathered from a
// registry of the handler's own (no global state).
func Handler(src Source, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		reg.MustRegister(c)
	}
	return &handler{col: NewCollector(src), reg: reg, x: newExposition(lbdFamilies)}
}

type handler struct {
	col *Collector
	reg prometheus.Gatherer
	// One scrape at a time: scrapes share the exposition's buffers and the
	// gzip writer, and a second concurrent scrape would only double the
	// CPU taken from the data plane.
	mu sync.Mutex
	x  *exposition
	gz *gzip.Writer
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.x.reset()
	h.col.collect(h.x)
	// A collector that fails leaves its families out; the rest are
	// served, as promhttp's ContinueOnError does.
	mfs, _ := h.reg.Gather()

	w.Header().Set("Content-Type", contentType)
	var body io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		if h.gz == nil {
			h.gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			h.gz.Reset(w)
		}
		body = h.gz
		defer h.gz.Close()
	}
	if err := h.x.writeTo(body); err != nil {
		return // the scraper went away
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(body, mf); err != nil {
			return
		}
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
