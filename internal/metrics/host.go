package metrics

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// hostReader reads the machine-wide figures Octavia's LB-level gauges
// carry.
type hostReader interface {
	cpuPercent() (float64, bool)
	memoryPercent() (float64, bool)
}

// procHost computes them as Octavia's prometheus proxy does: CPU is the
// 1-minute load average over the CPU count, memory is the share of
// MemTotal not available.
type procHost struct{}

func (procHost) cpuPercent() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, false
	}
	load, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return 0, false
	}
	return load / float64(runtime.NumCPU()) * 100, true
}

func (procHost) memoryPercent() (float64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var total, avail float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "MemTotal":
			total = n
		case "MemAvailable":
			avail = n
		}
	}
	if total == 0 {
		return 0, false
	}
	return (total - avail) / total * 100, true
}
