package codec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// The fuzz targets take fixed keys, so that a corpus entry found once opens
// the same way on every run. Seeds live in testdata/fuzz.

var (
	fuzzFollow, _  = KeyFromBytes(bytes.Repeat([]byte{1}, KeySize))
	fuzzRead, _    = KeyFromBytes(bytes.Repeat([]byte{2}, KeySize))
	fuzzPeer, _, _ = crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
)

// FuzzOpenEvent feeds arbitrary bytes as an event block: decoding must fail
// cleanly or yield an event that can be verified and read without panics,
// and a version 3 block that opens must be the one its node determines.
// The committed corpus has blocks of every envelope version, version 3
// ones sealed under another nonce or encoded otherwise, and private events.
func FuzzOpenEvent(f *testing.F) {
	tid, _ := ipel.NewThreadIDSize(ipel.VariantRaw, 16)
	sk, log, _ := ipel.NewLogIdentity()
	c, _ := SealContent(fuzzRead, []byte("seed"), time.Unix(1, 0), 1024)
	ev, _ := Seal(sk, fuzzFollow, Position{Thread: tid, Log: log, Seq: 1}, c)
	f.Add(ev.Block.RawData())
	ev2, _ := Seal(sk, fuzzFollow, Position{Thread: tid, Log: log, Seq: 2, Prev: ev.Cid()}, c)
	f.Add(ev2.Block.RawData())
	pc, _ := SealContentTo(fuzzRead, []byte("seed"), time.Unix(1, 0), 1024, fuzzPeer.GetPublic())
	ev3, _ := Seal(sk, fuzzFollow, Position{Thread: tid, Log: log, Seq: 3, Prev: ev2.Cid()}, pc)
	f.Add(ev3.Block.RawData())
	f.Add([]byte{0xa3, 0x61, 0x6c, 0x80, 0x61, 0x6e, 0x40, 0x61, 0x76, 0x01})
	f.Add([]byte{0xa3, 0x61, 0x6c, 0x80, 0x61, 0x6e, 0x40, 0x61, 0x76, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		blk, err := newBlock(EventCodec, data)
		if err != nil {
			return
		}
		ev, err := Open(blk, fuzzFollow)
		if err != nil {
			return
		}
		if ev.Version == EnvelopeVersion {
			nb, _ := Marshal(&ev.Node)
			again, err := sealEnvelope(fuzzFollow, nb, ev.links(EnvelopeVersion))
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("a version 3 block opened that its node does not determine: %v", err)
			}
		}
		_ = ev.Receivable()
		if _, err := ev.Signed(); err != nil {
			t.Fatalf("opened event does not encode: %v", err)
		}
		if id, err := ev.LogID(); err == nil {
			_ = ev.Verify(tid, id)
		}
		if h, err := ev.OpenHeader(fuzzRead); err == nil && ev.Body != nil {
			_, _ = OpenBody(h, ev.Body)
			_, _ = ev.OpenBodyAs(h, ev.Body, fuzzPeer)
		}
		_, _ = EnvelopeLinks(data)
	})
}

// FuzzDecodeMessage feeds arbitrary bytes to the sync protocol decoder, raw
// and length-prefixed; what decodes must encode back to an equal message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		b, _ := EncodeMessage(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err == nil {
			again, err := EncodeMessage(m)
			if err != nil {
				t.Fatalf("decoded message does not encode: %v", err)
			}
			back, err := DecodeMessage(again)
			if err != nil || !reflect.DeepEqual(m, back) {
				t.Fatalf("round trip: %v\n%+v\n%+v", err, m, back)
			}
			// The validator's partial decoding agrees with the whole.
			h, err := DecodeMessageHeader(data)
			if err != nil || h.Type != m.Type || !bytes.Equal(h.Thread, m.Thread) || !bytes.Equal(h.Auth, m.Auth) {
				t.Fatalf("header: %v %+v of %+v", err, h, m)
			}
		}
		_, _ = DecodeMessageHeader(data)
		_, _ = ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	})
}

// seedMessages are messages of every type, as the sync protocol sends them.
func seedMessages() []*Message {
	return []*Message{
		{Type: MsgHeads, Thread: []byte("t"), Auth: []byte("a"), Heads: []Head{{Log: []byte("l"), Seq: 3}}},
		{Type: MsgPull, Thread: []byte("t"), Log: []byte("l"), From: 1, Max: 1024},
		{Type: MsgPush, Thread: []byte("t"), Events: [][]byte{[]byte("e")}, Bodies: [][]byte{[]byte("b")}},
		{Type: MsgAnnounce, Addrs: []LogAddrs{{Log: []byte("l"), Addrs: [][]byte{{4, 127, 0, 0, 1}}, TTL: 60}}},
		{Type: MsgInvite, Invite: "binvite"},
		{Type: MsgError, Error: "no"},
		{Type: MsgOK},
		{Type: MsgSnapshot, Thread: []byte("t"), Auth: []byte("a")},
		{Type: MsgSnapshot, Root: []byte("r"), Blocks: [][]byte{[]byte("root")}},
		{Type: MsgBlocks, Thread: []byte("t"), Cids: [][]byte{[]byte("c")}},
		{Type: MsgBlocks, Blocks: [][]byte{[]byte("k")}},
		{Type: MsgCompacted, Log: []byte("l"), From: 1001},
	}
}

