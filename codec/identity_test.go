package codec

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// TestV3BlockIsAFunctionOfTheSignedNode: sealing the same content at the
// same position twice, or sealing an opened node again, gives the same
// bytes; the writer's signature is deterministic, and so is the envelope.
func TestV3BlockIsAFunctionOfTheSignedNode(t *testing.T) {
	f := newFixture(t)
	for _, inline := range []int{1024, 8} {
		c, err := SealContent(f.read, []byte("same"), time.Unix(100, 0), inline)
		if err != nil {
			t.Fatal(err)
		}
		pos := Position{Thread: f.tid, Log: f.log, Seq: 1, Clock: Clock{Wall: 100}}
		a, err := Seal(f.sk, f.follow, pos, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Seal(f.sk, f.follow, pos, c)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Cid().Equals(b.Cid()) || a.Version != EnvelopeVersion {
			t.Fatalf("two seals of one node: %s and %s (version %d)", a.Cid(), b.Cid(), a.Version)
		}
		got, err := Open(a.Block, f.follow)
		if err != nil {
			t.Fatal(err)
		}
		nb, _ := Marshal(&got.Node)
		again, err := sealEnvelope(f.follow, nb, got.links(EnvelopeVersion))
		if err != nil || !bytes.Equal(again, a.Block.RawData()) {
			t.Fatalf("resealed node differs: %v", err)
		}
		if !got.SameSigned(a) {
			t.Fatal("an event is not the same signed node as itself")
		}
	}
}

// sealV3Raw seals node bytes in a version 3 envelope with the right subkey
// under the given nonce (nil: the derived one), and lays the envelope out
// with fix applied to its canonical bytes.
func sealV3Raw(t *testing.T, follow *Key, nb []byte, links []Link, nonce []byte, fix func([]byte) []byte) []byte {
	t.Helper()
	ad, _ := nodeAD(envelopeV3, links)
	k := follow.subkeys()
	var sealed []byte
	if nonce == nil {
		sealed = sealDeterministic(k.node, &k.nonce, nb, ad)
	} else {
		sealed = k.node.Seal(append([]byte(nil), nonce...), nonce, nb, ad)
	}
	eb, _ := Marshal(&envelope{V: envelopeV3, L: links, N: sealed})
	if fix != nil {
		eb = fix(eb)
	}
	return eb
}

// TestV3RefusesEveryOtherSealing: a holder of the follow key that seals a
// version 3 node again under another nonce, or encodes the node or the
// envelope differently, makes a block that does not open (malformed).
func TestV3RefusesEveryOtherSealing(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t, 1, cid.Undef, []byte("a"), 1024)
	nb, _ := Marshal(&ev.Node)
	links := ev.links(envelopeV3)
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	// A non-canonical array header: the same node, nine elements, written
	// with a one-byte length.
	longArray := append([]byte{0x98, 0x09}, nb[1:]...)
	if nb[0] != 0x89 {
		t.Fatalf("node encoding starts with %x", nb[0])
	}
	cases := map[string][]byte{
		"random nonce":       sealV3Raw(t, f.follow, nb, links, nonce, nil),
		"non-canonical node": sealV3Raw(t, f.follow, longArray, links, nil, nil),
		"non-canonical version": sealV3Raw(t, f.follow, nb, links, nil, func(b []byte) []byte {
			return replaceOnce(t, b, []byte{0x61, 0x76, 0x03}, []byte{0x61, 0x76, 0x18, 0x03})
		}),
		"links as null, not [] ":  sealV3Raw(t, f.follow, nb, nil, nil, nil),
		"the writer's node in v2": mustLegacy(t, f, ev.Node),
	}
	for name, data := range cases {
		blk, err := newBlock(EventCodec, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Open(blk, f.follow)
		if name == "the writer's node in v2" {
			// It opens (version 2 is sealed with the follow key itself) but
			// the signature, made for version 3, does not verify in it.
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := got.Verify(f.tid, f.log); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%s: verify: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: opened (%v)", name, err)
		}
		// OpenStored, for blocks accepted before, does not look again.
		if _, err := OpenStored(blk, f.follow); err != nil {
			t.Errorf("%s: stored: %v", name, err)
		}
	}
	// The derived sealing itself opens: the cases above fail for their
	// difference alone.
	blk, _ := newBlock(EventCodec, sealV3Raw(t, f.follow, nb, links, nil, nil))
	if _, err := Open(blk, f.follow); err != nil || !blk.Cid().Equals(ev.Cid()) {
		t.Fatalf("derived sealing: %v", err)
	}
}

func replaceOnce(t *testing.T, b, old, new []byte) []byte {
	t.Helper()
	if bytes.Count(b, old) != 1 {
		t.Fatalf("%x occurs %d times", old, bytes.Count(b, old))
	}
	return bytes.Replace(b, old, new, 1)
}

// mustLegacy seals a node in a version 2 envelope with the follow key.
func mustLegacy(t *testing.T, f fixture, n Node) []byte {
	t.Helper()
	nb, _ := Marshal(&n)
	links := n.links(envelopeV2)
	ad, _ := nodeAD(envelopeV2, links)
	sealed, err := f.follow.Seal(nb, ad)
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := Marshal(&envelope{V: envelopeV2, L: links, N: sealed})
	return eb
}

// TestFollowSubkeysAreDistinct: the subkeys differ from each other and
// from the follow key, and a thread proof is not an HMAC under the follow
// key itself (the previous protocol's proof).
func TestFollowSubkeysAreDistinct(t *testing.T) {
	k, _ := NewKey()
	seen := map[[32]byte]string{k.raw: "follow key"}
	for _, label := range []string{labelEventNode, labelEventNonce, labelThreadProof} {
		d := k.derive(label)
		if prev, dup := seen[d]; dup {
			t.Fatalf("subkey %q equals %s", label, prev)
		}
		seen[d] = label
		if d != k.derive(label) {
			t.Fatalf("subkey %q is not deterministic", label)
		}
	}
	if k.subkeys().proof != k.derive(labelThreadProof) || k.subkeys().nonce != k.derive(labelEventNonce) {
		t.Fatal("cached subkeys differ from their derivation")
	}
	proof := ThreadAuth(k, []byte("t"), []byte("a"), []byte("b"))
	if !CheckThreadAuth(k, proof, []byte("t"), []byte("a"), []byte("b")) {
		t.Fatal("proof does not check")
	}
	old := hmac.New(sha256.New, k.raw[:])
	old.Write([]byte("kubo-threads/auth/v1\x00"))
	if CheckThreadAuth(k, old.Sum(nil), []byte("t"), []byte("a"), []byte("b")) || bytes.Equal(proof, old.Sum(nil)) {
		t.Fatal("a proof under the follow key itself checks")
	}
	other, _ := NewKey()
	if CheckThreadAuth(other, proof, []byte("t"), []byte("a"), []byte("b")) {
		t.Fatal("proof checks under another follow key")
	}
}

// TestPrivateKeyIsBoundToItsEvent: a member that copies a private event's
// header and body into an event of its own (another log, or another seq)
// gets an event its recipient refuses as not authentic.
func TestPrivateKeyIsBoundToItsEvent(t *testing.T) {
	f := newFixture(t)
	recipientKey, _ := newPeerKey(t)
	ev, _ := f.privateEvent(t, []byte("for you"), recipientKey.GetPublic(), 1024)
	h, err := ev.OpenHeader(f.read)
	if err != nil {
		t.Fatal(err)
	}
	if body, err := ev.OpenBodyAs(h, ev.Body, recipientKey); err != nil || string(body) != "for you" {
		t.Fatalf("genuine: %q %v", body, err)
	}
	thief := newFixture(t)
	thief.follow, thief.read, thief.tid = f.follow, f.read, f.tid
	for name, pos := range map[string]Position{
		"another log": {Thread: f.tid, Log: thief.log, Seq: 1},
		"another seq": {Thread: f.tid, Log: f.log, Seq: 2, Prev: ev.Cid()},
	} {
		signer := thief.sk
		if pos.Log == f.log {
			signer = f.sk // even the sender, at another position
		}
		copied, err := Seal(signer, f.follow, pos, Content{Header: ev.Header, Body: ev.Body})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Open(copied.Block, f.follow)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := got.OpenHeader(f.read)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := got.OpenBodyAs(ch, got.Body, recipientKey); !errors.Is(err, ErrNotAuthentic) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestLegacyContentKeyOnlyInLegacyEvents: a content key sealed alone (as
// before keys were bound) opens in an event of envelope version 2, and is
// refused as not authentic in a version 3 event, where no honest writer
// puts one.
func TestLegacyContentKeyOnlyInLegacyEvents(t *testing.T) {
	f := newFixture(t)
	recipientKey, recipient := newPeerKey(t)
	ck, _ := NewKey()
	body, _ := ck.Seal([]byte("old"), nil)
	box, err := sealToPeer(append([]byte(contentKeyPrefixV1), ck.raw[:]...), recipientKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	header, err := sealHeader(f.read, Header{Time: 1, To: []byte(recipient), SealedKey: box})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Seal(f.sk, f.follow, Position{Thread: f.tid, Log: f.log, Seq: 1}, Content{Header: header, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ev.OpenHeader(f.read)
	if _, err := ev.OpenBodyAs(h, body, recipientKey); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("legacy key in a version 3 event: %v", err)
	}
	legacy := *ev
	legacy.Version = envelopeV2
	if got, err := legacy.OpenBodyAs(h, body, recipientKey); err != nil || string(got) != "old" {
		t.Fatalf("legacy key in a version 2 event: %q %v", got, err)
	}
}
