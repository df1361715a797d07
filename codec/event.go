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

// Envelope versions. The version says how the node is sealed in its block
// and which signing domain its signature is under; every signed node has
// exactly one version whose envelope it verifies in (versions 1 and 2
// share the domain, and version 1 is refused from the network).
//
//   - Version 1 listed the previous event among the envelope's links; it
//     is only read from local storage (see MinReceivedVersion).
//   - Version 2 no longer lists it: the link stays inside the signed, sealed
//     node, so that the pinner and the garbage collector never walk a log's
//     chain (a compacted log has no blocks below its base; logs are kept
//     alive by their retention DAG, see retention.go). Its node is sealed
//     with the follow key itself under a random nonce, so anyone holding
//     the follow key can seal the same signed node again into another
//     block: version 2 events are identified by their signed node.
//   - Version 3 seals the node deterministically, with subkeys of the
//     follow key (see subkeys): the nonce is a keyed hash of the node, and
//     Open refuses any other nonce and any encoding but the canonical one,
//     so the block is a function of what the writer signed. Sealing a
//     version 3 node again gives the same block, or one that does not open.
const (
	envelopeV1 = 1
	envelopeV2 = 2
	envelopeV3 = 3
)

// EnvelopeVersion is the version Seal writes.
const EnvelopeVersion = envelopeV3

// MinReceivedVersion is the oldest envelope version accepted from other
// nodes (Event.Receivable). Version 1 blocks expose the previous event as
// a link, which makes a garbage collection walk into blocks a compacted or
// snapshot-started replica does not have; those already stored stay
// readable.
const MinReceivedVersion = envelopeV2

// Signing domains separate event signatures from any other use of a log
// key, and version 3 signatures from the earlier ones, so that a node
// signed for one envelope version does not verify in another.
const (
	signingDomainV1 = "kubo-threads/event/v1\x00" // envelope versions 1 and 2
	signingDomainV3 = "kubo-threads/event/v3\x00"
)

// nodeADV3 starts the associated data of a version 3 node.
const nodeADV3 = "kubo-threads/event-node/v3\x00"

