package threads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/ipfs/kubo/gc"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/codec/codectest"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// Adversarial tests of event identity, old formats, clocks and keys: what a
// follower, a member and a writer acting in bad faith can do with events.

// issuedReadInvite makes the read invite to a raw thread that a node of an
// earlier version would have made (raw threads no longer offer the role,
// but invites already issued still join).
func issuedReadInvite(t *testing.T, a *testNode, tid ipel.ThreadID, to peer.ID) string {
	t.Helper()
	th, err := a.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	inv := &codec.Invite{Thread: tid.Bytes(), Role: codec.RoleRead, Follow: th.follow.Bytes(), Read: th.read.Load().Bytes(),
		Inviter: []byte(a.host.ID()), Invitee: []byte(to), Created: time.Now().Unix()}
	inv.Addrs = a.net.inviteAddrs(context.Background(), th)
	pk, err := to.ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	text, err := codec.SealInvite(inv, pk)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// foreignWriter is a log whose key the test holds: a writer that is not a
// node of the test, writing in the formats and with the clocks the test
// chooses.
type foreignWriter struct {
	sk     crypto.PrivKey
	id     ipel.LogID
	tid    ipel.ThreadID
	follow *codec.Key
	read   *codec.Key
}

func newForeignWriter(t *testing.T, n *testNode, tid ipel.ThreadID) *foreignWriter {
	t.Helper()
	sk, id, err := ipel.NewLogIdentity()
	if err != nil {
		t.Fatal(err)
	}
	th, err := n.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	return &foreignWriter{sk: sk, id: id, tid: tid, follow: th.follow, read: th.read.Load()}
}

// event seals an event at seq after prev, in envelope version v (3: the
// current one), with the clock's wall time at wall and the body inline
// when it fits inline.
func (w *foreignWriter) event(t *testing.T, v int, seq uint64, prev cid.Cid, wall time.Time, body []byte, inline int) (*codec.Event, blocks.Block) {
	t.Helper()
	c, err := codec.SealContent(w.read, body, wall, inline)
	if err != nil {
		t.Fatal(err)
	}
	pos := codec.Position{Thread: w.tid, Log: w.id, Seq: seq, Prev: prev, Clock: codec.Clock{Wall: wall.UnixNano()}}
	var blk blocks.Block
	if v == codec.EnvelopeVersion {
		ev, err := codec.Seal(w.sk, w.follow, pos, c)
		if err != nil {
			t.Fatal(err)
		}
		blk = ev.Block
	} else if blk, err = codectest.SealLegacy(v, w.sk, w.follow, pos, c); err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Open(blk, w.follow)
	if err != nil {
		t.Fatal(err)
	}
	return ev, c.BodyBlock
}

// chain seals n events of version v, one second apart from start.
func (w *foreignWriter) chain(t *testing.T, v, n int, start time.Time) []*codec.Event {
	t.Helper()
	var out []*codec.Event
	prev := cid.Undef
	for i := 1; i <= n; i++ {
		ev, _ := w.event(t, v, uint64(i), prev, start.Add(time.Duration(i)*time.Second), fmt.Appendf(nil, "w%d", i), 1024)
		out = append(out, ev)
		prev = ev.Cid()
	}
	return out
}

// knows makes the writer's log known to the node, as an announce would.
func (n *testNode) knows(t *testing.T, tid ipel.ThreadID, w *foreignWriter) {
	t.Helper()
	th, err := n.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.addLog(context.Background(), th, w.id); err != nil {
		t.Fatal(err)
	}
}

func blocksOf(evs ...*codec.Event) []blocks.Block {
	out := make([]blocks.Block, len(evs))
	for i, ev := range evs {
		out[i] = ev.Block
	}
	return out
}

func rawBlocks(blks ...blocks.Block) [][]byte {
	out := make([][]byte, len(blks))
	for i, b := range blks {
		out[i] = b.RawData()
	}
	return out
}

// indexAt is the CID a node's index holds at (log, seq); Undef if none.
func (n *testNode) indexAt(tid ipel.ThreadID, log ipel.LogID, seq uint64) cid.Cid {
	b, err := n.rig.store.Get(context.Background(), eventKey(tid, log, seq))
	if err != nil {
		return cid.Undef
	}
	c, _ := cid.Cast(b)
	return c
}

func (n *testNode) logSeq(tid ipel.ThreadID, log ipel.LogID) uint64 {
	ti, err := n.Info(tid)
	if err != nil {
		return 0
	}
	for _, l := range ti.Logs {
		if l.ID == log {
			return l.Seq
		}
	}
	return 0
}

// push sends events to a node as a member would, with its thread proof.
func (h *hostile) push(t *testing.T, tid ipel.ThreadID, to peer.ID, events [][]byte) {
	t.Helper()
	if _, err := h.send(context.Background(), to, &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: h.proof(t, tid, to), Events: events}); err != nil {
		t.Fatal(err)
	}
}

