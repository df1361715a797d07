package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	basicnode "github.com/ipld/go-ipld-prime/node/basic"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/ipel"
)

type fixture struct {
	tid          ipel.ThreadID
	sk           crypto.PrivKey
	log          ipel.LogID
	follow, read *Key
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	tid, err := ipel.NewThreadID(ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	sk, log, err := ipel.NewLogIdentity()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := NewKey()
	r, _ := NewKey()
	return fixture{tid: tid, sk: sk, log: log, follow: f, read: r}
}

func (f fixture) event(t testing.TB, seq uint64, prev cid.Cid, payload []byte, inlineMax int) *Event {
	t.Helper()
	c, err := SealContent(f.read, payload, time.Unix(100, 5), inlineMax)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Seal(f.sk, f.follow, Position{Thread: f.tid, Log: f.log, Seq: seq, Clock: Clock{Wall: 100, Counter: uint32(seq)}, Prev: prev}, c)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func readBody(t *testing.T, f fixture, ev *Event, bodyBlock []byte) []byte {
	t.Helper()
	h, err := ev.OpenHeader(f.read)
	if err != nil {
		t.Fatal(err)
	}
	sealed := ev.Body
	if ev.BodyLink.Defined() {
		sealed = bodyBlock
	}
	body, err := OpenBody(h, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestEventRoundTrip(t *testing.T) {
	f := newFixture(t)
	first := f.event(t, 1, cid.Undef, []byte("hello"), 1024)
	second := f.event(t, 2, first.Cid(), []byte("world"), 1024)
	for i, ev := range []*Event{first, second} {
		if ev.Cid().Prefix().Codec != EventCodec {
			t.Fatalf("codec 0x%x", ev.Cid().Prefix().Codec)
		}
		got, err := Open(ev.Block, f.follow)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(f.tid, f.log); err != nil {
			t.Fatal(err)
		}
		if got.Seq != uint64(i+1) {
			t.Fatalf("seq %d", got.Seq)
		}
		want := []string{"hello", "world"}[i]
		if body := readBody(t, f, got, nil); string(body) != want {
			t.Fatalf("body %q", body)
		}
		h, _ := got.OpenHeader(f.read)
		if !h.WallTime().Equal(time.Unix(100, 5)) {
			t.Fatalf("time %v", h.WallTime())
		}
	}
	got, _ := Open(second.Block, f.follow)
	if !got.Prev.Equals(first.Cid()) {
		t.Fatal("prev link lost")
	}
}

func TestLargeBodyGoesInItsOwnBlock(t *testing.T) {
	f := newFixture(t)
	payload := bytes.Repeat([]byte("x"), 5000)
	c, err := SealContent(f.read, payload, time.Now(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if c.BodyBlock == nil || c.Body != nil {
		t.Fatal("large body stored inline")
	}
	ev, err := Seal(f.sk, f.follow, Position{Thread: f.tid, Log: f.log, Seq: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	links, err := EnvelopeLinks(ev.Block.RawData())
	if err != nil || len(links) != 1 || !links[0].Equals(c.BodyBlock.Cid()) {
		t.Fatalf("envelope links %v %v", links, err)
	}
	got, err := Open(ev.Block, f.follow)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, f, got, c.BodyBlock.RawData()); !bytes.Equal(body, payload) {
		t.Fatal("body differs")
	}
}

func TestWrongKeysFail(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t, 1, cid.Undef, []byte("secret"), 1024)
	other, _ := NewKey()
	if _, err := Open(ev.Block, other); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("open with a foreign follow key: %v", err)
	}
	got, err := Open(ev.Block, f.follow)
	if err != nil {
		t.Fatal(err)
	}
	// A follower holds the follow key only: it verifies but cannot read.
	if err := got.Verify(f.tid, f.log); err != nil {
		t.Fatal(err)
	}
	if _, err := got.OpenHeader(other); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("header with a foreign read key: %v", err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	f := newFixture(t)
	first := f.event(t, 1, cid.Undef, []byte("a"), 1024)
	ev := f.event(t, 2, first.Cid(), []byte("b"), 1024)

	// Flipped byte under the same CID: hash mismatch.
	data := append([]byte(nil), ev.Block.RawData()...)
	data[len(data)-3] ^= 1
	bad, _ := blocks.NewBlockWithCid(data, ev.Cid())
	if _, err := Open(bad, f.follow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("flipped byte: %v", err)
	}
	// Flipped ciphertext byte, rehashed: the AEAD rejects it.
	var flipped envelope
	if err := Unmarshal(ev.Block.RawData(), &flipped); err != nil {
		t.Fatal(err)
	}
	flipped.N[30] ^= 1
	fb, _ := Marshal(&flipped)
	rehashed, _ := newBlock(EventCodec, fb)
	if _, err := Open(rehashed, f.follow); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("rehashed flipped byte: %v", err)
	}
	// Added cleartext link: the AEAD binds the links.
	var env envelope
	if err := Unmarshal(ev.Block.RawData(), &env); err != nil {
		t.Fatal(err)
	}
	env.L = append(env.L, Link{ev.Cid()})
	swapped, _ := Marshal(&env)
	swappedBlk, _ := newBlock(EventCodec, swapped)
	if _, err := Open(swappedBlk, f.follow); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("swapped link: %v", err)
	}
	// Wrong codec.
	raw, _ := newBlock(cid.Raw, ev.Block.RawData())
	if _, err := Open(raw, f.follow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("raw codec: %v", err)
	}
	// Garbage.
	garbage, _ := newBlock(EventCodec, []byte("not cbor at all"))
	if _, err := Open(garbage, f.follow); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestSignatureCoversIdentity(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t, 1, cid.Undef, []byte("a"), 1024)
	got, _ := Open(ev.Block, f.follow)

	otherTid, _ := ipel.NewThreadID(ipel.VariantRaw)
	if err := got.Verify(otherTid, f.log); !errors.Is(err, ErrWrongLog) {
		t.Fatalf("other thread: %v", err)
	}
	_, otherLog, _ := ipel.NewLogIdentity()
	if err := got.Verify(f.tid, otherLog); !errors.Is(err, ErrWrongLog) {
		t.Fatalf("other log: %v", err)
	}

	// Every signed field: changing it breaks the signature.
	mutations := map[string]func(n *Node){
		"seq":    func(n *Node) { n.Seq = 7; n.Prev = Link{ev.Cid()} },
		"clock":  func(n *Node) { n.Clock.Counter++ },
		"header": func(n *Node) { n.Header[len(n.Header)-1] ^= 1 },
		"body":   func(n *Node) { n.Body[len(n.Body)-1] ^= 1 },
	}
	for name, mutate := range mutations {
		n := got.Node
		n.Header = append([]byte(nil), n.Header...)
		n.Body = append([]byte(nil), n.Body...)
		mutate(&n)
		forged := resealNode(t, f.follow, n)
		opened, err := Open(forged, f.follow)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := opened.Verify(f.tid, f.log); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// An impostor's key signing for our log ID.
	impostor, _, _ := ipel.NewLogIdentity()
	c, _ := SealContent(f.read, []byte("x"), time.Now(), 1024)
	forged, err := Seal(impostor, f.follow, Position{Thread: f.tid, Log: f.log, Seq: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.Verify(f.tid, f.log); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("impostor: %v", err)
	}
}

// resealNode encodes a (possibly forged) node into a block with the follow
// key, keeping its signature as it is.
func resealNode(t *testing.T, follow *Key, n Node) blocks.Block {
	t.Helper()
	nb, _ := Marshal(&n)
	eb, err := sealEnvelope(follow, nb, n.links(EnvelopeVersion))
	if err != nil {
		t.Fatal(err)
	}
	blk, err := newBlock(EventCodec, eb)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

func TestEnvelopeIsDAGCBOR(t *testing.T) {
	f := newFixture(t)
	first := f.event(t, 1, cid.Undef, []byte("a"), 1024)
	ev := f.event(t, 2, first.Cid(), []byte("b"), 1024)
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(ev.Block.RawData())); err != nil {
		t.Fatalf("dag-cbor decode: %v", err)
	}
	var out bytes.Buffer
	if err := dagjson.Encode(nb.Build(), &out); err != nil {
		t.Fatal(err)
	}
	js := out.String()
	// The previous event stays inside the sealed node: walking an event's
	// links never walks the log's chain (see retention.go in threads/).
	if strings.Contains(js, first.Cid().String()) {
		t.Fatalf("prev link visible in the envelope: %s", js)
	}
	if strings.Contains(js, f.log.String()) {
		t.Fatalf("log ID visible without keys: %s", js)
	}
}

func TestKeyParsing(t *testing.T) {
	k, _ := NewKey()
	back, err := ParseKey(k.String())
	if err != nil || !back.Equal(k) {
		t.Fatal(err)
	}
	if _, err := KeyFromBytes([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := k.Open([]byte("x"), nil); !errors.Is(err, ErrDecrypt) {
		t.Fatal(err)
	}
}

func BenchmarkSealEvent(b *testing.B) {
	f := newFixture(b)
	payload := bytes.Repeat([]byte("p"), 100)
	prev := cid.Undef
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := f.event(b, uint64(i+1), prev, payload, 1024)
		prev = ev.Cid()
	}
}

func BenchmarkOpenVerify(b *testing.B) {
	f := newFixture(b)
	ev := f.event(b, 1, cid.Undef, bytes.Repeat([]byte("p"), 100), 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		got, err := Open(ev.Block, f.follow)
		if err != nil {
			b.Fatal(err)
		}
		if err := got.Verify(f.tid, f.log); err != nil {
			b.Fatal(err)
		}
	}
}
