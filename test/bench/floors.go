package main

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// The machine's floor, measured in the same run as the workloads (figures
// differ several-fold between machines; their ratio to what the hardware
// does in the same run does not): Ed25519 sign and verify rates on one
// core and the cores the engine may use, a synced datastore batch on the
// daemons' stores, and the engine's in-process append rate. They are the
// threads package's benchmarks (BenchmarkFloor*, BenchmarkAppendConcurrent),
// run with go test from the repository root, so this module keeps its own
// dependencies.

// Floor is one floor of the run.
type Floor struct {
	Value float64
	Unit  string
	// What says what was measured.
	What string
}

// Floor names.
const (
	floorSignCore   = "Ed25519 sign, one core"
	floorVerifyCore = "Ed25519 verify, one core"
	floorCores      = "cores used"
	floorSign       = "Ed25519 sign x cores"
	floorVerify     = "Ed25519 verify x cores"
	floorCopy       = "one copy per member"
	// floorOwnAppends is W2's: A's own appends, measured by W2 itself.
	floorOwnAppends = "A's own appends"
)

func floorEngine(profile string) string { return "engine, " + profileName(profile) }
func floorBatch(profile string) string  { return "synced batch, " + profileName(profile) }

// floorStore is the threads package's benchmark store of a repo profile
// (bench_test.go's benchStores): the layouts the daemons' repos have.
func floorStore(profile string) (string, bool) {
	switch profile {
	case "":
		// Kubo has written flatfs with "sync": false since v0.33.
		return "flatfs-nosync-levelds", true
	case "pebbleds":
		return "pebbleds", true
	}
	return "", false
}

// floor returns a floor and whether it was measured.
func (b *bench) floor(name string) (Floor, bool) {
	fl, ok := b.rep.Floors[name]
	return fl, ok && fl.Value > 0
}

// floorValue is a floor's value, 0 when it was not measured.
func (b *bench) floorValue(name string) float64 {
	fl, _ := b.floor(name)
	return fl.Value
}

// ofRate sets r's fraction: its median (a rate) divided by the floor (a
// rate in the same unit).
func (b *bench) ofRate(r Result, floor string) Result {
	if fl, ok := b.floor(floor); ok && r.Available {
		r.Fraction = &Fraction{Of: floor, Floor: fl.Value, Ratio: "median / floor", Value: r.Median / fl.Value}
	}
	return r
}

// ofCost sets r's fraction for a cost (a time, CPU or bytes): the floor's
// cost, in r's unit, divided by the median. cost is the floor's cost, 0
// when it is not known.
func ofCost(r Result, floor string, cost float64) Result {
	if cost > 0 && r.Available && r.Median > 0 {
		r.Fraction = &Fraction{Of: floor, Floor: cost, Ratio: "floor / median", Value: cost / r.Median}
	}
	return r
}

// signCostUs and verifyCostUs are one signature's and one verification's
// cost on one core, in µs; 0 when not measured.
func (b *bench) signCostUs() float64   { return costUs(b.floorValue(floorSignCore)) }
func (b *bench) verifyCostUs() float64 { return costUs(b.floorValue(floorVerifyCore)) }

func costUs(perSecond float64) float64 {
	if perSecond <= 0 {
		return 0
	}
	return 1e6 / perSecond
}

// verifyTime is how long verifying n events takes on every core, in s; 0
// when not measured.
func (b *bench) verifyTime(n int) float64 {
	if v := b.floorValue(floorVerify); v > 0 {
		return float64(n) / v
	}
	return 0
}

// latencyFloorMs is the least one event's propagation from a writer to a
// member can take on this machine: one signature, one verification and two
// synced batches (the writer's commit and the member's), in ms; 0 when not
// measured.
func (b *bench) latencyFloorMs(profile string) float64 {
	batches := b.floorValue(floorBatch(profile))
	if b.signCostUs() == 0 || b.verifyCostUs() == 0 || batches == 0 {
		return 0
	}
	return (b.signCostUs() + b.verifyCostUs() + 2*1e6/batches) / 1000
}

const floorLatency = "sign + verify + 2 synced batches"

// floorProfiles are the repo profiles whose store floors the run needs: the
// workloads' profile, and both of W1's when W1 runs.
func (b *bench) floorProfiles(w1 bool) []string {
	if w1 {
		return []string{"", "pebbleds"}
	}
	return []string{b.sz.SyncProfile}
}

