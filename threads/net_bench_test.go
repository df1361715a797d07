package threads

// Benchmarks of the sync engine between in-process nodes: libp2p hosts on
// 127.0.0.1 (TCP, as newTestNode makes them), gossipsub, and either the
// in-memory stores of newRig ("mem") or an on-disk go-ds-pebble repo laid
// out as Kubo's "pebbleds" profile lays it out ("pebble", see openPebble in
// bench_test.go). Run them with
//
//	go test ./threads/ -run '^$' -bench 'Replicate|LateJoiner|Latency' -benchtime=1x -count=5 -timeout 30m
//
// Each iteration builds fresh nodes; setup (hosts, thread, invites, the
// late joiner's 100,000-event history, the gossipsub mesh) runs with the
// timer stopped. Anti-entropy runs at the production default (30 s), so
// what is measured is push, pubsub and pull, not the repair ticker.
//
// Set THREADS_BENCH_CPUPROFILE=<file> (without -cpuprofile) to profile only
// the timed part of BenchmarkLateJoiner100k (both nodes: the server and the
// joiner run in this process).
//
// newTestNode, connect and invite take *testing.T, so they cannot be called
// from a benchmark; newNetBenchNode, benchConnect and benchInvite below do
// what they do for a testing.TB. fingerprint and converged are reused.

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// netBenchStore is where a benchmark node keeps its data.
type netBenchStore string

const (
	memStore    netBenchStore = "mem"    // newRig: MapDatastore behind a mutex
	pebbleStore netBenchStore = "pebble" // go-ds-pebble in a temp dir, Kubo's layout
)

type netBenchOpts struct {
	store    netBenchStore
	noPubsub bool
	interval time.Duration // anti-entropy; the default (30 s) when 0
}

// netBenchNode is a testNode that closes itself, at the end of an iteration
// or at cleanup, whichever comes first.
type netBenchNode struct {
	*testNode
	closeOnce sync.Once
	closers   []func() error
}

func (n *netBenchNode) close() {
	n.closeOnce.Do(func() {
		for _, c := range n.closers {
			_ = c()
		}
	})
}

// newNetBenchNode is newTestNode for a testing.TB, with a choice of store.
func newNetBenchNode(tb testing.TB, o netBenchOpts) *netBenchNode {
	tb.Helper()
	n := &netBenchNode{}
	tb.Cleanup(n.close)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		tb.Fatal(err)
	}
	psCtx, psCancel := context.WithCancel(context.Background())
	var ps *pubsub.PubSub
	if !o.noPubsub {
		if ps, err = pubsub.NewGossipSub(psCtx, h); err != nil {
			tb.Fatal(err)
		}
	}
	var r *rig
	var locker bstore.GCLocker
	var rootClose func() error
	switch o.store {
	case memStore, "":
		r = newRig(tb)
	case pebbleStore:
		ctx := context.Background()
		root := openPebble(tb, tb.TempDir())
		rootClose = root.Close
		base := bstore.NewBlockstore(root, bstore.WriteThrough(true))
		cached, err := bstore.CachedBlockstore(ctx, base, bstore.CacheOpts{HasBloomFilterSize: 0, HasBloomFilterHashes: 7, HasTwoQueueCacheSize: 64 << 10})
		if err != nil {
			tb.Fatal(err)
		}
		locker = bstore.NewGCLocker()
		bs := bstore.NewGCBlockstore(bstore.NewIdStore(cached), locker)
		dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
		sdag := syncDAG{dag, func() error { return root.Sync(ctx, bstore.BlockPrefix) }}
		p, err := dspinner.New(ctx, root, sdag)
		if err != nil {
			tb.Fatal(err)
		}
		r = &rig{t: tb, store: namespace.Wrap(root, ds.NewKey("/threads")), blocks: bs, dag: dag, pinner: p}
	default:
		tb.Fatalf("unknown store %q", o.store)
	}
	s, err := New(context.Background(), Deps{
		Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, GCLocker: locker,
		Host: h, PubSub: ps, Identity: h.Peerstore().PrivKey(h.ID()),
	}, Config{AntiEntropyInterval: o.interval})
	if err != nil {
		tb.Fatal(err)
	}
	// Close in order: the engine (which flushes pins), pubsub, the host, the
	// store.
	n.closers = append(n.closers, s.Close, func() error { psCancel(); return nil }, h.Close)
	if rootClose != nil {
		n.closers = append(n.closers, rootClose)
	}
	n.testNode = &testNode{Service: s, host: h, rig: r}
	return n
}

