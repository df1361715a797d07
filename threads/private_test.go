package threads

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// TestPrivateEvents: A seals events to B. Every member and the follower
// replicate them; B reads them; C (a writer) and A (the sender) see that they
// exist and whom they are for, and read nothing; reading the log fails for
// nobody.
func TestPrivateEvents(t *testing.T) {
	ctx := context.Background()
	a, b, c := newTestNode(t, nodeOpts{}), newTestNode(t, nodeOpts{}), newTestNode(t, nodeOpts{})
	f := newTestNode(t, nodeOpts{follow: true})
	for _, n := range []*testNode{b, c, f} {
		connect(t, a, n)
	}
	connect(t, b, c)
	ti, err := a.CreateThread(ctx, ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	tid := ti.ID
	invite(t, a, b, tid, codec.RoleWrite)
	invite(t, a, c, tid, codec.RoleWrite)
	if _, err := a.AddFollower(ctx, tid, f.addr()); err != nil {
		t.Fatal(err)
	}
	large := bytes.Repeat([]byte("L"), 64<<10) // over InlineBodySize: a body block of its own
	bodies := [][]byte{[]byte("public 1"), []byte("for B only"), large, []byte("public 2")}
	to := []peer.ID{"", b.host.ID(), b.host.ID(), ""}
	refs := make([]EventRef, len(bodies))
	for i := range bodies {
		if refs[i], err = a.AppendTo(ctx, tid, to[i], bodies[i]); err != nil {
			t.Fatal(err)
		}
	}
	all := []*testNode{a, b, c, f}
	eventually(t, 15*time.Second, "private events replicate", func() (bool, string) { return converged(all, tid, 4) })

	for name, n := range map[string]*testNode{"A (sender)": a, "B (recipient)": b, "C (member)": c} {
		recs, err := n.Events(ctx, tid, Query{})
		if err != nil {
			t.Fatalf("%s: log: %v", name, err)
		}
		if len(recs) != 4 {
			t.Fatalf("%s: %d events", name, len(recs))
		}
		for i, r := range recs {
			if !r.Cid.Equals(refs[i].Cid) || r.To != to[i] || r.Time.IsZero() {
				t.Fatalf("%s: event %d: cid %s, to %q, time %v", name, i, r.Cid, r.To, r.Time)
			}
			readable := to[i] == "" || n == b
			if r.Private == readable {
				t.Fatalf("%s: event %d: Private %v", name, i, r.Private)
			}
			if readable && !bytes.Equal(r.Body, bodies[i]) || !readable && r.Body != nil {
				t.Fatalf("%s: event %d: body of %d bytes", name, i, len(r.Body))
			}
			one, err := n.Event(ctx, tid, r.Cid)
			if err != nil || one.Private != r.Private || !bytes.Equal(one.Body, r.Body) || one.To != r.To {
				t.Fatalf("%s: event %d by CID: %+v %v", name, i, one.EventRef, err)
			}
		}
		// Listeners see the same and do not fail either.
		lctx, cancel := context.WithCancel(ctx)
		var got int
		err = n.Listen(lctx, tid, 0, func(r Record) error {
			if r.Private != (r.To != "" && n != b) {
				return fmt.Errorf("listen: event %d: Private %v", r.Seq, r.Private)
			}
			if got++; got == 4 {
				cancel()
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) || got != 4 {
			t.Fatalf("%s: listen: %d events, %v", name, got, err)
		}
	}
	// The follower stored everything and can read none of it.
	if _, err := f.Events(ctx, tid, Query{}); !errors.Is(err, ErrNoReadKey) {
		t.Fatalf("follower read: %v", err)
	}
}

func TestPrivateEventRecipientMustBeEd25519(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{noPubsub: true, interval: time.Hour})
	ti, err := a.CreateThread(ctx, ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	// A secp256k1 peer ID embeds its key, of the wrong type.
	sk, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secp, _ := peer.IDFromPrivateKey(sk)
	// An RSA-style peer ID is a hash: no key to seal to.
	digest, _ := mh.Sum([]byte("some rsa key"), mh.SHA2_256, -1)
	hashed := peer.ID(digest)
	for _, to := range []peer.ID{secp, hashed} {
		if _, err := a.AppendTo(ctx, ti.ID, to, []byte("x")); !errors.Is(err, ErrBadRecipient) {
			t.Fatalf("recipient %s: %v", to, err)
		}
	}
	if info, _ := a.Info(ti.ID); len(info.Logs) != 1 || info.Logs[0].Seq != 0 {
		t.Fatalf("refused appends wrote events: %+v", info.Logs)
	}
}