var (
	// ErrMalformed is wrapped by every error about bytes that are not an event.
	ErrMalformed = errors.New("malformed event")
	// ErrBadSignature is returned when an event's signature does not verify
	// against its log's public key.
	ErrBadSignature = errors.New("bad event signature")
	// ErrWrongLog is returned when an event claims another thread or log than
	// the one it was received for.
	ErrWrongLog = errors.New("event belongs to another thread or log")
	// ErrObsoleteFormat is returned for an event whose envelope version is
	// no longer accepted from the network (see MinReceivedVersion).
	ErrObsoleteFormat = errors.New("obsolete event format")
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
// version 2 only the separate body block. Never nil.
func (n *Node) links(version int) []Link {
	ls := make([]Link, 0, 2)
	if version == envelopeV1 && n.Prev.Defined() {
		ls = append(ls, n.Prev)
	}
	if n.BodyLink.Defined() {
		ls = append(ls, n.BodyLink)
	}
	return ls
}

// signingDomain is the domain of the signatures of an envelope version.
func signingDomain(version int) string {
	if version >= envelopeV3 {
		return signingDomainV3
	}
	return signingDomainV1
}

func (n *Node) signingBytes(version int) ([]byte, error) {
	unsigned := *n
	unsigned.Sig = nil
	b, err := encMode.Marshal(&unsigned)
	if err != nil {
		return nil, fmt.Errorf("encode node: %w", err)
	}
	return append([]byte(signingDomain(version)), b...), nil
}

// envelope is the block format: DAG-CBOR, readable by anyone, revealing
// only the links.
type envelope struct {
	V int    `cbor:"v"`
	L []Link `cbor:"l"`
	N []byte `cbor:"n"`
}

// nodeAD is the associated data the node is sealed under: the envelope's
// links (and, since version 3, a label).
func nodeAD(version int, links []Link) ([]byte, error) {
	b, err := encMode.Marshal(links)
	if err != nil {
		return nil, err
	}
	if version >= envelopeV3 {
		return append([]byte(nodeADV3), b...), nil
	}
	return b, nil
}

// Event is a decoded, opened event with its block.
type Event struct {
	Node
	Block blocks.Block
	// Version is the block's envelope version.
	Version int
}

// Receivable reports, as an error wrapping ErrObsoleteFormat, an event
// whose envelope version is only read from local storage, never accepted
// from another node.
func (e *Event) Receivable() error {
	if e.Version < MinReceivedVersion {
		return fmt.Errorf("event %s: %w: envelope version %d (at least %d accepted from the network)", e.Cid(), ErrObsoleteFormat, e.Version, MinReceivedVersion)
	}
	return nil
}

// Signed is what the writer signed, with the signature: the signing domain
// of the event's envelope version and the canonical encoding of its node.
// Two blocks hold the same event when their Signed bytes are equal, whatever
// their CIDs (a version 2 node sealed again by a holder of the follow key
// has another CID); two different Signed at one (log, seq), both verified,
// are an equivocation by the log's writer.
func (e *Event) Signed() ([]byte, error) {
	b, err := encMode.Marshal(&e.Node)
	if err != nil {
		return nil, fmt.Errorf("encode node: %w", err)
	}
	return append([]byte(signingDomain(e.Version)), b...), nil
}

// SameSigned reports whether two events are the same signed node (see
// Signed).
func (e *Event) SameSigned(o *Event) bool {
	a, err1 := e.Signed()
	b, err2 := o.Signed()
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
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

	// private, for a private event, is what its header is made of: the
	// header binds the event's position, so Seal makes it once that is
	// known (Header is nil until then).
	private *privateContent
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

var (
	// ErrNotRecipient is returned when a private event's body is opened by
	// anyone but the peer it is sealed to.
	ErrNotRecipient = errors.New("private event sealed to another peer")
	// ErrNotAuthentic is returned to a private event's recipient when the
	// content key sealed to it was made for another event (another thread,
	// log or seq): a member posted, as its own, a sealed key it copied from
	// someone else's event.
	ErrNotAuthentic = errors.New("private event not authentic: its content key was sealed for another event")
)

// Sealed content keys. The plaintext sealed to a private event's recipient
// starts with a prefix, so that nothing else sealed to a peer (an invite)
// passes as a content key. Version 1 held the key alone; version 2 (written
// since envelope version 3) binds it to the event's thread, log and seq,
// which the recipient compares with the signed node. Version 1 keys are
// accepted only in events of envelope versions 1 and 2 (written before).
const (
	contentKeyPrefixV1 = "kubo-threads/content-key/v1\x00"
	contentKeyPrefixV2 = "kubo-threads/content-key/v2\x00"
)

// boundKey is a version 2 sealed content key's plaintext after its prefix.
type boundKey struct {
	_      struct{} `cbor:",toarray"`
	Thread []byte
	Log    []byte
	Seq    uint64
	Key    []byte
}

// privateContent is a private event's header before its position is known.
type privateContent struct {
	read *Key
	time int64
	to   crypto.PubKey
	toID peer.ID
	key  []byte // the content key
}

// header seals the content key to the recipient, bound to the position,
// and the header with the read key.
func (p *privateContent) header(pos Position) ([]byte, error) {
	bk, err := encMode.Marshal(&boundKey{Thread: pos.Thread.Bytes(), Log: []byte(pos.Log), Seq: pos.Seq, Key: p.key})
	if err != nil {
		return nil, fmt.Errorf("encode content key: %w", err)
	}
	sk, err := sealToPeer(append([]byte(contentKeyPrefixV2), bk...), p.to)
	if err != nil {
		return nil, fmt.Errorf("seal content key to %s: %w", p.toID, err)
	}
	return sealHeader(p.read, Header{Time: p.time, To: []byte(p.toID), SealedKey: sk})
}

func sealHeader(read *Key, h Header) ([]byte, error) {
	hb, err := encMode.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	header, err := read.Seal(hb, nil)
	if err != nil {
		return nil, fmt.Errorf("seal header: %w", err)
	}
	return header, nil
}

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
// The sealed key binds the event's thread, log and seq, so its header is
// made by Seal.
func SealContentTo(read *Key, payload []byte, at time.Time, inlineMax int, to crypto.PubKey) (Content, error) {
	ck, err := NewKey()
	if err != nil {
		return Content{}, err
	}
	body, err := ck.Seal(payload, nil)
	if err != nil {
		return Content{}, fmt.Errorf("seal body: %w", err)
	}
	var c Content
	if to != nil {
		id, err := peer.IDFromPublicKey(to)
		if err != nil {
			return Content{}, fmt.Errorf("recipient: %w", err)
		}
		if _, err := x25519Public(to); err != nil {
			return Content{}, fmt.Errorf("recipient %s: %w", id, err)
		}
		c.private = &privateContent{read: read, time: at.UnixNano(), to: to, toID: id, key: ck.Bytes()}
	} else if c.Header, err = sealHeader(read, Header{Time: at.UnixNano(), Key: ck.raw[:]}); err != nil {
		return Content{}, err
	}
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
// with subkeys of the follow key, deterministically (envelope version 3):
// the block is a function of the signed node.
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
	if c.private != nil {
		h, err := c.private.header(pos)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", pos.Seq, err)
		}
		n.Header = h
	}
	if c.BodyBlock != nil {
		n.BodyLink = Link{c.BodyBlock.Cid()}
	}
	msg, err := n.signingBytes(EnvelopeVersion)
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
	eb, err := sealEnvelope(follow, nb, n.links(EnvelopeVersion))
	if err != nil {
		return nil, err
	}
	blk, err := newBlock(EventCodec, eb)
	if err != nil {
		return nil, err
	}
	return &Event{Node: n, Block: blk, Version: EnvelopeVersion}, nil
}

// sealEnvelope makes the bytes of a version 3 block from an encoded node.
func sealEnvelope(follow *Key, nb []byte, links []Link) ([]byte, error) {
	ad, err := nodeAD(envelopeV3, links)
	if err != nil {
		return nil, fmt.Errorf("encode links: %w", err)
	}
	k := follow.subkeys()
	env := envelope{V: envelopeV3, L: links, N: sealDeterministic(k.node, &k.nonce, nb, ad)}
	eb, err := encMode.Marshal(&env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return eb, nil
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

// Open decodes an event block of any version and opens its node with the
// follow key. It checks the block's hash and the envelope's consistency
// and, for version 3, that the block is the one its node determines (the
// derived nonce, canonical encodings); not the signature: call Verify for
// that, and Receivable for blocks from the network.
func Open(blk blocks.Block, follow *Key) (*Event, error) { return open(blk, follow, true) }

// OpenStored is Open for a block that this node accepted before (through
// Open, or sealed it): it skips the checks that make a version 3 block the
// only one of its node, which held when the block was accepted and cannot
// change under its CID. Reads of the local store use it.
func OpenStored(blk blocks.Block, follow *Key) (*Event, error) { return open(blk, follow, false) }

func open(blk blocks.Block, follow *Key, unique bool) (*Event, error) {
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
	if env.V < envelopeV1 || env.V > envelopeV3 {
		return nil, fmt.Errorf("%w: envelope version %d", ErrMalformed, env.V)
	}
	ad, err := nodeAD(env.V, env.L)
	if err != nil {
		return nil, fmt.Errorf("%w: links: %v", ErrMalformed, err)
	}
	var nb []byte
	switch {
	case env.V == envelopeV3 && unique:
		k := follow.subkeys()
		nb, err = openDeterministic(k.node, &k.nonce, env.N, ad)
		if errors.Is(err, ErrNonDeterministic) {
			return nil, fmt.Errorf("%w: event %s: node %w", ErrMalformed, blk.Cid(), err)
		}
	case env.V == envelopeV3:
		nb, err = openWith(follow.subkeys().node, env.N, ad)
	default:
		nb, err = follow.Open(env.N, ad)
	}
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
	if env.V == envelopeV3 && unique {
		if err := checkCanonical(&n, nb, env.N, data); err != nil {
			return nil, fmt.Errorf("%w: event %s: %v", ErrMalformed, blk.Cid(), err)
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
	return &Event{Node: n, Block: blk, Version: env.V}, nil
}

// checkCanonical checks that a version 3 block is the encoding Seal makes of
// its node: the node's bytes re-encode to themselves, and the envelope is
// the one computed from the node. Together with the derived nonce this makes
// the block a function of the decoded node.
func checkCanonical(n *Node, nb, sealed, data []byte) error {
	again, err := encMode.Marshal(n)
	if err != nil || !bytes.Equal(again, nb) {
		return errors.New("node is not canonically encoded")
	}
	env, err := encMode.Marshal(&envelope{V: envelopeV3, L: n.links(envelopeV3), N: sealed})
	if err != nil || !bytes.Equal(env, data) {
		return errors.New("envelope is not canonically encoded")
	}
	return nil
}

// Verify checks that the event belongs to the given thread and log and that
// the log's key signed it, under the signing domain of its envelope version.
func (e *Event) Verify(thread ipel.ThreadID, log ipel.LogID) error {
	if !bytes.Equal(e.Thread, thread.Bytes()) || !bytes.Equal(e.Log, []byte(log)) {
		return fmt.Errorf("event %s: %w", e.Cid(), ErrWrongLog)
	}
	pk, err := ipel.LogPublicKey(log)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.Cid(), err)
	}
	msg, err := e.signingBytes(e.Version)
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
// here (ErrNotRecipient): see Event.OpenBodyAs.
func OpenBody(h Header, sealed []byte) ([]byte, error) {
	if h.Private() {
		return nil, fmt.Errorf("%w %s", ErrNotRecipient, h.Recipient())
	}
	return openWithContentKey(h.Key, sealed)
}

// OpenBodyAs opens the event's body (h is its header, sealed the inline
// body or the body block's data) on a node whose identity (libp2p private
// key) is identity, which may be nil: a private event's body opens only
// when identity is its recipient's key, and only when the content key
// sealed to the recipient was made for this event (ErrNotAuthentic
// otherwise).
func (e *Event) OpenBodyAs(h Header, sealed []byte, identity crypto.PrivKey) ([]byte, error) {
	if !h.Private() {
		return OpenBody(h, sealed)
	}
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
	if !ok {
		return nil, fmt.Errorf("open content key: %w", ErrDecrypt)
	}
	key, err := e.contentKey(pt)
	if err != nil {
		return nil, err
	}
	return openWithContentKey(key, sealed)
}

// contentKey reads a sealed content key's plaintext and checks that it was
// made for this event.
func (e *Event) contentKey(pt []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(pt, []byte(contentKeyPrefixV2)):
		var bk boundKey
		if err := decMode.Unmarshal(pt[len(contentKeyPrefixV2):], &bk); err != nil {
			return nil, fmt.Errorf("open content key: %w", ErrDecrypt)
		}
		if !bytes.Equal(bk.Thread, e.Thread) || !bytes.Equal(bk.Log, e.Log) || bk.Seq != e.Seq {
			return nil, fmt.Errorf("event %s: %w", e.Cid(), ErrNotAuthentic)
		}
		return bk.Key, nil
	case bytes.HasPrefix(pt, []byte(contentKeyPrefixV1)) && len(pt) == len(contentKeyPrefixV1)+KeySize:
		if e.Version >= envelopeV3 {
			// Written before positions were bound: only events of that
			// time may carry it.
			return nil, fmt.Errorf("event %s: %w", e.Cid(), ErrNotAuthentic)
		}
		return pt[len(contentKeyPrefixV1):], nil
	}
	return nil, fmt.Errorf("open content key: %w", ErrDecrypt)
}

func openWithContentKey(raw, sealed []byte) ([]byte, error) {
	ck, err := KeyFromBytes(raw)
	if err != nil {
		return nil, err
	}
	return ck.Open(sealed, nil)
}

// WallTime returns the header's wall-clock time.
func (h Header) WallTime() time.Time { return time.Unix(0, h.Time) }
