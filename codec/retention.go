package codec

import (
	"fmt"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// Retention DAG: what keeps a log's blocks alive across garbage collection.
// Event envelopes do not link to the previous event, so a pin on a log's
// head would keep only that event; instead each log has a DAG of plain
// DAG-CBOR blocks listing its events by seq:
//
//	root {"b": base, "s": last seq, "p": [page links]}
//	page {"e": [event links]}   RetentionPageSize events, from base+1
//
// Pinning the root recursively keeps every event (and, through the event
// envelopes, their body blocks) from base+1 to the last seq. Appending
// changes only the last page and the root, so moving the pin costs the same
// at any log length; compaction (a new base) rebuilds the DAG.

// RetentionPageSize is how many events a retention page lists.
const RetentionPageSize = 1024

// RetentionRoot is a decoded retention root.
type RetentionRoot struct {
	Base  uint64 `cbor:"b"`
	Seq   uint64 `cbor:"s"`
	Pages []Link `cbor:"p"`
}

type retentionPage struct {
	E []Link `cbor:"e"`
}

// EncodeRetentionPage makes a page block listing events.
func EncodeRetentionPage(events []cid.Cid) (blocks.Block, error) {
	p := retentionPage{E: make([]Link, len(events))}
	for i, c := range events {
		p.E[i] = Link{c}
	}
	b, err := encMode.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("encode retention page: %w", err)
	}
	return newBlock(cid.DagCBOR, b)
}

// DecodeRetentionPage lists a page's events.
func DecodeRetentionPage(data []byte) ([]cid.Cid, error) {
	var p retentionPage
	if err := bigDecMode.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("retention page: %w", err)
	}
	out := make([]cid.Cid, len(p.E))
	for i, l := range p.E {
		out[i] = l.Cid
	}
	return out, nil
}

// EncodeRetentionRoot makes a root block.
func EncodeRetentionRoot(r RetentionRoot) (blocks.Block, error) {
	if r.Pages == nil {
		r.Pages = []Link{}
	}
	b, err := encMode.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("encode retention root: %w", err)
	}
	return newBlock(cid.DagCBOR, b)
}

// DecodeRetentionRoot reads a root block.
func DecodeRetentionRoot(data []byte) (RetentionRoot, error) {
	var r RetentionRoot
	if err := bigDecMode.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("retention root: %w", err)
	}
	return r, nil
}
