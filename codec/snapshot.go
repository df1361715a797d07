package codec

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/fxamacker/cbor/v2"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Snapshot blocks (paper §3.4.1). A snapshot is the state of a thread's
// views at a cursor: every view entry, sorted by key, in pages of about
// SnapshotPageSize bytes, and a root holding the cursor (per log: seq and
// the CID of the event at that seq) and links to the pages.
//
//   - page: a raw block (codec 0x55) holding the page's DAG-CBOR encoding
//     sealed with the snapshot key;
//   - root: a DAG-CBOR block {"v": 2, "l": [page links], "n": sealed meta},
//     the links in the clear (so a recursive pin keeps the pages) and bound
//     to the sealed meta as associated data.
//
// A version 2 root says who made the snapshot: its sealed meta carries the
// maker's peer ID and an Ed25519 signature by the maker's node identity
// over the snapshot's statement (format version, thread, cursor, entry
// count, page links and maker), so a snapshot is its maker's word, and a
// peer cannot pass off its own state as another's. Version 1 roots (made
// by earlier versions, or by a node whose identity key is not Ed25519) are
// unsigned: they open, for the node's own use, but say nobody's word.
//
// Everything is sealed DETERMINISTICALLY so that the same state at the same
// cursor by the same maker gives the same CIDs (and the pages the same CIDs
// whoever makes them): the key and a nonce key are derived from the
// thread's read key with HKDF-SHA256, each nonce is a keyed BLAKE2b hash of
// the associated data and the plaintext (a synthetic-IV construction: equal
// plaintexts give equal ciphertexts, which reveals nothing else), and
// Ed25519 signatures are deterministic. Only holders of the read key can
// read a snapshot; only the maker can sign one in its name.
//
// OpenSnapshotRoot refuses roots beyond the bounds below, and roots that
// list a page twice, before any page is fetched.

// SnapshotPageSize is the target plaintext size of a snapshot page.
const SnapshotPageSize = 256 << 10

// Bounds of a snapshot, checked when a root opens and when one is made.
const (
	// MaxSnapshotPages bounds the pages a root lists.
	MaxSnapshotPages = 8192
	// MaxSnapshotPageBytes bounds one page: a page is one block.
	MaxSnapshotPageBytes = MaxBlockSize
	// MaxSnapshotBytes bounds the pages of one snapshot together:
	// MaxSnapshotPages pages of SnapshotPageSize (2 GiB).
	MaxSnapshotBytes = MaxSnapshotPages * SnapshotPageSize
	// MaxSnapshotLogs bounds the logs a cursor names.
	MaxSnapshotLogs = 4096
)

// SnapshotCodec is the codec of snapshot and retention roots: DAG-CBOR.
const SnapshotCodec = cid.DagCBOR

const (
	snapshotV1 = 1 // unsigned
	snapshotV2 = 2 // signed by its maker
)

// ErrBadSnapshot is wrapped by every error about a snapshot that does not
// decode or open.
var ErrBadSnapshot = errors.New("malformed or unreadable snapshot")

// SnapshotEntry is one key/value of a view store, the key relative to the
// thread's prefix.
type SnapshotEntry struct {
	_     struct{} `cbor:",toarray"`
	Key   string
	Value []byte
}

// SnapshotCursor is where a snapshot stands in one log.
type SnapshotCursor struct {
	Log []byte `cbor:"l"`
	Seq uint64 `cbor:"s"`
	Cid []byte `cbor:"c"` // the event at Seq
}

// SnapshotMeta is the sealed content of a snapshot root.
type SnapshotMeta struct {
	Thread  []byte           `cbor:"t"`
	Cursor  []SnapshotCursor `cbor:"c"` // sorted by log
	Entries uint64           `cbor:"n"` // number of entries over all pages
	// Maker is the peer ID of the node that made the snapshot, and Sig its
	// signature over the snapshot's statement; both empty in an unsigned
	// (version 1) snapshot. OpenSnapshotRoot has checked Sig when it
	// returns a Maker.
	Maker []byte `cbor:"m,omitempty"`
	Sig   []byte `cbor:"s,omitempty"`
}

