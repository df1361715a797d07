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

// MaxMessageSize bounds the body of one sync protocol message.
const MaxMessageSize = 8 << 20

// MaxHeaderSize bounds the header of a frame: the message type, the thread,
// the proof and the body's size.
const MaxHeaderSize = 512

var (
	// ErrBadMessage is wrapped by every error about a sync message that
	// cannot be decoded.
	ErrBadMessage = errors.New("malformed sync message")
	// ErrTooLarge is wrapped by the error about a body larger than the
	// receiver accepts for its type.
	ErrTooLarge = errors.New("sync message too large")
)

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

// Message is one sync protocol message. On a stream it travels as a frame
// (see WriteMessage); on pubsub as its CBOR encoding alone.
type Message struct {
	Type   MsgType    `cbor:"y,omitempty"`
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

// FrameHeader is what a frame says before its body: enough for the receiver to
// authenticate the sender and to know the body's size before it reads, and
// allocates, anything large.
type FrameHeader struct {
	Type   MsgType `cbor:"y"`
	Thread []byte  `cbor:"t,omitempty"`
	Auth   []byte  `cbor:"a,omitempty"`
	Size   uint64  `cbor:"n"` // bytes of the body that follows
}

// WriteMessage writes a message as one frame: a varint-prefixed header of
// at most MaxHeaderSize bytes (type, thread, proof, body size), then the
// body: the rest of the message as CBOR, at most MaxMessageSize bytes.
func WriteMessage(w io.Writer, m *Message) error {
	rest := *m
	rest.Type, rest.Thread, rest.Auth = 0, nil, nil
	body, err := encMode.Marshal(&rest)
	if err != nil {
		return fmt.Errorf("encode sync message: %w", err)
	}
	if len(body) > MaxMessageSize {
		return fmt.Errorf("sync message of %d bytes exceeds %d", len(body), MaxMessageSize)
	}
	hdr, err := encMode.Marshal(&FrameHeader{Type: m.Type, Thread: m.Thread, Auth: m.Auth, Size: uint64(len(body))})
	if err != nil {
		return fmt.Errorf("encode sync message header: %w", err)
	}
	if len(hdr) > MaxHeaderSize {
		return fmt.Errorf("sync message header of %d bytes exceeds %d", len(hdr), MaxHeaderSize)
	}
	inline := len(body) <= inlineBody
	room := binary.MaxVarintLen64 + len(hdr)
	if inline {
		room += len(body)
	}
	frame := make([]byte, 0, room)
	frame = binary.AppendUvarint(frame, uint64(len(hdr)))
	frame = append(frame, hdr...)
	if inline {
		_, err = w.Write(append(frame, body...))
		return err
	}
	// A large body goes out as it is, rather than copied behind the header.
	if _, err := w.Write(frame); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// inlineBody is the largest body WriteMessage copies behind its header, so
// that a small frame goes out in one write.
const inlineBody = 64 << 10

// ReadHeader reads a frame's header, which is at most MaxHeaderSize bytes.
func ReadHeader(r *bufio.Reader) (*FrameHeader, error) {
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: header length: %v", ErrBadMessage, err)
	}
	if size > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes exceeds %d", ErrBadMessage, size, MaxHeaderSize)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadMessage, err)
	}
	var h FrameHeader
	if err := decMode.Unmarshal(buf, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadMessage, err)
	}
	if h.Type < MsgPush || h.Type > msgLast {
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadMessage, h.Type)
	}
	return &h, nil
}

// ReadBody reads the body a header announces, refusing one larger than
// limit bytes, and returns the whole message. The buffer grows with the
// bytes actually received, never by the announced size up front, so a
// peer that announces much and sends little makes the reader hold little.
func ReadBody(r io.Reader, h *FrameHeader, limit int) (*Message, error) {
	if h.Size > uint64(limit) {
		return nil, fmt.Errorf("%w: %w: type %d, %d bytes, at most %d", ErrBadMessage, ErrTooLarge, h.Type, h.Size, limit)
	}
	buf, err := readGrowing(r, int(h.Size))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrBadMessage, err)
	}
	var m Message
	if err := decMode.Unmarshal(buf, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	m.Type, m.Thread, m.Auth = h.Type, h.Thread, h.Auth
	return &m, nil
}

// readChunk is the first allocation of readGrowing, and how much it reads
// at a time before the buffer doubles.
const readChunk = 32 << 10

// readGrowing reads exactly n bytes, growing its buffer (at most doubling
// it, and never past n) as they arrive.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// ReadMessage reads one frame whose body may be as large as MaxMessageSize.
// The sync protocol's own reader checks the header before the body (see
// ReadHeader and ReadBody); this is for peers that trust what they read.
func ReadMessage(r *bufio.Reader) (*Message, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	return ReadBody(r, h, MaxMessageSize)
}

// DecodeMessage decodes a message's CBOR encoding (a pubsub message).
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

// DecodeMessageHeader decodes only the type, thread and proof of a
// message's CBOR encoding, skipping the rest: enough to tell whether its
// sender is a member before anything else is decoded.
func DecodeMessageHeader(b []byte) (*FrameHeader, error) {
	var h struct {
		Type   MsgType `cbor:"y"`
		Thread []byte  `cbor:"t"`
		Auth   []byte  `cbor:"a"`
	}
	if err := lenientDecMode.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if h.Type < MsgPush || h.Type > msgLast {
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadMessage, h.Type)
	}
	return &FrameHeader{Type: h.Type, Thread: h.Thread, Auth: h.Auth, Size: uint64(len(b))}, nil
}

// EncodeMessage encodes a message without framing (for pubsub).
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
