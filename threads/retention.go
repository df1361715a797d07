package threads

import (
	"context"
	"fmt"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/kubo-threads/kubo-threads/codec"
)

// retention is a log's retention DAG (see codec/retention.go) as last
// written: the full pages, the events of the partial last page, and the
// root. Pages start after the log's base.
type retention struct {
	base  uint64
	pages []cid.Cid
	tail  []cid.Cid
	root  cid.Cid
}

func (r *retention) covered() uint64 {
	return r.base + uint64(len(r.pages))*codec.RetentionPageSize + uint64(len(r.tail))
}

// updateRetention brings a log's retention DAG up to the log's seq, reading
// the event CIDs it lacks from the index, writes the blocks that changed
// (the last page and the root) and returns the root. It starts from the
// DAG in memory, else the pinned root, else the index from the base; it is
// called by one goroutine at a time for a log (the pin keeper's flush, or
// the thread's opening).
func (s *Service) updateRetention(ctx context.Context, th *thread, st *logState) (cid.Cid, error) {
	th.mu.Lock()
	seq, base, ret, pinned := st.seq, st.base, st.ret, st.pinned
	th.mu.Unlock()
	if ret == nil || ret.base != base {
		ret = s.loadRetention(ctx, pinned, base)
	}
	if ret.covered() > seq {
		ret = &retention{base: base}
	}
	var put []blocks.Block
	for q := ret.covered() + 1; q <= seq; q++ {
		b, err := s.deps.Datastore.Get(ctx, eventKey(th.id, st.id, q))
		if err != nil {
			return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", st.id, q, err)
		}
		c, err := cid.Cast(b)
		if err != nil {
			return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", st.id, q, err)
		}
		ret.tail = append(ret.tail, c)
		if len(ret.tail) == codec.RetentionPageSize {
			blk, err := codec.EncodeRetentionPage(ret.tail)
			if err != nil {
				return cid.Undef, err
			}
			put = append(put, blk)
			ret.pages = append(ret.pages, blk.Cid())
			ret.tail = nil
		}
	}
	root := codec.RetentionRoot{Base: ret.base, Seq: seq, Pages: make([]codec.Link, 0, len(ret.pages)+1)}
	for _, p := range ret.pages {
		root.Pages = append(root.Pages, codec.Link{Cid: p})
	}
	if len(ret.tail) > 0 {
		blk, err := codec.EncodeRetentionPage(ret.tail)
		if err != nil {
			return cid.Undef, err
		}
		put = append(put, blk)
		root.Pages = append(root.Pages, codec.Link{Cid: blk.Cid()})
	}
	rblk, err := codec.EncodeRetentionRoot(root)
	if err != nil {
		return cid.Undef, err
	}
	put = append(put, rblk)
	if !rblk.Cid().Equals(ret.root) {
		if err := s.deps.Blockstore.PutMany(ctx, put); err != nil {
			return cid.Undef, fmt.Errorf("log %s: retention blocks: %w", st.id, err)
		}
	}
	ret.root = rblk.Cid()
	th.mu.Lock()
	st.ret = ret
	th.mu.Unlock()
	return ret.root, nil
}

// loadRetention reads the pinned retention root when it belongs to the
// log's current base; otherwise (none, a compaction since, or a pin from
// before retention DAGs, on an event) it starts empty.
func (s *Service) loadRetention(ctx context.Context, pinned cid.Cid, base uint64) *retention {
	empty := &retention{base: base}
	if !pinned.Defined() || pinned.Prefix().Codec != cid.DagCBOR {
		return empty
	}
	blk, err := s.deps.Blockstore.Get(ctx, pinned)
	if err != nil {
		return empty
	}
	r, err := codec.DecodeRetentionRoot(blk.RawData())
	if err != nil || r.Base != base || r.Seq < base {
		return empty
	}
	ret := &retention{base: base, root: pinned}
	full := int((r.Seq - base) / codec.RetentionPageSize)
	if full > len(r.Pages) {
		return empty
	}
	for _, l := range r.Pages[:full] {
		ret.pages = append(ret.pages, l.Cid)
	}
	if len(r.Pages) > full {
		pb, err := s.deps.Blockstore.Get(ctx, r.Pages[full].Cid)
		if err != nil {
			return empty
		}
		if ret.tail, err = codec.DecodeRetentionPage(pb.RawData()); err != nil {
			return empty
		}
	}
	if ret.covered() != r.Seq {
		return empty
	}
	return ret
}