// Signed reports whether the snapshot names a maker whose signature holds.
func (m SnapshotMeta) Signed() bool { return len(m.Maker) > 0 }

type snapshotPage struct {
	E []SnapshotEntry `cbor:"e"`
}

type snapshotRoot struct {
	V int    `cbor:"v"`
	L []Link `cbor:"l"`
	N []byte `cbor:"n"`
}

// snapshotStatement is what a maker signs: everything that identifies the
// snapshot.
type snapshotStatement struct {
	_       struct{} `cbor:",toarray"`
	Domain  string
	Version int
	Thread  []byte
	Cursor  []SnapshotCursor
	Entries uint64
	Links   []Link
	Maker   []byte
}

const statementDomain = "kubo-threads/snapshot/statement"

func (r *snapshotRoot) statement(meta *SnapshotMeta) ([]byte, error) {
	b, err := encMode.Marshal(&snapshotStatement{Domain: statementDomain, Version: r.V, Thread: meta.Thread,
		Cursor: meta.Cursor, Entries: meta.Entries, Links: r.L, Maker: meta.Maker})
	if err != nil {
		return nil, fmt.Errorf("encode snapshot statement: %w", err)
	}
	return b, nil
}

// sivKey seals deterministically.
type sivKey struct {
	aead interface {
		Seal(dst, nonce, pt, ad []byte) []byte
	}
	open  func(dst, nonce, ct, ad []byte) ([]byte, error)
	nonce []byte
}

func snapshotKey(read *Key) (*sivKey, error) {
	kdf := hkdf.New(sha256.New, read.raw[:], nil, []byte("kubo-threads/snapshot/v1"))
	var enc [chacha20poly1305.KeySize]byte
	nk := make([]byte, 32)
	if _, err := io.ReadFull(kdf, enc[:]); err != nil {
		return nil, fmt.Errorf("derive snapshot key: %w", err)
	}
	if _, err := io.ReadFull(kdf, nk); err != nil {
		return nil, fmt.Errorf("derive snapshot key: %w", err)
	}
	a, err := chacha20poly1305.NewX(enc[:])
	if err != nil {
		return nil, err
	}
	return &sivKey{aead: a, open: a.Open, nonce: nk}, nil
}

func (k *sivKey) seal(pt, ad []byte) ([]byte, error) {
	h, err := blake2b.New(chacha20poly1305.NonceSizeX, k.nonce)
	if err != nil {
		return nil, err
	}
	var n [8]byte
	for i := range n {
		n[i] = byte(uint64(len(ad)) >> (8 * i))
	}
	h.Write(n[:])
	h.Write(ad)
	h.Write(pt)
	nonce := h.Sum(nil)
	return k.aead.Seal(nonce, nonce, pt, ad), nil
}