func benchConnect(tb testing.TB, a, b *netBenchNode) {
	tb.Helper()
	if err := a.host.Connect(context.Background(), peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()}); err != nil {
		tb.Fatal(err)
	}
}

// benchInvite is invite for a testing.TB: a invites b, b joins.
func benchInvite(tb testing.TB, a, b *netBenchNode, tid ipel.ThreadID, role codec.Role) {
	tb.Helper()
	ctx := context.Background()
	res, err := a.Invite(ctx, tid, b.host.ID(), role)
	if err != nil {
		tb.Fatal(err)
	}
	if !res.Delivered {
		tb.Fatal("invite not delivered to a connected peer")
	}
	if _, err := b.Join(ctx, res.Invite); err != nil {
		tb.Fatal(err)
	}
}

// logSeq is the head seq a node holds of a log (0 if it does not know it),
// read through Info.
func logSeq(s *Service, tid ipel.ThreadID, logID ipel.LogID) uint64 {
	ti, err := s.Info(tid)
	if err != nil {
		return 0
	}
	for _, l := range ti.Logs {
		if l.ID == logID {
			return l.Seq
		}
	}
	return 0
}

// waitSeq waits until a node holds a log up to want, with a deadline. It
// reads the seq through Info, and wakes on every head move (the thread's
// changed channel) or every 2 ms, whichever comes first, so the time it
// returns at is within about a millisecond of the head reaching want.
func waitSeq(tb testing.TB, s *Service, tid ipel.ThreadID, logID ipel.LogID, want uint64, d time.Duration) time.Time {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var changed chan struct{}
		if th, err := s.thread(tid); err == nil {
			th.mu.Lock()
			changed = th.changed
			th.mu.Unlock()
		}
		seq := logSeq(s, tid, logID)
		if seq >= want {
			return time.Now()
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			tb.Fatalf("log %s: %d of %d events within %s", logID, seq, want, d)
		}
	}
}

// meshReady waits until both nodes see each other on the thread's topic
// (gossipsub drops what is published before the mesh forms) and a's address
// book lists b, so a's appends are published and pushed to b.
func meshReady(tb testing.TB, a, b *netBenchNode, tid ipel.ThreadID, pubsubOn bool) {
	tb.Helper()
	eventually(tb, 15*time.Second, "a knows b", func() (bool, string) {
		for _, p := range a.net.book.Peers(context.Background(), tid) {
			if p.ID == b.host.ID() {
				return true, ""
			}
		}
		return false, "b not in a's address book"
	})
	if !pubsubOn {
		return
	}
	topicPeer := func(n *netBenchNode, other peer.ID) bool {
		n.net.mu.Lock()
		ts := n.net.topics[tid]
		n.net.mu.Unlock()
		return ts != nil && slices.Contains(ts.topic.ListPeers(), other)
	}
	eventually(tb, 15*time.Second, "topic mesh", func() (bool, string) {
		return topicPeer(a, b.host.ID()) && topicPeer(b, a.host.ID()), "not topic peers yet"
	})
}

// appendMany appends count 100-byte events to a thread from `workers`
// concurrent appenders.
func appendMany(tb testing.TB, s *Service, tid ipel.ThreadID, count, workers int) {
	tb.Helper()
	ctx := context.Background()
	body := benchBody()
	var left atomic.Int64
	left.Store(int64(count))
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := s.Append(ctx, tid, body); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		tb.Fatal(err)
	}
}

func ownLogID(tb testing.TB, s *Service, tid ipel.ThreadID) ipel.LogID {
	tb.Helper()
	ti, err := s.Info(tid)
	if err != nil {
		tb.Fatal(err)
	}
	if ti.OwnLog == "" {
		tb.Fatal("no own log")
	}
	return ti.OwnLog
}

var netBenchVariants = []struct {
	name string
	opts netBenchOpts
}{
	{"mem", netBenchOpts{store: memStore}},
	{"mem-nopubsub", netBenchOpts{store: memStore, noPubsub: true}},
	{"pebble", netBenchOpts{store: pebbleStore}},
}

