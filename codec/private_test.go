package codec

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newPeerKey(t *testing.T) (crypto.PrivKey, peer.ID) {
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

// privateEvent seals payload to the peer key to and returns the opened event
// and its separate body block's data (nil when inline).
func (f fixture) privateEvent(t *testing.T, payload []byte, to crypto.PubKey, inlineMax int) (*Event, []byte) {
	t.Helper()
	c, err := SealContentTo(f.read, payload, time.Unix(100, 5), inlineMax, to)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Seal(f.sk, f.follow, Position{Thread: f.tid, Log: f.log, Seq: 1, Clock: Clock{Wall: 100}}, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(ev.Block, f.follow)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(f.tid, f.log); err != nil {
		t.Fatal(err)
	}
	var bb []byte
	if c.BodyBlock != nil {
		bb = c.BodyBlock.RawData()
	}
	return got, bb
}

func sealedBody(ev *Event, bodyBlock []byte) []byte {
	if ev.BodyLink.Defined() {
		return bodyBlock
	}
	return ev.Body
}

func TestPrivateEventOpensForRecipientOnly(t *testing.T) {
	f := newFixture(t)
	recipientKey, recipient := newPeerKey(t)
	otherKey, _ := newPeerKey(t)
	for _, tc := range []struct {
		name      string
		payload   []byte
		inlineMax int
	}{
		{"inline", []byte("for your eyes only"), 1024},
		{"own block", bytes.Repeat([]byte("x"), 4096), 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, bb := f.privateEvent(t, tc.payload, recipientKey.GetPublic(), tc.inlineMax)
			if ev.BodyLink.Defined() != (tc.inlineMax < len(tc.payload)) {
				t.Fatalf("body placement: link %v", ev.BodyLink.Defined())
			}
			// Every reader opens the header: time and recipient, no key.
			h, err := ev.OpenHeader(f.read)
			if err != nil {
				t.Fatal(err)
			}
			if !h.Private() || h.Recipient() != recipient || h.Key != nil {
				t.Fatalf("header: private %v, to %s, key %x", h.Private(), h.Recipient(), h.Key)
			}
			if !h.WallTime().Equal(time.Unix(100, 5)) {
				t.Fatalf("time %v", h.WallTime())
			}
			sealed := sealedBody(ev, bb)
			body, err := ev.OpenBodyAs(h, sealed, recipientKey)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, tc.payload) {
				t.Fatalf("body %q", body)
			}
			// Readers without the recipient's key: nothing.
			if _, err := OpenBody(h, sealed); !errors.Is(err, ErrNotRecipient) {
				t.Fatalf("without identity: %v", err)
			}
			if _, err := ev.OpenBodyAs(h, sealed, otherKey); !errors.Is(err, ErrNotRecipient) {
				t.Fatalf("other identity: %v", err)
			}
			// Nor does another key open the sealed content key directly.
			if _, ok, err := openFromPeer(h.SealedKey, otherKey); err != nil || ok {
				t.Fatalf("other key opened the sealed content key: ok %v, err %v", ok, err)
			}
			// The log key that signed it is no recipient either.
			if _, err := ev.OpenBodyAs(h, sealed, f.sk); !errors.Is(err, ErrNotRecipient) {
				t.Fatalf("sender's log key: %v", err)
			}
		})
	}
}

// reseal replaces an event's header with h sealed under the read key, as a
// reader could, and returns the header as OpenHeader sees it.
func reseal(t *testing.T, f fixture, h Header) (Header, error) {
	t.Helper()
	hb, err := Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := f.read.Seal(hb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Node: Node{Header: sealed}}
	ev.Block, _ = newBlock(EventCodec, []byte("x"))
	return ev.OpenHeader(f.read)
}

func TestPrivateEventTampering(t *testing.T) {
	f := newFixture(t)
	recipientKey, _ := newPeerKey(t)
	otherKey, other := newPeerKey(t)
	ev, _ := f.privateEvent(t, []byte("secret"), recipientKey.GetPublic(), 1024)
	h, err := ev.OpenHeader(f.read)
	if err != nil {
		t.Fatal(err)
	}

	// A flipped bit in the sealed content key: the sealed box refuses it.
	bad := h
	bad.SealedKey = append([]byte(nil), h.SealedKey...)
	bad.SealedKey[len(bad.SealedKey)-1] ^= 1
	if _, err := ev.OpenBodyAs(bad, ev.Body, recipientKey); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("flipped sealed key: %v", err)
	}
	// A flipped bit in the sealed body: the AEAD refuses it.
	body := append([]byte(nil), ev.Body...)
	body[len(body)-1] ^= 1
	if _, err := ev.OpenBodyAs(h, body, recipientKey); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("flipped body: %v", err)
	}
	// Redirected to another peer: that peer cannot open what was sealed to
	// the first, and the first is no longer the recipient.
	redirected := h
	redirected.To = []byte(other)
	if _, err := ev.OpenBodyAs(redirected, ev.Body, otherKey); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("redirected, other peer: %v", err)
	}
	if _, err := ev.OpenBodyAs(redirected, ev.Body, recipientKey); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("redirected, first recipient: %v", err)
	}
	// A sealed invite is not a content key, even for its invitee.
	inv, err := sealToPeer(append([]byte(invitePrefix), make([]byte, KeySize)...), recipientKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	swapped := h
	swapped.SealedKey = inv
	if _, err := ev.OpenBodyAs(swapped, ev.Body, recipientKey); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("invite as content key: %v", err)
	}
	// Malformed headers, sealed under the read key by a reader.
	key := make([]byte, KeySize)
	for name, mh := range map[string]Header{
		"recipient without sealed key":   {Time: 1, To: h.To},
		"recipient and a plain key":      {Time: 1, To: h.To, SealedKey: h.SealedKey, Key: key},
		"sealed key without a recipient": {Time: 1, Key: key, SealedKey: h.SealedKey},
		"recipient not a peer ID":        {Time: 1, To: []byte("nope"), SealedKey: h.SealedKey},
	} {
		if _, err := reseal(t, f, mh); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPrivateEventNeedsEd25519Recipient(t *testing.T) {
	f := newFixture(t)
	sk, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SealContentTo(f.read, []byte("x"), time.Now(), 1024, sk.GetPublic()); err == nil {
		t.Fatal("sealed to a secp256k1 key")
	}
}

// TestOrdinaryHeaderUnchanged: the optional private fields leave ordinary
// headers byte for byte as they were, so old events decode and new ordinary
// events read the same everywhere.
func TestOrdinaryHeaderUnchanged(t *testing.T) {
	type oldHeader struct {
		Time int64  `cbor:"t"`
		Key  []byte `cbor:"k"`
	}
	key := bytes.Repeat([]byte{7}, KeySize)
	old, _ := Marshal(oldHeader{Time: 42, Key: key})
	now, _ := Marshal(Header{Time: 42, Key: key})
	if !bytes.Equal(old, now) {
		t.Fatalf("ordinary header encoding changed:\n%x\n%x", old, now)
	}
	var h Header
	if err := Unmarshal(old, &h); err != nil || h.Private() || !bytes.Equal(h.Key, key) {
		t.Fatalf("old header: %+v, %v", h, err)
	}
	// And an ordinary event still opens without any identity.
	f := newFixture(t)
	ev := f.event(t, 1, cid.Undef, []byte("plain"), 1024)
	if string(readBody(t, f, ev, nil)) != "plain" {
		t.Fatal("ordinary body")
	}
}
