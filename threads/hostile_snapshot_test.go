package threads

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// Adversarial tests of snapshots and joins: a snapshot is taken only at a
// join that asked for one, from the inviter, signed by it, never in an
// access-controlled thread; a "compacted" answer never loads one; the
// download of a snapshot is bounded; concurrent joins make one log.

func appendN(t *testing.T, n *testNode, tid ipel.ThreadID, count int) {
	t.Helper()
	for i := 0; i < count; i++ {
		if _, err := n.Append(context.Background(), tid, fmt.Appendf(nil, "event %d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// logOf is what n holds of a log (zero when it does not know it).
func logOf(t *testing.T, n *testNode, tid ipel.ThreadID, id ipel.LogID) LogInfo {
	t.Helper()
	ti, err := n.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ti.Logs {
		if l.ID == id {
			return l
		}
	}
	return LogInfo{}
}

func ownLogOf(t *testing.T, n *testNode, tid ipel.ThreadID) ipel.LogID {
	t.Helper()
	ti, err := n.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	return ti.OwnLog
}

// snapshotAt has n snapshot the thread at seq of its own log.
func snapshotAt(t *testing.T, n *testNode, tid ipel.ThreadID, seq uint64) SnapshotInfo {
	t.Helper()
	si, err := n.SaveSnapshot(context.Background(), tid, map[ipel.LogID]uint64{ownLogOf(t, n, tid): seq},
		[]codec.SnapshotEntry{{Key: "/kv/state", Value: fmt.Appendf(nil, "at %d", seq)}})
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// inviteFrom has `from` invite `to` and returns the invite.
func inviteFrom(t *testing.T, from, to *testNode, tid ipel.ThreadID, role codec.Role) string {
	t.Helper()
	connect(t, to, from)
	res, err := from.Invite(context.Background(), tid, to.host.ID(), role)
	if err != nil {
		t.Fatal(err)
	}
	return res.Invite
}

func unblock(g *blockGater, p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.blocked, p)
}

// TestJoinWithoutSnapshotNeverTruncates is the scenario: a
// 1,103-event thread, B joined from A's snapshot (its log starts at 1000),
// C joins with a full replay. While only B is reachable C reports that it
// cannot catch up (B compacted up to 1000) and holds nothing it did not
// verify; once A is reachable it holds all 1,103 events, from seq 1.
func TestJoinWithoutSnapshotNeverTruncates(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	b := newTestNode(t, nodeOpts{noPubsub: true})
	gc := &blockGater{}
	c := newTestNode(t, nodeOpts{noPubsub: true, gater: gc})
	tid := mustCreate(t, a.Service)
	aLog := ownLogOf(t, a, tid)
	appendN(t, a, tid, 1103)
	snapshotAt(t, a, tid, 1000)

	if _, err := b.JoinWith(ctx, inviteFrom(t, a, b, tid, codec.RoleWrite), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "B to hold A's log", func() (bool, string) {
		l := logOf(t, b, tid, aLog)
		return l.Seq == 1103, fmt.Sprintf("%+v", l)
	})
	if l := logOf(t, b, tid, aLog); l.Base != 1000 {
		t.Fatalf("B did not start from the snapshot: %+v", l)
	}

	gc.block(a.host.ID())
	if _, err := c.JoinWith(ctx, inviteFrom(t, b, c, tid, codec.RoleWrite), JoinOptions{FullReplay: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "C to report the blocked catch-up", func() (bool, string) {
		l := logOf(t, c, tid, aLog)
		return l.CatchUp != nil, fmt.Sprintf("%+v", l)
	})
	l := logOf(t, c, tid, aLog)
	if l.Base != 0 || l.Seq != 0 {
		t.Fatalf("C's log of A moved without its history: %+v", l)
	}
	cu := l.CatchUp
	if cu.Have != 0 || len(cu.Peers) != 1 || cu.Peers[0] != (CompactedPeer{Peer: b.host.ID(), Base: 1000}) || !errors.Is(cu, ErrCannotCatchUp) {
		t.Fatalf("blocked catch-up: %+v", cu)
	}
	for _, want := range []string{b.host.ID().String(), "up to seq 1000", aLog.String(), "ipfs threads rm", "join it again with a snapshot"} {
		if !strings.Contains(cu.Error(), want) {
			t.Fatalf("the error does not say %q: %s", want, cu)
		}
	}
	if _, err := c.Snapshot(ctx, tid); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("C holds a snapshot: %v", err)
	}

	unblock(gc, a.host.ID())
	connect(t, c, a)
	eventually(t, 30*time.Second, "C to hold A's whole log", func() (bool, string) {
		l := logOf(t, c, tid, aLog)
		return l.Seq == 1103 && l.CatchUp == nil, fmt.Sprintf("%+v", l)
	})
	if l := logOf(t, c, tid, aLog); l.Base != 0 {
		t.Fatalf("C's log of A: %+v", l)
	}
	want, n := fingerprint(a, tid)
	got, m := fingerprint(c, tid)
	if n != 1103 || m != n || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("C holds %d events, A %d", m, n)
	}
}

// inviteListing is an invite from `from` to `to` whose addresses name only
// the peers in via.
func inviteListing(t *testing.T, from, to *testNode, tid ipel.ThreadID, role codec.Role, via ...*testNode) string {
	t.Helper()
	th, err := from.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	inv := &codec.Invite{Thread: tid.Bytes(), Role: role, Follow: th.follow.Bytes(), Read: th.read.Load().Bytes(),
		Inviter: []byte(from.host.ID()), Invitee: []byte(to.host.ID()), Created: time.Now().Unix()}
	for _, v := range via {
		for _, l := range th.info().Logs {
			addrs, err := ipel.LogAddr{Peer: peer.AddrInfo{ID: v.host.ID(), Addrs: v.host.Addrs()}, Log: l.ID}.Multiaddrs()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range addrs {
				inv.Addrs = append(inv.Addrs, a.Bytes())
			}
		}
	}
	text, err := codec.SealInvite(inv, to.host.Peerstore().PubKey(to.host.ID()))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestCompactedAnswerPullsFromOtherPeers: a sync with a peer that
// compacted what this node lacks gets the events from another peer the
// address book knows for the log, within the same sync.
func TestCompactedAnswerPullsFromOtherPeers(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	b := newTestNode(t, nodeOpts{noPubsub: true})
	ge := &blockGater{}
	e := newTestNode(t, nodeOpts{noPubsub: true, gater: ge, interval: time.Hour})
	tid := mustCreate(t, a.Service)
	aLog := ownLogOf(t, a, tid)
	appendN(t, a, tid, 300)
	snapshotAt(t, a, tid, 250)
	if _, err := b.JoinWith(ctx, inviteFrom(t, a, b, tid, codec.RoleWrite), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "B to hold A's log", func() (bool, string) {
		l := logOf(t, b, tid, aLog)
		return l.Seq == 300 && l.Base == 250, fmt.Sprintf("%+v", l)
	})
	// E joins knowing only B, out of its reach (so the join's own sync
	// does nothing); then it learns that A serves the log too.
	ge.block(b.host.ID())
	if _, err := e.JoinWith(ctx, inviteListing(t, b, e, tid, codec.RoleWrite, b), JoinOptions{FullReplay: true}); err != nil {
		t.Fatal(err)
	}
	unblock(ge, b.host.ID())
	connect(t, e, b)
	connect(t, e, a)
	if err := e.net.book.Add(ctx, tid, aLog, peer.AddrInfo{ID: a.host.ID(), Addrs: a.host.Addrs()}, time.Hour); err != nil {
		t.Fatal(err)
	}
	th, _ := e.thread(tid)
	if err := e.net.syncWith(ctx, th, b.host.ID()); err != nil {
		t.Fatalf("sync with B: %v", err)
	}
	if l := logOf(t, e, tid, aLog); l.Seq != 300 || l.Base != 0 || l.CatchUp != nil {
		t.Fatalf("E's log of A after one sync with B: %+v", l)
	}
}

// forger is a reader that answers as its handlers say: requests of the
// types it has a handler for are answered by it, the others honestly. It
// counts the requests it receives by type.
type forger struct {
	*hostile
	mu       sync.Mutex
	asked    map[codec.MsgType]int
	handlers map[codec.MsgType]func(from peer.ID, m *codec.Message) *codec.Message
}

func newForger(t *testing.T) *forger {
	t.Helper()
	f := &forger{hostile: newHostile(t, nodeOpts{noPubsub: true}), asked: map[codec.MsgType]int{},
		handlers: map[codec.MsgType]func(peer.ID, *codec.Message) *codec.Message{}}
	f.answerWith(func(from peer.ID, m *codec.Message) *codec.Message {
		f.mu.Lock()
		f.asked[m.Type]++
		h := f.handlers[m.Type]
		f.mu.Unlock()
		if h != nil {
			return h(from, m)
		}
		var th *thread
		if tid, err := ipel.ThreadIDFromBytes(m.Thread); err == nil {
			th, _ = f.thread(tid)
		}
		resp, err := f.net.serve(context.Background(), th, from, m)
		if err != nil {
			return &codec.Message{Type: codec.MsgError, Error: err.Error()}
		}
		return resp
	})
	return f
}

func (f *forger) on(typ codec.MsgType, h func(from peer.ID, m *codec.Message) *codec.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[typ] = h
}

func (f *forger) count(typ codec.MsgType) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[typ]
}

// serveSnapshot makes the forger answer snapshot requests with root and
// block requests with pages (by CID), as many as fit a message.
func (f *forger) serveSnapshot(root blocks.Block, pages map[cid.Cid][]byte) {
	f.on(codec.MsgSnapshot, func(peer.ID, *codec.Message) *codec.Message {
		return &codec.Message{Type: codec.MsgSnapshot, Root: root.Cid().Bytes(), Blocks: [][]byte{root.RawData()}}
	})
	f.on(codec.MsgBlocks, func(_ peer.ID, m *codec.Message) *codec.Message {
		out := &codec.Message{Type: codec.MsgBlocks}
		size := 0
		for _, b := range m.Cids {
			c, _ := cid.Cast(b)
			data := pages[c]
			if len(out.Blocks) > 0 && size+len(data) > codec.MaxMessageSize-(64<<10) {
				break
			}
			size += len(data)
			out.Blocks = append(out.Blocks, data)
		}
		return out
	})
}

func (f *forger) key() crypto.PrivKey { return f.deps.Identity }

func (f *forger) readKey(t *testing.T, tid ipel.ThreadID) *codec.Key {
	t.Helper()
	th, err := f.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	return th.read.Load()
}

func fakeEventCid(t *testing.T) []byte {
	t.Helper()
	c, err := eventPrefix.Sum([]byte(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return c.Bytes()
}

// TestCompactedAnswerNeverLoadsAForgedSnapshot: a reader that claims a log
// far ahead, answers every pull of it with "compacted" and holds a forged
// snapshot signed by itself (a value no writer wrote) does not get a
// member to load it, in a raw thread or an access-controlled one: the
// member never asks for it, its logs do not move, and it reports that it
// cannot catch up, naming the forger.
func TestCompactedAnswerNeverLoadsAForgedSnapshot(t *testing.T) {
	for _, variant := range []ipel.Variant{ipel.VariantRaw, ipel.VariantAccessControlled} {
		t.Run(variant.String(), func(t *testing.T) {
			ctx := context.Background()
			a := newTestNode(t, nodeOpts{noPubsub: true})
			v := newTestNode(t, nodeOpts{noPubsub: true})
			f := newForger(t)
			ti, err := a.CreateThread(ctx, variant)
			if err != nil {
				t.Fatal(err)
			}
			tid := ti.ID
			appendN(t, a, tid, 5)
			if _, err := v.JoinWith(ctx, inviteFrom(t, a, v, tid, codec.RoleWrite), JoinOptions{FullReplay: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.JoinWith(ctx, inviteFrom(t, a, f.testNode, tid, codec.RoleWrite), JoinOptions{FullReplay: true}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "V and the forger to hold A's events", func() (bool, string) {
				return logOf(t, v, tid, ti.OwnLog).Seq == 5 && logOf(t, f.testNode, tid, ti.OwnLog).Seq == 5, ""
			})

			// The forged snapshot: a made-up log at seq 1000, and a value.
			_, fake, _ := ipel.NewLogIdentity()
			page, err := codec.SealSnapshotPage(f.readKey(t, tid), tid.Bytes(), 0, []codec.SnapshotEntry{{Key: "/kv/forged", Value: []byte("by a reader")}})
			if err != nil {
				t.Fatal(err)
			}
			meta := codec.SnapshotMeta{Thread: tid.Bytes(), Entries: 1, Cursor: []codec.SnapshotCursor{{Log: []byte(fake), Seq: 1000, Cid: fakeEventCid(t)}}}
			root, err := codec.SealSnapshotRoot(f.readKey(t, tid), meta, []cid.Cid{page.Cid()}, f.key())
			if err != nil {
				t.Fatal(err)
			}
			f.serveSnapshot(root, map[cid.Cid][]byte{page.Cid(): page.RawData()})
			heads := func() []codec.Head {
				th, _ := f.thread(tid)
				return append(th.heads(), codec.Head{Log: []byte(fake), Seq: 1000})
			}
			f.on(codec.MsgHeads, func(peer.ID, *codec.Message) *codec.Message {
				return &codec.Message{Type: codec.MsgHeads, Heads: heads()}
			})
			f.on(codec.MsgPull, func(from peer.ID, m *codec.Message) *codec.Message {
				if ipel.LogID(m.Log) == fake {
					return &codec.Message{Type: codec.MsgCompacted, Log: m.Log, From: 1001}
				}
				th, _ := f.thread(tid)
				resp, err := f.net.serve(ctx, th, from, m)
				if err != nil {
					return &codec.Message{Type: codec.MsgError, Error: err.Error()}
				}
				return resp
			})
			// Tell V of the log, and that the forger is ahead: V syncs.
			connect(t, f.testNode, v)
			fth, _ := f.thread(tid)
			if _, err := f.send(ctx, v.host.ID(), &codec.Message{Type: codec.MsgAnnounce, Thread: tid.Bytes(), Auth: f.proof(t, tid, v.host.ID()),
				Addrs: []codec.LogAddrs{{Log: []byte(fake), Addrs: f.net.ownAnnouncement(fth)[0].Addrs, TTL: 3600}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.send(ctx, v.host.ID(), &codec.Message{Type: codec.MsgHeads, Thread: tid.Bytes(), Auth: f.proof(t, tid, v.host.ID()), Heads: heads()}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "V to report the blocked catch-up", func() (bool, string) {
				l := logOf(t, v, tid, fake)
				return l.CatchUp != nil, fmt.Sprintf("%+v", l)
			})
			cu := logOf(t, v, tid, fake).CatchUp
			if len(cu.Peers) != 1 || cu.Peers[0] != (CompactedPeer{Peer: f.host.ID(), Base: 1000}) || !strings.Contains(cu.Error(), f.host.ID().String()) {
				t.Fatalf("blocked catch-up: %+v", cu)
			}
			if n := f.count(codec.MsgSnapshot) + f.count(codec.MsgBlocks); n != 0 {
				t.Fatalf("V asked the forger for its snapshot (%d requests)", n)
			}
			if _, err := v.Snapshot(ctx, tid); !errors.Is(err, ErrNoSnapshot) {
				t.Fatalf("V holds a snapshot: %v", err)
			}
			vi, _ := v.Info(tid)
			for _, l := range vi.Logs {
				if l.Base != 0 {
					t.Fatalf("V's log %s moved its base: %+v", l.ID, l)
				}
			}
			if l := logOf(t, v, tid, ti.OwnLog); l.Seq != 5 || l.CatchUp != nil {
				t.Fatalf("V's log of A: %+v", l)
			}
		})
	}
}

// TestJoinTakesOnlyTheInvitersOwnSignedSnapshot: a joiner takes the
// snapshot its inviter made and signed; one the inviter relays from
// another maker, or an unsigned one, is refused and the joiner replays the
// whole history.
func TestJoinTakesOnlyTheInvitersOwnSignedSnapshot(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	tid := mustCreate(t, a.Service)
	aLog := ownLogOf(t, a, tid)
	appendN(t, a, tid, 30)
	snapshotAt(t, a, tid, 20)
	f := newForger(t)
	if _, err := f.JoinWith(ctx, inviteFrom(t, a, f.testNode, tid, codec.RoleWrite), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the inviter to hold A's log", func() (bool, string) {
		l := logOf(t, f.testNode, tid, aLog)
		return l.Seq == 30, fmt.Sprintf("%+v", l)
	})
	// The inviter's snapshot is A's (taken at its join): its pages and root.
	si, err := f.Snapshot(ctx, tid)
	if err != nil || si.Maker != a.host.ID() {
		t.Fatalf("inviter's snapshot: %+v %v", si, err)
	}
	rootA, err := f.deps.Blockstore.Get(ctx, si.Root)
	if err != nil {
		t.Fatal(err)
	}
	read := f.readKey(t, tid)
	meta, links, err := codec.OpenSnapshotRoot(read, tid.Bytes(), rootA)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[cid.Cid][]byte{}
	for _, l := range links {
		b, err := f.deps.Blockstore.Get(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		pages[l] = b.RawData()
	}
	unsigned, err := codec.SealSnapshotRoot(read, meta, links, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, err := codec.SealSnapshotRoot(read, meta, links, f.key())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		root  blocks.Block
		taken bool
	}{
		{"made by another peer", rootA, false},
		{"unsigned", unsigned, false},
		{"made and signed by the inviter", own, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.serveSnapshot(tc.root, pages)
			v := newTestNode(t, nodeOpts{noPubsub: true})
			connect(t, v, a)
			if _, err := v.JoinWith(ctx, inviteFrom(t, f.testNode, v, tid, codec.RoleWrite), JoinOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "V to hold A's log", func() (bool, string) {
				l := logOf(t, v, tid, aLog)
				return l.Seq == 30, fmt.Sprintf("%+v", l)
			})
			got, err := v.Snapshot(ctx, tid)
			l := logOf(t, v, tid, aLog)
			if tc.taken {
				if err != nil || !got.Root.Equals(own.Cid()) || got.Maker != f.host.ID() || l.Base != 20 {
					t.Fatalf("the inviter's own snapshot was not taken: %+v %v, log %+v", got, err, l)
				}
				return
			}
			if !errors.Is(err, ErrNoSnapshot) || l.Base != 0 {
				t.Fatalf("snapshot taken: %+v %v, log %+v", got, err, l)
			}
		})
	}
}

// TestSnapshotDownloadIsBounded: an inviter's answers cannot make a joiner
// download pages before the root opens, fetch a page twice, or hold more
// than a few messages: a root that lists one 8 MiB page thousands of
// times, a root that does not open, and pages larger than a block are
// refused, with the joiner's heap well under 64 MiB.
func TestSnapshotDownloadIsBounded(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	tid := mustCreate(t, a.Service)
	appendN(t, a, tid, 3)
	f := newForger(t)
	if _, err := f.JoinWith(ctx, inviteFrom(t, a, f.testNode, tid, codec.RoleWrite), JoinOptions{FullReplay: true}); err != nil {
		t.Fatal(err)
	}
	read := f.readKey(t, tid)
	meta := codec.SnapshotMeta{Thread: tid.Bytes(), Entries: 1, Cursor: []codec.SnapshotCursor{{Log: []byte(ownLogOf(t, a, tid)), Seq: 3, Cid: fakeEventCid(t)}}}
	big := make([]byte, codec.MaxMessageSize-(64<<10))
	_, _ = rand.Read(big)
	bigBlk, err := codec.NewSnapshotBlock(cid.Raw, big)
	if err != nil {
		t.Fatal(err)
	}
	same := make([]cid.Cid, 3000)
	for i := range same {
		same[i] = bigBlk.Cid()
	}
	distinct := make([]cid.Cid, 3000)
	for i := range distinct {
		b, _ := codec.NewSnapshotBlock(cid.Raw, fmt.Appendf(nil, "page %d", i))
		distinct[i] = b.Cid()
	}
	otherRead, _ := codec.NewKey()
	mustRoot := func(read *codec.Key, links []cid.Cid) blocks.Block {
		r, err := codec.SealSnapshotRoot(read, meta, links, f.key())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name     string
		root     blocks.Block
		pages    map[cid.Cid][]byte
		maxAsked int // block requests
	}{
		{"one 8 MiB page listed 3000 times", mustRoot(read, same), map[cid.Cid][]byte{bigBlk.Cid(): big}, 0},
		{"a root that does not open", mustRoot(otherRead, distinct), nil, 0},
		{"pages larger than a block", mustRoot(read, distinct), oversizedPages(distinct, big), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.serveSnapshot(tc.root, tc.pages)
			before := f.count(codec.MsgBlocks)
			v := newTestNode(t, nodeOpts{noPubsub: true})
			text := inviteFrom(t, f.testNode, v, tid, codec.RoleWrite)
			peak := heapPeak(func() {
				if _, err := v.JoinWith(ctx, text, JoinOptions{}); err != nil {
					t.Error(err)
				}
			})
			t.Logf("heap peak during the join: %.1f MiB", float64(peak)/(1<<20))
			if peak > 64<<20 {
				t.Fatalf("the join held %d MiB", peak>>20)
			}
			if n := f.count(codec.MsgBlocks) - before; n > tc.maxAsked {
				t.Fatalf("%d block requests", n)
			}
			if _, err := v.Snapshot(ctx, tid); !errors.Is(err, ErrNoSnapshot) {
				t.Fatalf("snapshot taken: %v", err)
			}
		})
	}
}

// oversizedPages answers every page with the same block of more than a
// block's size (not the page asked for either).
func oversizedPages(links []cid.Cid, big []byte) map[cid.Cid][]byte {
	out := make(map[cid.Cid][]byte, len(links))
	for _, l := range links {
		out[l] = big
	}
	return out
}

// TestAccessControlledThreadsTakeNoSnapshot: in an access-controlled thread
// a joiner never asks its inviter for a snapshot, whatever the options; a
// member refuses to serve one and to compact.
func TestAccessControlledThreadsTakeNoSnapshot(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	ti, err := a.CreateThread(ctx, ipel.VariantAccessControlled)
	if err != nil {
		t.Fatal(err)
	}
	tid := ti.ID
	appendN(t, a, tid, 5)
	if _, err := a.SaveSnapshot(ctx, tid, map[ipel.LogID]uint64{ti.OwnLog: 5}, []codec.SnapshotEntry{{Key: "/kv/x", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Compact(ctx, tid); !errors.Is(err, ErrNoCompaction) {
		t.Fatalf("compacted an access-controlled thread: %v", err)
	}
	ath, _ := a.thread(tid)
	if _, err := a.net.serveSnapshot(ctx, ath); !errors.Is(err, ErrSnapshotRefused) {
		t.Fatalf("served a snapshot of an access-controlled thread: %v", err)
	}
	f := newForger(t)
	if _, err := f.JoinWith(ctx, inviteFrom(t, a, f.testNode, tid, codec.RoleWrite), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	// The forger offers a snapshot it signed itself.
	read := f.readKey(t, tid)
	page, _ := codec.SealSnapshotPage(read, tid.Bytes(), 0, []codec.SnapshotEntry{{Key: "/acl/forged", Value: []byte("admin")}})
	root, err := codec.SealSnapshotRoot(read, codec.SnapshotMeta{Thread: tid.Bytes(), Entries: 1,
		Cursor: []codec.SnapshotCursor{{Log: []byte(ti.OwnLog), Seq: 5, Cid: fakeEventCid(t)}}}, []cid.Cid{page.Cid()}, f.key())
	if err != nil {
		t.Fatal(err)
	}
	f.serveSnapshot(root, map[cid.Cid][]byte{page.Cid(): page.RawData()})
	v := newTestNode(t, nodeOpts{noPubsub: true})
	connect(t, v, a)
	if _, err := v.JoinWith(ctx, inviteFrom(t, f.testNode, v, tid, codec.RoleWrite), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "V to replay A's log", func() (bool, string) {
		l := logOf(t, v, tid, ti.OwnLog)
		return l.Seq == 5, fmt.Sprintf("%+v", l)
	})
	vth, _ := v.thread(tid)
	if _, err := v.net.joinSnapshot(ctx, vth, f.host.ID()); !errors.Is(err, ErrSnapshotRefused) {
		t.Fatalf("joinSnapshot in an access-controlled thread: %v", err)
	}
	if n := f.count(codec.MsgSnapshot) + f.count(codec.MsgBlocks); n != 0 {
		t.Fatalf("V asked for a snapshot %d times", n)
	}
	if l := logOf(t, v, tid, ti.OwnLog); l.Base != 0 {
		t.Fatalf("V's log: %+v", l)
	}
}

// TestConcurrentJoinsMakeOneLog: joins of one invite released together
// make one thread record and one own log; the others fail with
// ErrAlreadyMember, and a restart finds the same single log.
func TestConcurrentJoinsMakeOneLog(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	v := newTestNode(t, nodeOpts{noPubsub: true, syncDelay: 20 * time.Millisecond})
	tid := mustCreate(t, a.Service)
	text := inviteFrom(t, a, v, tid, codec.RoleWrite)
	const n = 8
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = v.JoinWith(ctx, text, JoinOptions{FullReplay: true})
		}()
	}
	close(start)
	wg.Wait()
	joined := 0
	for _, err := range errs {
		switch {
		case err == nil:
			joined++
		case !errors.Is(err, ErrAlreadyMember):
			t.Fatalf("join: %v", err)
		}
	}
	if joined != 1 {
		t.Fatalf("%d joins succeeded", joined)
	}
	ownLogs := func() []string {
		res, err := v.rig.store.Query(ctx, dsq.Query{Prefix: "/lg/" + tid.String() + "/"})
		if err != nil {
			t.Fatal(err)
		}
		all, _ := res.Rest()
		var own []string
		for _, e := range all {
			var lr logRecord
			if err := codec.Unmarshal(e.Value, &lr); err != nil {
				t.Fatal(err)
			}
			if st, err := lr.toState(); err == nil && st.sk != nil {
				own = append(own, e.Key)
			}
		}
		return own
	}
	if own := ownLogs(); len(own) != 1 {
		t.Fatalf("own log records: %v", own)
	}
	ti, _ := v.Info(tid)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	again := v.rig.open(Config{})
	ti2, err := again.Info(tid)
	if err != nil || ti2.OwnLog != ti.OwnLog || ti.OwnLog == "" {
		t.Fatalf("after a restart: own log %s, was %s (%v)", ti2.OwnLog, ti.OwnLog, err)
	}
}

// oldSnapshotRecord is the snapshot record as the previous version wrote
// it: no maker.
type oldSnapshotRecord struct {
	Root    []byte                 `cbor:"r"`
	Cursor  []codec.SnapshotCursor `cbor:"c"`
	Entries uint64                 `cbor:"n"`
	Size    uint64                 `cbor:"z"`
	Pages   int                    `cbor:"p"`
	Created int64                  `cbor:"t"`
}

// TestPreviousVersionSnapshotStaysReadable: a snapshot record and an
// unsigned root as the previous version stored them still read, list
// their entries and compact; the node does not serve them as anyone's
// word, and its next snapshot is signed.
func TestPreviousVersionSnapshotStaysReadable(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true})
	tid := mustCreate(t, a.Service)
	aLog := ownLogOf(t, a, tid)
	appendN(t, a, tid, 10)
	th, _ := a.thread(tid)
	c, err := a.cidAt(ctx, th, aLog, 8)
	if err != nil {
		t.Fatal(err)
	}
	cursor := []codec.SnapshotCursor{{Log: []byte(aLog), Seq: 8, Cid: c.Bytes()}}
	entries := []codec.SnapshotEntry{{Key: "/kv/a", Value: []byte("1")}, {Key: "/kv/b", Value: []byte("2")}}
	root, pages, err := codec.SealSnapshot(th.read.Load(), codec.SnapshotMeta{Thread: tid.Bytes(), Cursor: cursor}, entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.deps.Blockstore.PutMany(ctx, append([]blocks.Block{root}, pages...)); err != nil {
		t.Fatal(err)
	}
	if err := putCBOR(ctx, a.deps.Datastore, snapshotRecordKey(tid), &oldSnapshotRecord{Root: root.Cid().Bytes(), Cursor: cursor, Entries: 2, Pages: 1, Created: 1}); err != nil {
		t.Fatal(err)
	}
	si, err := a.Snapshot(ctx, tid)
	if err != nil || !si.Root.Equals(root.Cid()) || si.Maker != "" || si.Events != 8 {
		t.Fatalf("old record: %+v %v", si, err)
	}
	var got []codec.SnapshotEntry
	if _, err := a.SnapshotEntries(ctx, tid, func(es []codec.SnapshotEntry) error { got = append(got, es...); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(entries) {
		t.Fatalf("entries: %v", got)
	}
	if _, err := a.net.serveSnapshot(ctx, th); !errors.Is(err, ErrSnapshotRefused) {
		t.Fatalf("served an unsigned snapshot: %v", err)
	}
	res, err := a.Compact(ctx, tid)
	if err != nil || len(res.Logs) != 1 || res.Logs[0].Base != 8 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	si2 := snapshotAt(t, a, tid, 10)
	if si2.Maker != a.host.ID() {
		t.Fatalf("new snapshot by %q", si2.Maker)
	}
	if _, err := a.net.serveSnapshot(ctx, th); err != nil {
		t.Fatalf("own signed snapshot not served: %v", err)
	}
}