// measureFloors runs the floor benchmarks, adds their rows (workload "F")
// and records them in Report.Floors.
func (b *bench) measureFloors(ctx context.Context, profiles []string) error {
	var stores []string
	for _, p := range profiles {
		if s, ok := floorStore(p); ok {
			stores = append(stores, s)
		} else {
			b.rep.add(unavailable("F", floorBatch(p), "no floor benchmark for this profile"))
		}
	}
	if err := b.cryptoAndBatchFloors(ctx, profiles, stores); err != nil {
		return err
	}
	b.engineFloors(ctx, profiles, stores)
	return nil
}

func (b *bench) cryptoAndBatchFloors(ctx context.Context, profiles, stores []string) error {
	pattern := "^BenchmarkFloor(Ed25519|SyncedBatch)$/^(sign|verify|" + strings.Join(stores, "|") + ")$"
	lines, cmd, err := b.goBench(ctx, "./threads/", pattern, b.sz.FloorTime, nil)
	if err != nil {
		return fmt.Errorf("floors: %w", err)
	}
	var cores []float64
	for _, c := range []struct{ sub, unit, what string }{
		{"sign", "signs/s", floorSignCore},
		{"verify", "verifies/s", floorVerifyCore},
	} {
		runs := metric(lines, "BenchmarkFloorEd25519/"+c.sub, c.unit)
		cores = metric(lines, "BenchmarkFloorEd25519/"+c.sub, "cores")
		r := newResult("F", c.what, c.unit, runs, "a 256-byte message, libp2p's Ed25519 keys: "+cmd)
		b.rep.add(r)
		b.rep.Floors[c.what] = Floor{Value: r.Median, Unit: c.unit, What: c.what}
	}
	rc := newResult("F", floorCores, "cores", cores, "GOMAXPROCS of the benchmark; the daemons run with the same")
	b.rep.add(rc)
	b.rep.Floors[floorCores] = Floor{Value: rc.Median, Unit: "cores", What: "the cores a process may use (GOMAXPROCS)"}
	b.rep.Floors[floorSign] = Floor{Value: b.floorValue(floorSignCore) * rc.Median, Unit: "signs/s",
		What: "Ed25519 signs per second on one core, times the cores used"}
	b.rep.Floors[floorVerify] = Floor{Value: b.floorValue(floorVerifyCore) * rc.Median, Unit: "verifies/s",
		What: "Ed25519 verifications per second on one core, times the cores used"}
	b.rep.Floors[floorCopy] = Floor{Value: 1, Unit: "x event size", What: "each member receives each event once, and nothing else"}
	for _, p := range profiles {
		s, ok := floorStore(p)
		if !ok {
			continue
		}
		r := newResult("F", "synced datastore batch (an event's block, index entry and head; commit, Sync), "+profileName(p),
			"batches/s", metric(lines, "BenchmarkFloorSyncedBatch/"+s, "batches/s"), "one at a time, as the daemon's repo lays it out")
		b.rep.add(r)
		b.rep.Floors[floorBatch(p)] = Floor{Value: r.Median, Unit: "batches/s", What: r.Name}
	}
	if ms := b.latencyFloorMs(b.sz.SyncProfile); ms > 0 {
		b.rep.Floors[floorLatency] = Floor{Value: ms, Unit: "ms",
			What: "the least an event's propagation takes: the writer signs and commits, the member verifies and commits (" + profileName(b.sz.SyncProfile) + ")"}
	}
	return nil
}

// engineFloors measures the engine's in-process append rate (the daemon
// has no in-process Go entry point): BenchmarkAppendConcurrent, 64
// concurrent appenders on one thread, on the profiles' layouts.
func (b *bench) engineFloors(ctx context.Context, profiles, stores []string) {
	name := func(p string) string {
		return fmt.Sprintf("in-process engine: append %s x 100 B, Go API, 64 appenders, %s layout", count(b.sz.EngineEvents), profileName(p))
	}
	pattern := "^BenchmarkAppendConcurrent$/^(" + strings.Join(stores, "|") + ")$/^threads=1$"
	lines, cmd, err := b.goBench(ctx, "./threads/", pattern, fmt.Sprintf("%dx", b.sz.EngineEvents), nil)
	for _, p := range profiles {
		s, ok := floorStore(p)
		if !ok {
			continue
		}
		if err != nil {
			b.rep.add(unavailable("F", name(p), err.Error()))
			continue
		}
		runs := metric(lines, "BenchmarkAppendConcurrent/"+s+"/threads=1", "appends/s")
		r := b.ofRate(newResult("F", name(p), "events/s", runs, "threads.Service.Append: "+cmd), floorSign)
		b.rep.add(r)
		b.rep.Floors[floorEngine(p)] = Floor{Value: r.Median, Unit: "events/s", What: r.Name}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "  engine floor: %s\n", err)
	}
}
