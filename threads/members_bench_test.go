package threads

// BenchmarkMembers is W8 of the bench program (test/bench): a thread with
// many members, of which a few write at a steady rate. Every member is an
// in-process node (a libp2p host on 127.0.0.1 over TCP, gossipsub, and
// in-memory stores laid out as Kubo's pebbleds profile lays them out, see
// newMemberRig) with the engine's defaults (anti-entropy every 30 s), so
// what delivers events is push, pubsub and the pulls that repair gaps. Run
// it with
//
//	go test ./threads/ -run '^$' -bench '^BenchmarkMembers$' -benchtime=1x -timeout 60m \
//	    -args -w8.members=10,50,100 -w8.writers=10 -w8.rate=10 -w8.duration=10s
//
// Setup (timer stopped): the first node creates an access-controlled thread
// and invites the others one at a time, as readers the members that do not
// write, first, then the writers, each join waiting until the creator knows
// the new member, so that every writer's address book lists every member
// (joiners announce themselves to the members their invite lists). Each
// writer appends one warm-up event, which every member must hold before the
// measurement. (Access-controlled, because in a raw thread every member
// writes a log of its own: the address book, which invites and
// announcements carry, holds an entry per member and log, and an invite
// outgrows the 64 KiB an invitee opens at about 35 members.)
//
// Measured: each writer appends one 100-byte event every 1/rate seconds
// (writers staggered) for the duration (a writer whose appends fall behind
// stops at its end too); every member listens to the thread
// (ListenBatches, as the views do). Metrics, per size:
//
//   - p50-ms, p99-ms, max-ms: time from the start of an event's Append to
//     the moment the last of the other members' listeners has it. An event
//     some member still lacks after the drain (30 s after the writers stop)
//     counts with the time waited, a lower bound; undelivered counts them.
//   - B/member/event: bytes sent by all members on the sync protocol and
//     pubsub (libp2p's per-stream accounting, exact) from the first append
//     until every member has every event, divided by the members and by the
//     events; sync-B/member/event and pubsub-B/member/event split it;
//     event-B is the size of one event's block (its 100-byte body inline),
//     x-event the first divided by it (1 is one copy of each event to each
//     member).
//   - cpu-%core/member: this process's CPU time over that window, divided
//     by the window and by the members; cpu-us/member/event divides the
//     same CPU by the members and by the events.
//   - pulled/event: events the members pulled (gap repairs), per event.
//   - append-p50-ms, append-p99-ms: how long the writers' Append calls
//     took (a writer whose appends take longer than its period falls
//     behind: events then says how many it appended).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	p2pmetrics "github.com/libp2p/go-libp2p/core/metrics"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

var (
	w8Members  = flag.String("w8.members", "10,50,100", "BenchmarkMembers: the thread sizes (members) to measure, comma-separated")
	w8Writers  = flag.Int("w8.writers", 10, "BenchmarkMembers: how many of the members write")
	w8Rate     = flag.Float64("w8.rate", 10, "BenchmarkMembers: events per second each writer appends")
	w8Duration = flag.Duration("w8.duration", 10*time.Second, "BenchmarkMembers: how long the writers write")
)

const (
	// membersDrain bounds the wait, after the writers stop, for every member
	// to hold every event.
	membersDrain = 30 * time.Second
	// membersSetup bounds each wait of the setup.
	membersSetup = 5 * time.Minute
)

func BenchmarkMembers(b *testing.B) {
	sizes, err := parseMemberSizes(*w8Members)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			cfg := membersRun{members: n, writers: min(max(*w8Writers, 1), n), rate: *w8Rate, duration: *w8Duration}
			if cfg.rate <= 0 || cfg.duration <= 0 {
				b.Fatalf("-w8.rate and -w8.duration must be positive")
			}
			benchMembers(b, cfg)
		})
	}
}

func parseMemberSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("-w8.members: bad size %q in %q (at least 2 members)", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// membersRun is one configuration of BenchmarkMembers.
type membersRun struct {
	members, writers int
	rate             float64 // events per second per writer
	duration         time.Duration
}

// sentBytes is a libp2p bandwidth reporter that counts, exactly, the bytes
// a host writes on its streams, by protocol. (libp2p's own counter updates
// its totals once a second.)
type sentBytes struct {
	mu  sync.Mutex
	out map[protocol.ID]int64
}

func newSentBytes() *sentBytes { return &sentBytes{out: map[protocol.ID]int64{}} }

func (c *sentBytes) LogSentMessageStream(n int64, p protocol.ID, _ peer.ID) {
	c.mu.Lock()
	c.out[p] += n
	c.mu.Unlock()
}

// syncAndPubsub is what the host sent so far on the sync protocol and on
// pubsub's protocols.
func (c *sentBytes) syncAndPubsub() (syncB, pubsubB int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, n := range c.out {
		switch {
		case p == ProtocolID:
			syncB += n
		case strings.HasPrefix(string(p), "/meshsub/") || strings.HasPrefix(string(p), "/floodsub/"):
			pubsubB += n
		}
	}
	return syncB, pubsubB
}

var _ p2pmetrics.Reporter = (*sentBytes)(nil)

// The rest of the reporter: nothing else is counted, nothing read back.

func (c *sentBytes) LogSentMessage(int64)                                 {}
func (c *sentBytes) LogRecvMessage(int64)                                 {}
func (c *sentBytes) LogRecvMessageStream(int64, protocol.ID, peer.ID)     {}
func (c *sentBytes) GetBandwidthForPeer(peer.ID) p2pmetrics.Stats         { return p2pmetrics.Stats{} }
func (c *sentBytes) GetBandwidthForProtocol(protocol.ID) p2pmetrics.Stats { return p2pmetrics.Stats{} }
func (c *sentBytes) GetBandwidthTotals() p2pmetrics.Stats                 { return p2pmetrics.Stats{} }
func (c *sentBytes) GetBandwidthByPeer() map[peer.ID]p2pmetrics.Stats     { return nil }
func (c *sentBytes) GetBandwidthByProtocol() map[protocol.ID]p2pmetrics.Stats {
	return nil
}
func (c *sentBytes) Reset()               {}
func (c *sentBytes) TrimIdle(_ time.Time) {}

// memberNode is one member: a host with its byte counter, pubsub, stores
// and engine.
type memberNode struct {
	*Service
	host  host.Host
	rig   *rig
	sent  *sentBytes
	close func()
}

func newMemberNode(tb testing.TB) *memberNode {
	tb.Helper()
	sent := newSentBytes()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.BandwidthReporter(sent),
		// A hundred hosts in one process, each connected to every other:
		// no resource limits of a single node apply.
		libp2p.ResourceManager(&p2pnet.NullResourceManager{}))
	if err != nil {
		tb.Fatal(err)
	}
	psCtx, psCancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(psCtx, h)
	if err != nil {
		psCancel()
		_ = h.Close()
		tb.Fatal(err)
	}
	r, locker := newMemberRig(tb)
	s, err := New(context.Background(), Deps{
		Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, GCLocker: locker,
		Host: h, PubSub: ps, Identity: h.Peerstore().PrivKey(h.ID()),
	}, Config{})
	if err != nil {
		psCancel()
		_ = h.Close()
		tb.Fatal(err)
	}
	var closing atomic.Bool
	n := &memberNode{Service: s, host: h, rig: r, sent: sent}
	n.close = func() { // the first call closes; later ones return at once
		if closing.CompareAndSwap(false, true) {
			_ = s.Close()
			psCancel()
			_ = h.Close()
		}
	}
	tb.Cleanup(n.close)
	return n
}

