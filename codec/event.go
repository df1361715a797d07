package codec

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// EventCodec is the multicodec of event blocks, from the private-use range
// (0x300000-0x3FFFFF; 0x300078 is taken by Kubo's git plugin).
const EventCodec = 0x3001e0

// BodyCodec is the multicodec of separately stored (large) body blocks: raw
// bytes, which are the sealed body.
const BodyCodec = cid.Raw

// MaxBlockSize bounds every block this codec reads or writes.
const MaxBlockSize = 2 << 20

// envelopeVersion is the version of the block envelope and the node inside.
// Version 2 no longer lists the previous event among the envelope's links:
// the link stays inside the signed, sealed node, so that the pinner and the
// garbage collector never walk a log's chain (a compacted log has no blocks
// below its base). Logs are kept alive by their retention DAG instead (see
// retention.go). Version 1 blocks (prev listed) still open.
const envelopeVersion = 2

// signingDomain separates event signatures from any other use of a log key.
const signingDomain = "kubo-threads/event/v1\x00"

var (
	// ErrMalformed is wrapped by every error about bytes that are not an event.
	ErrMalformed = errors.New("malformed event")
	// ErrBadSignature is returned when an event's signature does not verify
	// against its log's public key.
	ErrBadSignature = errors.New("bad event signature")
	// ErrWrongLog is returned when an event claims another thread or log than
	// the one it was received for.
	ErrWrongLog = errors.New("event belongs to another thread or log")
)

// Clock is a hybrid logical clock reading: wall time in Unix nanoseconds and
// a counter that orders readings with the same wall time.
type Clock struct {
	_       struct{} `cbor:",toarray"`
	Wall    int64
	Counter uint32
}

// Compare orders two readings: -1, 0 or +1.
func (c Clock) Compare(o Clock) int {
	switch {
	case c.Wall < o.Wall:
		return -1
	case c.Wall > o.Wall:
		return 1
	case c.Counter < o.Counter:
		return -1
	case c.Counter > o.Counter:
		return 1
	}
	return 0
}

// Node is the signed record of an event. It is sealed with the thread's
// follow key, so a follower can verify and replicate it without reading it.
type Node struct {
	_        struct{} `cbor:",toarray"`
	Thread   []byte   // thread ID, binary form
	Log      []byte   // log ID, binary form
	Seq      uint64   // position in the log, from 1
	Clock    Clock    // hybrid logical clock at append
	Prev     Link     // previous event of the log; undefined for Seq 1
	Header   []byte   // header sealed with the read key
	Body     []byte   // body sealed with the content key, when stored inline
	BodyLink Link     // separately stored sealed body, when not inline
	Sig      []byte   // Ed25519 signature by the log key over all of the above
}

// links are the node's links in the order the envelope lists them: since
// version 2 only the separate body block.
func (n *Node) links(version int) []Link {
	ls := make([]Link, 0, 2)
	if version == 1 && n.Prev.Defined() {
		ls = append(ls, n.Prev)
	}
	if n.BodyLink.Defined() {
		ls = append(ls, n.BodyLink)
	}
	return ls
}

func (n *Node) signingBytes() ([]byte, error) {
	unsigned := *n
	unsigned.Sig = nil
	b, err := encMode.Marshal(&unsigned)
	if err != nil {
		return nil, fmt.Errorf("encode node: %w", err)
	}
	return append([]byte(signingDomain), b...), nil
}

// envelope is the block format: DAG-CBOR, readable by anyone, revealing
// only the links.
type envelope struct {
	V int    `cbor:"v"`
	L []Link `cbor:"l"`
	N []byte `cbor:"n"`
}

// Event is a decoded, opened event with its block.
type Event struct {
	Node
	Block blocks.Block
}

// Cid is the event's content identifier.
func (e *Event) Cid() cid.Cid { return e.Block.Cid() }

// LogID returns the log the event claims to belong to.
func (e *Event) LogID() (ipel.LogID, error) { return ipel.LogIDFromBytes(e.Log) }