func (k *sivKey) unseal(ct, ad []byte) ([]byte, error) {
	if len(ct) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrDecrypt
	}
	pt, err := k.open(nil, ct[:chacha20poly1305.NonceSizeX], ct[chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func pageAD(thread []byte, i int) []byte {
	return fmt.Appendf(append([]byte("kubo-threads/snapshot/page\x00"), thread...), "\x00%d", i)
}

func rootAD(thread []byte, links []Link) ([]byte, error) {
	ad, err := encMode.Marshal(links)
	if err != nil {
		return nil, err
	}
	return append(append([]byte("kubo-threads/snapshot/root\x00"), thread...), ad...), nil
}

// isPageCid reports whether c has the form page CIDs are made in
// (CIDv1, raw, SHA2-256), the only form a root may list.
func isPageCid(c cid.Cid) bool {
	p := c.Prefix()
	return p.Version == 1 && p.Codec == cid.Raw && p.MhType == mh.SHA2_256 && p.MhLength == 32
}

// SealSnapshot encodes and seals a snapshot: entries must be sorted by key
// (they are sorted here if not). It returns the root and the page blocks.
// With a maker (an Ed25519 node identity) the root is signed by it
// (version 2); without, it is unsigned (version 1: for local use only).
func SealSnapshot(read *Key, meta SnapshotMeta, entries []SnapshotEntry, maker crypto.PrivKey) (blocks.Block, []blocks.Block, error) {
	if !sort.SliceIsSorted(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key }) {
		sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	}
	meta.Entries = uint64(len(entries))
	if len(meta.Cursor) > MaxSnapshotLogs {
		return nil, nil, fmt.Errorf("snapshot of %d logs: more than %d", len(meta.Cursor), MaxSnapshotLogs)
	}
	var pages []blocks.Block
	var total int
	emit := func(es []SnapshotEntry) error {
		if len(pages) == MaxSnapshotPages {
			return fmt.Errorf("snapshot of more than %d pages: the views are too large for a snapshot", MaxSnapshotPages)
		}
		blk, err := SealSnapshotPage(read, meta.Thread, len(pages), es)
		if err != nil {
			return err
		}
		if total += len(blk.RawData()); total > MaxSnapshotBytes {
			return fmt.Errorf("snapshot of more than %d bytes: the views are too large for a snapshot", MaxSnapshotBytes)
		}
		pages = append(pages, blk)
		return nil
	}
	start, size := 0, 0
	for i, e := range entries {
		n := len(e.Key) + len(e.Value) + 16
		if i > start && (size+n > SnapshotPageSize || i-start >= maxPageEntries) {
			if err := emit(entries[start:i]); err != nil {
				return nil, nil, err
			}
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		if err := emit(entries[start:]); err != nil {
			return nil, nil, err
		}
	}
	links := make([]cid.Cid, len(pages))
	for i, p := range pages {
		links[i] = p.Cid()
	}
	root, err := SealSnapshotRoot(read, meta, links, maker)
	if err != nil {
		return nil, nil, err
	}
	return root, pages, nil
}

// SealSnapshotPage seals entries (sorted by key) as page i of a snapshot of
// thread.
func SealSnapshotPage(read *Key, thread []byte, i int, entries []SnapshotEntry) (blocks.Block, error) {
	k, err := snapshotKey(read)
	if err != nil {
		return nil, err
	}
	pb, err := encMode.Marshal(&snapshotPage{E: entries})
	if err != nil {
		return nil, fmt.Errorf("encode snapshot page: %w", err)
	}
	sealed, err := k.seal(pb, pageAD(thread, i))
	if err != nil {
		return nil, err
	}
	if len(sealed) > MaxSnapshotPageBytes {
		return nil, fmt.Errorf("snapshot page of %d bytes exceeds the block limit (an entry is too large)", len(sealed))
	}
	return newBlock(cid.Raw, sealed)
}

// SealSnapshotRoot seals a snapshot's root over its page links, signed by
// maker when given (see SealSnapshot). It takes meta and links as they
// are, beyond sorting the cursor: OpenSnapshotRoot is where the bounds
// are enforced.
func SealSnapshotRoot(read *Key, meta SnapshotMeta, links []cid.Cid, maker crypto.PrivKey) (blocks.Block, error) {
	meta.Cursor = append([]SnapshotCursor(nil), meta.Cursor...)
	sort.Slice(meta.Cursor, func(i, j int) bool { return bytes.Compare(meta.Cursor[i].Log, meta.Cursor[j].Log) < 0 })
	root := snapshotRoot{V: snapshotV1, L: make([]Link, len(links))}
	for i, l := range links {
		root.L[i] = Link{l}
	}
	meta.Maker, meta.Sig = nil, nil
	if maker != nil {
		if maker.Type() != cryptopb.KeyType_Ed25519 {
			return nil, fmt.Errorf("sign snapshot: the maker's key is %s, not Ed25519", maker.Type())
		}
		id, err := peer.IDFromPrivateKey(maker)
		if err != nil {
			return nil, fmt.Errorf("sign snapshot: %w", err)
		}
		root.V, meta.Maker = snapshotV2, []byte(id)
		st, err := root.statement(&meta)
		if err != nil {
			return nil, err
		}
		if meta.Sig, err = maker.Sign(st); err != nil {
			return nil, fmt.Errorf("sign snapshot: %w", err)
		}
	}
	k, err := snapshotKey(read)
	if err != nil {
		return nil, err
	}
	mb, err := encMode.Marshal(&meta)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot meta: %w", err)
	}
	ad, err := rootAD(meta.Thread, root.L)
	if err != nil {
		return nil, err
	}
	if root.N, err = k.seal(mb, ad); err != nil {
		return nil, err
	}
	rb, err := encMode.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot root: %w", err)
	}
	return newBlock(SnapshotCodec, rb)
}

