package ipel

import (
	"context"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestAddrBookTTLAndPersistence(t *testing.T) {
	ctx := context.Background()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	ab, err := NewAddrBook(ctx, store, clock)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := NewThreadID(VariantRaw)
	_, logA, _ := NewLogIdentity()
	_, logB, _ := NewLogIdentity()
	_, p1, _ := NewLogIdentity()
	_, p2, _ := NewLogIdentity()
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	if err := ab.Add(ctx, tid, logA, peer.AddrInfo{ID: p1, Addrs: []ma.Multiaddr{addr}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := ab.Add(ctx, tid, logB, peer.AddrInfo{ID: p2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := ab.Add(ctx, tid, logA, peer.AddrInfo{ID: p2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := ab.Entries(ctx, tid); len(got) != 3 {
		t.Fatalf("%d entries", len(got))
	}
	if got := ab.Peers(ctx, tid); len(got) != 2 {
		t.Fatalf("%d peers", len(got))
	}
	// Reload from the store.
	ab2, err := NewAddrBook(ctx, store, clock)
	if err != nil {
		t.Fatal(err)
	}
	got := ab2.Entries(ctx, tid)
	if len(got) != 3 {
		t.Fatalf("%d entries after reload", len(got))
	}
	// Past the minute, p1's entry drops out, from memory and the store.
	now = now.Add(2 * time.Minute)
	if got := ab2.Entries(ctx, tid); len(got) != 2 {
		t.Fatalf("%d entries after expiry", len(got))
	}
	ab3, _ := NewAddrBook(ctx, store, clock)
	for _, e := range ab3.Entries(ctx, tid) {
		if e.Peer == p1 {
			t.Fatal("expired entry persisted")
		}
	}
	if err := ab3.RemoveThread(ctx, tid); err != nil {
		t.Fatal(err)
	}
	ab4, _ := NewAddrBook(ctx, store, clock)
	if got := ab4.Entries(ctx, tid); len(got) != 0 {
		t.Fatalf("%d entries after remove", len(got))
	}
}
