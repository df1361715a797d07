package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testMaker(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func eventCid(t *testing.T, s string) []byte {
	t.Helper()
	blk, err := newBlock(EventCodec, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return blk.Cid().Bytes()
}

func TestSnapshotIsDeterministicAndOpens(t *testing.T) {
	read, _ := NewKey()
	maker, makerID := testMaker(t)
	thread := []byte("thread")
	var entries []SnapshotEntry
	for i := 0; i < 20000; i++ {
		entries = append(entries, SnapshotEntry{Key: fmt.Sprintf("/kv/%06d", i), Value: []byte(fmt.Sprintf("value %d", i))})
	}
	meta := SnapshotMeta{Thread: thread, Cursor: []SnapshotCursor{{Log: []byte("b"), Seq: 2, Cid: eventCid(t, "x")}, {Log: []byte("a"), Seq: 1, Cid: eventCid(t, "y")}}}
	root, pages, err := SealSnapshot(read, meta, entries, maker)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 2 {
		t.Fatalf("%d pages", len(pages))
	}
	// Same state, entries in another order, same maker: same CIDs.
	shuffled := append([]SnapshotEntry(nil), entries...)
	for i, j := 0, len(shuffled)-1; i < j; i, j = i+1, j-1 {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	meta2 := SnapshotMeta{Thread: thread, Cursor: []SnapshotCursor{meta.Cursor[1], meta.Cursor[0]}}
	root2, _, err := SealSnapshot(read, meta2, shuffled, maker)
	if err != nil || !root2.Cid().Equals(root.Cid()) {
		t.Fatalf("not deterministic: %s vs %s (%v)", root.Cid(), root2.Cid(), err)
	}
	// Another maker: the same pages, another root.
	other, _ := testMaker(t)
	root3, pages3, err := SealSnapshot(read, meta, entries, other)
	if err != nil || root3.Cid().Equals(root.Cid()) || len(pages3) != len(pages) || !pages3[0].Cid().Equals(pages[0].Cid()) {
		t.Fatalf("another maker: root %s vs %s, %d pages (%v)", root3.Cid(), root.Cid(), len(pages3), err)
	}
	got, links, err := OpenSnapshotRoot(read, thread, root)
	if err != nil || got.Entries != 20000 || len(links) != len(pages) || string(got.Cursor[0].Log) != "a" {
		t.Fatalf("open root: %+v %v", got, err)
	}
	if !got.Signed() || peer.ID(got.Maker) != makerID {
		t.Fatalf("maker: %q, want %s", got.Maker, makerID)
	}
	n := 0
	for i, p := range pages {
		es, err := OpenSnapshotPage(read, thread, i, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Key != entries[n].Key {
				t.Fatalf("entry %d: %s", n, e.Key)
			}
			n++
		}
	}
	// Another key, another thread, a page in the wrong place: refused.
	otherKey, _ := NewKey()
	if _, _, err := OpenSnapshotRoot(otherKey, thread, root); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("other key: %v", err)
	}
	if _, _, err := OpenSnapshotRoot(read, []byte("other"), root); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("other thread: %v", err)
	}
	if _, err := OpenSnapshotPage(read, thread, 1, pages[0]); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("moved page: %v", err)
	}
}

