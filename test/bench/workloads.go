package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sizes are the workload sizes; flags and -quick set them.
type sizes struct {
	Clients     int           // concurrent RPC clients of the append workloads
	W1Events    int           // events appended per run
	W2Events    int           // events replicated per run
	W3Duration  time.Duration // how long one event per W3Interval is sent
	W3Interval  time.Duration
	W3LDuration time.Duration // W3 under load: how long
	W3LoadRate  float64       // the other writer's events/s; 0: half the engine rate
	W4Events    int           // history the late joiner catches up on
	W5Puts      int           // kv puts and document inserts per run
	W5Docs      int           // documents the queries run over
	W6Sizes     []int         // events in the thread at each measuring point
	W6Sample    int           // events appended per measurement
	W7Threads   []int         // threads on the node at each measuring point
	W7Members   int           // other daemons that join every thread
	W7Window    time.Duration
	W8Members   []int // members of the thread at each measuring point
	W8Duration  time.Duration
	SyncProfile string // repo profile of W2-W7 ("" is Kubo's default)
	// The floor: benchtime of the Ed25519 and datastore benchmarks, and
	// events per run of the engine's; the bound of a go test run.
	FloorTime     string
	EngineEvents  int
	GoTestTimeout time.Duration
}

// bench runs the workloads and collects their results.
type bench struct {
	bin  string // bin/ipfs
	root string // the kubo-threads module (for the go test benchmarks)
	dir  string // scratch directory for repos
	runs int
	sz   sizes
	rep  *Report
	seq  atomic.Int64 // names fresh repos
	// failed lists the workloads that failed.
	failed []string
	// testBins are the test binaries built, by package (goBench).
	testBins map[string]string
}

// body100 is a 100-byte body carrying tag and i.
func body100(tag string, i int) []byte {
	b := []byte(fmt.Sprintf("%s %09d ", tag, i))
	for len(b) < 100 {
		b = append(b, 'x')
	}
	return b[:100]
}

