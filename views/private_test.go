package views

import (
	"context"
	"crypto/rand"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/threads"
)

// TestViewsSkipPrivateEvents: a private event is never a view operation,
// not even for its recipient (who reads its body), so that every replica
// computes the same views; the views move past it.
func TestViewsSkipPrivateEvents(t *testing.T) {
	ctx := context.Background()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := peer.IDFromPrivateKey(sk)
	otherKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	other, _ := peer.IDFromPrivateKey(otherKey)
	n := newNodeAs(t, sk)
	tid := n.thread(t)
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []peer.ID{self, other} {
		body, err := EncodeOps(Ops{KV: []KVOp{{Key: "/secret/" + to.String(), Value: []byte("1")}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.s.AppendTo(ctx, tid, to, body); err != nil {
			t.Fatal(err)
		}
	}
	// A put returns when the views applied it, so they are past both.
	if err := kv.Put(ctx, ds.NewKey("/a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	for _, to := range []peer.ID{self, other} {
		if _, err := kv.Get(ctx, ds.NewKey("/secret/"+to.String())); err != ds.ErrNotFound {
			t.Fatalf("private event to %s applied: %v", to, err)
		}
	}
	recs, err := n.s.Events(ctx, tid, threads.Query{})
	if err != nil || len(recs) != 3 {
		t.Fatalf("events: %d %v", len(recs), err)
	}
	if recs[0].Private || recs[0].Body == nil || !recs[1].Private || recs[1].Body != nil {
		t.Fatalf("recipient reads its own, not the other: %+v / %+v", recs[0], recs[1])
	}
	// A rebuild agrees.
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, ds.NewKey("/secret/"+self.String())); err != ds.ErrNotFound {
		t.Fatalf("after rebuild: %v", err)
	}
	if v, err := kv.Get(ctx, ds.NewKey("/a")); err != nil || string(v) != "1" {
		t.Fatalf("after rebuild /a: %q %v", v, err)
	}
}