// maxPageEntries keeps a page decodable by the strict decoder.
const maxPageEntries = 4000

// SnapshotLinks returns the page CIDs a snapshot root lists, without a
// key. It refuses roots of an unknown version, links that are not pages,
// a page listed twice, and more than MaxSnapshotPages.
func SnapshotLinks(root []byte) ([]cid.Cid, error) {
	r, err := decodeSnapshotRoot(root)
	if err != nil {
		return nil, err
	}
	out := make([]cid.Cid, len(r.L))
	for i, l := range r.L {
		out[i] = l.Cid
	}
	return out, nil
}

func decodeSnapshotRoot(root []byte) (*snapshotRoot, error) {
	if len(root) > MaxBlockSize {
		return nil, fmt.Errorf("%w: root of %d bytes", ErrBadSnapshot, len(root))
	}
	var r snapshotRoot
	if err := bigDecMode.Unmarshal(root, &r); err != nil {
		return nil, fmt.Errorf("%w: root: %v", ErrBadSnapshot, err)
	}
	if r.V != snapshotV1 && r.V != snapshotV2 {
		return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, r.V)
	}
	if len(r.L) > MaxSnapshotPages {
		return nil, fmt.Errorf("%w: root lists %d pages, more than %d", ErrBadSnapshot, len(r.L), MaxSnapshotPages)
	}
	seen := make(map[cid.Cid]struct{}, len(r.L))
	for i, l := range r.L {
		if !l.Defined() || !isPageCid(l.Cid) {
			return nil, fmt.Errorf("%w: page link %d is not a page", ErrBadSnapshot, i)
		}
		if _, dup := seen[l.Cid]; dup {
			return nil, fmt.Errorf("%w: root lists page %s twice", ErrBadSnapshot, l.Cid)
		}
		seen[l.Cid] = struct{}{}
	}
	return &r, nil
}

// OpenSnapshotRoot opens a snapshot root with the read key: the meta and the
// page CIDs. The root's hash is checked against its CID, the bounds of a
// snapshot are enforced, and a signed root's signature is verified (a root
// whose signature does not hold does not open): a returned meta with a
// Maker is that peer's word.
func OpenSnapshotRoot(read *Key, thread []byte, blk blocks.Block) (SnapshotMeta, []cid.Cid, error) {
	if err := checkBlock(blk, SnapshotCodec); err != nil {
		return SnapshotMeta{}, nil, err
	}
	r, err := decodeSnapshotRoot(blk.RawData())
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	k, err := snapshotKey(read)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	ad, err := rootAD(thread, r.L)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	mb, err := k.unseal(r.N, ad)
	if err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("%w: root: %v", ErrBadSnapshot, err)
	}
	var meta SnapshotMeta
	if err := bigDecMode.Unmarshal(mb, &meta); err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("%w: meta: %v", ErrBadSnapshot, err)
	}
	if !bytes.Equal(meta.Thread, thread) {
		return SnapshotMeta{}, nil, fmt.Errorf("%w: snapshot of another thread", ErrBadSnapshot)
	}
	if err := checkSnapshotMeta(&meta, len(r.L)); err != nil {
		return SnapshotMeta{}, nil, err
	}
	if err := r.verify(&meta); err != nil {
		return SnapshotMeta{}, nil, err
	}
	links := make([]cid.Cid, len(r.L))
	for i, l := range r.L {
		links[i] = l.Cid
	}
	return meta, links, nil
}