// newCluster starts n fresh daemons on profile, all connected to the first
// (and the first to every other).
func (b *bench) newCluster(ctx context.Context, n int, profile string, pluginCfg map[string]any) ([]*daemon, error) {
	var ds []*daemon
	fail := func(err error) ([]*daemon, error) {
		stopAll(ds)
		return nil, err
	}
	for i := range n {
		name := fmt.Sprintf("n%03d-%c", b.seq.Add(1), 'A'+i)
		d, err := newDaemon(ctx, b.bin, b.dir, name, profile, pluginCfg)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = d.start(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	for _, d := range ds[1:] {
		if err := ds[0].connect(ctx, d); err != nil {
			return fail(err)
		}
	}
	return ds, nil
}

// stopAll stops the daemons and deletes their repos.
func stopAll(ds []*daemon) {
	for _, d := range ds {
		d.stop()
		_ = os.RemoveAll(d.repo)
	}
}

// appendMany appends n 100-byte events with b.sz.Clients concurrent RPC
// clients and returns how long that took.
func (b *bench) appendMany(ctx context.Context, d *daemon, tid, tag string, n int) (time.Duration, error) {
	return b.concurrently(ctx, n, func(i int) error {
		_, err := d.api.add(ctx, tid, body100(tag, i))
		return err
	})
}

// concurrently runs op(0..n-1) on b.sz.Clients workers; it stops at the
// first error.
func (b *bench) concurrently(ctx context.Context, n int, op func(i int) error) (time.Duration, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	for range max(1, min(b.sz.Clients, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), firstErr
}

// profileName names a repo profile for the table.
func profileName(p string) string {
	if p == "" {
		return "default flatfs+leveldb"
	}
	return p
}

// w1 measures appends through the RPC API on both profiles, each against
// the engine's in-process rate on the same layout (the floor).
func (b *bench) w1(ctx context.Context) error {
	n := b.sz.W1Events
	for _, profile := range []string{"", "pebbleds"} {
		name := fmt.Sprintf("append %s x 100 B, RPC threads/add, %d clients, %s", count(n), b.sz.Clients, profileName(profile))
		ds, err := b.newCluster(ctx, 1, profile, nil)
		if err != nil {
			return err
		}
		var rates []float64
		for r := range b.runs {
			tid, _, err := ds[0].api.create(ctx)
			if err != nil {
				stopAll(ds)
				return err
			}
			took, err := b.appendMany(ctx, ds[0], tid, fmt.Sprintf("w1r%d", r), n)
			if err != nil {
				stopAll(ds)
				return err
			}
			rates = append(rates, float64(n)/took.Seconds())
		}
		stopAll(ds)
		b.rep.add(b.ofRate(newResult("W1", name, "events/s", rates, "each run a fresh thread on the same daemon; durable when acknowledged"), floorEngine(profile)))
	}
	return nil
}

// w2 replicates events from A to B.
func (b *bench) w2(ctx context.Context) error {
	n := b.sz.W2Events
	ds, err := b.newCluster(ctx, 2, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a, bn := ds[0], ds[1]
	var total, lag, appendRate []float64
	for r := range b.runs {
		tid, logA, err := a.api.create(ctx)
		if err != nil {
			return err
		}
		if err := share(ctx, a, bn, tid); err != nil {
			return err
		}
		t0 := time.Now()
		took, err := b.appendMany(ctx, a, tid, fmt.Sprintf("w2r%d", r), n)
		if err != nil {
			return err
		}
		if err := waitSeq(ctx, bn, tid, logA, uint64(n), 5*time.Minute); err != nil {
			return err
		}
		all := time.Since(t0)
		total = append(total, all.Seconds())
		lag = append(lag, float64((all - took).Milliseconds()))
		appendRate = append(appendRate, float64(n)/took.Seconds())
	}
	p := profileName(b.sz.SyncProfile)
	rate := newResult("W2", "  A's append rate meanwhile", "events/s", appendRate, "")
	ownAppends := 0.0 // A's own append time, s: the floor
	if rate.Median > 0 {
		ownAppends = float64(n) / rate.Median
		b.rep.Floors[floorOwnAppends] = Floor{Value: ownAppends, Unit: "s", What: "W2: the time A's own appends take (A's append rate meanwhile)"}
	}
	b.rep.add(
		ofCost(newResult("W2", fmt.Sprintf("replicate %s events A to B: first append to B holding all, %s", count(n), p), "s", total, "appends over RPC, B polls threads info"),
			floorOwnAppends, ownAppends),
		newResult("W2", "  of which after A's last acknowledged append", "ms", lag, ""),
		rate,
	)
	return nil
}

// listenEvent is one event of threads/listen.
type listenEvent struct {
	Log  string
	Seq  uint64
	Body []byte
}

// listen streams the thread's events from n to fn until ctx ends. The
// daemon sends the answer's headers with its first event, so the request
// itself runs in the goroutine; the returned channel gets its end.
func listen(ctx context.Context, n *daemon, tid string, fn func(listenEvent, time.Time)) <-chan error {
	done := make(chan error, 1)
	go func() { // ends with the stream: ctx's end closes it
		resp, err := n.api.request(ctx, "threads/listen", []string{tid}, nil, "since=0")
		if err != nil {
			if ctx.Err() != nil {
				err = nil
			}
			done <- err
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var e listenEvent
			if err := dec.Decode(&e); err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				done <- err
				return
			}
			fn(e, time.Now())
		}
	}()
	return done
}

// w3 measures latency from append on A to delivery on B's listen stream.
func (b *bench) w3(ctx context.Context) error {
	ds, err := b.newCluster(ctx, 2, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a, bn := ds[0], ds[1]
	var runs []latencyRun
	for range b.runs {
		tid, logA, err := a.api.create(ctx)
		if err != nil {
			return err
		}
		if err := share(ctx, a, bn, tid); err != nil {
			return err
		}
		r, err := b.latency(ctx, a, bn, tid, logA, b.sz.W3Duration)
		if err != nil {
			return fmt.Errorf("W3: %w", err)
		}
		runs = append(runs, r)
	}
	name := fmt.Sprintf("latency, 1 event / %s for %s, append on A to B's listen (RPC stream), %s", b.sz.W3Interval, b.sz.W3Duration, profileName(b.sz.SyncProfile))
	b.rep.add(b.latencyResults("W3", name, runs)...)
	return nil
}

// w3load is W3 while a third daemon, C, another writer of the thread,
// appends to it at half the engine rate measured in the run (or -w3load),
// paced, with b.sz.Clients concurrent RPC clients.
func (b *bench) w3load(ctx context.Context) error {
	target, how := b.sz.W3LoadRate, "-w3load"
	if target <= 0 {
		engine := b.floorValue(floorEngine(b.sz.SyncProfile))
		if engine == 0 {
			b.rep.add(unavailable("W3L", "latency under load", "needs the engine floor (-floors) or -w3load"))
			return nil
		}
		target, how = engine/2, "half the in-process engine rate measured in this run"
	}
	ds, err := b.newCluster(ctx, 3, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a, bn, c := ds[0], ds[1], ds[2]
	if err := c.connect(ctx, bn); err != nil {
		return err
	}
	var runs []latencyRun
	var achieved []float64
	for r := range b.runs {
		tid, logA, err := a.api.create(ctx)
		if err != nil {
			return err
		}
		for _, m := range []*daemon{bn, c} {
			if err := share(ctx, a, m, tid); err != nil {
				return err
			}
		}
		lctx, stopLoad := context.WithCancel(ctx)
		load := make(chan paced, 1)
		go func() { load <- b.pacedAppends(lctx, c, tid, fmt.Sprintf("w3l%d", r), target) }()
		lr, err := b.latency(ctx, a, bn, tid, logA, b.sz.W3LDuration)
		stopLoad()
		p := <-load
		if err != nil {
			return fmt.Errorf("W3L: %w", err)
		}
		if p.err != nil {
			return fmt.Errorf("W3L: the other writer: %w", p.err)
		}
		runs = append(runs, lr)
		achieved = append(achieved, p.rate())
	}
	p := profileName(b.sz.SyncProfile)
	name := fmt.Sprintf("latency under load, 1 event / %s for %s, A to B's listen, while C appends at %s events/s, %s", b.sz.W3Interval, b.sz.W3LDuration, num(target), p)
	b.rep.add(b.latencyResults("W3L", name, runs)...)
	b.rep.Floors["W3L target load"] = Floor{Value: target, Unit: "events/s", What: "W3L: the other writer's target rate, " + how}
	b.rep.add(b.ofRate(newResult("W3L", "  C's append rate achieved", "events/s", achieved,
		fmt.Sprintf("target %s events/s (%s), %d RPC clients, paced", num(target), how, b.sz.Clients)), "W3L target load"))
	return nil
}

// paced is what pacedAppends did.
type paced struct {
	n    int
	took time.Duration
	err  error
}

func (p paced) rate() float64 {
	if p.took <= 0 {
		return 0
	}
	return float64(p.n) / p.took.Seconds()
}

// pacedAppends appends 100-byte events to the thread on d at rate events/s
// (the i-th one due i/rate after the start; clients that fall behind do not
// wait), with b.sz.Clients concurrent clients, until ctx ends.
func (b *bench) pacedAppends(ctx context.Context, d *daemon, tid, tag string, rate float64) paced {
	var next, done atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	for range max(1, b.sz.Clients) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				due := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(due)):
				}
				if _, err := d.api.add(ctx, tid, body100(tag, int(i))); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err })
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return paced{n: int(done.Load()), took: time.Since(t0), err: firstErr}
}

// latencyRun is one run of a latency workload: the latencies, in ms, of
// the events B's listen stream delivered, sorted, and how many were sent.
type latencyRun struct {
	lats []float64
	sent int
}

// latency sends one event per b.sz.W3Interval on A for dur and measures,
// for each, the time from just before its RPC append to its arrival on B's
// listen stream. The stream is live once it delivers a warm-up event.
func (b *bench) latency(ctx context.Context, a, bn *daemon, tid, logA string, dur time.Duration) (latencyRun, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var lats []float64
	warm := make(chan struct{}, 1)
	done := listen(lctx, bn, tid, func(e listenEvent, at time.Time) {
		if e.Log != logA {
			return
		}
		s := string(e.Body)
		if strings.HasPrefix(s, "warm") {
			select {
			case warm <- struct{}{}:
			default:
			}
			return
		}
		f := strings.Fields(s)
		if len(f) < 2 || f[0] != "lat" {
			return
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return
		}
		mu.Lock()
		lats = append(lats, float64(at.Sub(time.Unix(0, ns)))/1e6)
		mu.Unlock()
	})
	if _, err := a.api.add(ctx, tid, []byte("warm-up")); err != nil {
		return latencyRun{}, err
	}
	select {
	case <-warm:
	case err := <-done:
		return latencyRun{}, fmt.Errorf("B's listen stream ended: %v", err)
	case <-time.After(30 * time.Second):
		return latencyRun{}, errors.New("B's listen stream delivered no warm-up event in 30s")
	}
	tick := time.NewTicker(b.sz.W3Interval)
	defer tick.Stop()
	end := time.Now().Add(dur)
	sent := 0
	for time.Now().Before(end) {
		<-tick.C
		body := []byte(fmt.Sprintf("lat %d ", time.Now().UnixNano()))
		for len(body) < 100 {
			body = append(body, 'x')
		}
		if _, err := a.api.add(ctx, tid, body); err != nil {
			return latencyRun{}, err
		}
		sent++
	}
	_ = waitUntil(ctx, 10*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(lats) >= sent, nil
	})
	cancel()
	if err := <-done; err != nil {
		return latencyRun{}, fmt.Errorf("listen stream: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Float64s(lats)
	return latencyRun{lats: lats, sent: sent}, nil
}

// latencyResults summarises latency runs: percentiles (against the
// latency floor), the maximum, and what was not delivered.
func (b *bench) latencyResults(workload, name string, runs []latencyRun) []Result {
	var p50, p95, p99, maxs, sentN, lost []float64
	for _, r := range runs {
		p50 = append(p50, percentile(r.lats, 0.50))
		p95 = append(p95, percentile(r.lats, 0.95))
		p99 = append(p99, percentile(r.lats, 0.99))
		if len(r.lats) > 0 {
			maxs = append(maxs, r.lats[len(r.lats)-1])
		}
		sentN = append(sentN, float64(r.sent))
		lost = append(lost, float64(r.sent-len(r.lats)))
	}
	floor := b.floorValue(floorLatency)
	return []Result{
		ofCost(newResult(workload, name+": p50", "ms", p50, "includes A's RPC append"), floorLatency, floor),
		ofCost(newResult(workload, "  p95", "ms", p95, ""), floorLatency, floor),
		ofCost(newResult(workload, "  p99", "ms", p99, ""), floorLatency, floor),
		newResult(workload, "  max", "ms", maxs, ""),
		newResult(workload, "  events sent", "events", sentN, ""),
		newResult(workload, "  not delivered within 10 s", "events", lost, "must be 0"),
	}
}

// hasCommand reports whether the binary knows `ipfs threads <words>` and,
// when flag is not empty, whether its help mentions it.
func (b *bench) hasCommand(ctx context.Context, flag string, words ...string) bool {
	args := append(append([]string{"threads"}, words...), "--help")
	out, err := exec.CommandContext(ctx, b.bin, args...).CombinedOutput()
	if err != nil {
		return false
	}
	if flag != "" {
		return strings.Contains(string(out), flag)
	}
	return strings.Contains(string(out), "ipfs threads "+strings.Join(words, " "))
}

// w4 measures a late joiner catching up on a long history, with and
// without a snapshot.
func (b *bench) w4(ctx context.Context) error {
	n := b.sz.W4Events
	ds, err := b.newCluster(ctx, 1, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a := ds[0]
	tid, logA, err := a.api.create(ctx)
	if err != nil {
		return err
	}
	// The history is kv puts, so that a snapshot carries a real view state.
	took, err := b.concurrently(ctx, n, func(i int) error {
		_, err := a.api.call(ctx, "threads/kv/put", []string{tid, fmt.Sprintf("/w4/%d", i), string(body100("w4", i))})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  W4 history: %d kv puts in %s (%.0f/s)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	// caughtUp: the joiner lists A's log at seq n and its kv view holds
	// the first and the last key written.
	caughtUp := func(c *daemon) error {
		if err := waitSeq(ctx, c, tid, logA, uint64(n), 15*time.Minute); err != nil {
			return err
		}
		return waitUntil(ctx, time.Minute, func() (bool, error) {
			for _, i := range []int{0, n - 1} {
				var v struct{ Value []byte }
				err := c.api.json(ctx, "threads/kv/get", []string{tid, fmt.Sprintf("/w4/%d", i)}, &v)
				if err != nil || !strings.Contains(string(v.Value), fmt.Sprintf("w4 %09d", i)) {
					return false, err
				}
			}
			return true, nil
		})
	}
	snapshots := b.hasCommand(ctx, "--snapshot", "join") && b.hasCommand(ctx, "", "snapshot")
	type mode struct {
		name       string
		opts       []string
		fullReplay bool // every event is pulled and verified: the floor is verification
	}
	modes := []mode{{"without a snapshot (full replay)", nil, true}}
	if snapshots {
		modes[0].opts = []string{"snapshot=false"}
		modes = append(modes, mode{"from a snapshot", nil, false})
	}
	base := fmt.Sprintf("late joiner, %s kv events, invite to caught up, %s", count(n), profileName(b.sz.SyncProfile))
	for _, m := range modes {
		if m.opts == nil && snapshots {
			if _, err := a.api.call(ctx, "threads/snapshot", []string{tid}, "create=true"); err != nil {
				b.rep.add(unavailable("W4", base+", "+m.name, "threads snapshot failed: "+err.Error()))
				continue
			}
		}
		var secs []float64
		for range b.runs {
			joiner, err := b.newCluster(ctx, 1, b.sz.SyncProfile, nil)
			if err != nil {
				return err
			}
			c := joiner[0]
			if err := c.connect(ctx, a); err != nil {
				stopAll(joiner)
				return err
			}
			t0 := time.Now()
			err = share(ctx, a, c, tid, m.opts...)
			if err == nil {
				err = caughtUp(c)
			}
			stopAll(joiner)
			if err != nil {
				return fmt.Errorf("W4 %s: %w", m.name, err)
			}
			secs = append(secs, time.Since(t0).Seconds())
		}
		r := newResult("W4", base+", "+m.name, "s", secs, "a fresh joiner per run; caught up = A's log at the last seq in threads info, first and last keys in its kv view")
		if m.fullReplay {
			r = ofCost(r, floorVerify, b.verifyTime(n))
		}
		b.rep.add(r)
	}
	if !snapshots {
		b.rep.add(unavailable("W4", base+", from a snapshot", "this binary has no `threads snapshot` / `join --snapshot`"))
	}
	return nil
}

// count formats an event count: 10000 -> "10k".
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// w5 measures the views: kv puts, document inserts and queries.
func (b *bench) w5(ctx context.Context) error {
	ds, err := b.newCluster(ctx, 1, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a := ds[0]
	n := b.sz.W5Puts
	var rates []float64
	for r := range b.runs {
		tid, _, err := a.api.create(ctx)
		if err != nil {
			return err
		}
		took, err := b.concurrently(ctx, n, func(i int) error {
			_, err := a.api.call(ctx, "threads/kv/put", []string{tid, fmt.Sprintf("/k/%d/%d", r, i), string(body100("kv", i))})
			return err
		})
		if err != nil {
			return err
		}
		rates = append(rates, float64(n)/took.Seconds())
	}
	p := profileName(b.sz.SyncProfile)
	b.rep.add(b.ofRate(newResult("W5", fmt.Sprintf("kv put, %s puts of 100 B, %d clients, %s", count(n), b.sz.Clients, p), "puts/s", rates, "one event each, applied when acknowledged"),
		floorEngine(b.sz.SyncProfile)))
	return b.w5docs(ctx, a)
}

// doc is a document of the W5 workload.
func doc(i int) map[string]any {
	return map[string]any{"n": i, "m": i, "name": fmt.Sprintf("doc %d", i), "pad": strings.Repeat("x", 40)}
}

func (b *bench) w5docs(ctx context.Context, a *daemon) error {
	n, q := b.sz.W5Puts, b.sz.W5Docs
	p := profileName(b.sz.SyncProfile)
	names := []string{
		fmt.Sprintf("doc insert, %s single-doc puts, no index, %d clients, %s", count(n), b.sz.Clients, p),
		fmt.Sprintf("doc insert, %s single-doc puts, 1 index, %d clients, %s", count(n), b.sz.Clients, p),
		fmt.Sprintf("doc query at %s docs, indexed equality, limit 10", count(q)),
		fmt.Sprintf("doc query at %s docs, full scan (unindexed field), limit 10", count(q)),
	}
	if !b.hasCommand(ctx, "", "docs") {
		for _, name := range names {
			b.rep.add(unavailable("W5", name, "this binary has no `threads docs`"))
		}
		return nil
	}
	fail := func(i int, err error) error {
		for _, name := range names[i:] {
			b.rep.add(unavailable("W5", name, err.Error()))
		}
		return nil
	}
	put := func(tid, coll string, v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = a.api.call(ctx, "threads/docs/put", []string{tid, coll, string(raw)})
		return err
	}
	for i, indexed := range []bool{false, true} {
		var rates []float64
		for r := range b.runs {
			tid, _, err := a.api.create(ctx)
			if err != nil {
				return err
			}
			if _, err := a.api.call(ctx, "threads/docs/collection/add", []string{tid, "c"}); err != nil {
				return fail(i, err)
			}
			if indexed {
				if _, err := a.api.call(ctx, "threads/docs/index/add", []string{tid, "c", "n"}); err != nil {
					return fail(i, err)
				}
			}
			took, err := b.concurrently(ctx, n, func(j int) error { return put(tid, "c", doc(r*n+j)) })
			if err != nil {
				return fail(i, err)
			}
			rates = append(rates, float64(n)/took.Seconds())
		}
		b.rep.add(b.ofRate(newResult("W5", names[i], "docs/s", rates, ""), floorEngine(b.sz.SyncProfile)))
	}
	// Queries over q documents, loaded 500 to an event.
	tid, _, err := a.api.create(ctx)
	if err != nil {
		return err
	}
	if _, err := a.api.call(ctx, "threads/docs/collection/add", []string{tid, "q"}); err != nil {
		return fail(2, err)
	}
	if _, err := a.api.call(ctx, "threads/docs/index/add", []string{tid, "q", "n"}); err != nil {
		return fail(2, err)
	}
	const per = 500
	t0 := time.Now()
	if _, err := b.concurrently(ctx, (q+per-1)/per, func(k int) error {
		var batch []any
		for i := k * per; i < min(q, (k+1)*per); i++ {
			batch = append(batch, doc(i))
		}
		return put(tid, "q", batch)
	}); err != nil {
		return fail(2, err)
	}
	fmt.Fprintf(os.Stderr, "  W5 loaded %d documents in %s\n", q, time.Since(t0).Round(time.Millisecond))
	for i, field := range []string{"n", "m"} {
		var ms []float64
		for r := range b.runs {
			var lat []float64
			for k := range 10 {
				v := (r*7919 + k*104729) % q
				filter := fmt.Sprintf(`{%q:%d}`, field, v)
				t := time.Now()
				out, err := a.api.call(ctx, "threads/docs/query", []string{tid, "q", filter}, "limit=10")
				if err != nil {
					return fail(2+i, err)
				}
				lat = append(lat, float64(time.Since(t).Microseconds())/1000)
				if !strings.Contains(string(out), fmt.Sprintf("doc %d", v)) {
					return fail(2+i, fmt.Errorf("query %s did not return the document: %s", filter, tail(string(out), 200)))
				}
			}
			sort.Float64s(lat)
			ms = append(ms, percentile(lat, 0.5))
		}
		b.rep.add(newResult("W5", names[2+i], "ms/query", ms, "median of 10 queries per run, RPC round trip"))
	}
	return nil
}
