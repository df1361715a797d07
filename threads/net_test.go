package threads

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type testNode struct {
	*Service
	host host.Host
	rig  *rig
}

type nodeOpts struct {
	noPubsub bool
	follow   bool
	interval time.Duration
	gater    *blockGater
	// syncDelay makes every datastore Sync of the engine take this long
	// (a slow disk), widening the windows between a check and a commit.
	syncDelay time.Duration
	now       func() time.Time // the node's wall clock; time.Now when nil
	deps      func(*Deps)      // changes the node's dependencies before it starts
}

// slowSync is a datastore whose Sync takes a while.
type slowSync struct {
	ds.Batching
	delay time.Duration
}

func (s slowSync) Sync(ctx context.Context, k ds.Key) error {
	time.Sleep(s.delay)
	return s.Batching.Sync(ctx, k)
}

// blockGater refuses connections with the peers it lists.
type blockGater struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool
}

func (g *blockGater) block(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked == nil {
		g.blocked = map[peer.ID]bool{}
	}
	g.blocked[p] = true
}

func (g *blockGater) unblock(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.blocked, p)
}

func (g *blockGater) allowed(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p]
}

func (g *blockGater) InterceptPeerDial(p peer.ID) bool                 { return g.allowed(p) }
func (g *blockGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allowed(p) }
func (g *blockGater) InterceptAccept(p2pnet.ConnMultiaddrs) bool       { return true }
func (g *blockGater) InterceptSecured(_ p2pnet.Direction, p peer.ID, _ p2pnet.ConnMultiaddrs) bool {
	return g.allowed(p)
}
func (g *blockGater) InterceptUpgraded(p2pnet.Conn) (bool, control.DisconnectReason) { return true, 0 }