// Content is an event's sealed header and body before it is placed in a log.
type Content struct {
	Header    []byte
	Body      []byte       // inline sealed body, or nil
	BodyBlock blocks.Block // separately stored sealed body, or nil
}

// Header is what the read key protects: when the event was written and the
// key of its body. An ordinary event carries the content key itself; a
// private event (paper §3.1.3, case 2) carries instead its recipient and the
// content key sealed to the recipient's peer key, so that every reader sees
// the event and whom it is for, and only the recipient reads its body. The
// private fields are optional: headers written before them still decode.
type Header struct {
	Time      int64  `cbor:"t"`           // Unix nanoseconds
	Key       []byte `cbor:"k,omitempty"` // content key; nil in a private event
	To        []byte `cbor:"o,omitempty"` // private event: the recipient's peer ID
	SealedKey []byte `cbor:"s,omitempty"` // private event: content key sealed to To
}

// ErrNotRecipient is returned when a private event's body is opened by
// anyone but the peer it is sealed to.
var ErrNotRecipient = errors.New("private event sealed to another peer")

// contentKeyPrefix marks the plaintext of a sealed content key, so that
// nothing else sealed to a peer (an invite) passes as one.
const contentKeyPrefix = "kubo-threads/content-key/v1\x00"

// Private reports whether the event is sealed to one recipient.
func (h Header) Private() bool { return len(h.To) > 0 }

// Recipient returns the peer a private event is sealed to; empty for an
// ordinary event.
func (h Header) Recipient() peer.ID { return peer.ID(h.To) }

// SealContent seals a payload under a fresh content key and the header under
// the read key. Bodies whose sealed form is larger than inlineMax bytes go in
// a block of their own.
func SealContent(read *Key, payload []byte, at time.Time, inlineMax int) (Content, error) {
	return SealContentTo(read, payload, at, inlineMax, nil)
}

// SealContentTo is SealContent for a private event when to is not nil: the
// content key is sealed to that Ed25519 peer key (see sealToPeer) instead of
// being stored in the header, so only the peer's private key opens the body.
func SealContentTo(read *Key, payload []byte, at time.Time, inlineMax int, to crypto.PubKey) (Content, error) {
	ck, err := NewKey()
	if err != nil {
		return Content{}, err
	}
	body, err := ck.Seal(payload, nil)
	if err != nil {
		return Content{}, fmt.Errorf("seal body: %w", err)
	}
	h := Header{Time: at.UnixNano(), Key: ck.raw[:]}
	if to != nil {
		id, err := peer.IDFromPublicKey(to)
		if err != nil {
			return Content{}, fmt.Errorf("recipient: %w", err)
		}
		sk, err := sealToPeer(append([]byte(contentKeyPrefix), ck.raw[:]...), to)
		if err != nil {
			return Content{}, fmt.Errorf("seal content key to %s: %w", id, err)
		}
		h = Header{Time: h.Time, To: []byte(id), SealedKey: sk}
	}
	hb, err := encMode.Marshal(h)
	if err != nil {
		return Content{}, fmt.Errorf("encode header: %w", err)
	}
	header, err := read.Seal(hb, nil)
	if err != nil {
		return Content{}, fmt.Errorf("seal header: %w", err)
	}
	c := Content{Header: header}
	if len(body) > inlineMax {
		if len(body) > MaxBlockSize {
			return Content{}, fmt.Errorf("sealed body of %d bytes exceeds the block limit of %d", len(body), MaxBlockSize)
		}
		blk, err := newBlock(BodyCodec, body)
		if err != nil {
			return Content{}, err
		}
		c.BodyBlock = blk
	} else {
		c.Body = body
	}
	return c, nil
}

// Position says where an event goes: thread, log, sequence number, clock and
// the previous event.
type Position struct {
	Thread ipel.ThreadID
	Log    ipel.LogID
	Seq    uint64
	Clock  Clock
	Prev   cid.Cid
}

