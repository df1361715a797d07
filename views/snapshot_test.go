package views

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// gate refuses connections with the peers it blocks.
type gate struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool
}

func (g *gate) set(p peer.ID, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[p] = blocked
}
func (g *gate) ok(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p]
}
func (g *gate) InterceptPeerDial(p peer.ID) bool                 { return g.ok(p) }
func (g *gate) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.ok(p) }
func (g *gate) InterceptAccept(p2pnet.ConnMultiaddrs) bool       { return true }
func (g *gate) InterceptSecured(_ p2pnet.Direction, p peer.ID, _ p2pnet.ConnMultiaddrs) bool {
	return g.ok(p)
}
func (g *gate) InterceptUpgraded(p2pnet.Conn) (bool, control.DisconnectReason) { return true, 0 }

type netNode struct {
	node
	host   host.Host
	gate   *gate
	dag    ipld.DAGService
	pinner pin.Pinner
}

// newNetNode runs an engine with an in-process libp2p host (no pubsub) and
// a view manager.
func newNetNode(t testing.TB, interval uint64) *netNode {
	t.Helper()
	ctx := context.Background()
	g := &gate{blocked: map[peer.ID]bool{}}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.ConnectionGater(g))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	store := dssync.MutexWrap(ds.NewMapDatastore())
	bs := bstore.NewBlockstore(store)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	p, err := dspinner.New(ctx, store, dag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := threads.New(ctx, threads.Deps{
		Datastore: namespace.Wrap(store, ds.NewKey("/threads")), Blockstore: bs, Pinner: p,
		Host: h, Identity: h.Peerstore().PrivKey(h.ID()),
	}, threads.Config{AntiEntropyInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	viewStore := namespace.Wrap(store, ds.NewKey("/views"))
	m := NewManager(s, viewStore, nil)
	m.SnapshotInterval = interval
	t.Cleanup(func() {
		_ = m.Close()
		_ = s.Close()
	})
	return &netNode{node: node{s: s, m: m, store: viewStore}, host: h, gate: g, dag: dag, pinner: p}
}

func (n *netNode) join(t testing.TB, from *netNode, tid ipel.ThreadID, role codec.Role, opts threads.JoinOptions) {
	t.Helper()
	ctx := context.Background()
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: from.host.ID(), Addrs: from.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	res, err := from.s.Invite(ctx, tid, n.host.ID(), role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.s.JoinWith(ctx, res.Invite, opts); err != nil {
		t.Fatal(err)
	}
}

// waitSame waits until every node holds the same heads and its views have
// applied them.
func waitSame(t testing.TB, tid ipel.ThreadID, nodes ...*netNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var first string
		same := true
		for i, n := range nodes {
			ti, err := n.s.Info(tid)
			if err != nil {
				t.Fatal(err)
			}
			var heads string
			for _, l := range ti.Logs {
				heads += fmt.Sprintf("%s:%d ", l.ID, l.Seq)
			}
			if i == 0 {
				first = heads
			} else if heads != first {
				same = false
			}
		}
		if same {
			for _, n := range nodes {
				if err := n.m.CatchUp(ctx, tid); err != nil {
					t.Fatal(err)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nodes did not converge: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func putN(t testing.TB, n *node, tid ipel.ThreadID, from, to int, tag string) {
	t.Helper()
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if err := kv.Put(context.Background(), ds.NewKey(fmt.Sprintf("/k/%d", i%37)), fmt.Appendf(nil, "%s%d", tag, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func viewDump(t testing.TB, n *node, tid ipel.ThreadID) string {
	return fmt.Sprint(dump(t, n.store, kvPrefix(tid)))
}

func TestSnapshotSameOnReplicasAndJoinFromIt(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := a.thread(t)
	b.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	// Both write at once: each replica applies the events in its own order.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); putN(t, &a.node, tid, 0, 120, "a") }()
	go func() { defer wg.Done(); putN(t, &b.node, tid, 0, 120, "b") }()
	wg.Wait()
	waitSame(t, tid, a, b)
	sa, err := a.m.Snapshot(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.m.Snapshot(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	// Each signs its own root over the same pages.
	if sa.Maker != a.host.ID() || sb.Maker != b.host.ID() || sa.Root.Equals(sb.Root) {
		t.Fatalf("makers: %s by %s, %s by %s", sa.Root, sa.Maker, sb.Root, sb.Maker)
	}
	if pa, pb := pageLinks(t, a, sa), pageLinks(t, b, sb); pa != pb || sa.Events != 240 {
		t.Fatalf("replicas' snapshots differ: %s (%d events) vs %s (%d)", pa, sa.Events, pb, sb.Events)
	}
	// The same state at the same cursor by the same maker: the same root.
	if again, err := a.m.Snapshot(ctx, tid); err != nil || !again.Root.Equals(sa.Root) {
		t.Fatalf("snapshot again: %s vs %s (%v)", again.Root, sa.Root, err)
	}
	// C joins from A's snapshot, then gets later events only.
	putN(t, &a.node, tid, 120, 130, "a")
	c := newNetNode(t, 0)
	c.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{})
	waitSame(t, tid, a, b, c)
	if viewDump(t, &c.node, tid) != viewDump(t, &a.node, tid) {
		t.Fatal("joiner's views differ")
	}
	ti, _ := c.s.Info(tid)
	for _, l := range ti.Logs {
		if l.Base == 0 && !l.Own {
			t.Fatalf("joiner replayed log %s from the start", l.ID)
		}
	}
	if got, err := c.s.Snapshot(ctx, tid); err != nil || !got.Root.Equals(sa.Root) || got.Maker != a.host.ID() {
		t.Fatalf("joiner's snapshot: %v by %s: %v", got.Root, got.Maker, err)
	}
	// The joiner rebuilds its views from the snapshot and later events.
	if err := c.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if viewDump(t, &c.node, tid) != viewDump(t, &a.node, tid) {
		t.Fatal("joiner's rebuilt views differ")
	}
}

func TestAutomaticSnapshotsAgree(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 100), newNetNode(t, 100)
	tid := a.thread(t)
	b.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	putN(t, &a.node, tid, 0, 250, "a")
	waitSame(t, tid, a, b)
	sa, err := a.s.Snapshot(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.s.Snapshot(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Events != 200 || sb.Events != 200 || pageLinks(t, a, sa) != pageLinks(t, b, sb) {
		t.Fatalf("automatic snapshots: %s at %d vs %s at %d", sa.Root, sa.Events, sb.Root, sb.Events)
	}
}

// pageLinks lists the pages a snapshot's root links to.
func pageLinks(t testing.TB, n *netNode, si threads.SnapshotInfo) string {
	t.Helper()
	nd, err := n.dag.Get(context.Background(), si.Root)
	if err != nil {
		t.Fatal(err)
	}
	links, err := codec.SnapshotLinks(nd.RawData())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(links)
}

// reachable walks every recursive pin as the garbage collector does; a
// missing block fails, as it fails Kubo's GC.
func reachable(t testing.TB, n *netNode) *cid.Set {
	t.Helper()
	ctx := context.Background()
	set := cid.NewSet()
	for p := range n.pinner.RecursiveKeys(ctx, false) {
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		if err := merkledag.Walk(ctx, merkledag.GetLinksWithDAG(n.dag), p.Pin.Key, set.Visit); err != nil {
			t.Fatalf("walk from pin %s: %v", p.Pin.Key, err)
		}
	}
	return set
}

func TestCompactionKeepsViewsAndGCWorks(t *testing.T) {
	ctx := context.Background()
	a := newNetNode(t, 0)
	tid := a.thread(t)
	if _, err := a.m.Compact(ctx, tid); err == nil {
		t.Fatal("compaction without a snapshot accepted")
	}
	putN(t, &a.node, tid, 0, 300, "a")
	old, _ := a.s.Events(ctx, tid, threads.Query{Limit: 1})
	if _, err := a.m.Snapshot(ctx, tid); err != nil {
		t.Fatal(err)
	}
	putN(t, &a.node, tid, 300, 350, "a")
	before := viewDump(t, &a.node, tid)
	res, err := a.m.Compact(ctx, tid)
	if err != nil || len(res.Logs) != 1 || res.Logs[0].Base != 300 || res.Logs[0].Events != 300 || res.Logs[0].Bytes == 0 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	if viewDump(t, &a.node, tid) != before {
		t.Fatal("views changed by compaction")
	}
	ti, _ := a.s.Info(tid)
	if l := ti.Logs[0]; l.Base != 300 || l.Seq != 350 || l.CompactedEvents != 300 {
		t.Fatalf("info after compaction: %+v", l)
	}
	if recs, err := a.s.Events(ctx, tid, threads.Query{}); err != nil || len(recs) != 50 || recs[0].Seq != 301 {
		t.Fatalf("events after compaction: %d %v", len(recs), err)
	}
	// What GC keeps (once pins follow the heads, within 50 ms; GC waits
	// for that): the events after the base, not those before.
	recs, _ := a.s.Events(ctx, tid, threads.Query{})
	eventually(t, func() bool {
		set := reachable(t, a)
		return !set.Has(old[0].Cid) && set.Has(recs[len(recs)-1].Cid)
	})
	set := reachable(t, a)
	for _, r := range recs {
		if !set.Has(r.Cid) {
			t.Fatalf("event %d not kept by the pins (%d reached)", r.Seq, set.Len())
		}
	}
	// Rebuild from the snapshot and the later events.
	if err := a.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if viewDump(t, &a.node, tid) != before {
		t.Fatal("rebuild after compaction differs")
	}
	putN(t, &a.node, tid, 350, 360, "a")
	if v, err := func() ([]byte, error) { kv, _ := a.m.KV(tid); return kv.Get(ctx, ds.NewKey("/k/17")) }(); err != nil || string(v) != "a350" {
		t.Fatalf("after compaction: %q %v", v, err)
	}
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBehindMemberDoesNotFastForward: a member that fell behind a peer's
// compaction never takes that peer's snapshot: it reports the blocked
// catch-up (which peer compacted up to which seq), keeps its views, and
// catches up with the whole history once a member that holds it is
// reachable.
func TestBehindMemberDoesNotFastForward(t *testing.T) {
	ctx := context.Background()
	a, b, c := newNetNode(t, 0), newNetNode(t, 0), newNetNode(t, 0)
	tid := a.thread(t)
	b.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	putN(t, &b.node, tid, 0, 5, "b")
	putN(t, &a.node, tid, 0, 10, "a")
	waitSame(t, tid, a, b)
	c.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	// B goes away, and C is out of its reach; A moves on, C keeps up with
	// A, and A snapshots and compacts.
	cut := func(x, y *netNode, blocked bool) {
		x.gate.set(y.host.ID(), blocked)
		y.gate.set(x.host.ID(), blocked)
		if blocked {
			_ = x.host.Network().ClosePeer(y.host.ID())
		}
	}
	cut(a, b, true)
	cut(b, c, true)
	putN(t, &a.node, tid, 10, 200, "a")
	waitSame(t, tid, a, c)
	if _, err := a.m.Snapshot(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.Compact(ctx, tid); err != nil {
		t.Fatal(err)
	}
	putN(t, &a.node, tid, 200, 210, "a")
	before := viewDump(t, &b.node, tid)
	// B comes back to A only: its pull is below A's base, and nobody else
	// it reaches holds the events.
	cut(a, b, false)
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.host.ID(), Addrs: a.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	aLog := ownLog(t, a)
	var blocked *threads.CatchUpError
	eventually(t, func() bool {
		blocked = logInfo(t, b, tid, aLog).CatchUp
		return blocked != nil
	})
	if blocked.Have != 10 || len(blocked.Peers) != 1 || blocked.Peers[0].Peer != a.host.ID() || blocked.Peers[0].Base != 200 {
		t.Fatalf("blocked catch-up: %+v", blocked)
	}
	for _, want := range []string{a.host.ID().String(), "up to seq 200", "ipfs threads rm", "snapshot"} {
		if !strings.Contains(blocked.Error(), want) {
			t.Fatalf("the error does not say %q: %s", want, blocked)
		}
	}
	if l := logInfo(t, b, tid, aLog); l.Base != 0 || l.Seq != 10 {
		t.Fatalf("B's log of A moved: %+v", l)
	}
	if _, err := b.s.Snapshot(ctx, tid); !errors.Is(err, threads.ErrNoSnapshot) {
		t.Fatalf("B took a snapshot: %v", err)
	}
	if err := b.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if viewDump(t, &b.node, tid) != before {
		t.Fatal("B's views changed")
	}
	// C, which holds the whole history, becomes reachable: B gets every
	// event from it, from the start.
	cut(b, c, false)
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: c.host.ID(), Addrs: c.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	if l := logInfo(t, b, tid, aLog); l.Base != 0 || l.Seq != 210 || l.CatchUp != nil {
		t.Fatalf("B's log of A after catching up: %+v", l)
	}
	if viewDump(t, &b.node, tid) != viewDump(t, &a.node, tid) {
		t.Fatal("views differ after catching up")
	}
	putN(t, &b.node, tid, 5, 8, "b")
	waitSame(t, tid, a, b)
	if viewDump(t, &b.node, tid) != viewDump(t, &a.node, tid) {
		t.Fatal("views differ after more writes")
	}
}

func ownLog(t testing.TB, n *netNode) ipel.LogID {
	t.Helper()
	ths, err := n.s.Threads()
	if err != nil || len(ths) == 0 {
		t.Fatalf("threads: %v", err)
	}
	return ths[0].OwnLog
}

func logInfo(t testing.TB, n *netNode, tid ipel.ThreadID, id ipel.LogID) threads.LogInfo {
	t.Helper()
	ti, err := n.s.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ti.Logs {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no log %s", id)
	return threads.LogInfo{}
}