// newMemberRig is a node's stores: one go-ds-pebble datastore on pebble's
// in-memory file system, with the blockstore, GC locker and pinner over it
// as Kubo (and openBenchNode) sets them up. Not newRig's MapDatastore: its
// queries scan every key, and the pinner's index queries then dominate the
// profile, which a real repo's ordered store does not show.
func newMemberRig(tb testing.TB) (*rig, bstore.GCLocker) {
	tb.Helper()
	ctx := context.Background()
	opts := &pebble.Options{FS: vfs.NewMem(), FormatMajorVersion: pebble.FormatNewest, MemTableSize: 1 << 20}
	root, err := pebbleds.NewDatastore("/member", pebbleds.WithCacheSize(8<<20), pebbleds.WithPebbleOpts(opts))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = root.Close() })
	cached, err := bstore.CachedBlockstore(ctx, bstore.NewBlockstore(root, bstore.WriteThrough(true)),
		bstore.CacheOpts{HasBloomFilterSize: 0, HasBloomFilterHashes: 7, HasTwoQueueCacheSize: 64 << 10})
	if err != nil {
		tb.Fatal(err)
	}
	locker := bstore.NewGCLocker()
	bs := bstore.NewGCBlockstore(bstore.NewIdStore(cached), locker)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	p, err := dspinner.New(ctx, root, syncDAG{dag, func() error { return root.Sync(ctx, bstore.BlockPrefix) }})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{t: tb, store: namespace.Wrap(root, ds.NewKey("/threads")), blocks: bs, dag: dag, pinner: p}, locker
}

// memberThread is a thread shared by every member; writers are the first
// nodes, the thread's creator among them.
type memberThread struct {
	nodes   []*memberNode
	writers []*memberNode
	tid     ipel.ThreadID
	logs    []ipel.LogID // the writers' logs
	base    []uint64     // their seqs after the warm-up: measured events follow
}

// membersClose bounds the wait for the members to close.
const membersClose = 30 * time.Second

