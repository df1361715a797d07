package main

import (
	"bufio"
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
	W4Events    int   // history the late joiner catches up on
	W5Puts      int   // kv puts and document inserts per run
	W5Docs      int   // documents the queries run over
	W6Sizes     []int // events in the thread at each measuring point
	W6Sample    int   // events appended per measurement
	W7Threads   []int // threads on the node at each measuring point
	W7Members   int   // other daemons that join every thread
	W7Window    time.Duration
	SyncProfile string // repo profile of W2-W7 ("" is Kubo's default)
	GoAPI       bool   // measure the engine's Go API with go test (W1)
}

// bench runs the workloads and collects their results.
type bench struct {
	bin  string // bin/ipfs
	root string // the kubo-threads module (for the Go API measurement)
	dir  string // scratch directory for repos
	runs int
	sz   sizes
	rep  *Report
	seq  atomic.Int64 // names fresh repos
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

// w1 measures appends through the RPC API on both profiles, and the
// engine's Go API in-process.
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
		b.rep.add(newResult("W1", name, "events/s", rates, "each run a fresh thread on the same daemon; durable when acknowledged"))
	}
	b.goAPI(ctx)
	return nil
}

// goAPI measures the engine's Go API in-process (the daemon has no Go
// entry point of its own): the threads package's append benchmark, 64
// concurrent appenders on one thread, on Kubo's two store layouts.
func (b *bench) goAPI(ctx context.Context) {
	stores := []struct{ bench, label string }{
		{"flatfs-nosync-levelds", "default flatfs+leveldb layout"},
		{"pebbleds", "pebbleds layout"},
	}
	if !b.sz.GoAPI {
		for _, s := range stores {
			b.rep.add(unavailable("W1", "append, Go API in-process, "+s.label, "skipped (quick mode or -goapi=false)"))
		}
		return
	}
	pattern := "^BenchmarkAppendConcurrent$/^(flatfs-nosync-levelds|pebbleds)$/^threads=1$"
	cmd := exec.CommandContext(ctx, "go", "test", "./threads/", "-run", "^$", "-bench", pattern,
		"-benchtime", fmt.Sprintf("%dx", b.sz.W1Events), "-count", strconv.Itoa(b.runs))
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		for _, s := range stores {
			b.rep.add(unavailable("W1", "append, Go API in-process, "+s.label, fmt.Sprintf("go test failed: %v: %s", err, tail(string(out), 300))))
		}
		return
	}
	for _, s := range stores {
		var rates []float64
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 || !strings.HasPrefix(f[0], "BenchmarkAppendConcurrent/"+s.bench+"/") {
				continue
			}
			for i := 1; i < len(f); i++ {
				if f[i] == "appends/s" {
					if v, err := strconv.ParseFloat(f[i-1], 64); err == nil {
						rates = append(rates, v)
					}
				}
			}
		}
		name := fmt.Sprintf("append %s x 100 B, Go API in-process, 64 appenders, %s", count(b.sz.W1Events), s.label)
		if len(rates) == 0 {
			b.rep.add(unavailable("W1", name, "no appends/s in the go test output"))
			continue
		}
		b.rep.add(newResult("W1", name, "events/s", rates, "threads.Service.Append, go test -bench BenchmarkAppendConcurrent (the daemon has no in-process Go entry point)"))
	}
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
	b.rep.add(
		newResult("W2", fmt.Sprintf("replicate %s events A to B: first append to B holding all, %s", count(n), p), "s", total, "appends over RPC, B polls threads info"),
		newResult("W2", "  of which after A's last acknowledged append", "ms", lag, ""),
		newResult("W2", "  A's append rate meanwhile", "events/s", appendRate, ""),
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
	var p50, p95, p99, maxs, sentN, lost []float64
	for range b.runs {
		tid, logA, err := a.api.create(ctx)
		if err != nil {
			return err
		}
		if err := share(ctx, a, bn, tid); err != nil {
			return err
		}
		lctx, cancel := context.WithCancel(ctx)
		var mu sync.Mutex
		var lats []float64
		warm := make(chan struct{}, 1)
		done := listen(lctx, bn, tid, func(e listenEvent, at time.Time) {
			s := string(e.Body)
			if strings.HasPrefix(s, "warm") {
				select {
				case warm <- struct{}{}:
				default:
				}
				return
			}
			f := strings.Fields(s)
			if len(f) < 2 || f[0] != "lat" || e.Log != logA {
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
		// The stream is live once it delivers a warm-up event from A.
		if _, err := a.api.add(ctx, tid, []byte("warm-up")); err != nil {
			cancel()
			return err
		}
		select {
		case <-warm:
		case err := <-done:
			cancel()
			return fmt.Errorf("W3: B's listen stream ended: %v", err)
		case <-time.After(30 * time.Second):
			cancel()
			return errors.New("W3: B's listen stream delivered no warm-up event in 30s")
		}
		tick := time.NewTicker(b.sz.W3Interval)
		end := time.Now().Add(b.sz.W3Duration)
		sent := 0
		for time.Now().Before(end) {
			<-tick.C
			body := []byte(fmt.Sprintf("lat %d ", time.Now().UnixNano()))
			for len(body) < 100 {
				body = append(body, 'x')
			}
			if _, err := a.api.add(ctx, tid, body); err != nil {
				tick.Stop()
				cancel()
				return err
			}
			sent++
		}
		tick.Stop()
		_ = waitUntil(ctx, 10*time.Second, func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return len(lats) >= sent, nil
		})
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("W3: listen stream: %w", err)
		}
		mu.Lock()
		sort.Float64s(lats)
		got := len(lats)
		p50 = append(p50, percentile(lats, 0.50))
		p95 = append(p95, percentile(lats, 0.95))
		p99 = append(p99, percentile(lats, 0.99))
		if got > 0 {
			maxs = append(maxs, lats[got-1])
		}
		mu.Unlock()
		sentN = append(sentN, float64(sent))
		lost = append(lost, float64(sent-got))
	}
	name := fmt.Sprintf("latency, 1 event / %s for %s, append on A to B's listen (RPC stream), %s", b.sz.W3Interval, b.sz.W3Duration, profileName(b.sz.SyncProfile))
	b.rep.add(
		newResult("W3", name+": p50", "ms", p50, "includes A's RPC append"),
		newResult("W3", "  p95", "ms", p95, ""),
		newResult("W3", "  p99", "ms", p99, ""),
		newResult("W3", "  max", "ms", maxs, ""),
		newResult("W3", "  events sent", "events", sentN, ""),
		newResult("W3", "  not delivered within 10 s", "events", lost, "must be 0"),
	)
	return nil
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
		name string
		opts []string
	}
	modes := []mode{{"without a snapshot (full replay)", nil}}
	if snapshots {
		modes[0].opts = []string{"snapshot=false"}
		modes = append(modes, mode{"from a snapshot", nil})
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
		b.rep.add(newResult("W4", base+", "+m.name, "s", secs, "a fresh joiner per run; caught up = A's log at the last seq in threads info, first and last keys in its kv view"))
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
	b.rep.add(newResult("W5", fmt.Sprintf("kv put, %s puts of 100 B, %d clients, %s", count(n), b.sz.Clients, p), "puts/s", rates, "one event each, applied when acknowledged"))
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
		b.rep.add(newResult("W5", names[i], "docs/s", rates, ""))
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
