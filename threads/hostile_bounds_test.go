package threads

// Adversarial tests of the resource bounds: frames, answers, held-back
// events, announces, invites from strangers, and Close with handlers in
// flight. The hostile peer of hostile_test.go plays the attacker.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// heldPeak is heapPeak with the garbage collector running whenever the heap
// grows by 10%, so that the peak counts what the node holds rather than
// garbage waiting for a collection.
func heldPeak(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	return heapPeak(f)
}

// rawFrame is a frame whose header claims size body bytes, followed by
// body, which may be shorter or longer than claimed.
func rawFrame(t testing.TB, typ codec.MsgType, thread, auth []byte, size int, body []byte) []byte {
	t.Helper()
	hdr, err := codec.Marshal(&codec.FrameHeader{Type: typ, Thread: thread, Auth: auth, Size: uint64(size)})
	if err != nil {
		t.Fatal(err)
	}
	out := binary.AppendUvarint(nil, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, body...)
}

// decodeAnswer reads the answer sendRaw got back; nil for none.
func decodeAnswer(t testing.TB, raw []byte) *codec.Message {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	m, err := codec.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("answer does not decode: %v", err)
	}
	return m
}

// openRaw opens a sync stream and writes raw bytes on it, leaving it open.
func (h *hostile) openRaw(ctx context.Context, t testing.TB, to peer.ID, raw []byte) p2pnet.Stream {
	t.Helper()
	st, err := h.host.NewStream(ctx, to, ProtocolID)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if _, err := st.Write(raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	return st
}

// serviceMemory is the memory the sync streams hold in the node's libp2p
// resource manager (what `ipfs swarm resources` shows as svc:threads).
func serviceMemory(t testing.TB, n *testNode) int64 {
	t.Helper()
	var mem int64
	err := n.host.Network().ResourceManager().ViewService(serviceName, func(s p2pnet.ServiceScope) error {
		mem = s.Stat().Memory
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// hostileMember sets up a target node with a raw thread and a hostile peer
// that holds it with the given role.
func hostileMember(t testing.TB, role codec.Role, o nodeOpts) (*testNode, *hostile, ipel.ThreadID) {
	t.Helper()
	ctx := context.Background()
	if o.interval == 0 {
		o.interval = time.Hour
	}
	a := newTestNode(t, o)
	h := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, h.testNode)
	ti, err := a.CreateThread(ctx, ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, ti.ID, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	invite(t, a, h.testNode, ti.ID, role)
	return a, h, ti.ID
}

// A frame's header is checked before its body is read: a stranger's claim
// of the largest body is refused at once, a member's body over its type's
// limit too, and a member's large body is read as it arrives, within a
// reservation of its peer's share that the resource manager shows.
func TestFrameBombsAreRefusedBeforeTheBody(t *testing.T) {
	ctx := context.Background()
	a, h, tid := hostileMember(t, codec.RoleFollow, nodeOpts{})
	stranger := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, stranger.testNode)

	var answer *codec.Message
	peak := heapPeak(func() {
		answer = decodeAnswer(t, stranger.sendRaw(ctx, t, a.host.ID(), rawFrame(t, codec.MsgPush, tid.Bytes(), []byte("forged"), codec.MaxMessageSize, nil)))
	})
	if answer == nil || answer.Type != codec.MsgError || !strings.Contains(answer.Error, "not a member") {
		t.Fatalf("stranger's frame bomb: %+v", answer)
	}
	if peak > 4<<20 {
		t.Errorf("a stranger's header made the node hold %d bytes", peak)
	}
	// Headers of absurd sizes, and a header longer than its limit.
	for _, raw := range [][]byte{
		rawFrame(t, codec.MsgPush, tid.Bytes(), h.proof(t, tid, a.host.ID()), 1<<62, nil),
		append(binary.AppendUvarint(nil, codec.MaxHeaderSize+1), make([]byte, codec.MaxHeaderSize+1)...),
	} {
		if m := decodeAnswer(t, h.sendRaw(ctx, t, a.host.ID(), raw)); m != nil && m.Type != codec.MsgError {
			t.Fatalf("absurd header answered %+v", m)
		}
	}

	// A member's body over its type's limit, and a type that is no request.
	proof := h.proof(t, tid, a.host.ID())
	for _, tc := range []struct {
		typ  codec.MsgType
		size int
		want string
	}{
		{codec.MsgPull, 1 << 20, "too large"},
		{codec.MsgAnnounce, codec.MaxMessageSize, "too large"},
		{codec.MsgEvents, 10, "unexpected message type"},
	} {
		m := decodeAnswer(t, h.sendRaw(ctx, t, a.host.ID(), rawFrame(t, tc.typ, tid.Bytes(), proof, tc.size, nil)))
		if m == nil || m.Type != codec.MsgError || !strings.Contains(m.Error, tc.want) {
			t.Fatalf("type %d of %d bytes: %+v", tc.typ, tc.size, m)
		}
	}
	if a.NetStats().Rejected["oversized message"] < 2 {
		t.Fatalf("rejections: %v", a.NetStats().Rejected)
	}

	// A member claims the largest push and sends 64 KiB of it, on four
	// streams at once: one is read, within a reservation the resource
	// manager shows; the others wait for the peer's share.
	var streams []p2pnet.Stream
	peak = heapPeak(func() {
		for range 4 {
			streams = append(streams, h.openRaw(ctx, t, a.host.ID(), rawFrame(t, codec.MsgPush, tid.Bytes(), proof, codec.MaxMessageSize, make([]byte, 64<<10))))
		}
		eventually(t, 10*time.Second, "the body's memory reserved", func() (bool, string) {
			held := a.net.frames.held(h.host.ID())
			return held == peerFrameBudget, fmt.Sprintf("%d bytes held", held)
		})
	})
	if mem := serviceMemory(t, a); mem < codec.MaxMessageSize {
		t.Fatalf("the resource manager shows %d bytes for the threads service", mem)
	}
	if held := a.net.frames.held(h.host.ID()); held > peerFrameBudget {
		t.Fatalf("%d bytes held for one peer, over its share of %d", held, peerFrameBudget)
	}
	if peak > 4<<20 {
		t.Errorf("claims of 4 x 8 MiB with 64 KiB sent made the node hold %d bytes", peak)
	}
	for _, st := range streams {
		_ = st.Reset()
	}
	eventually(t, 10*time.Second, "reservations released", func() (bool, string) {
		held, mem := a.net.frames.held(h.host.ID()), serviceMemory(t, a)
		return held == 0 && mem == 0, fmt.Sprintf("%d bytes held, %d in the resource manager", held, mem)
	})
	t.Logf("peak heap: %d KiB", peak>>10)
}

// An answer is checked as a request is: its type must fit the request, an
// answer with data must prove that its sender holds the thread, and its
// body must fit the type's limit and arrive whole.
func TestAnswersAreCheckedBeforeTheirBody(t *testing.T) {
	ctx := context.Background()
	a, h, tid := hostileMember(t, codec.RoleWrite, nodeOpts{})
	th, _ := a.thread(tid)
	ask := &codec.Message{Type: codec.MsgHeads, Thread: tid.Bytes(), Auth: a.net.auth(th, h.host.ID())}
	pull := &codec.Message{Type: codec.MsgPull, Thread: tid.Bytes(), Auth: a.net.auth(th, h.host.ID()), Log: []byte(th.own.id), From: 1, Max: 10}
	proof := h.proof(t, tid, a.host.ID())
	for _, tc := range []struct {
		name   string
		req    *codec.Message
		answer []byte
		want   string
	}{
		{"wrong type", ask, rawFrame(t, codec.MsgOK, nil, nil, 0, nil), "answer of type"},
		{"events to heads", ask, rawFrame(t, codec.MsgEvents, nil, proof, 0, nil), "answer of type"},
		{"no proof", ask, rawFrame(t, codec.MsgHeads, nil, []byte("forged"), 0, nil), "not a member"},
		{"over the limit", ask, rawFrame(t, codec.MsgHeads, nil, proof, 2*headsBody, nil), "too large"},
		{"claims 8 MiB, sends 1 KiB", pull, rawFrame(t, codec.MsgEvents, nil, proof, codec.MaxMessageSize, make([]byte, 1<<10)), "unexpected EOF"},
		{"compacted without proof", pull, rawFrame(t, codec.MsgCompacted, nil, nil, 0, nil), "not a member"},
	} {
		h.answerRawWith(func(peer.ID, *codec.Message) []byte { return tc.answer })
		var err error
		peak := heapPeak(func() { _, err = a.net.request(ctx, h.host.ID(), tc.req) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if peak > 4<<20 {
			t.Errorf("%s: the node held %d bytes", tc.name, peak)
		}
	}
	if a.NetStats().Rejected["unexpected answer"] < 4 {
		t.Fatalf("rejections: %v", a.NetStats().Rejected)
	}
	// A well-formed answer still goes through, proof added by the harness.
	h.answerRawWith(nil)
	h.answerWith(func(peer.ID, *codec.Message) *codec.Message {
		return &codec.Message{Type: codec.MsgHeads, Heads: []codec.Head{{Log: []byte(th.own.id), Seq: 1}}}
	})
	if resp, err := a.net.request(ctx, h.host.ID(), ask); err != nil || len(resp.Heads) != 1 {
		t.Fatalf("honest answer: %+v %v", resp, err)
	}
}

// madeUpEvent seals an event of a made-up log with a body of size bytes
// (inline), as a holder of the follow key can.
func madeUpEvent(t testing.TB, th *thread, sk crypto.PrivKey, logID ipel.LogID, seq uint64, size int) blocks.Block {
	t.Helper()
	c, err := codec.SealContent(th.follow, make([]byte, size), time.Now(), codec.MaxBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	prev := cid.Undef
	if seq > 1 {
		prev = blocks.NewBlock(fmt.Appendf(nil, "%s/%d", logID, seq)).Cid()
	}
	ev, err := codec.Seal(sk, th.follow, codec.Position{Thread: th.id, Log: logID, Seq: seq, Prev: prev}, c)
	if err != nil {
		t.Fatal(err)
	}
	return ev.Block
}

// madeUpLogs makes n log identities.
func madeUpLogs(t testing.TB, n int) ([]crypto.PrivKey, []ipel.LogID) {
	t.Helper()
	sks, ids := make([]crypto.PrivKey, n), make([]ipel.LogID, n)
	for i := range n {
		sk, id, err := ipel.NewLogIdentity()
		if err != nil {
			t.Fatal(err)
		}
		sks[i], ids[i] = sk, id
	}
	return sks, ids
}

// announceLogs has the hostile peer announce logs, the i-th at addrs(i)
// (nil: none).
func (h *hostile) announceLogs(ctx context.Context, t testing.TB, to peer.ID, tid ipel.ThreadID, logs []ipel.LogID, addrs func(i int) [][]byte) {
	t.Helper()
	m := &codec.Message{Type: codec.MsgAnnounce, Thread: tid.Bytes(), Auth: h.proof(t, tid, to)}
	for i, l := range logs {
		var as [][]byte
		if addrs != nil {
			as = addrs(i)
		}
		m.Addrs = append(m.Addrs, codec.LogAddrs{Log: []byte(l), Addrs: as, TTL: 3600})
	}
	if _, err := h.send(ctx, to, m); err != nil {
		t.Fatalf("announce: %v", err)
	}
}

// pushBlocks has the hostile peer push event blocks, a few per message.
func (h *hostile) pushBlocks(ctx context.Context, t testing.TB, to peer.ID, tid ipel.ThreadID, evs []blocks.Block) {
	t.Helper()
	for len(evs) > 0 {
		m := &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: h.proof(t, tid, to)}
		size := 0
		for len(evs) > 0 && size+len(evs[0].RawData()) <= maxBatchBytes {
			m.Events = append(m.Events, evs[0].RawData())
			size += len(evs[0].RawData())
			evs = evs[1:]
		}
		if _, err := h.send(ctx, to, m); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
}

// A follower announces made-up logs and pushes events ahead of their empty
// heads: the node holds at most the sender's share of held-back events,
// losing the sender's own oldest first, keeps another sender's, and lets
// them all go when they expire.
func TestHeldBackEventsAreBounded(t *testing.T) {
	ctx := context.Background()
	a, h, tid := hostileMember(t, codec.RoleFollow, nodeOpts{noPubsub: true})
	hth, _ := h.thread(tid)
	sks, logs := madeUpLogs(t, 41)
	h.announceLogs(ctx, t, a.host.ID(), tid, logs, nil)
	// Another sender's event waits for its predecessor.
	honest := newTestNode(t, nodeOpts{interval: time.Hour}).host.ID()
	a.net.holdBack(a.mustThread(t, tid), honest, []blocks.Block{madeUpEvent(t, hth, sks[40], logs[40], 2, 100)}, nil)
	if _, _, held := a.net.held.usage(honest); held == 0 {
		t.Fatal("the other sender's event was not held back")
	}
	sks, logs = sks[:40], logs[:40]
	var evs []blocks.Block
	for i := range logs {
		evs = append(evs, madeUpEvent(t, hth, sks[i], logs[i], 2, 1<<20))
	}
	peak := heldPeak(func() { h.pushBlocks(ctx, t, a.host.ID(), tid, evs) })
	events, total, fromH := a.net.held.usage(h.host.ID())
	t.Logf("pushed %d MiB ahead of their logs: %d events held back, %d bytes, %d from the attacker; peak heap %d MiB", 40, events, total, fromH, peak>>20)
	if fromH == 0 || fromH > heldBackShare || total > heldBackBudget {
		t.Fatalf("held back %d bytes from the attacker (share %d), %d in all (budget %d)", fromH, heldBackShare, total, heldBackBudget)
	}
	// The attacker's newest events are the ones kept, and b's is still there.
	a.net.held.mu.Lock()
	_, newest := a.net.held.byLog[pendingKey{tid, logs[len(logs)-1]}]
	_, oldest := a.net.held.byLog[pendingKey{tid, logs[0]}]
	a.net.held.mu.Unlock()
	if !newest || oldest {
		t.Fatalf("eviction: newest kept %v, oldest kept %v", newest, oldest)
	}
	if _, _, held := a.net.held.usage(honest); held == 0 {
		t.Fatal("the attacker's flood evicted another sender's event")
	}
	if peak > 64<<20 {
		t.Errorf("the flood made the node hold %d MiB", peak>>20)
	}
	// Everything held back expires.
	a.net.held.mu.Lock()
	a.net.held.now = func() time.Time { return time.Now().Add(heldBackTTL) }
	a.net.held.mu.Unlock()
	a.net.held.expire()
	if events, total, _ := a.net.held.usage(h.host.ID()); events != 0 || total != 0 {
		t.Fatalf("after expiry: %d events, %d bytes", events, total)
	}
}

func (n *testNode) mustThread(t testing.TB, tid ipel.ThreadID) *thread {
	t.Helper()
	th, err := n.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// emptyLogs counts a thread's logs without events.
func emptyLogs(t testing.TB, n *testNode, tid ipel.ThreadID) int {
	t.Helper()
	ti, err := n.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	empty := 0
	for _, l := range ti.Logs {
		if l.Seq == 0 && l.Base == 0 && !l.Own {
			empty++
		}
	}
	return empty
}

// A follower announces 1,000 made-up logs, at addresses of other peers:
// the thread learns at most maxEmptyLogs logs, nothing goes into the
// peerstore for another peer, and an invite of the thread stays small and
// opens.
func TestAnnounceFloodIsBounded(t *testing.T) {
	ctx := context.Background()
	a, h, tid := hostileMember(t, codec.RoleFollow, nodeOpts{})
	hth, _ := h.thread(tid)
	fake := newTestNode(t, nodeOpts{interval: time.Hour}).host.ID()
	other, _ := ma.NewMultiaddr("/ip4/6.6.6.6/tcp/666/p2p/" + fake.String())
	addrs := func(i int) [][]byte {
		own, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.9.9.%d/tcp/4001/p2p/%s", i%30, h.host.ID()))
		return [][]byte{own.Bytes(), other.Bytes()}
	}
	sks, logs := madeUpLogs(t, 1000)
	for i := 0; i < len(logs); i += 250 {
		h.announceLogs(ctx, t, a.host.ID(), tid, logs[i:i+250], addrs)
	}
	h.announceLogs(ctx, t, a.host.ID(), tid, logs, nil) // 1,000 in one announce
	if got := emptyLogs(t, a, tid); got > maxEmptyLogs {
		t.Fatalf("the thread learnt %d empty logs, at most %d", got, maxEmptyLogs)
	}
	// Events of fresh logs that start with a gap add none beyond the cap.
	var evs []blocks.Block
	for i := 300; i < 400; i++ {
		evs = append(evs, madeUpEvent(t, hth, sks[i], logs[i], 2, 10))
	}
	h.pushBlocks(ctx, t, a.host.ID(), tid, evs)
	if got := emptyLogs(t, a, tid); got > maxEmptyLogs {
		t.Fatalf("after pushes: %d empty logs, at most %d", got, maxEmptyLogs)
	}
	// Addresses of others go nowhere; the announcer's own are bounded.
	if got := a.host.Peerstore().Addrs(fake); len(got) != 0 {
		t.Fatalf("the peerstore took addresses for another peer: %v", got)
	}
	for _, e := range a.net.book.Entries(ctx, tid) {
		if e.Peer == fake {
			t.Fatalf("the address book took an entry for another peer: %+v", e)
		}
	}
	var announced int
	for _, x := range a.host.Peerstore().Addrs(h.host.ID()) {
		if strings.HasPrefix(x.String(), "/ip4/10.") {
			announced++
		}
	}
	if announced == 0 || announced > maxPeerAddrs {
		t.Fatalf("%d announced addresses of the announcer kept, want 1..%d", announced, maxPeerAddrs)
	}
	if a.NetStats().Rejected["foreign address"] == 0 || a.NetStats().Rejected["oversized announce"] == 0 {
		t.Fatalf("rejections: %v", a.NetStats().Rejected)
	}
	// Invites of the thread stay small and open.
	c := newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, c)
	res, err := a.Invite(ctx, tid, c.host.ID(), codec.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := codec.OpenInvite(res.Invite, c.host.Peerstore().PrivKey(c.host.ID()))
	if err != nil {
		t.Fatalf("the invite does not open: %v (%d characters)", err, len(res.Invite))
	}
	if len(inv.Addrs) > maxInviteAddrs {
		t.Fatalf("the invite lists %d addresses", len(inv.Addrs))
	}
	if _, err := c.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	t.Logf("invite: %d characters, %d addresses; thread: %d empty logs", len(res.Invite), len(inv.Addrs), emptyLogs(t, a, tid))
}

// Strangers deliver invites: each sender keeps at most
// maxInvitesPerSender invites stored, one over it is refused from its
// header (the invite is not even opened), and follows accepted on a
// sender's invites stop at maxAutoFollowsPerSender.
func TestInvitesFromStrangersAreBounded(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: time.Hour, follow: true})
	s := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, s.testNode)
	deliver := func(from *testNode, role codec.Role) (ipel.ThreadID, bool) {
		t.Helper()
		ti, err := from.CreateThread(ctx, ipel.VariantRaw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := from.Invite(ctx, ti.ID, a.host.ID(), role)
		if err != nil {
			t.Fatal(err)
		}
		return ti.ID, res.Delivered
	}
	for i := range maxInvitesPerSender {
		if _, ok := deliver(s.testNode, codec.RoleWrite); !ok {
			t.Fatalf("invite %d not delivered", i)
		}
	}
	if _, ok := deliver(s.testNode, codec.RoleWrite); ok {
		t.Fatal("an invite over the sender's quota was kept")
	}
	bad := a.NetStats().Rejected["bad invite"]
	m := decodeAnswer(t, s.sendRaw(ctx, t, a.host.ID(), rawFrame(t, codec.MsgInvite, nil, nil, 1<<10, make([]byte, 1<<10))))
	if m == nil || !strings.Contains(m.Error, errInviteQuota.Error()) || a.NetStats().Rejected["bad invite"] != bad {
		t.Fatalf("over quota, a junk invite was read: %+v %v", m, a.NetStats().Rejected)
	}
	invs, err := a.Invites(ctx)
	if err != nil || len(invs) != maxInvitesPerSender {
		t.Fatalf("%d invites stored: %v", len(invs), err)
	}
	if got, _, _, _ := a.invites.counts(s.host.ID()); got != maxInvitesPerSender {
		t.Fatalf("inbox counts %d", got)
	}

	// Follow invites from another stranger, one after the other: each is
	// followed (and its slot freed) until the sender's follow quota.
	f := newHostile(t, nodeOpts{interval: time.Hour})
	connect(t, a, f.testNode)
	var last ipel.ThreadID
	for i := range maxAutoFollowsPerSender + 1 {
		tid, ok := deliver(f.testNode, codec.RoleFollow)
		if !ok {
			t.Fatalf("follow invite %d not delivered", i)
		}
		last = tid
		if i < maxAutoFollowsPerSender {
			eventually(t, 10*time.Second, "followed", func() (bool, string) {
				_, err := a.thread(tid)
				return err == nil, fmt.Sprint(err)
			})
		}
	}
	if _, err := a.thread(last); err == nil {
		t.Fatal("followed a thread over the sender's quota")
	}
	if a.NetStats().Rejected["follow quota"] == 0 {
		t.Fatalf("rejections: %v", a.NetStats().Rejected)
	}
	_, _, follows, ofF := a.invites.counts(f.host.ID())
	if follows != maxAutoFollowsPerSender || ofF != maxAutoFollowsPerSender {
		t.Fatalf("follows counted: %d in all, %d of the sender", follows, ofF)
	}
	// A removed thread gives its follow back.
	ths, _ := a.Threads()
	if err := a.RemoveThread(ctx, ths[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, follows, _ := a.invites.counts(f.host.ID()); follows != maxAutoFollowsPerSender-1 {
		t.Fatalf("after removal: %d follows", follows)
	}
}

// The inbox's node-wide quotas, and its counts across a restart.
func TestInviteInboxQuotas(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	ib, err := loadInbox(ctx, r.store)
	if err != nil {
		t.Fatal(err)
	}
	sender := func(i int) peer.ID { return peer.ID(fmt.Sprintf("peer-%d", i)) }
	tid := func(i int) ipel.ThreadID {
		id, _ := ipel.NewThreadID(ipel.VariantRaw)
		return id
	}
	for i := range maxInvites {
		if _, err := ib.reserve(inviteSlot{tid(i), sender(i / maxInvitesPerSender)}); err != nil {
			t.Fatalf("invite %d: %v", i, err)
		}
	}
	if err := ib.admit(sender(9999)); !errors.Is(err, errInviteQuota) {
		t.Fatalf("a new sender over the node's quota: %v", err)
	}
	for i := range maxAutoFollows {
		if ok, _, err := ib.reserveFollow(tid(i), sender(i/maxAutoFollowsPerSender)); !ok || err != nil {
			t.Fatalf("follow %d: %v %v", i, ok, err)
		}
	}
	if _, _, err := ib.reserveFollow(tid(0), sender(9999)); !errors.Is(err, errFollowQuota) {
		t.Fatalf("a follow over the node's quota: %v", err)
	}
	// Stored invites and follows are counted again at start.
	th, _ := ipel.NewThreadID(ipel.VariantRaw)
	p := newTestNode(t, nodeOpts{interval: time.Hour}).host.ID()
	if err := putCBOR(ctx, r.store, inviteKey(th, p), &storedInvite{}); err != nil {
		t.Fatal(err)
	}
	if err := r.store.Put(ctx, autoFollowKey(th, p), []byte{}); err != nil {
		t.Fatal(err)
	}
	ib, err = loadInbox(ctx, r.store)
	if err != nil {
		t.Fatal(err)
	}
	if inv, fromP, follows, ofP := ib.counts(p); inv != 1 || fromP != 1 || follows != 1 || ofP != 1 {
		t.Fatalf("loaded counts: %d %d %d %d", inv, fromP, follows, ofP)
	}
}

// blockingBS blocks a PutMany that writes a given block, until released.
type blockingBS struct {
	bstore.Blockstore
	on      atomic.Pointer[cid.Cid]
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBS) PutMany(ctx context.Context, bs []blocks.Block) error {
	if on := b.on.Load(); on != nil {
		for _, blk := range bs {
			if blk.Cid().Equals(*on) {
				b.once.Do(func() { close(b.entered) })
				<-b.release
			}
		}
	}
	return b.Blockstore.PutMany(ctx, bs)
}

// Close waits for the stream handlers in flight: one stalled mid-request
// is cut off (Close does not wait for the stream's deadline), one busy
// storing events finishes before Close returns, and one that starts after
// Close refuses.
func TestCloseWaitsForStreamHandlers(t *testing.T) {
	ctx := context.Background()

	// Stalled mid-request: a header and part of the body, then nothing.
	a, h, tid := hostileMember(t, codec.RoleFollow, nodeOpts{})
	st := h.openRaw(ctx, t, a.host.ID(), rawFrame(t, codec.MsgPush, tid.Bytes(), h.proof(t, tid, a.host.ID()), 1<<20, make([]byte, 1<<10)))
	defer st.Reset()
	eventually(t, 10*time.Second, "handler reading the body", func() (bool, string) {
		return a.net.frames.held(h.host.ID()) > 0, ""
	})
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(streamTimeout / 3):
		t.Fatal("Close waits for a stalled peer")
	}
	if held := a.net.frames.held(h.host.ID()); held != 0 {
		t.Fatalf("%d bytes still held after Close", held)
	}

	// Busy storing: the handler holds the blockstore when Close starts.
	var bbs *blockingBS
	b, w, tid2 := hostileMember(t, codec.RoleWrite, nodeOpts{noPubsub: true, deps: func(d *Deps) {
		bbs = &blockingBS{Blockstore: d.Blockstore, entered: make(chan struct{}), release: make(chan struct{})}
		d.Blockstore = bbs
	}})
	wth, _ := w.thread(tid2)
	c, err := codec.SealContent(wth.read.Load(), []byte("in flight"), time.Now(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Seal(wth.own.sk, wth.follow, codec.Position{Thread: tid2, Log: wth.own.id, Seq: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	evCid := ev.Cid()
	bbs.on.Store(&evCid)
	pushed := make(chan error, 1)
	go func() {
		_, err := w.send(ctx, b.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid2.Bytes(), Auth: w.proof(t, tid2, b.host.ID()), Events: [][]byte{ev.Block.RawData()}})
		pushed <- err
	}()
	<-bbs.entered
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a stream handler was storing events")
	case <-time.After(200 * time.Millisecond):
	}
	close(bbs.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := b.rig.store.Get(ctx, eventKey(tid2, wth.own.id, 1)); err != nil {
		t.Fatalf("the handler in flight did not finish before Close returned: %v", err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("the push in flight was not answered: %v", err)
	}

	// A handler that starts after Close refuses.
	late := protocol.ID("/kubo-threads/test/late")
	b.host.SetStreamHandler(late, b.net.handleStream)
	st2, err := w.host.NewStream(ctx, b.host.ID(), late)
	if err != nil {
		if !strings.Contains(err.Error(), "reset") {
			t.Fatal(err)
		}
		return // refused at once
	}
	_, _ = st2.Write(rawFrame(t, codec.MsgHeads, tid2.Bytes(), w.proof(t, tid2, b.host.ID()), 0, nil))
	_ = st2.CloseWrite()
	if got, _ := bufio.NewReader(st2).ReadByte(); got != 0 {
		t.Fatal("a handler started after Close answered")
	}
}

// One hostile peer, in a process of its own, runs every memory attack at
// once (see memoryAttack): the node holds at most 64 MiB meanwhile, and
// serves an honest reader after.
func TestOneHostilePeerHoldsUnder64MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an attacker process for several seconds")
	}
	ctx := context.Background()
	a, attacker, tid := startMemoryAttack(t)
	peak := heldPeak(attacker.attack)
	t.Logf("peak heap held during the attack: %.1f MiB; rejected: %v", float64(peak)/(1<<20), a.NetStats().Rejected)
	if peak > 64<<20 {
		t.Fatalf("one hostile peer made the node hold %.1f MiB", float64(peak)/(1<<20))
	}
	if _, _, held := a.net.held.usage(attacker.id); held > heldBackShare {
		t.Fatalf("%d bytes held back for the attacker", held)
	}
	if got := emptyLogs(t, a, tid); got > maxEmptyLogs {
		t.Fatalf("%d empty logs", got)
	}
	if got, _, _, _ := a.invites.counts(attacker.id); got > maxInvitesPerSender {
		t.Fatalf("%d invites stored", got)
	}
	th := a.mustThread(t, tid)
	c := newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, c)
	invite(t, a, c, tid, codec.RoleWrite)
	eventually(t, 30*time.Second, "an honest reader catches up", func() (bool, string) {
		cth, err := c.thread(tid)
		if err != nil {
			return false, err.Error()
		}
		cth.mu.Lock()
		defer cth.mu.Unlock()
		st := cth.logs[th.own.id]
		if st == nil {
			return false, "no log"
		}
		return st.seq == th.own.seq, fmt.Sprintf("seq %d", st.seq)
	})
	_ = ctx
}
