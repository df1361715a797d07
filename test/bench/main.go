// Command bench measures kubo-threads on real daemons: it starts daemons of
// bin/ipfs on 127.0.0.1 (fresh repos, test profile, pubsub on, connected to
// each other), runs fixed workloads over the RPC API (see workloads below),
// prints a table of medians with their run-to-run spread, writes the
// results as JSON and draws the W6 and W7 curves as SVG charts.
//
// It first measures the machine's floor in the same run (Ed25519 sign and
// verify rates, a synced datastore batch, the engine's in-process append
// rate: the threads package's benchmarks, run with go test) and prints
// every workload also as a fraction of the floor that bounds it (floors.go).
// W8, members at scale, runs in process too (BenchmarkMembers).
//
// From the repository root, after ./build.sh:
//
//	make bench                 # the documented run (see the README)
//	make bench-quick           # small sizes, one run: what CI runs
//
// or directly, from test/bench (a Go module of its own, so that its
// plotting library never touches the root module's dependencies):
//
//	go run . -out bench.json -charts ../../docs/bench
//
// It talks to the daemons over their CLI and HTTP RPC API only.
//
// Adding a workload: write a method func (b *bench) wX(ctx context.Context)
// error that adds its Results (b.rep.add), each read against the floor
// that bounds it (b.ofRate, ofCost), and add its row to workloads; its
// sizes, if any, are a field of sizes with a flag and a quick-mode value.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workload is one row of the bench: its name (for -only), what it measures,
// and the method that runs it.
type workload struct {
	name, what string
	run        func(*bench, context.Context) error // nil: announced, not measured yet
}