// TestResealedEventIsRefused: a follower seals a writer's (version 3) event
// again and pushes the copy to a member before the genuine one gets there.
// The copy does not open: it is refused as malformed and stored nowhere,
// nothing counts as an equivocation, and the writer's events arrive and are
// stored as usual.
func TestResealedEventIsRefused(t *testing.T) {
	ctx := context.Background()
	// No pubsub: its gossip would hand b the genuine event from the
	// follower's message cache before the test lets it through.
	a := newTestNode(t, nodeOpts{interval: time.Hour, noPubsub: true})
	gb := &blockGater{}
	b := newTestNode(t, nodeOpts{interval: time.Hour, gater: gb, noPubsub: true})
	f := newHostile(t, nodeOpts{interval: time.Hour, follow: true, noPubsub: true})
	connect(t, a, f.testNode)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid, alog := ti.ID, ti.OwnLog
	for i := 1; i <= 2; i++ {
		if _, err := a.Append(ctx, tid, fmt.Appendf(nil, "e%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// b joins while it cannot reach a: it knows a's log and holds nothing.
	gb.block(a.host.ID())
	res, err := a.Invite(ctx, tid, b.host.ID(), codec.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddFollower(ctx, tid, f.addr()); err != nil {
		t.Fatal(err)
	}
	third, err := a.Append(ctx, tid, []byte("e3"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the follower holds a's events", func() (bool, string) {
		return f.logSeq(tid, alog) == 3, fmt.Sprintf("seq %d", f.logSeq(tid, alog))
	})

	// The follower pushes events 1 and 2, and event 3 sealed again.
	fth, _ := f.thread(tid)
	var genuine []blocks.Block
	for seq := uint64(1); seq <= 3; seq++ {
		blk, err := f.rig.blocks.Get(ctx, f.indexAt(tid, alog, seq))
		if err != nil {
			t.Fatal(err)
		}
		genuine = append(genuine, blk)
	}
	ev3, err := codec.Open(genuine[2], fth.follow)
	if err != nil {
		t.Fatal(err)
	}
	copy3, err := codectest.Reseal(ev3, fth.follow, 3)
	if err != nil {
		t.Fatal(err)
	}
	if copy3.Cid().Equals(third.Cid) {
		t.Fatal("the copy has the genuine CID")
	}
	connect(t, b, f.testNode)
	f.push(t, tid, b.host.ID(), rawBlocks(genuine[0], genuine[1], copy3))
	if got := b.logSeq(tid, alog); got != 2 {
		t.Fatalf("b holds %d events of a's log, want 2", got)
	}
	if n := b.NetStats().Rejected["malformed event"]; n != 1 {
		t.Fatalf("the copy was not refused as malformed: %v", b.NetStats().Rejected)
	}
	if has, _ := b.rig.blocks.Has(ctx, copy3.Cid()); has {
		t.Fatal("the copy was stored")
	}

	// The writer's events arrive: stored, and the log goes on.
	gb.unblock(a.host.ID())
	connect(t, b, a)
	if err := b.SyncNow(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, tid, []byte("e4")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b follows a's log", func() (bool, string) {
		return b.logSeq(tid, alog) == 4, fmt.Sprintf("seq %d", b.logSeq(tid, alog))
	})
	if got := b.indexAt(tid, alog, 3); !got.Equals(third.Cid) {
		t.Fatalf("b holds %s at seq 3, want %s", got, third.Cid)
	}
	if eqs, err := b.Equivocations(ctx, tid); err != nil || len(eqs) != 0 {
		t.Fatalf("equivocations: %v %v", eqs, err)
	}
}

// TestResealedLegacyCopyDoesNotFreezeTheLog: version 2 events (written by
// an earlier version) can be sealed again into a valid copy under another
// CID. A follower pushes such a copy of a log's third event to a member
// first, and the member stores it: it is what the writer signed. The
// genuine third event is then a duplicate, and the writer's fourth event,
// which names the genuine one, makes the member take the genuine one in
// the copy's place: the log goes on, nothing is an equivocation, no
// evidence is kept, and the log's pin keeps the genuine event.
func TestResealedLegacyCopyDoesNotFreezeTheLog(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	b := newTestNode(t, nodeOpts{interval: time.Hour})
	f := newHostile(t, nodeOpts{interval: time.Hour, follow: true})
	connect(t, a, b)
	connect(t, a, f.testNode)
	connect(t, b, f.testNode)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, b, tid, codec.RoleWrite)
	// A writer's log of version 2 events: a and b hold the first two.
	w := newForeignWriter(t, a, tid)
	g := w.chain(t, 2, 4, time.Now().Add(-time.Hour))
	a.knows(t, tid, w)
	b.knows(t, tid, w)
	for _, n := range []*testNode{a, b} {
		if _, err := n.Ingest(ctx, tid, blocksOf(g[0], g[1]), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The follower joins and catches up: from then on nobody is ahead of b
	// until the test says so (anti-entropy is off).
	if _, err := a.AddFollower(ctx, tid, f.addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the follower holds the writer's log", func() (bool, string) {
		return f.logSeq(tid, w.id) == 2, fmt.Sprintf("seq %d", f.logSeq(tid, w.id))
	})

	// The follower's copy of event 3 gets to b first.
	copy3, err := codectest.Reseal(g[2], w.follow, 2)
	if err != nil {
		t.Fatal(err)
	}
	f.push(t, tid, b.host.ID(), rawBlocks(copy3))
	if got := b.indexAt(tid, w.id, 3); !got.Equals(copy3.Cid()) {
		t.Fatalf("b holds %s at seq 3, want the copy %s", got, copy3.Cid())
	}
	// a gets the rest of the writer's log. The genuine event 3 is a
	// duplicate on b.
	if _, err := a.Ingest(ctx, tid, blocksOf(g[2], g[3]), nil); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Ingest(ctx, tid, blocksOf(g[2]), nil); err != nil || res.Duplicates != 1 || res.Stored != 0 {
		t.Fatalf("genuine event 3 after its copy: %+v %v", res, err)
	}
	// The writer's event 4 arrives, pushed by a, which holds the chain.
	ath, _ := a.thread(tid)
	if _, err := a.net.request(ctx, b.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(),
		Auth: a.net.auth(ath, b.host.ID()), Events: rawBlocks(g[3].Block)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b follows the writer's chain", func() (bool, string) {
		return b.logSeq(tid, w.id) == 4, fmt.Sprintf("seq %d", b.logSeq(tid, w.id))
	})
	if got := b.indexAt(tid, w.id, 3); !got.Equals(g[2].Cid()) {
		t.Fatalf("b holds %s at seq 3, want the genuine %s", got, g[2].Cid())
	}
	if eqs, err := b.Equivocations(ctx, tid); err != nil || len(eqs) != 0 {
		t.Fatalf("equivocations: %v %v", eqs, err)
	}
	recs, err := b.Events(ctx, tid, Query{Log: w.id})
	if err != nil || len(recs) != 4 || string(recs[2].Body) != "w3" || !recs[2].Cid.Equals(g[2].Cid()) {
		t.Fatalf("b reads %+v, %v", recs, err)
	}
	// The log's retention DAG lists the genuine event, not the copy.
	b.pins.flush(ctx)
	listed := retained(t, b, tid, w.id)
	if !listed[g[2].Cid()] || listed[copy3.Cid()] {
		t.Fatalf("the pin keeps the genuine event %v, the copy %v", listed[g[2].Cid()], listed[copy3.Cid()])
	}
}

// retained lists the events a log's pinned retention DAG holds.
func retained(t *testing.T, n *testNode, tid ipel.ThreadID, log ipel.LogID) map[cid.Cid]bool {
	t.Helper()
	ctx := context.Background()
	th, _ := n.thread(tid)
	th.mu.Lock()
	root := th.logs[log].pinned
	th.mu.Unlock()
	rb, err := n.rig.blocks.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codec.DecodeRetentionRoot(rb.RawData())
	if err != nil {
		t.Fatal(err)
	}
	out := map[cid.Cid]bool{}
	for _, p := range r.Pages {
		pb, err := n.rig.blocks.Get(ctx, p.Cid)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := codec.DecodeRetentionPage(pb.RawData())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range evs {
			out[c] = true
		}
	}
	return out
}

// TestEquivocationEvidenceIsBounded: a writer that signs many different
// events at one seq (some with large bodies) leaves at most
// maxEvidencePerLog records of evidence per log, each at most
// maxEvidenceNode bytes of signed node, and the thread's info lists them.
func TestEquivocationEvidenceIsBounded(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	h := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, h.testNode)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, h.testNode, tid, codec.RoleWrite)
	w := newForeignWriter(t, a, tid)
	a.knows(t, tid, w)
	first, _ := w.event(t, 3, 1, cid.Undef, time.Now(), []byte("one"), 1024)
	small, _ := w.event(t, 3, 2, first.Cid(), time.Now(), []byte("two"), 1024)
	if _, err := a.Ingest(ctx, tid, blocksOf(first, small), nil); err != nil {
		t.Fatal(err)
	}
	// Twelve other events at seq 2, most with a 1 MiB inline body.
	for i := 0; i < 12; i++ {
		body := bytes.Repeat([]byte{byte(i)}, 1<<20)
		if i == 0 {
			body = []byte("small conflict")
		}
		ev, _ := w.event(t, 3, 2, first.Cid(), time.Now(), body, 2<<20)
		h.push(t, tid, a.host.ID(), rawBlocks(ev.Block))
	}
	eqs, err := a.Equivocations(ctx, tid)
	if err != nil || len(eqs) != maxEvidencePerLog {
		t.Fatalf("%d equivocations kept (%v), want %d", len(eqs), err, maxEvidencePerLog)
	}
	st, err := a.Stats(ctx, tid)
	if err != nil || st.Equivocations != maxEvidencePerLog || st.Node.Rejected["equivocation"] != 12 {
		t.Fatalf("stats: %d equivocations, rejected %v (%v)", st.Equivocations, st.Node.Rejected, err)
	}
	res, err := a.rig.store.Query(ctx, dsq.Query{Prefix: "/eq/"})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := res.Rest()
	total := 0
	var kept []evidence
	for _, e := range entries {
		total += len(e.Value)
		var ev evidence
		if err := codec.Unmarshal(e.Value, &ev); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, ev)
	}
	if limit := maxEvidencePerLog * (maxEvidenceNode + 1024); total > limit {
		t.Fatalf("evidence takes %d bytes, the bound is %d", total, limit)
	}
	// The small conflict is kept whole: what its writer signed, under
	// another node than the one held.
	whole := 0
	for _, ev := range kept {
		if ev.Signed != nil {
			whole++
			if !bytes.Contains(ev.Signed, []byte(w.id)) || !cid.MustParse(ev.Held).Equals(small.Cid()) {
				t.Fatal("evidence does not hold the conflicting signed node")
			}
		}
	}
	if whole != 1 {
		t.Fatalf("%d pieces of evidence kept whole, want 1", whole)
	}
	// The log holds the first event at seq 2.
	if got := a.indexAt(tid, w.id, 2); !got.Equals(small.Cid()) {
		t.Fatalf("seq 2 holds %s", got)
	}
}

