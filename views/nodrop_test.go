package views

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Nothing a writer is told was written may be missing from the views: a
// batch larger than one event can carry is split, the encoder never makes
// what the decoder refuses, and a body that claims to be view operations
// but does not decode is counted, not taken for a raw event.

func eventCount(t *testing.T, n *node, tid ipel.ThreadID) int {
	t.Helper()
	recs, err := n.s.Events(context.Background(), tid, threads.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func TestKVCommitOfMoreKeysThanOneEventHolds(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, _ := n.m.KV(tid)
	b, _ := kv.Batch(ctx)
	const keys = 5000
	for i := range keys {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%d", i)), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := kv.Query(ctx, dsq.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := res.Rest()
	if len(all) != keys {
		t.Fatalf("%d keys in the view after a committed batch of %d", len(all), keys)
	}
	if got := eventCount(t, n, tid); got != 2 {
		t.Fatalf("%d events, want 2 (split by operation count)", got)
	}
}

func TestDocsPutOfMoreDocumentsThanOneEventHolds(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	const docs = 5000
	raw := make([][]byte, docs)
	for i := range raw {
		raw[i] = fmt.Appendf(nil, `{"_id":"d%d"}`, i)
	}
	ids, err := d.Put(ctx, "c", raw...)
	if err != nil || len(ids) != docs {
		t.Fatalf("put: %d IDs, %v", len(ids), err)
	}
	res, err := d.Query(ctx, "c", Query{})
	if err != nil || len(res.Docs) != docs {
		t.Fatalf("%d documents in the view after a put of %d returned their IDs (%v)", len(res.Docs), docs, err)
	}
	if got := eventCount(t, n, tid); got != 3 {
		t.Fatalf("%d events, want 3 (a declaration, then the puts split in two)", got)
	}
}

// TestEncoderAndDecoderAgreeAtTheLimits: what EncodeOps makes, DecodeOps
// reads, up to the limits; one more is refused by the encoder.
func TestEncoderAndDecoderAgreeAtTheLimits(t *testing.T) {
	kvOps := func(n int) []KVOp {
		ops := make([]KVOp, n)
		for i := range ops {
			ops[i] = KVOp{Key: fmt.Sprintf("/%d", i)}
		}
		return ops
	}
	keys := func(n int) map[string][]byte {
		m := make(map[string][]byte, n)
		for i := range n {
			m[fmt.Sprint(i)] = []byte{1}
		}
		return m
	}
	for _, c := range []struct {
		name string
		ops  Ops
		ok   bool
		// the decoder refuses it too (the encoder's count of all kinds
		// together is stricter than the decoder's per array)
		decoderRefuses bool
	}{
		{"KV at the limit", Ops{KV: kvOps(MaxEventOps)}, true, false},
		{"KV over the limit", Ops{KV: kvOps(MaxEventOps + 1)}, false, true},
		{"kinds together over the limit", Ops{KV: kvOps(MaxEventOps), Docs: []DocOp{{Kind: DocDelete, Coll: "c", ID: "x"}}}, false, false},
		{"rotation at the limit", Ops{ACL: []ACLOp{{Kind: ACLRotate, Keys: keys(MaxRotationReaders)}}}, true, false},
		{"rotation over the limit", Ops{ACL: []ACLOp{{Kind: ACLRotate, Keys: keys(MaxRotationReaders + 1)}}}, false, true},
	} {
		body, err := EncodeOps(c.ops)
		if !c.ok {
			if !errors.Is(err, ErrTooManyOps) {
				t.Errorf("%s: encoded (%v)", c.name, err)
			}
			if !c.decoderRefuses {
				continue
			}
			// What a writer that skips the check would append: every
			// replica finds it malformed.
			c.ops.Magic = opsMagic
			forged, _ := codec.Marshal(&c.ops)
			if _, err := DecodeOps(forged); !errors.Is(err, ErrMalformedOps) {
				t.Errorf("%s: forged body decodes as %v, want malformed", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := DecodeOps(body)
		if err != nil || len(got.KV) != len(c.ops.KV) || len(got.ACL) != len(c.ops.ACL) {
			t.Fatalf("%s: decoded %d/%d operations, %v", c.name, len(got.KV), len(got.ACL), err)
		}
	}
	for _, raw := range [][]byte{nil, []byte("raw text"), {0xa1, 0x61, 'm', 0x61, 'x'}, mustMarshal(t, map[string]string{"m": "other"})} {
		if _, err := DecodeOps(raw); !errors.Is(err, ErrNotOps) {
			t.Errorf("%x: %v, want a raw event", raw, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMalformedOpsAreCountedNotIgnored: a writer appends a body with the
// marker and too many operations; the views skip it, say so in Stats, and
// a rebuild counts it again.
func TestMalformedOpsAreCountedNotIgnored(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	ops := Ops{Magic: opsMagic}
	for i := range MaxEventOps + 1 {
		ops.KV = append(ops.KV, KVOp{Key: fmt.Sprintf("/m/%d", i), Value: []byte{1}})
	}
	if _, err := n.s.Append(ctx, tid, mustMarshal(t, &ops)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.s.Append(ctx, tid, []byte("a raw event")); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"applied", "rebuilt"} {
		if stage == "rebuilt" {
			if err := n.m.Rebuild(ctx, tid); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.m.CatchUp(ctx, tid); err != nil {
			t.Fatal(err)
		}
		st, err := n.m.Stats(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		if st.Skipped[SkipMalformed] != 1 || len(st.Skipped) != 1 {
			t.Fatalf("%s: skipped %v, want one malformed event (and the raw one not counted)", stage, st.Skipped)
		}
	}
	kv, _ := n.m.KV(tid)
	if has, _ := kv.Has(ctx, ds.NewKey("/m/0")); has {
		t.Fatal("a malformed event changed the view")
	}
}

// TestRotationToMoreReadersThanOneEventHolds: revoking a reader of a thread
// with more readers than a rotation can be sealed to is refused before the
// new key is used; nothing changes.
func TestRotationToMoreReadersThanOneEventHolds(t *testing.T) {
	ctx := context.Background()
	a := newNetNode(t, 0)
	tid := newACLThread(t, a)
	readers := make([]ACLOp, MaxRotationReaders+1)
	for i := range readers {
		_, pk, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPublicKey(pk)
		readers[i] = ACLOp{Kind: ACLSetRole, Peer: id.String(), Role: RoleRead, From: 1}
	}
	forceOps(t, a, tid, Ops{ACL: readers[:MaxEventOps]})
	forceOps(t, a, tid, Ops{ACL: readers[MaxEventOps:]})
	victim, _ := peer.Decode(readers[0].Peer)
	err := a.m.SetRole(ctx, tid, victim, RoleNone)
	if !errors.Is(err, ErrTooManyOps) {
		t.Fatalf("a rotation to %d readers: %v", len(readers), err)
	}
	acl, err := a.m.ACL(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := a.s.Info(tid)
	if len(acl.Rotations) != 0 || ti.ReadKeys != 1 || acl.Role(victim.String(), ^uint64(0)) != RoleRead {
		t.Fatalf("after a refused revocation: %d rotations, %d read keys, victim %s", len(acl.Rotations), ti.ReadKeys, acl.Role(victim.String(), ^uint64(0)))
	}
}