// workloads run in this order.
var workloads = []workload{
	{"W1", "appends over RPC, one event per request (floor: the engine)", (*bench).w1},
	// Issue #11's batch append; floor: the engine (b.ofRate(r, floorEngine(profile))).
	{"W1b", "batched appends over RPC", nil},
	{"W2", "replication A to B (floor: A's own appends)", (*bench).w2},
	{"W3", "propagation latency (floor: sign + verify + 2 synced batches)", (*bench).w3},
	{"W3L", "propagation latency while another writer appends at half the engine rate", (*bench).w3load},
	{"W4", "late joiner (floor, full replay: verification on every core)", (*bench).w4},
	{"W5", "views (floor: the engine)", (*bench).w5},
	{"W6", "cost per event as a thread grows (floors: one signature, one verification)", (*bench).w6},
	{"W7", "idle threads", (*bench).w7},
	{"W8", "members at scale, in process (floor: one copy of each event per member)", (*bench).w8},
	// Issue #11's webhooks: delivery latency; floor: as W3 (ofCost(r, floorLatency, ...)).
	{"WH", "webhook delivery latency", nil},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// intList parses "1000,10000" (k and M suffixes allowed: "1k,10k,1M").
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "M")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q in %q", f, s)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func run() error {
	var (
		bin       = flag.String("bin", "", "the ipfs binary with the threads plugin (default: bin/ipfs of the repository)")
		out       = flag.String("out", "bench.json", "where to write the JSON results")
		chartsDir = flag.String("charts", "", "directory for the W6/W7 SVG charts (none when empty)")
		mdOut     = flag.String("md", "", "also write the table as Markdown to this file")
		quick     = flag.Bool("quick", false, "small sizes and one run, to check that the bench works (CI)")
		runs      = flag.Int("runs", 3, "runs per workload (medians and spread are over them)")
		only      = flag.String("only", "", "workloads to run, e.g. W1,W3L (default: all)")
		floorsOn  = flag.Bool("floors", true, "measure the machine's floor first (go test of the threads package; needs the Go toolchain and the source)")
		floorTime = flag.String("floortime", "1s", "benchtime of the Ed25519 and datastore floors")
		clients   = flag.Int("clients", 16, "concurrent RPC clients in the append workloads")
		profile   = flag.String("profile", "pebbleds", "repo profile of W2-W7, besides test (\"\" for Kubo's default flatfs+leveldb)")
		w1        = flag.Int("w1", 10000, "W1: events appended per run")
		w2        = flag.Int("w2", 10000, "W2: events replicated per run")
		w3        = flag.Duration("w3", 10*time.Second, "W3: how long one event per 20 ms is sent")
		w3l       = flag.Duration("w3l", 10*time.Second, "W3L: how long one event per 20 ms is sent under load")
		w3load    = flag.Float64("w3load", 0, "W3L: the other writer's rate, events/s (0: half the engine rate measured in the run)")
		w4        = flag.String("w4", "100k", "W4: history the late joiner catches up on")
		w5        = flag.Int("w5", 2000, "W5: kv puts and document inserts per run")
		w5docs    = flag.String("w5docs", "100k", "W5: documents the queries run over")
		w6        = flag.String("w6", "1k,10k,100k", "W6: thread sizes to measure at (e.g. 1k,10k,100k,1M)")
		w6sample  = flag.Int("w6sample", 1000, "W6: events appended per measurement")
		w7        = flag.String("w7", "1,100,1k,10k", "W7: thread counts to measure at")
		w7members = flag.Int("w7members", 2, "W7: other daemons joining every thread")
		w7window  = flag.Duration("w7window", 30*time.Second, "W7: idle measuring window (one anti-entropy period by default)")
		w8        = flag.String("w8", "10,50,100", "W8: thread sizes (members) to measure at")
		w8dur     = flag.Duration("w8duration", 10*time.Second, "W8: how long the writers write")
	)
	flag.Parse()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	if *bin == "" {
		*bin = filepath.Join(root, "bin", "ipfs")
	}
	if *bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	if st, err := os.Stat(*bin); err != nil || st.IsDir() {
		return fmt.Errorf("no ipfs binary at %s: build it with ./build.sh (or pass -bin)", *bin)
	}
	if out, err := exec.Command(*bin, "threads", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "ipfs threads create") {
		return fmt.Errorf("%s has no 'ipfs threads' command: %v", *bin, err)
	}

	sz := sizes{Clients: *clients, W1Events: *w1, W2Events: *w2, W3Duration: *w3, W3Interval: 20 * time.Millisecond,
		W3LDuration: *w3l, W3LoadRate: *w3load, W5Puts: *w5, W6Sample: *w6sample, W7Members: *w7members, W7Window: *w7window,
		W8Duration: *w8dur, SyncProfile: *profile, FloorTime: *floorTime, EngineEvents: *w1, GoTestTimeout: 90 * time.Minute}
	for _, l := range []struct {
		s   string
		dst *[]int
	}{{*w6, &sz.W6Sizes}, {*w7, &sz.W7Threads}, {*w8, &sz.W8Members}} {
		if *l.dst, err = intList(l.s); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		s   string
		dst *int
	}{{*w4, &sz.W4Events}, {*w5docs, &sz.W5Docs}} {
		v, err := intList(l.s)
		if err != nil || len(v) != 1 {
			return fmt.Errorf("bad size %q", l.s)
		}
		*l.dst = v[0]
	}
	if *quick {
		*runs = 1
		sz = sizes{Clients: 8, W1Events: 300, W2Events: 300, W3Duration: 2 * time.Second, W3Interval: 20 * time.Millisecond,
			W3LDuration: 2 * time.Second, W3LoadRate: *w3load, W4Events: 1000, W5Puts: 200, W5Docs: 1000, W6Sizes: []int{100, 1000}, W6Sample: 100,
			W7Threads: []int{1, 10}, W7Members: 1, W7Window: 2 * time.Second, W8Members: []int{10}, W8Duration: 3 * time.Second,
			SyncProfile: *profile, FloorTime: "50ms", EngineEvents: 300, GoTestTimeout: 10 * time.Minute}
	}
	selected, err := selectWorkloads(*only)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "threads-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rep := &Report{
		Command: strings.TrimSpace("cd test/bench && go run . " + strings.Join(os.Args[1:], " ")),
		Binary:  binVersion(*bin), Started: time.Now().UTC().Format(time.RFC3339), Quick: *quick, Runs: *runs,
		Sizes: map[string]any{"clients": sz.Clients, "W1": sz.W1Events, "W2": sz.W2Events, "W3": sz.W3Duration.String(),
			"W3L": sz.W3LDuration.String(), "W3L load": sz.W3LoadRate,
			"W4": sz.W4Events, "W5": sz.W5Puts, "W5docs": sz.W5Docs, "W6": sz.W6Sizes, "W6sample": sz.W6Sample,
			"W7": sz.W7Threads, "W7members": sz.W7Members, "W7window": sz.W7Window.String(),
			"W8": sz.W8Members, "W8duration": sz.W8Duration.String(), "profile W2-W7": profileName(sz.SyncProfile),
			"floortime": sz.FloorTime, "engine events": sz.EngineEvents},
		Floors: map[string]Floor{}, Curves: map[string][]Point{},
	}
	b := &bench{bin: *bin, root: root, dir: dir, runs: max(1, *runs), sz: sz, rep: rep}
	t0 := time.Now()
	if *floorsOn {
		floor := workload{"F", "the machine's floor", func(b *bench, ctx context.Context) error {
			return b.measureFloors(ctx, b.floorProfiles(selected["W1"]))
		}}
		if err := b.runWorkload(ctx, floor); err != nil {
			return err
		}
	}
	for _, w := range workloads {
		if selected[w.name] {
			if err := b.runWorkload(ctx, w); err != nil {
				return err
			}
		}
	}
	rep.Seconds = time.Since(t0).Seconds()

	fmt.Printf("kubo-threads bench: %s, %d run(s) each, %s\n\n", rep.Binary, b.runs, time.Since(t0).Round(time.Second))
	if err := writeTable(os.Stdout, rep.Results); err != nil {
		return err
	}
	if err := writeJSON(*out, rep); err != nil {
		return err
	}
	fmt.Printf("\nJSON: %s\n", *out)
	if *mdOut != "" {
		if err := os.MkdirAll(filepath.Dir(*mdOut), 0o755); err != nil {
			return err
		}
		f, err := os.Create(*mdOut)
		if err != nil {
			return err
		}
		writeMarkdown(f, rep.Results)
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *chartsDir != "" {
		files, err := drawCharts(*chartsDir, rep.Curves)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Printf("chart: %s\n", f)
		}
	}
	if len(b.failed) > 0 {
		return fmt.Errorf("workloads failed: %s", strings.Join(b.failed, ", "))
	}
	return nil
}