// Seal signs the content at a position with the log key and seals the node
// with the follow key, producing the event block.
func Seal(sk crypto.PrivKey, follow *Key, pos Position, c Content) (*Event, error) {
	n := Node{
		Thread: pos.Thread.Bytes(),
		Log:    []byte(pos.Log),
		Seq:    pos.Seq,
		Clock:  pos.Clock,
		Prev:   Link{pos.Prev},
		Header: c.Header,
		Body:   c.Body,
	}
	if c.BodyBlock != nil {
		n.BodyLink = Link{c.BodyBlock.Cid()}
	}
	msg, err := n.signingBytes()
	if err != nil {
		return nil, err
	}
	if n.Sig, err = sk.Sign(msg); err != nil {
		return nil, fmt.Errorf("sign event %d: %w", pos.Seq, err)
	}
	nb, err := encMode.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("encode node: %w", err)
	}
	env := envelope{V: envelopeVersion, L: n.links(envelopeVersion)}
	ad, err := encMode.Marshal(env.L)
	if err != nil {
		return nil, fmt.Errorf("encode links: %w", err)
	}
	if env.N, err = follow.Seal(nb, ad); err != nil {
		return nil, fmt.Errorf("seal node: %w", err)
	}
	eb, err := encMode.Marshal(&env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	blk, err := newBlock(EventCodec, eb)
	if err != nil {
		return nil, err
	}
	return &Event{Node: n, Block: blk}, nil
}

func newBlock(codec uint64, data []byte) (blocks.Block, error) {
	c, err := cid.Prefix{Version: 1, Codec: codec, MhType: mh.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		return nil, fmt.Errorf("hash block: %w", err)
	}
	return blocks.NewBlockWithCid(data, c)
}

// EnvelopeLinks returns the links an event block exposes without any key.
func EnvelopeLinks(data []byte) ([]cid.Cid, error) {
	var env envelope
	if err := decMode.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	out := make([]cid.Cid, len(env.L))
	for i, l := range env.L {
		out[i] = l.Cid
	}
	return out, nil
}

// Open decodes an event block and opens its node with the follow key. It
// checks the block's hash and the envelope's consistency, not the signature:
// call Verify for that.
func Open(blk blocks.Block, follow *Key) (*Event, error) {
	if blk.Cid().Prefix().Codec != EventCodec {
		return nil, fmt.Errorf("%w: block %s has codec 0x%x, want 0x%x", ErrMalformed, blk.Cid(), blk.Cid().Prefix().Codec, EventCodec)
	}
	data := blk.RawData()
	if len(data) > MaxBlockSize {
		return nil, fmt.Errorf("%w: block of %d bytes exceeds %d", ErrMalformed, len(data), MaxBlockSize)
	}
	if sum, err := blk.Cid().Prefix().Sum(data); err != nil || !sum.Equals(blk.Cid()) {
		return nil, fmt.Errorf("%w: block data does not match %s", ErrMalformed, blk.Cid())
	}
	var env envelope
	if err := decMode.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.V != envelopeVersion && env.V != 1 {
		return nil, fmt.Errorf("%w: envelope version %d", ErrMalformed, env.V)
	}
	ad, err := encMode.Marshal(env.L)
	if err != nil {
		return nil, fmt.Errorf("%w: links: %v", ErrMalformed, err)
	}
	nb, err := follow.Open(env.N, ad)
	if err != nil {
		return nil, fmt.Errorf("open event %s: %w", blk.Cid(), err)
	}
	var n Node
	if err := decMode.Unmarshal(nb, &n); err != nil {
		return nil, fmt.Errorf("%w: node: %v", ErrMalformed, err)
	}
	want := n.links(env.V)
	if len(want) != len(env.L) {
		return nil, fmt.Errorf("%w: envelope lists %d links, node has %d", ErrMalformed, len(env.L), len(want))
	}
	for i := range want {
		if !want[i].Equals(env.L[i].Cid) {
			return nil, fmt.Errorf("%w: envelope link %d differs from the node", ErrMalformed, i)
		}
	}
	if n.Seq == 0 {
		return nil, fmt.Errorf("%w: sequence number 0", ErrMalformed)
	}
	if (n.Seq == 1) == n.Prev.Defined() {
		return nil, fmt.Errorf("%w: event %d and previous link disagree", ErrMalformed, n.Seq)
	}
	if (n.Body != nil) == n.BodyLink.Defined() {
		return nil, fmt.Errorf("%w: event must carry exactly one of an inline body or a body link", ErrMalformed)
	}
	return &Event{Node: n, Block: blk}, nil
}