// sealRootAs seals a root as a forger would: any version, meta and links,
// signed by signer (or not at all) whatever maker meta names.
func sealRootAs(t *testing.T, read *Key, v int, meta SnapshotMeta, links []cid.Cid, signer crypto.PrivKey) blocks.Block {
	t.Helper()
	root := snapshotRoot{V: v}
	for _, l := range links {
		root.L = append(root.L, Link{l})
	}
	if signer != nil {
		st, err := root.statement(&meta)
		if err != nil {
			t.Fatal(err)
		}
		if meta.Sig, err = signer.Sign(st); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := snapshotKey(read)
	mb, _ := encMode.Marshal(&meta)
	ad, _ := rootAD(meta.Thread, root.L)
	root.N, _ = k.seal(mb, ad)
	rb, _ := encMode.Marshal(&root)
	blk, err := newBlock(SnapshotCodec, rb)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

// TestForgedSnapshotRootsDoNotOpen: a root opens only when its maker's
// signature holds over everything that identifies it, and within bounds.
func TestForgedSnapshotRootsDoNotOpen(t *testing.T) {
	read, _ := NewKey()
	thread := []byte("thread")
	alice, aliceID := testMaker(t)
	mallory, _ := testMaker(t)
	page, err := SealSnapshotPage(read, thread, 0, []SnapshotEntry{{Key: "/kv/a", Value: []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	links := []cid.Cid{page.Cid()}
	meta := SnapshotMeta{Thread: thread, Entries: 1, Cursor: []SnapshotCursor{{Log: []byte("a"), Seq: 5, Cid: eventCid(t, "e")}}, Maker: []byte(aliceID)}
	if _, _, err := OpenSnapshotRoot(read, thread, sealRootAs(t, read, snapshotV2, meta, links, alice)); err != nil {
		t.Fatalf("honest root: %v", err)
	}
	moved := meta
	moved.Cursor = []SnapshotCursor{{Log: []byte("a"), Seq: 6, Cid: eventCid(t, "e")}}
	dupPage, _ := newBlock(cid.Raw, bytes.Repeat([]byte{1}, 100))
	many := make([]cid.Cid, MaxSnapshotPages+1)
	for i := range many {
		b, _ := newBlock(cid.Raw, fmt.Appendf(nil, "%d", i))
		many[i] = b.Cid()
	}
	notPage, _ := newBlock(SnapshotCodec, []byte{0xa0})
	cases := map[string]blocks.Block{
		"signed by another peer in alice's name": sealRootAs(t, read, snapshotV2, meta, links, mallory),
		"unsigned in alice's name":               sealRootAs(t, read, snapshotV2, meta, links, nil),
		"v1 naming a maker":                      sealRootAs(t, read, snapshotV1, meta, links, alice),
		"v2 naming no maker":                     sealRootAs(t, read, snapshotV2, SnapshotMeta{Thread: thread, Cursor: meta.Cursor}, links, mallory),
		"signature over another cursor":          sealRootWithSig(t, read, meta, moved, links, alice),
		"a page listed twice":                    sealRootAs(t, read, snapshotV2, meta, []cid.Cid{dupPage.Cid(), dupPage.Cid()}, alice),
		"too many pages":                         sealRootAs(t, read, snapshotV2, meta, many, alice),
		"a link that is not a page":              sealRootAs(t, read, snapshotV2, meta, []cid.Cid{notPage.Cid()}, alice),
		"more entries than pages hold":           sealRootAs(t, read, snapshotV2, SnapshotMeta{Thread: thread, Entries: 4001, Cursor: meta.Cursor, Maker: meta.Maker}, links, alice),
		"cursor without an event CID":            sealRootAs(t, read, snapshotV2, SnapshotMeta{Thread: thread, Cursor: []SnapshotCursor{{Log: []byte("a"), Seq: 5, Cid: []byte("x")}}, Maker: meta.Maker}, links, alice),
		"cursor naming a log twice":              sealRootAs(t, read, snapshotV2, SnapshotMeta{Thread: thread, Cursor: append(append([]SnapshotCursor(nil), meta.Cursor...), meta.Cursor...), Maker: meta.Maker}, links, alice),
		"unknown version":                        sealRootAs(t, read, 3, meta, links, alice),
	}
	for name, blk := range cases {
		_, _, err := OpenSnapshotRoot(read, thread, blk)
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: opened (%v)", name, err)
		}
	}
	if _, err := SnapshotLinks(cases["a page listed twice"].RawData()); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("links of a root listing a page twice: %v", err)
	}
	// Only Ed25519 identities sign snapshots.
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	if _, err := SealSnapshotRoot(read, meta, links, secp); err == nil {
		t.Error("a secp256k1 key signed a snapshot")
	}
}

// sealRootWithSig seals meta with the signature signer made over signed.
func sealRootWithSig(t *testing.T, read *Key, meta, signed SnapshotMeta, links []cid.Cid, signer crypto.PrivKey) blocks.Block {
	t.Helper()
	root := snapshotRoot{V: snapshotV2}
	for _, l := range links {
		root.L = append(root.L, Link{l})
	}
	st, _ := root.statement(&signed)
	meta.Sig, _ = signer.Sign(st)
	return sealRootAs(t, read, snapshotV2, meta, links, nil)
}

// TestVersion1SnapshotStillOpens: a snapshot written by the previous
// version (unsigned, testdata/snapshot-v1.json) opens, and sealing the same
// state without a maker still gives the same bytes.
func TestVersion1SnapshotStillOpens(t *testing.T) {
	raw, err := os.ReadFile("testdata/snapshot-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Read, Thread, Root, CursorCid []byte
		RootCid                       string
		Pages                         [][]byte
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	read, err := KeyFromBytes(fx.Read)
	if err != nil {
		t.Fatal(err)
	}
	root, err := NewSnapshotBlock(SnapshotCodec, fx.Root)
	if err != nil || root.Cid().String() != fx.RootCid {
		t.Fatalf("root %s, want %s (%v)", root.Cid(), fx.RootCid, err)
	}
	meta, links, err := OpenSnapshotRoot(read, fx.Thread, root)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Signed() || meta.Entries != 3 || len(links) != 1 || len(meta.Cursor) != 1 || meta.Cursor[0].Seq != 3 {
		t.Fatalf("meta %+v, %d links", meta, len(links))
	}
	page, _ := NewSnapshotBlock(cid.Raw, fx.Pages[0])
	es, err := OpenSnapshotPage(read, fx.Thread, 0, page)
	if err != nil || len(es) != 3 || es[2].Key != "/kv/c" || string(es[2].Value) != "3" {
		t.Fatalf("page: %+v %v", es, err)
	}
	again, _, err := SealSnapshot(read, SnapshotMeta{Thread: fx.Thread, Cursor: meta.Cursor}, es, nil)
	if err != nil || !again.Cid().Equals(root.Cid()) {
		t.Fatalf("unsigned sealing changed: %s vs %s (%v)", again.Cid(), root.Cid(), err)
	}
}