const (
	replicateEvents    = 10_000
	replicateAppenders = 32
)

// BenchmarkReplicate10k: B is a writer of A's thread, connected, the mesh
// formed; A appends 10,000 100-byte events from 32 concurrent appenders.
// Timed: from the first append until B holds all 10,000.
//
// Metrics: ms/10k (the figure), append-ms (until A's last append returned),
// lag-ms (B after A's last append); recv is what B stored from the network
// (push, pubsub and pull), pulled the part of it that came by pull (after a
// gap: pubsub overtook a push), pushed what A's pushes delivered, all per
// iteration.
func BenchmarkReplicate10k(b *testing.B) {
	for _, v := range netBenchVariants {
		b.Run(v.name, func(b *testing.B) { benchReplicate(b, v.opts) })
	}
}

// benchWriterPair makes two connected nodes writing one thread of a's, with
// the gossip mesh formed; it returns a's log.
func benchWriterPair(b *testing.B, o netBenchOpts) (*netBenchNode, *netBenchNode, ipel.ThreadID, ipel.LogID) {
	b.Helper()
	a, bb := newNetBenchNode(b, o), newNetBenchNode(b, o)
	benchConnect(b, a, bb)
	ti, err := a.CreateThread(context.Background(), ipel.VariantRaw)
	if err != nil {
		b.Fatal(err)
	}
	benchInvite(b, a, bb, ti.ID, codec.RoleWrite)
	meshReady(b, a, bb, ti.ID, !o.noPubsub)
	return a, bb, ti.ID, ownLogID(b, a.Service, ti.ID)
}

func benchReplicate(b *testing.B, o netBenchOpts) {
	var total, appendDur, lag, cpu time.Duration
	var pulled, received, pushed uint64
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		a, bb, tid, aLog := benchWriterPair(b, o)

		b.StartTimer()
		c0, t0 := cpuTime(), time.Now()
		appendMany(b, a.Service, tid, replicateEvents, replicateAppenders)
		tA := time.Now()
		tB := waitSeq(b, bb.Service, tid, aLog, replicateEvents, 120*time.Second)
		b.StopTimer()
		cpu += cpuTime() - c0

		total += tB.Sub(t0)
		appendDur += tA.Sub(t0)
		lag += max(0, tB.Sub(tA))
		st := bb.NetStats()
		pulled += st.Pulled
		received += st.Received
		pushed += a.NetStats().Pushed
		if ok, state := converged([]*testNode{a.testNode, bb.testNode}, tid, replicateEvents); !ok {
			b.Fatalf("not converged: %s", state)
		}
		a.close()
		bb.close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "ms/10k")
	b.ReportMetric(float64(appendDur.Milliseconds())/n, "append-ms")
	b.ReportMetric(float64(lag.Milliseconds())/n, "lag-ms")
	b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms")
	b.ReportMetric(float64(received)/n, "recv")
	b.ReportMetric(float64(pulled)/n, "pulled")
	b.ReportMetric(float64(pushed)/n, "pushed")
}

const (
	lateJoinerEvents    = 100_000
	lateJoinerAppenders = 64
)

// BenchmarkLateJoiner100k: A holds 100,000 events (built with the timer
// stopped, pins flushed); C connects; timed: A invites C as a reader, C
// joins, until C holds all 100,000 (pulls of 1024-event batches).
func BenchmarkLateJoiner100k(b *testing.B) {
	for _, v := range netBenchVariants {
		if v.opts.noPubsub {
			continue // pubsub plays no part in a catch-up
		}
		b.Run(v.name, func(b *testing.B) { benchLateJoiner(b, v.opts) })
	}
}

