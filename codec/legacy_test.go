package codec_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/codec/codectest"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// TestLegacyEventsOpen: blocks sealed as earlier versions did (envelope
// versions 1 and 2) open and verify, are refused from the network only in
// version 1, and a version 2 event sealed again by a follower is another
// block of the same signed node; a version 3 event sealed again does not
// open.
func TestLegacyEventsOpen(t *testing.T) {
	tid, _ := ipel.NewThreadID(ipel.VariantRaw)
	sk, log, _ := ipel.NewLogIdentity()
	follow, _ := codec.NewKey()
	read, _ := codec.NewKey()
	prev := cid.Undef
	var legacy [3]*codec.Event
	for v := 1; v <= 2; v++ {
		c, _ := codec.SealContent(read, []byte("old"), time.Now(), 1024)
		blk, err := codectest.SealLegacy(v, sk, follow, codec.Position{Thread: tid, Log: log, Seq: uint64(v), Prev: prev, Clock: codec.Clock{Wall: int64(v)}}, c)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := codec.Open(blk, follow)
		if err != nil || ev.Version != v {
			t.Fatalf("version %d: %v (version %d)", v, err, ev.Version)
		}
		if err := ev.Verify(tid, log); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		links, _ := codec.EnvelopeLinks(blk.RawData())
		if v == 1 && prev.Defined() != (len(links) == 1) {
			t.Fatalf("version 1 links %v", links)
		}
		if err := ev.Receivable(); (v == 1) != errors.Is(err, codec.ErrObsoleteFormat) {
			t.Fatalf("version %d from the network: %v", v, err)
		}
		legacy[v] = ev
		prev = ev.Cid()
	}
	copy2, err := codectest.Reseal(legacy[2], follow, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.Open(copy2, follow)
	if err != nil || got.Verify(tid, log) != nil {
		t.Fatalf("version 2 copy: %v", err)
	}
	if got.Cid().Equals(legacy[2].Cid()) || !got.SameSigned(legacy[2]) {
		t.Fatal("a version 2 copy is not another block of the same signed node")
	}
	// A version 1 node sealed in version 2 is the same signed node too.
	if v1as2, err := codectest.Reseal(legacy[1], follow, 2); err != nil {
		t.Fatal(err)
	} else if ev, err := codec.Open(v1as2, follow); err != nil || !ev.SameSigned(legacy[1]) || ev.Verify(tid, log) != nil {
		t.Fatalf("version 1 node in version 2: %v", err)
	}

	c, _ := codec.SealContent(read, []byte("new"), time.Now(), 1024)
	ev, err := codec.Seal(sk, follow, codec.Position{Thread: tid, Log: log, Seq: 3, Prev: prev, Clock: codec.Clock{Wall: 3}}, c)
	if err != nil {
		t.Fatal(err)
	}
	if ev.SameSigned(legacy[2]) {
		t.Fatal("different nodes are the same signed node")
	}
	again, err := codectest.Reseal(ev, follow, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Open(again, follow); !errors.Is(err, codec.ErrMalformed) || !errors.Is(err, codec.ErrNonDeterministic) {
		t.Fatalf("version 3 sealed again: %v", err)
	}
	// In a version 2 envelope it opens, and its signature does not verify.
	as2, _ := codectest.Reseal(ev, follow, 2)
	if got, err := codec.Open(as2, follow); err != nil || !errors.Is(got.Verify(tid, log), codec.ErrBadSignature) {
		t.Fatalf("version 3 node in version 2: %v", err)
	}
}

// TestLegacyPrivateEventOpens: a private event written before content keys
// were bound to their event opens for its recipient.
func TestLegacyPrivateEventOpens(t *testing.T) {
	tid, _ := ipel.NewThreadID(ipel.VariantRaw)
	sk, log, _ := ipel.NewLogIdentity()
	follow, _ := codec.NewKey()
	read, _ := codec.NewKey()
	recipient, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	c, err := codectest.LegacyPrivateContent(read, []byte("old secret"), time.Now(), recipient.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	blk, err := codectest.SealLegacy(2, sk, follow, codec.Position{Thread: tid, Log: log, Seq: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Open(blk, follow)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ev.OpenHeader(read)
	if err != nil {
		t.Fatal(err)
	}
	if body, err := ev.OpenBodyAs(h, ev.Body, recipient); err != nil || string(body) != "old secret" {
		t.Fatalf("legacy private body: %q %v", body, err)
	}
}