// TestOldFormats: version 1 events from the network are refused (a push,
// a pull); events of versions 1 and 2 that an earlier version stored stay
// readable (log, cat, the views' batches, after a garbage collection), and
// version 2 events still replicate, a private one included, which its
// recipient reads.
func TestOldFormats(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	b := newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, b)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	th, _ := a.thread(tid)
	read := th.read.Load()
	// a's own log as an earlier version wrote it: event 1 in version 1, 2
	// in version 2 with its body in a block of its own; then event 3 now.
	var own []*codec.Event
	var ownBlocks []blocks.Block
	prev := cid.Undef
	for i, v := range []int{1, 2} {
		body := []byte("one")
		if v == 2 {
			body = bytes.Repeat([]byte("two "), 20000)
		}
		c, _ := codec.SealContent(read, body, time.Now(), a.cfg.InlineBodySize)
		blk, err := codectest.SealLegacy(v, th.own.sk, th.follow, codec.Position{Thread: tid, Log: th.own.id, Seq: uint64(i + 1), Prev: prev, Clock: a.clock.Next()}, c)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := codec.Open(blk, th.follow)
		own = append(own, ev)
		ownBlocks = append(ownBlocks, blk)
		if c.BodyBlock != nil {
			ownBlocks = append(ownBlocks, c.BodyBlock)
		}
		prev = ev.Cid()
	}
	if err := a.storeEvents(ctx, th, th.own, own, ownBlocks); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, tid, []byte("three")); err != nil {
		t.Fatal(err)
	}
	// Another writer's log, all in version 2, with a private event to b
	// whose content key is sealed as it was then (unbound).
	w := newForeignWriter(t, a, tid)
	a.knows(t, tid, w)
	w1, _ := w.event(t, 2, 1, cid.Undef, time.Now(), []byte("w1"), 1024)
	pc, err := codectest.LegacyPrivateContent(read, []byte("for b, long ago"), time.Now(), b.host.Peerstore().PubKey(b.host.ID()))
	if err != nil {
		t.Fatal(err)
	}
	w2blk, err := codectest.SealLegacy(2, w.sk, w.follow, codec.Position{Thread: tid, Log: w.id, Seq: 2, Prev: w1.Cid(), Clock: codec.Clock{Wall: time.Now().UnixNano() + 1}}, pc)
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := codec.Open(w2blk, w.follow)
	wst := th.logs[w.id]
	if err := a.storeEvents(ctx, th, wst, []*codec.Event{w1, w2}, blocksOf(w1, w2)); err != nil {
		t.Fatal(err)
	}

	// Everything reads on a, also after a garbage collection.
	check := func(when string) {
		t.Helper()
		recs, err := a.Events(ctx, tid, Query{Log: th.own.id})
		if err != nil || len(recs) != 3 || string(recs[0].Body) != "one" || !bytes.HasPrefix(recs[1].Body, []byte("two two")) || string(recs[2].Body) != "three" {
			t.Fatalf("%s: own log reads %d events: %v", when, len(recs), err)
		}
		if rec, err := a.Event(ctx, tid, own[0].Cid()); err != nil || string(rec.Body) != "one" {
			t.Fatalf("%s: cat of the version 1 event: %v", when, err)
		}
		wrecs, err := a.Events(ctx, tid, Query{Log: w.id})
		if err != nil || len(wrecs) != 2 || !wrecs[1].Private || wrecs[1].To != b.host.ID() {
			t.Fatalf("%s: the version 2 log reads %+v: %v", when, wrecs, err)
		}
		n := 0
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err = a.ListenBatches(lctx, tid, Cursor{}, 512, func(recs []Record) error {
			if n += len(recs); n == 5 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || n != 5 {
			t.Fatalf("%s: the views' batches hold %d events: %v", when, n, err)
		}
	}
	check("stored")
	a.pins.flush(ctx)
	gcbs := bstore.NewGCBlockstore(a.rig.blocks, bstore.NewGCLocker())
	for r := range gc.GC(ctx, gcbs, a.rig.store, a.rig.pinner, nil) {
		if r.Error != nil {
			t.Fatalf("gc: %v", r.Error)
		}
	}
	check("after gc")

	// From the network, version 1 is refused, version 2 taken.
	invite(t, a, b, tid, codec.RoleWrite)
	eventually(t, 10*time.Second, "b pulls the version 2 log", func() (bool, string) {
		_ = b.SyncNow(ctx, tid)
		return b.logSeq(tid, w.id) == 2, fmt.Sprintf("seq %d", b.logSeq(tid, w.id))
	})
	if got := b.logSeq(tid, th.own.id); got != 0 {
		t.Fatalf("b took %d events of a log that starts in version 1", got)
	}
	if b.NetStats().Rejected["obsolete format"] == 0 {
		t.Fatalf("rejections %v", b.NetStats().Rejected)
	}
	if _, err := a.net.request(ctx, b.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(),
		Auth: a.net.auth(th, b.host.ID()), Events: rawBlocks(own[0].Block)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ingest(ctx, tid, blocksOf(own[0]), nil); !errors.Is(err, codec.ErrObsoleteFormat) {
		t.Fatalf("ingest of a version 1 event: %v", err)
	}
	recs, err := b.Events(ctx, tid, Query{Log: w.id})
	if err != nil || len(recs) != 2 || recs[1].Private || string(recs[1].Body) != "for b, long ago" {
		t.Fatalf("the recipient reads %+v: %v", recs, err)
	}
}

// fakeClock is a wall clock a test moves.
type fakeClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// TestFarFutureClockIsHeldOff: a writer whose clock is an hour ahead
// writes. Its event is not stored where it arrives while it is more than
// MaxClockSkew ahead there; the member's own writes meanwhile are later
// than nothing it has not seen, and its clock does not move. Once the
// member's clock is within MaxClockSkew of the event, the event is stored,
// and every later write of the member is later than it: the writer's
// clock cannot make its write the last one for longer than that.
func TestFarFutureClockIsHeldOff(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{at: time.Now()}
	a := newTestNode(t, nodeOpts{interval: time.Hour, now: clock.now})
	w := newTestNode(t, nodeOpts{interval: time.Hour, now: func() time.Time { return time.Now().Add(time.Hour) }})
	connect(t, a, w)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, w, tid, codec.RoleWrite)
	wti, _ := w.Info(tid)
	future, err := w.Append(ctx, tid, []byte("from the future"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a refuses it", func() (bool, string) {
		return a.NetStats().Rejected["clock ahead"] > 0, fmt.Sprint(a.NetStats().Rejected)
	})
	if got := a.logSeq(tid, wti.OwnLog); got != 0 {
		t.Fatalf("a stored %d events from the future", got)
	}
	before, err := a.Append(ctx, tid, []byte("now"))
	if err != nil {
		t.Fatal(err)
	}
	if c := recordOf(t, a, tid, before.Cid).Clock; time.Unix(0, c.Wall).After(clock.now().Add(time.Second)) {
		t.Fatalf("a's clock moved ahead to %v", time.Unix(0, c.Wall))
	}
	// The anti-entropy keeps refusing it until a's clock catches up, and
	// does not hold it against w, which relays it (no backoff).
	if err := a.SyncNow(ctx, tid); !errors.Is(err, ErrClockAhead) || !eachLogError(err, func(e error) bool { return errors.Is(e, ErrClockAhead) }) {
		t.Fatalf("sync: %v", err)
	}
	ath, _ := a.thread(tid)
	syncs := a.net.stats.syncs.Load()
	eventually(t, 10*time.Second, "a sync of a with w", func() (bool, string) {
		a.net.mu.Lock()
		running := a.net.syncing[syncKey{tid, w.host.ID()}]
		a.net.mu.Unlock()
		if running {
			return false, "running"
		}
		if a.net.stats.syncs.Load() > syncs {
			return true, ""
		}
		a.net.syncSoon(ath, w.host.ID())
		return false, "started"
	})
	if a.net.inBackoff(w.host.ID()) {
		t.Fatal("a backs off from w for events whose clock is ahead")
	}
	clock.add(time.Hour - MaxClockSkew + time.Minute)
	if err := a.SyncNow(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if got := a.logSeq(tid, wti.OwnLog); got != 1 {
		t.Fatalf("a holds %d events of w once its clock caught up", got)
	}
	after, err := a.Append(ctx, tid, []byte("later"))
	if err != nil {
		t.Fatal(err)
	}
	fc := recordOf(t, a, tid, future.Cid).Clock
	ac := recordOf(t, a, tid, after.Cid).Clock
	if ac.Compare(fc) <= 0 {
		t.Fatalf("a's write after seeing the event (%v) is not later than it (%v)", ac, fc)
	}
	if lim := clock.now().Add(MaxClockSkew).UnixNano(); ac.Wall > lim {
		t.Fatalf("a's clock went more than MaxClockSkew ahead: %v", time.Unix(0, ac.Wall).Sub(clock.now()))
	}
	recs, _ := a.Events(ctx, tid, Query{})
	var order []string
	for _, r := range recs {
		order = append(order, string(r.Body))
	}
	if strings.Join(order, ",") != "now,from the future,later" {
		t.Fatalf("order %v", order)
	}
}

func recordOf(t *testing.T, n *testNode, tid ipel.ThreadID, c cid.Cid) Record {
	t.Helper()
	rec, err := n.Event(context.Background(), tid, c)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestClocksNeverGoBackwardsInALog: an event whose clock is not later than
// its predecessor's in the same log is refused (counted, not stored, not
// an equivocation), whoever delivers it; and a node whose wall clock went
// back across a restart still writes later clocks in its own log.
func TestClocksNeverGoBackwardsInALog(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	h := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, h.testNode)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, h.testNode, tid, codec.RoleWrite)
	w := newForeignWriter(t, a, tid)
	a.knows(t, tid, w)
	at := time.Now()
	first, _ := w.event(t, 3, 1, cid.Undef, at, []byte("1"), 1024)
	if _, err := a.Ingest(ctx, tid, blocksOf(first), nil); err != nil {
		t.Fatal(err)
	}
	back, _ := w.event(t, 3, 2, first.Cid(), at.Add(-time.Minute), []byte("2"), 1024)
	same, _ := w.event(t, 3, 2, first.Cid(), at, []byte("2"), 1024)
	if _, err := a.Ingest(ctx, tid, blocksOf(same), nil); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("the same clock again: %v", err)
	}
	h.push(t, tid, a.host.ID(), rawBlocks(back.Block))
	if a.NetStats().Rejected["clock goes backwards"] != 1 || a.logSeq(tid, w.id) != 1 {
		t.Fatalf("rejected %v, seq %d", a.NetStats().Rejected, a.logSeq(tid, w.id))
	}
	if eqs, _ := a.Equivocations(ctx, tid); len(eqs) != 0 {
		t.Fatalf("equivocations %v", eqs)
	}
	// A later clock goes on.
	next, _ := w.event(t, 3, 2, first.Cid(), at.Add(time.Millisecond), []byte("2"), 1024)
	if res, err := a.Ingest(ctx, tid, blocksOf(next), nil); err != nil || res.Stored != 1 {
		t.Fatalf("next: %+v %v", res, err)
	}

	// A node's own log across a restart with its wall clock an hour back,
	// from a log record written before head clocks were kept.
	clock := &fakeClock{at: time.Now()}
	r := newRig(t)
	s, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, Now: clock.now}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	own := mustCreate(t, s)
	ref, err := s.Append(ctx, own, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	var lr logRecord
	if err := getCBOR(ctx, r.store, logKey(own, ref.Log), &lr); err != nil || lr.HeadClock == nil {
		t.Fatalf("log record without a head clock: %v", err)
	}
	lr.HeadClock = nil // as written before
	if err := putCBOR(ctx, r.store, logKey(own, ref.Log), &lr); err != nil {
		t.Fatal(err)
	}
	clock.add(-time.Hour)
	s2, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, Now: clock.now}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	if err := getCBOR(ctx, r.store, logKey(own, ref.Log), &lr); err != nil || lr.HeadClock == nil {
		t.Fatalf("the head clock was not read back into the record: %v", err)
	}
	ref2, err := s2.Append(ctx, own, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := s2.Events(ctx, own, Query{})
	if len(recs) != 2 || recs[1].Cid != ref2.Cid || recs[1].Clock.Compare(recs[0].Clock) <= 0 {
		t.Fatalf("own clocks: %+v", recs)
	}
}

