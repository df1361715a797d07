package views

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// A writer whose clock runs far ahead (hostile, or just wrong) tries to
// make its write the last one to a key forever. The rule (threads.
// MaxClockSkew): an event is stored only once it is at most MaxClockSkew
// ahead of its receiver's clock, and observing it moves the receiver's
// clock past it. What these tests check is exactly what that guarantees:
// the far-future write counts nowhere but on its writer while it is too
// far ahead, and once a replica has it, that replica's next write wins
// over it, on every replica; in an access-controlled thread too, after the
// writer's revocation.

// testClock is a wall clock the test moves.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// newClockedNode is newNetNode with the given wall clock.
func newClockedNode(t testing.TB, now func() time.Time) *netNode {
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
		Host: h, Identity: h.Peerstore().PrivKey(h.ID()), Now: now,
	}, threads.Config{AntiEntropyInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	viewStore := namespace.Wrap(store, ds.NewKey("/views"))
	m := NewManager(s, viewStore, nil)
	t.Cleanup(func() {
		_ = m.Close()
		_ = s.Close()
	})
	return &netNode{node: node{s: s, m: m, store: viewStore}, host: h, gate: g, dag: dag, pinner: p}
}

func put(t *testing.T, n *netNode, tid ipel.ThreadID, key, value string) {
	t.Helper()
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(context.Background(), ds.NewKey(key), []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// everywhere waits until every node's view holds value at key.
func everywhere(t *testing.T, tid ipel.ThreadID, key, value string, nodes ...*netNode) {
	t.Helper()
	eventually(t, func() bool {
		for _, n := range nodes {
			if v, err := kvGet(n, tid, key); err != nil || v != value {
				return false
			}
		}
		return true
	})
}

// syncAll has every node pull what the others hold now (the anti-entropy
// round, without waiting for it).
func syncAll(tid ipel.ThreadID, nodes ...*netNode) {
	for _, n := range nodes {
		_ = n.s.SyncNow(context.Background(), tid)
	}
}

func TestFarFutureWriteDoesNotFreezeAKey(t *testing.T) {
	clock := &testClock{at: time.Now()}
	a, b := newClockedNode(t, clock.now), newClockedNode(t, clock.now)
	w := newClockedNode(t, func() time.Time { return time.Now().Add(time.Hour) })
	tid := a.thread(t)
	b.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	w.join(t, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: true})
	connectAll(t, a, b, w)
	syncAll(tid, a, b, w)

	// w's write, an hour ahead, counts on w only.
	put(t, w, tid, "/k", "w")
	put(t, a, tid, "/k", "a")
	everywhere(t, tid, "/k", "a", a, b)
	syncAll(tid, a, b)
	everywhere(t, tid, "/k", "a", a, b)

	// Once the replicas' clocks are within MaxClockSkew of it, it is stored
	// and, being later than a's write, wins...
	clock.add(time.Hour - threads.MaxClockSkew + time.Minute)
	syncAll(tid, a, b, w)
	everywhere(t, tid, "/k", "w", a, b)
	// ...until the next write of a replica that has it.
	put(t, b, tid, "/k", "b")
	syncAll(tid, a, b, w)
	everywhere(t, tid, "/k", "b", a, b, w)
}

func TestFarFutureWriteDoesNotOutliveRevocation(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{at: time.Now()}
	a, b := newClockedNode(t, clock.now), newClockedNode(t, clock.now)
	w := newClockedNode(t, func() time.Time { return time.Now().Add(time.Hour) })
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	aclMember(t, w, a, tid, RoleWrite)
	connectAll(t, a, b, w)
	syncAll(tid, a, b, w)

	put(t, w, tid, "/k", "w")
	put(t, a, tid, "/k", "a")
	everywhere(t, tid, "/k", "a", a, b)

	clock.add(time.Hour - threads.MaxClockSkew + time.Minute)
	syncAll(tid, a, b, w)
	everywhere(t, tid, "/k", "w", a, b) // a writer's write, before any revocation

	// The admin revokes w; w, in bad faith, writes on.
	if err := a.m.SetRole(ctx, tid, w.host.ID(), RoleNone); err != nil {
		t.Fatal(err)
	}
	syncAll(tid, a, b, w)
	forceOps(t, w, tid, Ops{KV: []KVOp{{Key: "/k", Value: []byte("w revoked")}}})
	syncAll(tid, a, b, w)
	// b's next write wins over w's far-future one, everywhere.
	put(t, b, tid, "/k", "b")
	syncAll(tid, a, b, w)
	everywhere(t, tid, "/k", "b", a, b)
}

func connectAll(t *testing.T, nodes ...*netNode) {
	t.Helper()
	for i, x := range nodes {
		for _, y := range nodes[i+1:] {
			if err := x.host.Connect(context.Background(), peer.AddrInfo{ID: y.host.ID(), Addrs: y.host.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