// checkSnapshotMeta checks a cursor (at most MaxSnapshotLogs logs, sorted,
// each once, at a seq above 0 with an event's CID) and the entry count
// (at most what the pages can hold).
func checkSnapshotMeta(meta *SnapshotMeta, pages int) error {
	if len(meta.Cursor) > MaxSnapshotLogs {
		return fmt.Errorf("%w: cursor of %d logs, more than %d", ErrBadSnapshot, len(meta.Cursor), MaxSnapshotLogs)
	}
	for i, c := range meta.Cursor {
		if i > 0 && bytes.Compare(meta.Cursor[i-1].Log, c.Log) >= 0 {
			return fmt.Errorf("%w: cursor logs out of order or repeated", ErrBadSnapshot)
		}
		ec, err := cid.Cast(c.Cid)
		if c.Seq == 0 || err != nil || ec.Prefix().Codec != EventCodec {
			return fmt.Errorf("%w: cursor entry %d", ErrBadSnapshot, i)
		}
	}
	if meta.Entries > uint64(pages)*maxPageEntries {
		return fmt.Errorf("%w: %d entries in %d pages", ErrBadSnapshot, meta.Entries, pages)
	}
	return nil
}

// verify checks a version 2 root's signature, and that a version 1 root
// claims no maker.
func (r *snapshotRoot) verify(meta *SnapshotMeta) error {
	if r.V == snapshotV1 {
		if len(meta.Maker) > 0 || len(meta.Sig) > 0 {
			return fmt.Errorf("%w: an unsigned snapshot names a maker", ErrBadSnapshot)
		}
		return nil
	}
	maker, err := peer.IDFromBytes(meta.Maker)
	if err != nil {
		return fmt.Errorf("%w: maker: %v", ErrBadSnapshot, err)
	}
	pk, err := maker.ExtractPublicKey()
	if err != nil || pk.Type() != cryptopb.KeyType_Ed25519 {
		return fmt.Errorf("%w: maker %s has no Ed25519 key in its peer ID", ErrBadSnapshot, maker)
	}
	st, err := r.statement(meta)
	if err != nil {
		return err
	}
	if ok, err := pk.Verify(st, meta.Sig); err != nil || !ok {
		return fmt.Errorf("%w: the signature of maker %s does not hold", ErrBadSnapshot, maker)
	}
	return nil
}

// OpenSnapshotPage opens page i of a snapshot of thread.
func OpenSnapshotPage(read *Key, thread []byte, i int, blk blocks.Block) ([]SnapshotEntry, error) {
	if err := checkBlock(blk, cid.Raw); err != nil {
		return nil, err
	}
	k, err := snapshotKey(read)
	if err != nil {
		return nil, err
	}
	pb, err := k.unseal(blk.RawData(), pageAD(thread, i))
	if err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", ErrBadSnapshot, i, err)
	}
	var p snapshotPage
	if err := bigDecMode.Unmarshal(pb, &p); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", ErrBadSnapshot, i, err)
	}
	return p.E, nil
}

func checkBlock(blk blocks.Block, codec uint64) error {
	if blk.Cid().Prefix().Codec != codec {
		return fmt.Errorf("%w: block %s has codec 0x%x", ErrBadSnapshot, blk.Cid(), blk.Cid().Prefix().Codec)
	}
	if len(blk.RawData()) > MaxBlockSize {
		return fmt.Errorf("%w: block of %d bytes", ErrBadSnapshot, len(blk.RawData()))
	}
	if sum, err := blk.Cid().Prefix().Sum(blk.RawData()); err != nil || !sum.Equals(blk.Cid()) {
		return fmt.Errorf("%w: block data does not match %s", ErrBadSnapshot, blk.Cid())
	}
	return nil
}

// NewSnapshotBlock makes a block of snapshot or retention data received from
// elsewhere, from its bytes, under the CID they hash to with the codec.
func NewSnapshotBlock(codec uint64, data []byte) (blocks.Block, error) {
	return newBlock(codec, data)
}

// bigDecMode decodes snapshot and retention blocks, whose lists are larger
// than events'.
var bigDecMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       4096,
		MaxNestedLevels:   16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()