// TestRepostedPrivateEventIsNotAuthentic: a member copies a private event
// (its sealed header and body) into its own log. Its recipient stores the
// copy (the log goes on past it) but reads it as not authentic, and reads
// the genuine one as before; the other members see a private event.
func TestRepostedPrivateEventIsNotAuthentic(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	b := newTestNode(t, nodeOpts{interval: time.Hour})
	m := newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, b)
	connect(t, a, m)
	connect(t, b, m)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, b, tid, codec.RoleWrite)
	invite(t, a, m, tid, codec.RoleWrite)
	for _, n := range []*testNode{b, m} {
		if err := n.SyncNow(ctx, tid); err != nil {
			t.Fatal(err)
		}
	}
	genuine, err := a.AppendTo(ctx, tid, b.host.ID(), []byte("for b only"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the private event reaches m", func() (bool, string) {
		return m.logSeq(tid, ti.OwnLog) == 1, ""
	})
	// m seals a's header and body into an event of its own log.
	mth, _ := m.thread(tid)
	blk, err := m.rig.blocks.Get(ctx, genuine.Cid)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := codec.Open(blk, mth.follow)
	copied, err := codec.Seal(mth.own.sk, mth.follow, codec.Position{Thread: tid, Log: mth.own.id, Seq: 1, Clock: m.clock.Next()},
		codec.Content{Header: orig.Header, Body: orig.Body})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.storeEvents(ctx, mth, mth.own, []*codec.Event{copied}, blocksOf(copied)); err != nil {
		t.Fatal(err)
	}
	m.net.announceEvents(mth, []*codec.Event{copied}, nil)
	next, err := m.Append(ctx, tid, []byte("m goes on"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		eventually(t, 10*time.Second, "m's log replicates", func() (bool, string) {
			return n.logSeq(tid, mth.own.id) == 2, fmt.Sprintf("seq %d", n.logSeq(tid, mth.own.id))
		})
	}
	if rec := recordOf(t, b, tid, copied.Cid()); !rec.NotAuthentic || rec.Body != nil || rec.To != b.host.ID() {
		t.Fatalf("the recipient reads the copy: %+v", rec)
	}
	if rec := recordOf(t, b, tid, genuine.Cid); rec.NotAuthentic || string(rec.Body) != "for b only" {
		t.Fatalf("the recipient reads the genuine event: %+v", rec)
	}
	if rec := recordOf(t, b, tid, next.Cid); string(rec.Body) != "m goes on" {
		t.Fatalf("m's next event: %+v", rec)
	}
	recs, err := b.Events(ctx, tid, Query{Log: mth.own.id})
	if err != nil || len(recs) != 2 || !recs[0].NotAuthentic {
		t.Fatalf("the recipient's log of m: %+v %v", recs, err)
	}
	if rec := recordOf(t, a, tid, copied.Cid()); !rec.Private || rec.NotAuthentic {
		t.Fatalf("another member reads the copy: %+v", rec)
	}
}

// TestRawThreadsOfferNoReadRole: a raw thread refuses to invite a reader
// (any holder of its read key can write a log the others accept); an
// access-controlled thread, whose replicas enforce roles, invites one.
func TestRawThreadsOfferNoReadRole(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour})
	b := newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, b)
	raw, _ := a.CreateThread(ctx, ipel.VariantRaw)
	if _, err := a.Invite(ctx, raw.ID, b.host.ID(), codec.RoleRead); !errors.Is(err, ErrNoReadRole) || !strings.Contains(err.Error(), "--variant acl") {
		t.Fatalf("read invite to a raw thread: %v", err)
	}
	for _, role := range []codec.Role{codec.RoleWrite, codec.RoleFollow} {
		if _, err := a.Invite(ctx, raw.ID, b.host.ID(), role); err != nil {
			t.Fatalf("%s invite to a raw thread: %v", role, err)
		}
	}
	acl, err := a.CreateThread(ctx, ipel.VariantAccessControlled)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Invite(ctx, acl.ID, b.host.ID(), codec.RoleRead); err != nil {
		t.Fatalf("read invite to an access-controlled thread: %v", err)
	}
}