// runWorkload runs one workload; its failure is a row of the report (and
// the bench's exit status) unless the run was interrupted.
func (b *bench) runWorkload(ctx context.Context, w workload) error {
	fmt.Fprintf(os.Stderr, "== %s, %s\n", w.name, w.what)
	if w.run == nil {
		fmt.Fprintln(os.Stderr, "  (not measured yet)")
		return nil
	}
	t0 := time.Now()
	if err := w.run(b, ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		fmt.Fprintf(os.Stderr, "  %s FAILED: %s\n", w.name, err)
		b.rep.add(unavailable(w.name, "workload", "failed: "+err.Error()))
		b.failed = append(b.failed, w.name)
	}
	fmt.Fprintf(os.Stderr, "  (%s took %s)\n", w.name, time.Since(t0).Round(time.Second))
	return nil
}

// selectWorkloads parses -only: a comma-separated list of workload names,
// every workload when empty.
func selectWorkloads(only string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, w := range workloads {
		known[w.name] = true
	}
	if strings.TrimSpace(only) == "" {
		return known, nil
	}
	sel := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		if !known[n] {
			return nil, fmt.Errorf("-only: no workload %q", n)
		}
		sel[n] = true
	}
	return sel, nil
}

// repoRoot finds the kubo-threads repository: the directory above
// test/bench holding go.mod and build.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "build.sh")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "preload.list")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run the bench inside the kubo-threads repository (no build.sh and preload.list above %s)", dir)
		}
	}
}

// binVersion is what `ipfs version --commit` says.
func binVersion(bin string) string {
	out, err := exec.Command(bin, "version", "--commit").Output()
	if err != nil {
		return "ipfs (version unknown)"
	}
	return strings.TrimSpace(string(out))
}