func benchLateJoiner(b *testing.B, o netBenchOpts) {
	ctx := context.Background()
	var total, cpu time.Duration
	var pulled uint64
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		a := newNetBenchNode(b, o)
		ti, err := a.CreateThread(ctx, ipel.VariantRaw)
		if err != nil {
			b.Fatal(err)
		}
		tid := ti.ID
		t0 := time.Now()
		appendMany(b, a.Service, tid, lateJoinerEvents, lateJoinerAppenders)
		a.pins.flush(ctx)
		b.Logf("prepared %d events on A in %s", lateJoinerEvents, time.Since(t0).Round(time.Millisecond))
		aLog := ownLogID(b, a.Service, tid)
		c := newNetBenchNode(b, o)
		benchConnect(b, c, a)

		stopProfile := startTimedProfile(b)
		b.StartTimer()
		c0 := cpuTime()
		t0 = time.Now()
		benchInvite(b, a, c, tid, codec.RoleWrite)
		tC := waitSeq(b, c.Service, tid, aLog, lateJoinerEvents, 10*time.Minute)
		b.StopTimer()
		cpu += cpuTime() - c0
		stopProfile()

		total += tC.Sub(t0)
		pulled += c.NetStats().Pulled
		// Check the joiner's copy (outside the timer).
		if _, n := fingerprint(c.testNode, tid); n != lateJoinerEvents {
			b.Fatalf("joiner holds %d events", n)
		}
		a.close()
		c.close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "ms/100k")
	b.ReportMetric(lateJoinerEvents*n/total.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms")
	b.ReportMetric(float64(pulled)/n, "pulled")
}

// startTimedProfile starts a CPU profile to $THREADS_BENCH_CPUPROFILE when
// set, and returns what stops it.
func startTimedProfile(b *testing.B) func() {
	path := os.Getenv("THREADS_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		b.Logf("timed profile not taken: %s", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

const (
	latencyEvents   = 500
	latencyInterval = 20 * time.Millisecond
)

// BenchmarkLatency: A and B are writers of the thread, connected, the mesh
// formed; B listens (Listen); A appends one 100-byte event every 20 ms, 500
// in all (10 s). The latency of an event is from the start of its Append on
// A to its delivery to B's Listen callback. Metrics: p50, p95, p99 and max
// in ms, pooled over the iterations.
func BenchmarkLatency(b *testing.B) {
	for _, v := range netBenchVariants {
		b.Run(v.name, func(b *testing.B) { benchLatency(b, v.opts, latencyEvents) })
	}
}

func benchLatency(b *testing.B, o netBenchOpts, events int) {
	ctx := context.Background()
	var lats []time.Duration
	var appendLats []time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		a, bb, tid, aLog := benchWriterPair(b, o)

		starts := make([]time.Time, events+1) // by seq
		arrivals := make([]time.Time, events+1)
		var got atomic.Int64
		lctx, stopListen := context.WithCancel(ctx)
		listening := make(chan error, 1)
		go func() {
			listening <- bb.Listen(lctx, tid, 0, func(r Record) error {
				if r.Log == aLog && r.Seq >= 1 && r.Seq <= uint64(events) && arrivals[r.Seq].IsZero() {
					arrivals[r.Seq] = time.Now()
					got.Add(1)
				}
				return nil
			})
		}()

		body := benchBody()
		b.StartTimer()
		tick := time.NewTicker(latencyInterval)
		for seq := 1; seq <= events; seq++ {
			if seq > 1 {
				<-tick.C
			}
			t := time.Now()
			ref, err := a.Append(ctx, tid, body)
			if err != nil {
				b.Fatal(err)
			}
			appendLats = append(appendLats, time.Since(t))
			if ref.Seq != uint64(seq) {
				b.Fatalf("append got seq %d, want %d", ref.Seq, seq)
			}
			starts[seq] = t
		}
		tick.Stop()
		eventually(b, 30*time.Second, "all events delivered to B's listener", func() (bool, string) {
			n := got.Load()
			return n == int64(events), fmt.Sprintf("%d of %d", n, events)
		})
		b.StopTimer()
		stopListen()
		<-listening
		for seq := 1; seq <= events; seq++ {
			lats = append(lats, arrivals[seq].Sub(starts[seq]))
		}
		a.close()
		bb.close()
	}
	slices.Sort(lats)
	slices.Sort(appendLats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(lats, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(lats, 0.95)), "p95-ms")
	b.ReportMetric(ms(pct(lats, 0.99)), "p99-ms")
	b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
	b.ReportMetric(ms(pct(appendLats, 0.50)), "append-p50-ms")
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time (user and system) this process has used: both
// nodes run in it, so over a timed section it is what the replication cost
// in CPU, whatever else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pct is the q-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