// FuzzReadFrame feeds arbitrary bytes to the sync protocol's frame reader,
// as a stream delivers them: a header first, then a body within a limit. A
// body must fail cleanly when it is larger than the limit or shorter than
// its header says; a frame read must write back as a frame that reads the
// same.
func FuzzReadFrame(f *testing.F) {
	for _, raw := range frameSeeds() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 64 << 10
		r := bufio.NewReader(bytes.NewReader(data))
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		m, err := ReadBody(r, h, limit)
		if h.Size > limit {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("a body of %d bytes over a limit of %d: %v", h.Size, limit, err)
			}
			return
		}
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatalf("a frame read does not write: %v", err)
		}
		back, err := ReadMessage(bufio.NewReader(&buf))
		if err != nil || !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, back)
		}
	})
}

// frameSeeds are frames of every message type, and the attacks on the
// framing: a header claiming the largest body with none sent, a body
// longer and shorter than announced, a header over its limit.
func frameSeeds() [][]byte {
	var out [][]byte
	large := &Message{Type: MsgEvents, Auth: []byte("a"), Events: [][]byte{bytes.Repeat([]byte("e"), inlineBody+1)}}
	for _, m := range append(seedMessages(), large) {
		var buf bytes.Buffer
		_ = WriteMessage(&buf, m)
		out = append(out, buf.Bytes())
	}
	frame := func(h FrameHeader, body []byte) []byte {
		hdr, _ := Marshal(&h)
		return append(append(binary.AppendUvarint(nil, uint64(len(hdr))), hdr...), body...)
	}
	out = append(out,
		frame(FrameHeader{Type: MsgPush, Thread: []byte("t"), Auth: []byte("a"), Size: MaxMessageSize}, nil),
		frame(FrameHeader{Type: MsgPush, Size: 1 << 62}, []byte{0xa0}),
		frame(FrameHeader{Type: MsgOK, Size: 1}, []byte{0xa0, 0xa0, 0xa0}),
		frame(FrameHeader{Type: MsgHeads, Size: 100}, []byte{0xa1}),
		append(binary.AppendUvarint(nil, MaxHeaderSize+1), make([]byte, MaxHeaderSize+1)...),
	)
	return out
}

// FuzzOpenInvite feeds arbitrary text as an invite.
func FuzzOpenInvite(f *testing.F) {
	inv, _ := SealInvite(&Invite{Thread: []byte("t"), Role: RoleRead, Follow: fuzzFollow.Bytes(), Read: fuzzRead.Bytes()}, fuzzPeer.GetPublic())
	f.Add(inv)
	f.Add("bafkqaaa")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if inv, err := OpenInvite(s, fuzzPeer); err == nil {
			if _, err := ParseRole(string(inv.Role)); err != nil {
				t.Fatalf("opened an invite with role %q", inv.Role)
			}
		}
	})
}

// FuzzOpenSnapshot feeds arbitrary bytes as a snapshot root and page, as a
// joiner receives them: they must fail cleanly.
func FuzzOpenSnapshot(f *testing.F) {
	ec, _ := newBlock(EventCodec, []byte("event"))
	meta := SnapshotMeta{Thread: []byte("t"), Cursor: []SnapshotCursor{{Log: []byte("l"), Seq: 3, Cid: ec.Cid().Bytes()}}}
	for _, maker := range []crypto.PrivKey{fuzzPeer, nil} {
		root, pages, _ := SealSnapshot(fuzzRead, meta, []SnapshotEntry{{Key: "/kv/a", Value: []byte("1")}}, maker)
		f.Add(root.RawData(), pages[0].RawData())
		// A root that lists its page twice (refused before any fetch).
		twice, _ := SealSnapshotRoot(fuzzRead, meta, []cid.Cid{pages[0].Cid(), pages[0].Cid()}, maker)
		f.Add(twice.RawData(), pages[0].RawData())
	}
	f.Fuzz(func(t *testing.T, rootData, pageData []byte) {
		if blk, err := NewSnapshotBlock(SnapshotCodec, rootData); err == nil {
			_, _, _ = OpenSnapshotRoot(fuzzRead, []byte("t"), blk)
		}
		_, _ = SnapshotLinks(rootData)
		if blk, err := NewSnapshotBlock(0x55, pageData); err == nil {
			_, _ = OpenSnapshotPage(fuzzRead, []byte("t"), 0, blk)
		}
		_, _ = DecodeRetentionRoot(rootData)
		_, _ = DecodeRetentionPage(pageData)
	})
}