// Verify checks that the event belongs to the given thread and log and that
// the log's key signed it.
func (e *Event) Verify(thread ipel.ThreadID, log ipel.LogID) error {
	if !bytes.Equal(e.Thread, thread.Bytes()) || !bytes.Equal(e.Log, []byte(log)) {
		return fmt.Errorf("event %s: %w", e.Cid(), ErrWrongLog)
	}
	pk, err := ipel.LogPublicKey(log)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.Cid(), err)
	}
	msg, err := e.signingBytes()
	if err != nil {
		return err
	}
	ok, err := pk.Verify(msg, e.Sig)
	if err != nil || !ok {
		return fmt.Errorf("event %s: %w", e.Cid(), ErrBadSignature)
	}
	return nil
}

// OpenHeader opens the event's header with the read key.
func (e *Event) OpenHeader(read *Key) (Header, error) {
	hb, err := read.Open(e.Header, nil)
	if err != nil {
		return Header{}, fmt.Errorf("open header of %s: %w", e.Cid(), err)
	}
	var h Header
	if err := decMode.Unmarshal(hb, &h); err != nil {
		return Header{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Private() {
		if _, err := peer.IDFromBytes(h.To); err != nil {
			return Header{}, fmt.Errorf("%w: recipient: %v", ErrMalformed, err)
		}
		if h.Key != nil || len(h.SealedKey) == 0 {
			return Header{}, fmt.Errorf("%w: private event needs a sealed content key and no plain one", ErrMalformed)
		}
		return h, nil
	}
	if h.SealedKey != nil {
		return Header{}, fmt.Errorf("%w: sealed content key without a recipient", ErrMalformed)
	}
	if len(h.Key) != KeySize {
		return Header{}, fmt.Errorf("%w: content key of %d bytes", ErrMalformed, len(h.Key))
	}
	return h, nil
}

// OpenBody opens a sealed body (inline, or the data of the body block) with
// the content key from the header. A private event's body does not open
// here (ErrNotRecipient): see OpenBodyAs.
func OpenBody(h Header, sealed []byte) ([]byte, error) {
	return OpenBodyAs(h, sealed, nil)
}

// OpenBodyAs is OpenBody for a node whose identity (libp2p private key) is
// identity, which may be nil: a private event's body opens only when
// identity is its recipient's key.
func OpenBodyAs(h Header, sealed []byte, identity crypto.PrivKey) ([]byte, error) {
	raw := h.Key
	if h.Private() {
		if identity == nil {
			return nil, fmt.Errorf("%w %s", ErrNotRecipient, h.Recipient())
		}
		self, err := peer.IDFromPrivateKey(identity)
		if err != nil {
			return nil, fmt.Errorf("node identity: %w", err)
		}
		if self != h.Recipient() {
			return nil, fmt.Errorf("%w %s", ErrNotRecipient, h.Recipient())
		}
		pt, ok, err := openFromPeer(h.SealedKey, identity)
		if err != nil {
			return nil, fmt.Errorf("open content key: %w", err)
		}
		if !ok || len(pt) != len(contentKeyPrefix)+KeySize || string(pt[:len(contentKeyPrefix)]) != contentKeyPrefix {
			return nil, fmt.Errorf("open content key: %w", ErrDecrypt)
		}
		raw = pt[len(contentKeyPrefix):]
	}
	ck, err := KeyFromBytes(raw)
	if err != nil {
		return nil, err
	}
	return ck.Open(sealed, nil)
}

// Time returns the header's wall-clock time.
func (h Header) WallTime() time.Time { return time.Unix(0, h.Time) }
