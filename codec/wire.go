package codec

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxMessageSize bounds one sync protocol message.
const MaxMessageSize = 8 << 20

// ErrBadMessage is wrapped by every error about a sync message that cannot
// be decoded.
var ErrBadMessage = errors.New("malformed sync message")

// MsgType is the kind of a sync message.
type MsgType uint8

const (
	// MsgPush carries new events of one log.
	MsgPush MsgType = iota + 1
	// MsgHeads asks for (request) or carries (response) a thread's heads.
	MsgHeads
	// MsgPull asks for a range of a log's events.
	MsgPull
	// MsgEvents answers a pull with events.
	MsgEvents
	// MsgAnnounce tells members of a log and where it is (paper: Join).
	MsgAnnounce
	// MsgInvite delivers a sealed invite.
	MsgInvite
	// MsgOK acknowledges.
	MsgOK
	// MsgError refuses, with a reason.
	MsgError
	// MsgSnapshot asks for (request) or carries (response: Root, and the
	// root block in Blocks) the sender's latest snapshot of a thread.
	MsgSnapshot
	// MsgBlocks asks for (request: Cids) or carries (response: Blocks, in
	// the order asked) blocks of the latest snapshot.
	MsgBlocks
	// MsgCompacted answers a pull below the log's base: the events up to
	// From-1 were compacted (ask another peer for them; never a reason to
	// take the answering peer's snapshot), later ones are served from From.
	MsgCompacted

	msgLast = MsgCompacted
)

// Head is a log's head as one replica holds it.
type Head struct {
	Log []byte `cbor:"l"`
	Seq uint64 `cbor:"s"`
}

// LogAddrs is where a log can be fetched.
type LogAddrs struct {
	Log   []byte   `cbor:"l"`
	Addrs [][]byte `cbor:"a"` // binary multiaddrs ending in /p2p/<peer>
	TTL   int64    `cbor:"t"` // seconds
}

// Message is one frame of the sync protocol.
type Message struct {
	Type   MsgType    `cbor:"y"`
	Thread []byte     `cbor:"t,omitempty"`
	Auth   []byte     `cbor:"a,omitempty"` // proof of the follow key, see ThreadAuth
	Events [][]byte   `cbor:"e,omitempty"` // event blocks, in seq order
	Bodies [][]byte   `cbor:"b,omitempty"` // separate body blocks
	Heads  []Head     `cbor:"h,omitempty"`
	Log    []byte     `cbor:"l,omitempty"` // pull: which log
	From   uint64     `cbor:"f,omitempty"` // pull: first seq wanted
	Max    uint32     `cbor:"m,omitempty"` // pull: how many at most
	Addrs  []LogAddrs `cbor:"d,omitempty"` // announce
	Invite string     `cbor:"i,omitempty"`
	Error  string     `cbor:"x,omitempty"`
	Root   []byte     `cbor:"r,omitempty"` // snapshot: root CID
	Cids   [][]byte   `cbor:"c,omitempty"` // blocks: CIDs wanted
	Blocks [][]byte   `cbor:"k,omitempty"` // snapshot, blocks: block data
}

// WriteMessage writes a length-prefixed message.
func WriteMessage(w io.Writer, m *Message) error {
	b, err := encMode.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode sync message: %w", err)
	}
	if len(b) > MaxMessageSize {
		return fmt.Errorf("sync message of %d bytes exceeds %d", len(b), MaxMessageSize)
	}
	var pre [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(pre[:], uint64(len(b)))
	if _, err := w.Write(pre[:n]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadMessage reads a length-prefixed message, refusing oversized ones.
func ReadMessage(r *bufio.Reader) (*Message, error) {
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: length: %v", ErrBadMessage, err)
	}
	if size > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadMessage, size, MaxMessageSize)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return DecodeMessage(buf)
}

// DecodeMessage decodes one message's bytes (no length prefix).
func DecodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if m.Type < MsgPush || m.Type > msgLast {
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadMessage, m.Type)
	}
	return &m, nil
}

// EncodeMessage encodes a message without a length prefix (for pubsub).
func EncodeMessage(m *Message) ([]byte, error) { return encMode.Marshal(m) }

// ThreadAuth proves that the sender holds a thread's follow key, bound to
// the sender and the receiver (empty for a pubsub broadcast), so that a proof
// seen once cannot be replayed by another peer. It is an HMAC-SHA256 under
// a subkey of the follow key (HKDF, see subkeys), not under the key that
// seals anything.
func ThreadAuth(follow *Key, thread, from, to []byte) []byte {
	proof := follow.subkeys().proof
	mac := hmac.New(sha256.New, proof[:])
	mac.Write([]byte("kubo-threads/auth/v2\x00"))
	for _, part := range [][]byte{thread, from, to} {
		var n [binary.MaxVarintLen64]byte
		mac.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		mac.Write(part)
	}
	return mac.Sum(nil)
}

// CheckThreadAuth reports whether auth is a valid proof.
func CheckThreadAuth(follow *Key, auth, thread, from, to []byte) bool {
	return hmac.Equal(auth, ThreadAuth(follow, thread, from, to))
}