func newTestNode(t testing.TB, o nodeOpts) *testNode {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay()}
	if o.gater != nil {
		opts = append(opts, libp2p.ConnectionGater(o.gater))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	var ps *pubsub.PubSub
	if !o.noPubsub {
		if ps, err = pubsub.NewGossipSub(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	if o.interval == 0 {
		o.interval = 300 * time.Millisecond
	}
	r := newRig(t)
	if o.syncDelay > 0 {
		r.store = slowSync{Batching: r.store, delay: o.syncDelay}
	}
	deps := Deps{
		Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner,
		Host: h, PubSub: ps, Identity: h.Peerstore().PrivKey(h.ID()), Now: o.now,
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	s, err := New(context.Background(), deps, Config{AntiEntropyInterval: o.interval, AcceptFollowInvites: o.follow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testNode{Service: s, host: h, rig: r}
}

func connect(t testing.TB, a, b *testNode) {
	t.Helper()
	if err := a.host.Connect(context.Background(), peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func (n *testNode) addr() ma.Multiaddr {
	p2p, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	return p2p[0]
}

// eventually polls cond every 5 ms until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s (%s)", what, d, last)
}

// invite creates an invite on a for b and has b join it.
func invite(t testing.TB, a, b *testNode, tid ipel.ThreadID, role codec.Role) {
	t.Helper()
	ctx := context.Background()
	res, err := a.Invite(ctx, tid, b.host.ID(), role)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Delivered {
		t.Fatal("invite not delivered to a connected peer")
	}
	invs, err := b.Invites(ctx)
	if err != nil || len(invs) != 1 || invs[0].Thread != tid || invs[0].Role != role || invs[0].From != a.host.ID() {
		t.Fatalf("invites at the invitee: %+v %v", invs, err)
	}
	if _, err := b.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	if invs, _ := b.Invites(ctx); len(invs) != 0 {
		t.Fatalf("joined invite still listed: %+v", invs)
	}
}

// fingerprint summarises what a node holds of a thread: every log's events.
func fingerprint(n *testNode, tid ipel.ThreadID) (map[ipel.LogID][]cid.Cid, int) {
	th, err := n.thread(tid)
	if err != nil {
		return nil, 0
	}
	out := map[ipel.LogID][]cid.Cid{}
	total := 0
	for _, l := range th.info().Logs {
		for seq := uint64(1); seq <= l.Seq; seq++ {
			b, err := n.rig.store.Get(context.Background(), eventKey(tid, l.ID, seq))
			if err != nil {
				return nil, 0
			}
			c, _ := cid.Cast(b)
			out[l.ID] = append(out[l.ID], c)
			total++
		}
	}
	return out, total
}

func converged(nodes []*testNode, tid ipel.ThreadID, want int) (bool, string) {
	var first map[ipel.LogID][]cid.Cid
	state := ""
	for i, n := range nodes {
		fp, total := fingerprint(n, tid)
		state += fmt.Sprintf("node %d: %d events; ", i, total)
		if total != want {
			return false, state
		}
		if i == 0 {
			first = fp
			continue
		}
		for log, cids := range first {
			if len(fp[log]) != len(cids) {
				return false, state
			}
			for j := range cids {
				if !cids[j].Equals(fp[log][j]) {
					return false, state + " differing CIDs"
				}
			}
		}
	}
	return true, state
}

func TestThreeWritersConverge(t *testing.T) {
	ctx := context.Background()
	a, b, c := newTestNode(t, nodeOpts{}), newTestNode(t, nodeOpts{}), newTestNode(t, nodeOpts{})
	connect(t, a, b)
	connect(t, a, c)
	ti, err := a.CreateThread(ctx, ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	tid := ti.ID
	for i := 0; i < 20; i++ {
		if _, err := a.Append(ctx, tid, fmt.Appendf(nil, "early %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	invite(t, a, b, tid, codec.RoleWrite)
	invite(t, a, c, tid, codec.RoleWrite)
	nodes := []*testNode{a, b, c}
	// The joiners pull the history.
	eventually(t, 15*time.Second, "history pulled", func() (bool, string) { return converged(nodes, tid, 20) })
	// All three write at once.
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if _, err := n.Append(ctx, tid, fmt.Appendf(nil, "node %d event %d", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, 20*time.Second, "three writers converge", func() (bool, string) { return converged(nodes, tid, 170) })
	// Every member reads every event, and all agree on the order.
	var orders [][]cid.Cid
	for _, n := range nodes {
		recs, err := n.Events(ctx, tid, Query{})
		if err != nil || len(recs) != 170 {
			t.Fatalf("read: %d %v", len(recs), err)
		}
		var order []cid.Cid
		for _, r := range recs {
			order = append(order, r.Cid)
		}
		orders = append(orders, order)
	}
	for i := 1; i < len(orders); i++ {
		for j := range orders[0] {
			if !orders[0][j].Equals(orders[i][j]) {
				t.Fatalf("node %d orders events differently at %d", i, j)
			}
		}
	}
	if entries, _ := b.Addrs(ctx, tid); len(entries) == 0 {
		t.Fatal("b's address book is empty")
	}
}

func TestSyncWithoutPubsubAndWithLoss(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true, interval: 200 * time.Millisecond})
	b := newTestNode(t, nodeOpts{noPubsub: true, interval: 200 * time.Millisecond})
	connect(t, a, b)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	invite(t, a, b, ti.ID, codec.RoleWrite)
	// 30% of pushes are lost, and what is sent goes out in random order.
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	drop := func() bool { mu.Lock(); defer mu.Unlock(); return rng.Float64() < 0.3 }
	var reordered atomic.Int64
	reorder := func(msgs []threadMsg) {
		mu.Lock()
		defer mu.Unlock()
		if len(msgs) > 1 {
			reordered.Add(1)
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	}
	a.net.dropPush, b.net.dropPush = drop, drop
	a.net.reorder, b.net.reorder = reorder, reorder
	var wg sync.WaitGroup
	for _, n := range []*testNode{a, b} {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					if _, err := n.Append(ctx, ti.ID, []byte("x")); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	eventually(t, 20*time.Second, "lossy sync converges", func() (bool, string) { return converged([]*testNode{a, b}, ti.ID, 200) })
	t.Logf("%d push batches sent reordered", reordered.Load())
}

func TestFollowerServesWhenWriterIsGone(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{})
	f := newTestNode(t, nodeOpts{follow: true})
	b := newTestNode(t, nodeOpts{})
	connect(t, a, f)
	connect(t, a, b)
	connect(t, b, f)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	for i := 0; i < 30; i++ {
		if _, err := a.Append(ctx, tid, fmt.Appendf(nil, "secret %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.AddFollower(ctx, tid, f.addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "follower replicates", func() (bool, string) { return converged([]*testNode{a, f}, tid, 30) })
	// The follower verified and stored everything, and reads nothing.
	if _, err := f.Events(ctx, tid, Query{}); !errors.Is(err, ErrNoReadKey) {
		t.Fatalf("follower read: %v", err)
	}
	fth, _ := f.thread(tid)
	blk, err := f.rig.blocks.Get(ctx, a.mustHead(t, tid))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Open(blk, fth.follow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.OpenHeader(fth.follow); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("follower decrypted a header: %v", err)
	}
	// b is invited as a reader (raw threads no longer offer the role; an
	// invite made before still joins), then a goes away: b catches up from
	// f alone.
	if _, err := a.Invite(ctx, tid, b.host.ID(), codec.RoleRead); !errors.Is(err, ErrNoReadRole) {
		t.Fatalf("read invite to a raw thread: %v", err)
	}
	res := InviteResult{Invite: issuedReadInvite(t, a, tid, b.host.ID())}
	if err := a.host.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if _, err := b.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "reader catches up from the follower", func() (bool, string) {
		_, total := fingerprint(b, tid)
		return total == 30, fmt.Sprintf("%d events", total)
	})
	recs, err := b.Events(ctx, tid, Query{})
	if err != nil || len(recs) != 30 || string(recs[29].Body) != "secret 29" {
		t.Fatalf("reader: %d %v", len(recs), err)
	}
	if _, err := b.Append(ctx, tid, []byte("x")); !errors.Is(err, ErrNotWriter) {
		t.Fatalf("reader appended: %v", err)
	}
	// Nobody hands out more than it holds.
	if _, err := b.Invite(ctx, tid, f.host.ID(), codec.RoleWrite); !errors.Is(err, ErrNotWriter) {
		t.Fatalf("reader invited a writer: %v", err)
	}
	if _, err := f.Invite(ctx, tid, b.host.ID(), codec.RoleRead); !errors.Is(err, ErrNoReadKey) {
		t.Fatalf("follower invited a reader: %v", err)
	}
}

func (n *testNode) mustHead(t *testing.T, tid ipel.ThreadID) cid.Cid {
	t.Helper()
	ti, err := n.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ti.Logs {
		if l.Own {
			return l.Head
		}
	}
	t.Fatal("no own log")
	return cid.Undef
}

func TestHostileInputIsRejected(t *testing.T) {
	ctx := context.Background()
	a, m := newTestNode(t, nodeOpts{}), newTestNode(t, nodeOpts{})
	connect(t, a, m)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	if _, err := a.Append(ctx, tid, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	th, _ := a.thread(tid)

	// A non-member (no follow key) asks for heads and events.
	for _, msg := range []*codec.Message{
		{Type: codec.MsgHeads, Thread: tid.Bytes(), Auth: []byte("forged")},
		{Type: codec.MsgPull, Thread: tid.Bytes(), Log: []byte(th.own.id), From: 1, Max: 10},
		{Type: codec.MsgPush, Thread: tid.Bytes()},
	} {
		if _, err := m.net.request(ctx, a.host.ID(), msg); err == nil || !strings.Contains(err.Error(), "not a member") {
			t.Fatalf("non-member %d: %v", msg.Type, err)
		}
	}
	// A member's proof replayed by another peer does not pass.
	stolen := codec.ThreadAuth(th.follow, tid.Bytes(), []byte(a.host.ID()), []byte(a.host.ID()))
	if _, err := m.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgHeads, Thread: tid.Bytes(), Auth: stolen}); err == nil {
		t.Fatal("replayed proof accepted")
	}
	// Garbage and an oversized frame on the protocol.
	for _, raw := range [][]byte{[]byte("\x05hello"), {0xff, 0xff, 0xff, 0xff, 0x7f}} {
		st, err := m.host.NewStream(ctx, a.host.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write(raw)
		_ = st.CloseWrite()
		_, _ = bufio.NewReader(st).ReadByte()
		_ = st.Close()
	}
	// A member pushes forged events: bad signature, a log key that does not
	// match the log ID, garbage blocks.
	invite(t, a, m, tid, codec.RoleWrite)
	mth, _ := m.thread(tid)
	impostor, _, _ := ipel.NewLogIdentity()
	c, _ := codec.SealContent(mth.read.Load(), []byte("forged"), time.Now(), 1024)
	forged, _ := codec.Seal(impostor, mth.follow, codec.Position{Thread: tid, Log: th.own.id, Seq: 2, Prev: a.mustHead(t, tid)}, c)
	for _, evs := range [][][]byte{{forged.Block.RawData()}, {[]byte("garbage")}} {
		_, err := m.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: m.net.auth(mth, a.host.ID()), Events: evs})
		if err != nil {
			t.Fatalf("push answered %v", err)
		}
	}
	stats := a.NetStats()
	for _, reason := range []string{"not a member", "malformed message", "bad signature", "malformed event"} {
		if stats.Rejected[reason] == 0 {
			t.Errorf("no rejection counted for %q: %v", reason, stats.Rejected)
		}
	}
	// Nothing forged was stored, and a keeps serving.
	recs, err := a.Events(ctx, tid, Query{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("a holds %d events: %v", len(recs), err)
	}
	if _, err := m.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgHeads, Thread: tid.Bytes(), Auth: m.net.auth(mth, a.host.ID())}); err != nil {
		t.Fatalf("a stopped serving: %v", err)
	}
	// An invite sealed to someone else is refused.
	other := newTestNode(t, nodeOpts{})
	res, _ := a.Invite(ctx, tid, other.host.ID(), codec.RoleWrite)
	if _, err := m.Join(ctx, res.Invite); !errors.Is(err, codec.ErrBadInvite) {
		t.Fatalf("foreign invite: %v", err)
	}
}

func TestPubsubAloneDeliversWithoutDirectConnection(t *testing.T) {
	ctx := context.Background()
	ga, gc := &blockGater{}, &blockGater{}
	a := newTestNode(t, nodeOpts{gater: ga, interval: time.Hour})
	c := newTestNode(t, nodeOpts{gater: gc, interval: time.Hour})
	ga.block(c.host.ID())
	gc.block(a.host.ID())
	// r is no member: a plain gossipsub router between a and c.
	r, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rps, err := pubsub.NewGossipSub(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, c} {
		if err := r.Connect(ctx, peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	topic, err := rps.Join(topicName(tid))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	var relayed sync.Map
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			relayed.Store(string(m.Data), true)
		}
	}()
	// The invite travels out of band: a cannot reach c.
	res, err := a.Invite(ctx, tid, c.host.ID(), codec.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered {
		t.Fatal("invite delivered through a blocked connection")
	}
	if _, err := c.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	// Wait until both members see the router in the topic's mesh.
	eventually(t, 15*time.Second, "topic peers", func() (bool, string) {
		a.net.mu.Lock()
		at := a.net.topics[tid]
		a.net.mu.Unlock()
		c.net.mu.Lock()
		ct := c.net.topics[tid]
		c.net.mu.Unlock()
		return at != nil && ct != nil && len(at.topic.ListPeers()) > 0 && len(ct.topic.ListPeers()) > 0, "no topic peers yet"
	})
	// Gossipsub drops what is published before its mesh forms (push and pull
	// repair that when there is a direct path; here there is none), so wait
	// until a message from a reaches the router, and one from the router
	// reaches c.
	a.net.mu.Lock()
	at := a.net.topics[tid]
	a.net.mu.Unlock()
	ath, _ := a.thread(tid)
	probe, _ := codec.EncodeMessage(&codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(),
		Auth: codec.ThreadAuth(ath.follow, tid.Bytes(), []byte(a.host.ID()), nil)})
	eventually(t, 15*time.Second, "gossip path a -> router -> c", func() (bool, string) {
		_ = at.topic.Publish(ctx, probe)
		_ = topic.Publish(ctx, []byte("probe"))
		_, fromA := relayed.Load(string(probe))
		atC := c.NetStats().Rejected["malformed pubsub message"] > 0
		return fromA && atC, fmt.Sprintf("router got a's probe: %v, c got the router's: %v", fromA, atC)
	})
	for i := 0; i < 20; i++ {
		if _, err := a.Append(ctx, tid, fmt.Appendf(nil, "gossip %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "events through pubsub", func() (bool, string) {
		_, total := fingerprint(c, tid)
		return total == 20, fmt.Sprintf("%d events", total)
	})
	if a.host.Network().Connectedness(c.host.ID()) == p2pnet.Connected {
		t.Fatal("a and c were connected directly")
	}
	recs, err := c.Events(ctx, tid, Query{})
	if err != nil || len(recs) != 20 || string(recs[19].Body) != "gossip 19" {
		t.Fatalf("c reads %d events: %v", len(recs), err)
	}
	// A non-member publishing on the topic is rejected by the validator.
	forged, _ := codec.EncodeMessage(&codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: []byte("forged"), Events: [][]byte{[]byte("x")}})
	before := c.NetStats().Rejected["not a member"]
	if err := topic.Publish(ctx, forged); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "non-member publication rejected", func() (bool, string) {
		n := c.NetStats().Rejected["not a member"]
		return n > before, fmt.Sprintf("%d rejections", n)
	})
}

func TestNetworkEquivocationReplayAndGap(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true, interval: time.Hour})
	m := newTestNode(t, nodeOpts{noPubsub: true, interval: time.Hour})
	connect(t, a, m)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, m, tid, codec.RoleWrite)
	mth, _ := m.thread(tid)
	mlog := mth.own.id
	seqAt := func(n *testNode, l ipel.LogID) uint64 {
		th, err := n.thread(tid)
		if err != nil {
			return 0
		}
		th.mu.Lock()
		defer th.mu.Unlock()
		if st := th.logs[l]; st != nil {
			return st.seq
		}
		return 0
	}
	first, err := m.Append(ctx, tid, []byte("m1"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a gets m's first event", func() (bool, string) {
		return seqAt(a, mlog) == 1, fmt.Sprintf("seq %d", seqAt(a, mlog))
	})
	push := func(evs ...blocks.Block) {
		t.Helper()
		msg := &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: m.net.auth(mth, a.host.ID())}
		for _, b := range evs {
			msg.Events = append(msg.Events, b.RawData())
		}
		if _, err := m.net.request(ctx, a.host.ID(), msg); err != nil {
			t.Fatal(err)
		}
	}
	// Replay: the same event again changes nothing.
	blk, _ := m.rig.blocks.Get(ctx, first.Cid)
	push(blk)
	if got := seqAt(a, mlog); got != 1 {
		t.Fatalf("replay moved the head to %d", got)
	}
	// Equivocation: m signs a second, different event at seq 1.
	conflict := forge(t, mth, mth.own, 1, cid.Undef, "m1 again")
	push(conflict.Block)
	eqs, err := a.Equivocations(ctx, tid)
	if err != nil || len(eqs) != 1 || !eqs[0].Cid.Equals(conflict.Cid()) || eqs[0].Log != mlog {
		t.Fatalf("equivocation not recorded: %+v %v", eqs, err)
	}
	if a.NetStats().Rejected["equivocation"] != 1 {
		t.Fatalf("rejections %v", a.NetStats().Rejected)
	}
	recs, _ := a.Events(ctx, tid, Query{Log: mlog})
	if len(recs) != 1 || string(recs[0].Body) != "m1" {
		t.Fatalf("first event not kept: %+v", recs)
	}
	// A gap: m's pushes are lost, then only its newest event arrives; a
	// pulls the missing range from m.
	m.net.dropPush = func() bool { return true }
	var last EventRef
	for i := 2; i <= 6; i++ {
		if last, err = m.Append(ctx, tid, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqAt(a, mlog); got != 1 {
		t.Fatalf("dropped pushes arrived: seq %d", got)
	}
	lastBlk, _ := m.rig.blocks.Get(ctx, last.Cid)
	push(lastBlk)
	eventually(t, 10*time.Second, "gap filled by a pull", func() (bool, string) {
		return seqAt(a, mlog) == 6, fmt.Sprintf("seq %d", seqAt(a, mlog))
	})
	if a.NetStats().Pulled < 4 {
		t.Fatalf("the gap was not pulled: %+v", a.NetStats())
	}
}

func TestNetworkedCloseLeavesNoGoroutines(t *testing.T) {
	ctx := context.Background()
	a, b := newTestNode(t, nodeOpts{interval: 50 * time.Millisecond}), newTestNode(t, nodeOpts{interval: 50 * time.Millisecond})
	connect(t, a, b)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	invite(t, a, b, ti.ID, codec.RoleWrite)
	listening := make(chan error, 1)
	go func() { listening <- b.Listen(ctx, ti.ID, 0, func(Record) error { return nil }) }()
	for i := 0; i < 100; i++ {
		if _, err := a.Append(ctx, ti.ID, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "sync", func() (bool, string) { return converged([]*testNode{a, b}, ti.ID, 100) })
	_ = a.Close()
	_ = b.Close()
	if err := <-listening; !errors.Is(err, ErrClosed) {
		t.Fatalf("listen: %v", err)
	}
	// Nothing of the engine runs after Close (libp2p's own goroutines end
	// with the hosts, which the test closes later).
	eventually(t, 5*time.Second, "engine goroutines gone", func() (bool, string) {
		buf := make([]byte, 1<<22)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "kubo-threads/threads.") && !strings.Contains(g, "TestNetworkedCloseLeavesNoGoroutines") && !strings.Contains(g, "testing.tRunner") {
				return false, g
			}
		}
		return true, ""
	})
}

func TestMetricsAndStats(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	r := newRig(t)
	s, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, Metrics: reg}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tid := mustCreate(t, s)
	for i := 0; i < 7; i++ {
		if _, err := s.Append(ctx, tid, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(s.met.appended); got != 7 {
		t.Fatalf("events_appended_total %v", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	if !names["threads_events_appended_total"] {
		t.Fatalf("registry holds %v", names)
	}
	st, err := s.Stats(ctx, tid)
	if err != nil || st.Events != 7 || len(st.Info.Logs) != 1 || st.Equivocations != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	// A second service in the same process shares the collectors.
	s2, err := New(ctx, Deps{Datastore: newRig(t).store, Blockstore: r.blocks, Pinner: r.pinner, Metrics: reg}, Config{})
	if err != nil {
		t.Fatalf("second service on one registry: %v", err)
	}
	_ = s2.Close()
}

func TestUnreadableEventsAreRefusedByReaders(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true, interval: time.Hour})
	f := newTestNode(t, nodeOpts{noPubsub: true, interval: time.Hour, follow: true})
	connect(t, a, f)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	if _, err := a.Append(ctx, tid, []byte("readable")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddFollower(ctx, tid, f.addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "follower joined", func() (bool, string) {
		_, err := f.thread(tid)
		return err == nil, fmt.Sprint(err)
	})
	// The follower signs an event on a log of its own, with a header sealed
	// under a key that is not the read key.
	fth, _ := f.thread(tid)
	sk, logID, _ := ipel.NewLogIdentity()
	junkKey, _ := codec.NewKey()
	c, _ := codec.SealContent(junkKey, []byte("junk"), time.Now(), 1024)
	ev, _ := codec.Seal(sk, fth.follow, codec.Position{Thread: tid, Log: logID, Seq: 1}, c)
	if _, err := f.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(),
		Auth: f.net.auth(fth, a.host.ID()), Events: [][]byte{ev.Block.RawData()}}); err != nil {
		t.Fatal(err)
	}
	if a.NetStats().Rejected["does not decrypt"] != 1 {
		t.Fatalf("rejections %v", a.NetStats().Rejected)
	}
	recs, err := a.Events(ctx, tid, Query{})
	if err != nil || len(recs) != 1 || string(recs[0].Body) != "readable" {
		t.Fatalf("reads after the junk push: %d %v", len(recs), err)
	}
}

func TestPushesOfLargeBodiesFitAndKeepBodiesWithEvents(t *testing.T) {
	th := &thread{id: ipel.ThreadID{}}
	var item pushItem
	for i := 0; i < 6; i++ {
		body := blocks.NewBlock(bytes.Repeat([]byte{byte(i)}, 3<<19)) // 1.5 MiB
		ev := blocks.NewBlock(fmt.Appendf(nil, "event %d", i))
		item.events = append(item.events, pushEvent{event: ev, body: body})
	}
	item.th = th
	msgs := mergePushes([]pushItem{item}, maxBatchBytes)
	events := 0
	for _, m := range msgs {
		b, err := codec.EncodeMessage(m.msg)
		if err != nil || len(b) > codec.MaxMessageSize {
			t.Fatalf("message of %d bytes (%v)", len(b), err)
		}
		if len(m.msg.Events) != len(m.msg.Bodies) {
			t.Fatalf("%d events travel with %d bodies", len(m.msg.Events), len(m.msg.Bodies))
		}
		events += len(m.msg.Events)
	}
	if events != 6 {
		t.Fatalf("%d events sent", events)
	}
}
