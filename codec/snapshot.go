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
//   - root: a DAG-CBOR block {"v": 1, "l": [page links], "n": sealed meta},
//     the links in the clear (so a recursive pin keeps the pages) and bound
//     to the sealed meta as associated data.
//
// Everything is sealed DETERMINISTICALLY so that replicas that hold the same
// state at the same cursor produce the same CIDs: the key and a nonce key
// are derived from the thread's read key with HKDF-SHA256, and each nonce is
// a keyed BLAKE2b hash of the associated data and the plaintext (a
// synthetic-IV construction: equal plaintexts give equal ciphertexts, which
// reveals nothing else). Only holders of the read key can read or forge a
// snapshot.

// SnapshotPageSize is the target plaintext size of a snapshot page.
const SnapshotPageSize = 256 << 10

// SnapshotCodec is the codec of snapshot and retention roots: DAG-CBOR.
const SnapshotCodec = cid.DagCBOR

const snapshotVersion = 1

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
}

type snapshotPage struct {
	E []SnapshotEntry `cbor:"e"`
}

type snapshotRoot struct {
	V int    `cbor:"v"`
	L []Link `cbor:"l"`
	N []byte `cbor:"n"`
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

// SealSnapshot encodes and seals a snapshot: entries must be sorted by key
// (they are sorted here if not). It returns the root and the page blocks.
func SealSnapshot(read *Key, meta SnapshotMeta, entries []SnapshotEntry) (blocks.Block, []blocks.Block, error) {
	if !sort.SliceIsSorted(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key }) {
		sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	}
	sort.Slice(meta.Cursor, func(i, j int) bool { return bytes.Compare(meta.Cursor[i].Log, meta.Cursor[j].Log) < 0 })
	meta.Entries = uint64(len(entries))
	k, err := snapshotKey(read)
	if err != nil {
		return nil, nil, err
	}
	var pages []blocks.Block
	emit := func(es []SnapshotEntry) error {
		pb, err := encMode.Marshal(&snapshotPage{E: es})
		if err != nil {
			return fmt.Errorf("encode snapshot page: %w", err)
		}
		sealed, err := k.seal(pb, pageAD(meta.Thread, len(pages)))
		if err != nil {
			return err
		}
		if len(sealed) > MaxBlockSize {
			return fmt.Errorf("snapshot page of %d bytes exceeds the block limit (an entry is too large)", len(sealed))
		}
		blk, err := newBlock(cid.Raw, sealed)
		if err != nil {
			return err
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
	root := snapshotRoot{V: snapshotVersion, L: make([]Link, len(pages))}
	for i, p := range pages {
		root.L[i] = Link{p.Cid()}
	}
	mb, err := encMode.Marshal(&meta)
	if err != nil {
		return nil, nil, fmt.Errorf("encode snapshot meta: %w", err)
	}
	ad, err := encMode.Marshal(root.L)
	if err != nil {
		return nil, nil, err
	}
	if root.N, err = k.seal(mb, append(append([]byte("kubo-threads/snapshot/root\x00"), meta.Thread...), ad...)); err != nil {
		return nil, nil, err
	}
	rb, err := encMode.Marshal(&root)
	if err != nil {
		return nil, nil, fmt.Errorf("encode snapshot root: %w", err)
	}
	rblk, err := newBlock(SnapshotCodec, rb)
	if err != nil {
		return nil, nil, err
	}
	return rblk, pages, nil
}

// maxPageEntries keeps a page decodable by the strict decoder.
const maxPageEntries = 4000

// SnapshotLinks returns the page CIDs a snapshot root lists, without a key.
func SnapshotLinks(root []byte) ([]cid.Cid, error) {
	var r snapshotRoot
	if err := bigDecMode.Unmarshal(root, &r); err != nil {
		return nil, fmt.Errorf("%w: root: %v", ErrBadSnapshot, err)
	}
	if r.V != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, r.V)
	}
	out := make([]cid.Cid, len(r.L))
	for i, l := range r.L {
		if !l.Defined() || l.Prefix().Codec != cid.Raw {
			return nil, fmt.Errorf("%w: page link %d", ErrBadSnapshot, i)
		}
		out[i] = l.Cid
	}
	return out, nil
}

// OpenSnapshotRoot opens a snapshot root with the read key: the meta and the
// page CIDs. The root's hash is checked against its CID.
func OpenSnapshotRoot(read *Key, thread []byte, blk blocks.Block) (SnapshotMeta, []cid.Cid, error) {
	if err := checkBlock(blk, SnapshotCodec); err != nil {
		return SnapshotMeta{}, nil, err
	}
	var r snapshotRoot
	if err := bigDecMode.Unmarshal(blk.RawData(), &r); err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("%w: root: %v", ErrBadSnapshot, err)
	}
	links, err := SnapshotLinks(blk.RawData())
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	k, err := snapshotKey(read)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	ad, err := encMode.Marshal(r.L)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	mb, err := k.unseal(r.N, append(append([]byte("kubo-threads/snapshot/root\x00"), thread...), ad...))
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
	return meta, links, nil
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
