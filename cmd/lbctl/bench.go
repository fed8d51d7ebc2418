package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"lbd/internal/bench"
	"lbd/internal/bench/chart"
)

var benchCommand = command{
	summary: "Benchmark the balancing algorithms against each other on loopback: demo backends that behave like yours, lbd (a child process) in front of them with each algorithm in turn, HTTP load from many 127.x client addresses; compares latency, errors and each member's share.",
	usage:   "lbctl bench [-f SCENARIO.yaml] [--algorithms RR,LC,SIP] [--duration D] [--rate N | --concurrency N] [--clients N] [-o table|json] [--out DIR] [flags]",
	example: "lbctl bench -f configs/bench/slow-member.yaml --out /tmp/bench\nlbctl bench --algorithms RR,LC --rate 2000 --duration 20s",
	define:  defineBench,
}

func defineBench(fs *flag.FlagSet) runner {
	file := fs.String("f", "configs/bench/slow-member.yaml", "scenario file (see configs/bench/README.md)")
	algs := fs.String("algorithms", "", "comma-separated algorithms to compare: ROUND_ROBIN (RR), LEAST_CONNECTIONS (LC), SOURCE_IP (SIP), SOURCE_IP_PORT (SIPP); default: the scenario's")
	duration := fs.Duration("duration", 0, "load duration per algorithm (default: the scenario's)")
	rate := fs.Float64("rate", 0, "open-loop request rate, requests/s over all clients (replaces the scenario's rate or concurrency)")
	concurrency := fs.Int("concurrency", 0, "closed-loop requests in flight (replaces the scenario's rate or concurrency)")
	clients := fs.Int("clients", 0, "client source addresses, 127.0.0.2 upwards (default: the scenario's)")
	output := fs.String("o", "table", "output: table or json")
	out := fs.String("out", "", "folder for charts (latency CDF, member share over time) and results.json")
	format := fs.String("chart-format", "png", "chart format: png or svg")
	verbose := fs.Bool("v", false, "log lbd's and the backends' warnings to stderr")
	lbd := fs.String("lbd", "", "the lbd binary to run (default: the lbd beside lbctl, else the one on PATH)")
	from := fs.String("from", "", "print and chart a report saved with -o json (or --out's results.json) instead of running")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of lbctl's side of the benchmark (generator and backends) to this file; lbd's own is on its admin server's /debug/pprof/")
	return func(ctx context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("bench takes no arguments (%q): the scenario is -f FILE", pos[0])
		}
		return runBench(ctx, fs, benchArgs{*file, *algs, *duration, *rate, *concurrency, *clients, *output, *out, *format, *verbose, *from, *cpuprofile, *lbd}, stdout, stderr)
	}
}

// benchArgs are bench's flags, parsed.
type benchArgs struct {
	file, algs  string
	duration    time.Duration
	rate        float64
	concurrency int
	clients     int
	output, out string
	format      string
	verbose     bool
	from        string
	cpuprofile  string
	lbd         string
}

func runBench(ctx context.Context, fs *flag.FlagSet, a benchArgs, stdout, stderr io.Writer) error {
	file, algs, duration, rate, concurrency, clients := &a.file, &a.algs, &a.duration, &a.rate, &a.concurrency, &a.clients
	output, out, format, verbose, from, cpuprofile := &a.output, &a.out, &a.format, &a.verbose, &a.from, &a.cpuprofile
	if *output != "table" && *output != "json" {
		return fmt.Errorf("-o %q: must be table or json", *output)
	}
	if *format != "png" && *format != "svg" {
		return fmt.Errorf("--chart-format %q: must be png or svg", *format)
	}
	if *from != "" {
		rep, err := readReport(*from)
		if err != nil {
			return err
		}
		return writeReport(stdout, rep, *output, *out, *format)
	}
	s, err := bench.LoadFile(*file)
	if err != nil {
		return err
	}
	if err := override(s, fs, *algs, *duration, *rate, *concurrency, *clients); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("scenario %s with the command line's overrides: %w", *file, err)
	}

	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	lbdBin, err := bench.FindLBD(a.lbd)
	if err != nil {
		return err
	}
	opts := bench.Options{Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), LBD: lbdBin}
	if *verbose {
		opts.LBDLog = stderr
	}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		opts.Progress = stderr
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, s, opts)
	if err != nil {
		return err
	}
	return writeReport(stdout, rep, *output, *out, *format)
}

// writeReport prints rep as a table or JSON and writes its charts to out.
func writeReport(stdout io.Writer, rep *bench.Report, output, out, format string) error {
	if out != "" {
		files, err := chart.WriteAll(out, rep, format)
		if err != nil {
			return err
		}
		if output == "table" {
			defer fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(files, ", "))
		}
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return bench.WriteTable(stdout, rep)
}

func readReport(path string) (*bench.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	if len(rep.Runs) == 0 {
		return nil, fmt.Errorf("report %s: no runs", path)
	}
	return &rep, nil
}

// override applies the command line's choices to the scenario.
func override(s *bench.Scenario, fs *flag.FlagSet, algs string, duration time.Duration, rate float64, concurrency, clients int) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if algs != "" {
		s.Algorithms = nil
		for a := range strings.SplitSeq(algs, ",") {
			alg, ok := bench.ParseAlgorithm(a)
			if !ok {
				return fmt.Errorf("--algorithms: %q: must be ROUND_ROBIN (RR), LEAST_CONNECTIONS (LC), SOURCE_IP (SIP) or SOURCE_IP_PORT (SIPP)", a)
			}
			s.Algorithms = append(s.Algorithms, alg)
		}
	}
	if set["duration"] {
		s.Duration = duration
	}
	switch {
	case set["rate"] && set["concurrency"]:
		return errors.New("--rate and --concurrency: give one or the other")
	case set["rate"]:
		s.Rate, s.Concurrency = rate, 0
	case set["concurrency"]:
		s.Rate, s.Concurrency = 0, concurrency
	}
	if set["clients"] {
		s.Clients = clients
	}
	return nil
}

// isTerminal reports whether f is a character device, as a terminal is;
// the progress line is only drawn there.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
