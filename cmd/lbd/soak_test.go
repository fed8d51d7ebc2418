package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/loadgen"
)

// soakSample is one reading of an lbd process and its load.
type soakSample struct {
	at             time.Duration
	rssKB          int
	res            procResources
	ok, failed     int64
	reloads, churn int
}

func (s soakSample) String() string {
	return fmt.Sprintf("%7s  rss %6d KiB  %4d goroutines  %4d fds  %9d ok  %4d failed  %4d reloads  %4d API changes",
		s.at.Round(time.Second), s.rssKB, s.res.goroutines, s.res.fds, s.ok, s.failed, s.reloads, s.churn)
}

func rssKB(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var n int
			fmt.Sscan(strings.TrimPrefix(line, "VmRSS:"), &n)
			return n
		}
	}
	return 0
}

// TestSoak is `make soak` (scripts/soak.sh): a real lbd process under a
// sustained load on two listeners (one from the file, one created through
// the API) for LBD_SOAK_TIME, with churn all along: a SIGHUP reload with a
// changed file every second, an API member change every half second, a
// member killed every 10 s and restarted 2 s later. It prints RSS,
// goroutines, fds and request counts every 10 s, and fails on any failed
// request or if goroutines and fds are not back to their starting counts
// once the churn has undone itself. Skipped unless LBD_SOAK_TIME is set.
func TestSoak(t *testing.T) {
	soak, err := time.ParseDuration(os.Getenv("LBD_SOAK_TIME"))
	if err != nil {
		t.Skip("set LBD_SOAK_TIME (e.g. 3m) to run the soak: make soak")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	ms := make([]*demo.Backend, 3)
	for i := range ms {
		ms[i] = demoAt(t, ctx, "127.0.0.1:0", fmt.Sprintf("m%d", i))
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbd.yaml")
	filePort, apiPort := freePort(t), freePort(t)
	initial := fileLB(filePort, ms[:2], []int{1, 1})
	writeAtomic(t, cfg, initial)
	p := startProc(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", []string{"LBD_API_TOKEN="},
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	lb := p.must(t, 201, "POST", "/v2/lbaas/loadbalancers", apiLB("apilb", apiPort, ms[:2]))["loadbalancer"].(map[string]any)
	poolID := lb["pools"].([]any)[0].(map[string]any)["id"].(string)
	base := p.settle(t)
	baseRSS := rssKB(t, p.cmd.Process.Pid)
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	fileLoad, fileDone := loadgen.Start(fmt.Sprintf("127.0.0.1:%d", filePort), "/", 4, stop)
	apiLoad, apiDone := loadgen.Start(fmt.Sprintf("127.0.0.1:%d", apiPort), "/", 4, stop)

	var reloads, changes int
	var churnMu sync.Mutex
	var churnErr []string
	every := func(d time.Duration, f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				f(i)
			}
		}()
	}
	variants := []string{fileLB(filePort, ms, []int{1, 1, 1}), fileLB(filePort, ms[1:], []int{3, 1}), initial}
	every(time.Second, func(i int) {
		mu.Lock()
		writeAtomic(t, cfg, variants[i%len(variants)])
		mu.Unlock()
		p.cmd.Process.Signal(syscall.SIGHUP)
		churnMu.Lock()
		reloads++
		churnMu.Unlock()
	})
	_, p2 := splitAddr(ms[2].Addr())
	cycle := memberCycle{poolID: poolID, port: p2}
	every(500*time.Millisecond, func(i int) {
		err := cycle.step(p, i)
		churnMu.Lock()
		defer churnMu.Unlock()
		if err != nil {
			churnErr = append(churnErr, err.Error())
		}
		changes++
	})
	every(10*time.Second, func(i int) { // kill a member, restart it 2 s later
		k := i % len(ms)
		mu.Lock()
		addr := ms[k].Addr()
		ms[k].Close()
		mu.Unlock()
		select {
		case <-stop:
		case <-time.After(2 * time.Second):
		}
		b, err := demo.Start(ctx, addr, demo.Options{Name: fmt.Sprintf("m%d", k)}, slog.New(slog.DiscardHandler))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			churnMu.Lock()
			churnErr = append(churnErr, fmt.Sprintf("restart member %s: %v", addr, err))
			churnMu.Unlock()
			return
		}
		ms[k] = b
	})

	sample := func() soakSample {
		churnMu.Lock()
		defer churnMu.Unlock()
		s := soakSample{at: time.Since(start), rssKB: rssKB(t, p.cmd.Process.Pid), res: p.resources(t), reloads: reloads, churn: changes}
		for _, l := range []*loadgen.Result{fileLoad, apiLoad} {
			s.ok += l.OK.Load()
			s.failed += int64(len(l.Failures()))
		}
		return s
	}
	var samples []soakSample
	deadline := time.After(soak)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	t.Logf("soak for %v: lbd pid %d, listeners :%d (file) and :%d (API)", soak, p.cmd.Process.Pid, filePort, apiPort)
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-tick.C:
			s := sample()
			samples = append(samples, s)
			t.Log(s)
		}
	}
	close(stop)
	wg.Wait()
	<-fileDone
	<-apiDone
	final := sample()
	t.Logf("load stopped: %v", final)

	// Undo the churn: the initial file, the API member removed.
	writeAtomic(t, cfg, initial)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if cycle.id != "" {
		p.call("DELETE", "/v2/lbaas/pools/"+poolID+"/members/"+cycle.id, nil)
	}
	t.Logf("file listener: %v", fileLoad)
	t.Logf("API listener: %v", apiLoad)
	for _, e := range churnErr {
		t.Errorf("churn: %s", e)
	}
	if final.failed != 0 {
		t.Errorf("%d failed requests", final.failed)
	}
	if len(samples) == 0 {
		t.Fatalf("LBD_SOAK_TIME %v is too short for a sample (every 10 s)", soak)
	}
	t.Logf("before the load: rss %6d KiB  %v", baseRSS, base)
	t.Logf("start (10 s in): %v", samples[0])
	t.Logf("end:             %v", final)
	p.expectBaseline(t, base, 2)
	t.Logf("after idle:      rss %6d KiB  %v", rssKB(t, p.cmd.Process.Pid), p.resources(t))
}
