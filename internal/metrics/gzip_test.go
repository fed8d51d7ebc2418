package metrics

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

func TestCRC32Combine(t *testing.T) {
	a, b := []byte("octavia_member_status{member=\"m\"} 1\n"), bytes.Repeat([]byte("lbd "), 1000)
	for _, cut := range []int{0, 1, 17, len(b)} {
		x, y := append(bytes.Clone(a), b[:cut]...), b[cut:]
		got := crc32Combine(crc32.ChecksumIEEE(x), crc32.ChecksumIEEE(y), crc32Shift(len(y)))
		if want := crc32.ChecksumIEEE(append(bytes.Clone(x), y...)); got != want {
			t.Errorf("cut %d: combined %08x, want %08x", cut, got, want)
		}
	}
}

// TestGzipScrapeIsTheSameText: a gzip scrape, which keeps blocks of
// members compressed from one scrape to the next, decompresses to the text
// an uncompressed scrape writes, on the first scrape, on one where nothing
// changed (every block reused), and after traffic changed one member's
// counters (its block written again, the others reused). The pool has a
// (disabled) health monitor, so every member also prints the series
// written fresh at each scrape after a reused block's text
// (check_last_change_seconds).
func TestGzipScrapeIsTheSameText(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	backend, err := demo.Start(ctx, "127.0.0.1:0", demo.Options{Name: "a"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	realPort := backend.Addr()[strings.LastIndex(backend.Addr(), ":")+1:]
	y := poolyaml.Pool{LB: "lb", Port: web, Algorithm: "SOURCE_IP",
		Fields:  []string{"healthmonitor: {type: TCP, delay: 60, timeout: 5, max_retries: 3, admin_state_up: false}"},
		Members: 1 + 2*memberBlock + 5, // three blocks
		Member: func(i int) string {
			if i == 0 {
				return "name: real, address: 127.0.0.1, protocol_port: " + realPort
			}
			return fmt.Sprintf("name: m%d, address: 127.3.0.%d, protocol_port: 8080, admin_state_up: false", i-1, (i-1)%250+1)
		}}.YAML()
	cfg, err := octavia.Parse("gzip.yaml", y)
	if err != nil {
		t.Fatal(err)
	}
	rt := proxy.New(log, proxy.Options{})
	if err := rt.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	h := Handler(rt, Options{}).(*handler)

	scrape := func(gz bool) string {
		t.Helper()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if gz {
			if rec.Header().Get("Content-Encoding") != "gzip" {
				t.Fatal("no gzip")
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil { // checks the CRC and length
				t.Fatalf("gzip stream: %v", err)
			}
		}
		return lbdLines(string(body))
	}
	compare := func(what string, wantReused, wantMade int) {
		t.Helper()
		gz, plain := scrape(true), scrape(false)
		if gz != plain {
			t.Fatalf("%s: the gzip scrape differs from the plain one:\n%s", what, firstDiff(gz, plain))
		}
		for _, f := range []string{"octavia_member_weight{", "octavia_member_check_last_change_seconds{"} {
			if n := strings.Count(plain, f); n != 2*memberBlock+6 {
				t.Fatalf("%s: %d %s series, want one per member", what, n, f)
			}
		}
		if last := h.cache.last; last.reused != wantReused || last.made != wantMade {
			t.Errorf("%s: %d blocks reused and %d compressed, want %d and %d", what, last.reused, last.made, wantReused, wantMade)
		}
	}
	compare("first scrape", 0, 3)
	compare("nothing changed", 3, 0)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", web))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The request is counted as its exchange ends, which the client may
	// see first, and the member connection it leaves idle at the event
	// loop's next tick: wait for both.
	member := fmt.Sprintf("{member=%q,pool=%q} 1\n",
		cfg.LoadBalancers[0].Pools[0].Members[0].ID, cfg.LoadBalancers[0].Pools[0].ID+":"+cfg.LoadBalancers[0].Listeners[0].ID)
	counted, idle := "octavia_member_sessions_total"+member, "octavia_member_idle_connections_current"+member
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(scrape(false), counted) || !strings.Contains(scrape(false), idle); {
		if time.Now().After(deadline) {
			t.Fatalf("the request was not counted:\n%s", scrape(false))
		}
		time.Sleep(time.Millisecond)
	}
	compare("one member had traffic", 2, 1)
	// In the block that changed, the families whose text did not (the
	// status, the weight, the error counters, ...) are spliced in again,
	// not compressed again; the texts compared equal above.
	if got := h.cache.last.spliced; got == 0 {
		t.Errorf("one member had traffic: no family of its block was spliced in again")
	}
	// A member's weight changed: its block is written again, the weight
	// family with it, the families whose values did not change spliced.
	reweighted := strings.Replace(string(y), "{name: m1,", "{name: m1, weight: 7,", 1)
	cfg2, err := octavia.Parse("gzip.yaml", []byte(reweighted))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Apply(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	compare("one member's weight changed", 2, 1)
	weight := fmt.Sprintf("octavia_member_weight{member=%q,pool=%q} 7\n",
		cfg2.LoadBalancers[0].Pools[0].Members[2].ID, cfg2.LoadBalancers[0].Pools[0].ID+":"+cfg2.LoadBalancers[0].Listeners[0].ID)
	if !strings.Contains(scrape(true), weight) {
		t.Errorf("no %q in the gzip scrape", weight)
	}
	// A pool under load: every member's counters and latencies moved
	// since the scrape before, every block is compressed again.
	for k := range 2 {
		for i, m := range rt.PoolMembers(cfg.LoadBalancers[0].Pools[0].ID) {
			m.Traffic.Connections.Add(1)
			m.Traffic.Requests.Add(1)
			m.Traffic.BytesIn.Add(uint64(100 + i))
			m.Traffic.BytesOut.Add(uint64(1000 * i))
			m.Traffic.Responses[1+(i+k)%4].Add(1)
			m.Traffic.ConnectTime.Observe(time.Duration(100+(i+k)%900) * time.Microsecond)
			m.Traffic.ResponseTime.Observe(time.Duration(1+(i+k)%40) * time.Millisecond)
		}
		compare(fmt.Sprintf("every member had traffic (%d)", k+1), 0, 3)
	}
}

// lbdLines keeps lbd's own series, without those that change by
// themselves between two scrapes (time, host CPU and memory).
func lbdLines(s string) string {
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "octavia_") && !strings.HasPrefix(l, "lbd_") && !strings.HasPrefix(l, "# HELP octavia_") && !strings.HasPrefix(l, "# TYPE octavia_") {
			continue
		}
		if strings.HasPrefix(l, "octavia_loadbalancer_cpu") || strings.HasPrefix(l, "octavia_loadbalancer_memory") {
			continue
		}
		if strings.HasPrefix(l, "octavia_member_check_last_change_seconds{") {
			// Its value is an age in seconds, which may tick between
			// two scrapes: keep the series, not the value.
			l = l[:strings.LastIndexByte(l, ' ')+1] + "age"
		}
		out.WriteString(l)
		out.WriteByte('\n')
	}
	return out.String()
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n gzip:  %s\n plain: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines against %d", len(al), len(bl))
}

// TestBlockCacheRecyclesWhatNothingRefersTo: a commit made while no other
// gzip scrape is under way recycles the views of the blocks it replaced
// and their chunks that the new blocks did not splice again; one made
// while another scrape is under way, which may still splice the old
// blocks' chunks, recycles nothing. A recycled block serves again too.
func TestBlockCacheRecyclesWhatNothingRefersTo(t *testing.T) {
	var bc blockCache
	k := blockKey{"pool", 0}
	block := func(chunks ...*chunk) *cachedBlock {
		return &cachedBlock{views: make([]memberView, 1), chunks: chunks}
	}
	shared, own := &chunk{}, &chunk{}
	gen1 := block(shared, own)
	bc.begin()
	bc.commit([]madeBlock{{k, gen1}}, 0)
	bc.end()

	// Two scrapes under way: the one that commits gen2 recycles nothing.
	own2 := &chunk{}
	gen2 := block(shared, own2)
	bc.begin()
	bc.begin()
	bc.commit([]madeBlock{{k, gen2}}, 0)
	bc.end()
	if v := bc.spareViews(); v != nil {
		t.Errorf("views recycled while another scrape was under way")
	}
	if c := bc.newChunk(1); c == own {
		t.Errorf("a chunk recycled while another scrape was under way")
	}
	if b := bc.newBlock(nil, 2); b == gen1 {
		t.Errorf("a block recycled while another scrape was under way")
	}
	bc.end()

	// Alone: gen2's views, own chunk and the block itself (its slice of
	// chunks emptied) are recycled, not the chunk gen3 spliced again.
	gen3 := block(shared, &chunk{})
	bc.begin()
	bc.commit([]madeBlock{{k, gen3}}, 0)
	if v := bc.spareViews(); v == nil {
		t.Errorf("the replaced block's views were not recycled")
	}
	if c := bc.newChunk(1); c != own2 {
		t.Errorf("the replaced block's own chunk was not recycled")
	}
	if c := bc.newChunk(0); c == shared {
		t.Errorf("a chunk the new block splices was recycled")
	}
	if b := bc.newBlock(nil, 2); b != gen2 || b.chunks[0] != nil || b.chunks[1] != nil {
		t.Errorf("the replaced block was not recycled, emptied")
	}
	bc.end()
}