// close closes every member, waiting at most membersClose: with a hundred
// hosts connected to each other, a libp2p host's Close can hang (its event
// bus: an emitter blocked on a subscriber that no longer reads, and the
// subscription's Close waiting for the emitter), and a hung close must not
// lose what was measured. The hung members are left behind (each size runs
// in a process of its own in the bench program).
func (mt *memberThread) close(tb testing.TB) {
	var left atomic.Int32
	left.Store(int32(len(mt.nodes)))
	done := make(chan struct{})
	for _, n := range mt.nodes {
		go func() {
			n.close()
			if left.Add(-1) == 0 {
				close(done)
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(membersClose):
		tb.Logf("%d of %d members did not close within %s, left behind", left.Load(), len(mt.nodes), membersClose)
	}
}

// setupMembers builds the thread (see the file comment).
func setupMembers(tb testing.TB, members, writers int) *memberThread {
	tb.Helper()
	ctx := context.Background()
	mt := &memberThread{nodes: make([]*memberNode, members)}
	for i := range mt.nodes {
		mt.nodes[i] = newMemberNode(tb)
	}
	mt.writers = mt.nodes[:writers]
	owner := mt.nodes[0]
	ti, err := owner.CreateThread(ctx, ipel.VariantAccessControlled)
	if err != nil {
		tb.Fatal(err)
	}
	mt.tid = ti.ID
	t0 := time.Now()
	order := append(slices.Clone(mt.nodes[writers:]), mt.nodes[1:writers]...)
	for i, m := range order {
		if err := owner.host.Connect(ctx, peer.AddrInfo{ID: m.host.ID(), Addrs: m.host.Addrs()}); err != nil {
			tb.Fatal(err)
		}
		role := codec.RoleRead
		if i >= len(order)-(writers-1) {
			role = codec.RoleWrite
		}
		res, err := owner.Invite(ctx, mt.tid, m.host.ID(), role)
		if err != nil {
			tb.Fatal(err)
		}
		if !res.Delivered {
			tb.Fatalf("invite not delivered to member %d, a connected peer", i)
		}
		if _, err := m.Join(ctx, res.Invite); err != nil {
			tb.Fatal(err)
		}
		eventually(tb, membersSetup, "the creator knows the new member", func() (bool, string) {
			return memberKnows(owner, mt.tid, m.host.ID()), "not in its address book"
		})
	}
	tb.Logf("%d members joined in %s", members, time.Since(t0).Round(time.Millisecond))
	for _, w := range mt.writers {
		eventually(tb, membersSetup, "every writer knows every member", func() (bool, string) {
			missing := 0
			for _, m := range mt.nodes {
				if m != w && !memberKnows(w, mt.tid, m.host.ID()) {
					missing++
				}
			}
			return missing == 0, fmt.Sprintf("a writer misses %d members", missing)
		})
		ti, err := w.Info(mt.tid)
		if err != nil || ti.OwnLog == "" {
			tb.Fatalf("writer without a log: %v", err)
		}
		mt.logs = append(mt.logs, ti.OwnLog)
	}
	tb.Logf("every writer knows every member after %s", time.Since(t0).Round(time.Millisecond))
	// Warm-up: one event per writer, held by every member.
	for _, w := range mt.writers {
		ref, err := w.Append(ctx, mt.tid, benchBody())
		if err != nil {
			tb.Fatal(err)
		}
		mt.base = append(mt.base, ref.Seq)
	}
	eventually(tb, membersSetup, "every member holds the warm-up events", func() (bool, string) {
		for _, m := range mt.nodes {
			for w, l := range mt.logs {
				if memberSeq(m.Service, mt.tid, l) < mt.base[w] {
					return false, "a member lacks a warm-up event"
				}
			}
		}
		return true, ""
	})
	tb.Logf("every member holds the warm-up events after %s", time.Since(t0).Round(time.Millisecond))
	return mt
}

// memberKnows reports whether n's address book lists p for the thread.
func memberKnows(n *memberNode, tid ipel.ThreadID, p peer.ID) bool {
	entries, err := n.Addrs(context.Background(), tid)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(entries, func(e ipel.AddrEntry) bool { return e.Peer == p })
}

// memberSeq is the seq n holds of a log, through Info.
func memberSeq(s *Service, tid ipel.ThreadID, l ipel.LogID) uint64 {
	ti, err := s.Info(tid)
	if err != nil {
		return 0
	}
	for _, li := range ti.Logs {
		if li.ID == l {
			return li.Seq
		}
	}
	return 0
}

// deliveries records, per event, when its Append started and when members
// got it. Writer w's k-th measured event (from 0) is slot [w][k], at seq
// base[w]+1+k.
type deliveries struct {
	start [][]atomic.Int64 // unix ns
	last  [][]atomic.Int64 // unix ns of the latest arrival
	count [][]atomic.Int32 // members other than the writer that have it
}

func newDeliveries(writers, perWriter int) *deliveries {
	d := &deliveries{
		start: make([][]atomic.Int64, writers),
		last:  make([][]atomic.Int64, writers),
		count: make([][]atomic.Int32, writers),
	}
	for w := range writers {
		d.start[w] = make([]atomic.Int64, perWriter)
		d.last[w] = make([]atomic.Int64, perWriter)
		d.count[w] = make([]atomic.Int32, perWriter)
	}
	return d
}

func (d *deliveries) arrived(w, k int, at int64) {
	if k < 0 || k >= len(d.count[w]) {
		return
	}
	for {
		prev := d.last[w][k].Load()
		if at <= prev || d.last[w][k].CompareAndSwap(prev, at) {
			break
		}
	}
	d.count[w][k].Add(1)
}

// membersResult is what one iteration measured.
type membersResult struct {
	lats               []time.Duration // per event, until every member had it
	appendLats         []time.Duration
	undelivered        int
	events             int
	syncBytes, psBytes int64
	window, cpu        time.Duration
	eventSize          int
	pulled             uint64
	setup              time.Duration
}

func benchMembers(b *testing.B, cfg membersRun) {
	var all membersResult
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		mt := setupMembers(b, cfg.members, cfg.writers)
		setup := time.Since(t0)
		b.StartTimer()
		r := measureMembers(b, mt, cfg)
		b.StopTimer()
		mt.close(b)
		all.lats = append(all.lats, r.lats...)
		all.appendLats = append(all.appendLats, r.appendLats...)
		all.undelivered += r.undelivered
		all.events += r.events
		all.syncBytes += r.syncBytes
		all.psBytes += r.psBytes
		all.window += r.window
		all.cpu += r.cpu
		all.eventSize = r.eventSize
		all.pulled += r.pulled
		all.setup += setup
	}
	if all.events == 0 {
		b.Fatal("no events appended")
	}
	slices.Sort(all.lats)
	slices.Sort(all.appendLats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	m := float64(cfg.members)
	ev := float64(all.events)
	perMemberEvent := func(bytes int64) float64 { return float64(bytes) / m / ev }
	b.ReportMetric(ms(pct(all.lats, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(all.lats, 0.99)), "p99-ms")
	b.ReportMetric(ms(all.lats[len(all.lats)-1]), "max-ms")
	b.ReportMetric(float64(all.undelivered), "undelivered")
	b.ReportMetric(perMemberEvent(all.syncBytes+all.psBytes), "B/member/event")
	b.ReportMetric(perMemberEvent(all.syncBytes), "sync-B/member/event")
	b.ReportMetric(perMemberEvent(all.psBytes), "pubsub-B/member/event")
	b.ReportMetric(float64(all.eventSize), "event-B")
	b.ReportMetric(perMemberEvent(all.syncBytes+all.psBytes)/float64(all.eventSize), "x-event")
	b.ReportMetric(100*all.cpu.Seconds()/all.window.Seconds()/m, "cpu-%core/member")
	b.ReportMetric(float64(all.cpu.Microseconds())/m/ev, "cpu-us/member/event")
	b.ReportMetric(float64(all.pulled)/ev, "pulled/event")
	b.ReportMetric(ms(pct(all.appendLats, 0.50)), "append-p50-ms")
	b.ReportMetric(ms(pct(all.appendLats, 0.99)), "append-p99-ms")
	b.ReportMetric(ev/float64(b.N), "events")
	b.ReportMetric(float64(cfg.members), "members")
	b.ReportMetric(all.setup.Seconds()/float64(b.N), "setup-s")
	b.ReportMetric(0, "ns/op")
}

// measureMembers runs the writers and the listeners over a built thread.
func measureMembers(b *testing.B, mt *memberThread, cfg membersRun) membersResult {
	ctx := context.Background()
	period := time.Duration(float64(time.Second) / cfg.rate)
	perWriter := int(cfg.duration/period) + 2
	d := newDeliveries(len(mt.writers), perWriter)
	writerOf := map[ipel.LogID]int{}
	for w, l := range mt.logs {
		writerOf[l] = w
	}

	// Listeners: every member, from after the warm-up events.
	from := Cursor{Logs: map[ipel.LogID]uint64{}}
	for w, l := range mt.logs {
		from.Logs[l] = mt.base[w]
	}
	lctx, stopListeners := context.WithCancel(ctx)
	var lwg sync.WaitGroup
	listenErrs := make(chan error, len(mt.nodes))
	for i, n := range mt.nodes {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			err := n.ListenBatches(lctx, mt.tid, from, 256, func(recs []Record) error {
				at := time.Now().UnixNano()
				for _, r := range recs {
					if w, ok := writerOf[r.Log]; ok && w != i { // writer w is node w
						d.arrived(w, int(r.Seq-mt.base[w])-1, at)
					}
				}
				return nil
			})
			if err != nil && lctx.Err() == nil {
				listenErrs <- err
			}
		}()
	}
	defer func() {
		stopListeners()
		lwg.Wait()
	}()

	before := membersTraffic(mt)
	pulled0 := membersPulled(mt)
	c0, t0 := cpuTime(), time.Now()
	end := t0.Add(cfg.duration)
	sent := make([]int, len(mt.writers))
	took := make([][]time.Duration, len(mt.writers))
	var wwg sync.WaitGroup
	writeErrs := make(chan error, len(mt.writers))
	body := benchBody()
	for w, wn := range mt.writers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			// Staggered: writer w starts w/writers of a period late.
			next := t0.Add(period * time.Duration(w) / time.Duration(len(mt.writers)))
			for k := 0; k < perWriter; k++ {
				if next.After(end) || time.Now().After(end) {
					return // a writer that fell behind stops at the end too
				}
				time.Sleep(time.Until(next))
				start := time.Now()
				d.start[w][k].Store(start.UnixNano())
				ref, err := wn.Append(ctx, mt.tid, body)
				took[w] = append(took[w], time.Since(start))
				if err != nil {
					writeErrs <- err
					return
				}
				if want := mt.base[w] + uint64(k) + 1; ref.Seq != want {
					writeErrs <- fmt.Errorf("writer %d: append got seq %d, want %d", w, ref.Seq, want)
					return
				}
				sent[w] = k + 1
				next = next.Add(period)
			}
		}()
	}
	wwg.Wait()
	close(writeErrs)
	if err := errors.Join(drain(writeErrs)...); err != nil {
		b.Fatal(err)
	}

	others := int32(len(mt.nodes) - 1)
	deadline := time.Now().Add(membersDrain)
	for !allDelivered(d, sent, others) && time.Now().Before(deadline) {
		select {
		case err := <-listenErrs:
			b.Fatalf("listener: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	tEnd := time.Now()
	r := membersResult{window: tEnd.Sub(t0), cpu: cpuTime() - c0}
	after := membersTraffic(mt)
	r.syncBytes, r.psBytes = after[0]-before[0], after[1]-before[1]
	r.pulled = membersPulled(mt) - pulled0
	for w := range mt.writers {
		r.appendLats = append(r.appendLats, took[w]...)
		r.events += sent[w]
		for k := range sent[w] {
			start := d.start[w][k].Load()
			if d.count[w][k].Load() >= others {
				r.lats = append(r.lats, time.Duration(d.last[w][k].Load()-start))
				continue
			}
			r.undelivered++
			r.lats = append(r.lats, time.Duration(tEnd.UnixNano()-start))
		}
	}
	r.eventSize = memberEventSize(b, mt)
	return r
}

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func allDelivered(d *deliveries, sent []int, others int32) bool {
	for w, n := range sent {
		for k := range n {
			if d.count[w][k].Load() < others {
				return false
			}
		}
	}
	return true
}

// membersTraffic sums what every member sent so far on the sync protocol
// and on pubsub.
func membersTraffic(mt *memberThread) [2]int64 {
	var t [2]int64
	for _, n := range mt.nodes {
		s, p := n.sent.syncAndPubsub()
		t[0] += s
		t[1] += p
	}
	return t
}

func membersPulled(mt *memberThread) uint64 {
	var p uint64
	for _, n := range mt.nodes {
		p += n.NetStats().Pulled
	}
	return p
}

// memberEventSize is the size of the first writer's first measured event
// block, as its blockstore holds it.
func memberEventSize(tb testing.TB, mt *memberThread) int {
	tb.Helper()
	ctx := context.Background()
	w := mt.writers[0]
	recs, err := w.Events(ctx, mt.tid, Query{Log: mt.logs[0], Since: mt.base[0], Limit: 1})
	if err != nil || len(recs) != 1 {
		tb.Fatalf("first measured event: %d records, %v", len(recs), err)
	}
	size, err := w.rig.blocks.GetSize(ctx, recs[0].Cid)
	if err != nil {
		tb.Fatal(err)
	}
	return size
}
