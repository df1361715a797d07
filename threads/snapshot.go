package threads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	pin "github.com/ipfs/boxo/pinning/pinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// Snapshots and compaction (paper §3.4.1).
//
// A snapshot is the state of a thread's views at a cursor, made by the
// views (package views) and kept here: sealed blocks (codec/snapshot.go)
// in the blockstore, the latest pinned (the previous one released), and a
// record of it under /sn/<thread>. A node signs the snapshots it makes
// with its identity key and serves its own latest one to joiners.
//
// Trust: a snapshot is its maker's word for the state before its cursor;
// events after the cursor are verified as usual (signatures, and the
// first one's prev link must be the cursor's CID). So a node takes one
// only where its user asked for that word: at a join that asked for a
// snapshot, from the inviter, signed by the inviter (joinSnapshot), and
// never in an access-controlled thread, whose members replay the history
// (the ACL judges every event by the history before it). Nothing else
// loads a snapshot from the network: a peer that answers a pull with
// "compacted" is never followed to its snapshot (see catchup.go).
//
// Compaction truncates each log's prefix at the latest snapshot's cursor:
// the events at or below it are dropped from the index and from the log's
// retention DAG, so the next garbage collection releases their blocks (they
// are not deleted here, so that a block also pinned by someone else, or a
// GC running now, is left to the collector's own rules).

var (
	// ErrCompacted is returned when reading events a compaction dropped.
	ErrCompacted = errors.New("events compacted: start from the snapshot")
	// ErrNoSnapshot is returned when a thread has no snapshot.
	ErrNoSnapshot = errors.New("no snapshot of the thread")
	// ErrNoCompaction is returned when compacting an access-controlled
	// thread.
	ErrNoCompaction = errors.New("access-controlled threads are not compacted: their members replay the whole history")
	// ErrSnapshotRefused is wrapped by every reason a joiner does not take
	// a snapshot it was offered, and a member does not serve one.
	ErrSnapshotRefused = errors.New("snapshot refused")
)

// CompactedError says which log is compacted up to which seq.
type CompactedError struct {
	Log  ipel.LogID
	Base uint64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("log %s: events up to %d compacted: start from the snapshot", e.Log, e.Base)
}

// Unwrap makes errors.Is(err, ErrCompacted) hold.
func (e *CompactedError) Unwrap() error { return ErrCompacted }

// SnapshotCursor is where a snapshot stands in one log.
type SnapshotCursor struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid // the event at Seq
}

// SnapshotInfo describes a stored snapshot.
type SnapshotInfo struct {
	Root cid.Cid
	// Maker is the peer whose signed word the snapshot is: this node for
	// the snapshots it takes, the inviter for one taken at a join; empty
	// for an unsigned snapshot (taken by an earlier version, or by a node
	// whose identity key is not Ed25519), which only its node uses.
	Maker   peer.ID
	Cursor  []SnapshotCursor // by log ID
	Events  uint64           // events covered: the sum of the cursor's seqs
	Entries uint64           // view entries
	Size    uint64           // bytes of its blocks
	Pages   int
	Created time.Time
}

type snapshotRecord struct {
	Root    []byte                 `cbor:"r"`
	Cursor  []codec.SnapshotCursor `cbor:"c"`
	Entries uint64                 `cbor:"n"`
	Size    uint64                 `cbor:"z"`
	Pages   int                    `cbor:"p"`
	Created int64                  `cbor:"t"`
	Maker   []byte                 `cbor:"m,omitempty"` // absent: unsigned
}

func (r *snapshotRecord) info() (SnapshotInfo, error) {
	root, err := cid.Cast(r.Root)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot record: %w", err)
	}
	si := SnapshotInfo{Root: root, Maker: peer.ID(r.Maker), Entries: r.Entries, Size: r.Size, Pages: r.Pages, Created: time.Unix(0, r.Created)}
	for _, c := range r.Cursor {
		id, err := ipel.LogIDFromBytes(c.Log)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot record: %w", err)
		}
		ec, err := cid.Cast(c.Cid)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot record: %w", err)
		}
		si.Cursor = append(si.Cursor, SnapshotCursor{Log: id, Seq: c.Seq, Cid: ec})
		si.Events += c.Seq
	}
	return si, nil
}

func (s *Service) snapshotRecord(ctx context.Context, tid ipel.ThreadID) (*snapshotRecord, error) {
	var rec snapshotRecord
	if err := getCBOR(ctx, s.deps.Datastore, snapshotRecordKey(tid), &rec); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w %s", ErrNoSnapshot, tid)
		}
		return nil, err
	}
	return &rec, nil
}

// Snapshot describes the thread's latest snapshot; ErrNoSnapshot if none.
func (s *Service) Snapshot(ctx context.Context, tid ipel.ThreadID) (SnapshotInfo, error) {
	if _, err := s.thread(tid); err != nil {
		return SnapshotInfo{}, err
	}
	rec, err := s.snapshotRecord(ctx, tid)
	if err != nil {
		return SnapshotInfo{}, err
	}
	return rec.info()
}

// cidAt returns the CID of the event at (log, seq), which must be held or be
// the log's base.
func (s *Service) cidAt(ctx context.Context, th *thread, logID ipel.LogID, seq uint64) (cid.Cid, error) {
	th.mu.Lock()
	st := th.logs[logID]
	var base uint64
	var baseCid cid.Cid
	if st != nil {
		base, baseCid = st.base, st.baseCid
	}
	th.mu.Unlock()
	if st == nil {
		return cid.Undef, fmt.Errorf("%w: %s", ErrLogNotFound, logID)
	}
	if seq == base && base > 0 {
		return baseCid, nil
	}
	if seq < base {
		return cid.Undef, &CompactedError{Log: logID, Base: base}
	}
	b, err := s.deps.Datastore.Get(ctx, eventKey(th.id, logID, seq))
	if err != nil {
		return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
	}
	return cid.Cast(b)
}

// SaveSnapshot seals a snapshot of the thread's views at cursor (seq per
// log; logs at 0 are left out) with entries (keys relative to the thread,
// any order), signed by this node's identity, stores and pins it as the
// thread's latest, and releases the previous one. The same state at the
// same cursor gives the same root CID every time this node takes it (and
// the same pages on every replica). A node whose identity key is not
// Ed25519 takes unsigned snapshots, for its own use only.
func (s *Service) SaveSnapshot(ctx context.Context, tid ipel.ThreadID, cursor map[ipel.LogID]uint64, entries []codec.SnapshotEntry) (SnapshotInfo, error) {
	th, err := s.thread(tid)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if th.read.Load() == nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", tid, ErrNoReadKey)
	}
	meta := codec.SnapshotMeta{Thread: tid.Bytes()}
	for id, seq := range cursor {
		if seq == 0 {
			continue
		}
		c, err := s.cidAt(ctx, th, id, seq)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", tid, err)
		}
		meta.Cursor = append(meta.Cursor, codec.SnapshotCursor{Log: []byte(id), Seq: seq, Cid: c.Bytes()})
	}
	sort.Slice(meta.Cursor, func(i, j int) bool { return string(meta.Cursor[i].Log) < string(meta.Cursor[j].Log) })
	root, pages, err := codec.SealSnapshot(th.read.Load(), meta, entries, s.snapshotMaker())
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", tid, err)
	}
	// The record holds what the root holds, as the root says it.
	if meta, _, err = codec.OpenSnapshotRoot(th.read.Load(), tid.Bytes(), root); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", tid, err)
	}
	return s.storeSnapshot(ctx, th, root, pages, nil, meta)
}

// snapshotMaker is the key this node signs its snapshots with: its
// identity, when Ed25519; nil (unsigned snapshots) otherwise.
func (s *Service) snapshotMaker() crypto.PrivKey {
	if sk := s.deps.Identity; sk != nil && sk.Type() == crypto.Ed25519 {
		return sk
	}
	return nil
}

// storeSnapshot writes a snapshot's blocks, pins its root, records it as
// the latest and releases the previous one. Pages are the page blocks to
// write; when nil, the pages the root lists (links) are in the blockstore
// already (a snapshot fetched at a join), which is checked under the GC
// lock so that the pin never lacks a block.
func (s *Service) storeSnapshot(ctx context.Context, th *thread, root blocks.Block, pages []blocks.Block, links []cid.Cid, meta codec.SnapshotMeta) (SnapshotInfo, error) {
	rec := &snapshotRecord{Root: root.Cid().Bytes(), Cursor: meta.Cursor, Entries: meta.Entries, Maker: meta.Maker, Created: s.deps.Now().UnixNano()}
	rec.Size = uint64(len(root.RawData()))
	if pages != nil {
		rec.Pages = len(pages)
		for _, p := range pages {
			rec.Size += uint64(len(p.RawData()))
		}
	}
	prev, err := s.snapshotRecord(ctx, th.id)
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return SnapshotInfo{}, err
	}
	if prev != nil && string(prev.Root) == string(rec.Root) {
		return prev.info()
	}
	// Keep GC out from the first block written until the root is pinned.
	if s.deps.GCLocker != nil {
		unlock := s.deps.GCLocker.PinLock(ctx)
		defer unlock.Unlock(context.WithoutCancel(ctx))
	}
	if pages == nil {
		rec.Pages = len(links)
		for i, l := range links {
			size, err := s.deps.Blockstore.GetSize(ctx, l)
			if err != nil {
				return SnapshotInfo{}, fmt.Errorf("store snapshot: page %d: %w", i, err)
			}
			rec.Size += uint64(size)
		}
	}
	if err := s.deps.Blockstore.PutMany(ctx, append([]blocks.Block{root}, pages...)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store snapshot: %w", err)
	}
	if err := s.deps.Pinner.PinWithMode(ctx, root.Cid(), pin.Recursive, "threads/"+th.id.String()+"/snapshot"); err != nil {
		return SnapshotInfo{}, fmt.Errorf("pin snapshot: %w", err)
	}
	if err := putCBOR(ctx, s.deps.Datastore, snapshotRecordKey(th.id), rec); err != nil {
		return SnapshotInfo{}, err
	}
	if err := s.deps.Datastore.Sync(ctx, ds.NewKey("/")); err != nil {
		return SnapshotInfo{}, err
	}
	if prev != nil {
		if old, err := cid.Cast(prev.Root); err == nil {
			if err := s.deps.Pinner.Unpin(ctx, old, true); err != nil && !errors.Is(err, pin.ErrNotPinned) {
				log.Warnf("thread %s: unpin snapshot %s: %s", th.id, old, err)
			}
		}
	}
	return rec.info()
}

// SnapshotEntries opens the thread's latest snapshot and calls fn with its
// entries, a page at a time, in key order.
func (s *Service) SnapshotEntries(ctx context.Context, tid ipel.ThreadID, fn func([]codec.SnapshotEntry) error) (SnapshotInfo, error) {
	th, err := s.thread(tid)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if th.read.Load() == nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", tid, ErrNoReadKey)
	}
	rec, err := s.snapshotRecord(ctx, tid)
	if err != nil {
		return SnapshotInfo{}, err
	}
	si, err := rec.info()
	if err != nil {
		return SnapshotInfo{}, err
	}
	rblk, err := s.deps.Blockstore.Get(ctx, si.Root)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: root: %w", si.Root, err)
	}
	_, links, err := codec.OpenSnapshotRoot(th.read.Load(), tid.Bytes(), rblk)
	if err != nil {
		return SnapshotInfo{}, err
	}
	for i, l := range links {
		pb, err := s.deps.Blockstore.Get(ctx, l)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot %s: page %d: %w", si.Root, i, err)
		}
		es, err := codec.OpenSnapshotPage(th.read.Load(), tid.Bytes(), i, pb)
		if err != nil {
			return SnapshotInfo{}, err
		}
		if err := fn(es); err != nil {
			return SnapshotInfo{}, err
		}
	}
	return si, nil
}

// CompactResult says what a compaction dropped, per log.
type CompactResult struct {
	Logs []CompactedLog
}

// CompactedLog is one log's part of a compaction.
type CompactedLog struct {
	Log    ipel.LogID
	Base   uint64 // the new base: events up to it are dropped
	Events uint64 // events dropped now
	Bytes  uint64 // block bytes dropped now
}

// Compact truncates each log's prefix at the latest snapshot's cursor:
// index entries go, the retention DAG is rebuilt from the new base, and the
// next garbage collection releases the dropped blocks. Views read the same
// afterwards: the snapshot holds the effect of every dropped event.
// Access-controlled threads are never compacted: their members replay the
// whole history (a late ACL event can change how any earlier one is
// judged), and no member may have to take a snapshot to catch up.
func (s *Service) Compact(ctx context.Context, tid ipel.ThreadID) (CompactResult, error) {
	th, err := s.thread(tid)
	if err != nil {
		return CompactResult{}, err
	}
	if tid.Variant() == ipel.VariantAccessControlled {
		return CompactResult{}, fmt.Errorf("compact %s: %w", tid, ErrNoCompaction)
	}
	rec, err := s.snapshotRecord(ctx, tid)
	if err != nil {
		return CompactResult{}, fmt.Errorf("compact %s: %w (take one with 'ipfs threads snapshot --create')", tid, err)
	}
	si, err := rec.info()
	if err != nil {
		return CompactResult{}, err
	}
	th.ingestMu.Lock()
	defer th.ingestMu.Unlock()
	var res CompactResult
	for _, c := range si.Cursor {
		th.mu.Lock()
		st := th.logs[c.Log]
		var base, seq uint64
		if st != nil {
			base, seq = st.base, st.seq
		}
		th.mu.Unlock()
		if st == nil || c.Seq <= base || c.Seq > seq {
			continue
		}
		held, err := s.cidAt(ctx, th, c.Log, c.Seq)
		if err != nil {
			return res, fmt.Errorf("compact %s: %w", tid, err)
		}
		if !held.Equals(c.Cid) {
			return res, fmt.Errorf("compact %s: log %s: the snapshot's event %d is %s, the log holds %s", tid, c.Log, c.Seq, c.Cid, held)
		}
		var size uint64
		for q := base + 1; q <= c.Seq; q++ {
			ec, err := s.cidAt(ctx, th, c.Log, q)
			if err != nil {
				return res, fmt.Errorf("compact %s: %w", tid, err)
			}
			size += s.eventSize(ctx, ec)
		}
		if err := s.setBase(ctx, th, st, c.Seq, c.Cid, c.Seq-base, size); err != nil {
			return res, fmt.Errorf("compact %s: %w", tid, err)
		}
		res.Logs = append(res.Logs, CompactedLog{Log: c.Log, Base: c.Seq, Events: c.Seq - base, Bytes: size})
	}
	return res, nil
}

// eventSize is the size of an event's blocks (event and separate body).
func (s *Service) eventSize(ctx context.Context, c cid.Cid) uint64 {
	blk, err := s.deps.Blockstore.Get(ctx, c)
	if err != nil {
		return 0
	}
	n := uint64(len(blk.RawData()))
	if links, err := codec.EnvelopeLinks(blk.RawData()); err == nil {
		for _, l := range links {
			if l.Prefix().Codec == codec.BodyCodec {
				if sz, err := s.deps.Blockstore.GetSize(ctx, l); err == nil {
					n += uint64(sz)
				}
			}
		}
	}
	return n
}

// setBase moves a log's base to (seq, c): the record first (one synced
// write: from then on the log starts after seq), then the index entries
// below go, and the pin keeper rebuilds the retention DAG from the new
// base. When the log is behind seq (a snapshot taken at a join),
// its head moves to the base. The caller holds th.ingestMu.
func (s *Service) setBase(ctx context.Context, th *thread, st *logState, seq uint64, c cid.Cid, events, bytes uint64) error {
	th.mu.Lock()
	next := *st
	oldBase, oldSeq := st.base, st.seq
	th.mu.Unlock()
	next.base, next.baseCid = seq, c
	next.compactedEvents += events
	next.compactedBytes += bytes
	if next.seq < seq {
		next.seq, next.head = seq, c
	}
	next.ret = nil
	rec, err := next.record()
	if err != nil {
		return err
	}
	s.pins.begin(ctx)
	defer s.pins.end(th, st)
	if err := putCBOR(ctx, s.deps.Datastore, logKey(th.id, st.id), rec); err != nil {
		return err
	}
	if err := s.deps.Datastore.Sync(ctx, ds.NewKey("/")); err != nil {
		return err
	}
	th.mu.Lock()
	st.base, st.baseCid = next.base, next.baseCid
	st.compactedEvents, st.compactedBytes = next.compactedEvents, next.compactedBytes
	st.seq, st.head = next.seq, next.head
	if !th.removed {
		close(th.changed)
		th.changed = make(chan struct{})
	}
	th.mu.Unlock()
	b, err := s.deps.Datastore.Batch(ctx)
	if err != nil {
		return err
	}
	for q := max(oldBase, 1); q <= min(seq, oldSeq); q++ {
		if err := b.Delete(ctx, eventKey(th.id, st.id, q)); err != nil {
			return err
		}
		if q%4096 == 0 {
			if err := b.Commit(ctx); err != nil {
				return err
			}
			if b, err = s.deps.Datastore.Batch(ctx); err != nil {
				return err
			}
		}
	}
	return b.Commit(ctx)
}

// pagesPerRequest is how many pages a joiner asks for in one request; the
// server sends as many of them as fit a message.
const pagesPerRequest = 64

// joinSnapshot takes the inviter's latest snapshot at a join that asked for
// one. The root comes first and must open with the read key, within the
// bounds of a snapshot (codec.OpenSnapshotRoot: no page listed twice, at
// most codec.MaxSnapshotPages), and signed by the inviter itself; only
// then are the pages fetched, each checked as it arrives and written to
// the blockstore, one answer held at a time, at most
// codec.MaxSnapshotBytes in all. The snapshot is then adopted
// (adoptSnapshot). Access-controlled threads take none.
func (n *network) joinSnapshot(ctx context.Context, th *thread, inviter peer.ID) (SnapshotInfo, error) {
	if th.id.Variant() == ipel.VariantAccessControlled {
		return SnapshotInfo{}, fmt.Errorf("%w: access-controlled threads start from the whole history", ErrSnapshotRefused)
	}
	read := th.read.Load()
	if read == nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot of %s: %w", th.id, ErrNoReadKey)
	}
	root, err := n.fetchSnapshotRoot(ctx, th, inviter)
	if err != nil {
		return SnapshotInfo{}, err
	}
	meta, links, err := codec.OpenSnapshotRoot(read, th.id.Bytes(), root)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: from %s: %w", ErrSnapshotRefused, inviter, err)
	}
	if !meta.Signed() {
		return SnapshotInfo{}, fmt.Errorf("%w: %s sent an unsigned snapshot", ErrSnapshotRefused, inviter)
	}
	if maker := peer.ID(meta.Maker); maker != inviter {
		return SnapshotInfo{}, fmt.Errorf("%w: %s sent a snapshot made by %s, not by itself", ErrSnapshotRefused, inviter, maker)
	}
	entries, err := n.fetchSnapshotPages(ctx, th, inviter, links)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if entries != meta.Entries {
		return SnapshotInfo{}, fmt.Errorf("%w: from %s: its pages hold %d entries, its root says %d", ErrSnapshotRefused, inviter, entries, meta.Entries)
	}
	th.ingestMu.Lock()
	defer th.ingestMu.Unlock()
	return n.s.adoptSnapshot(ctx, th, root, links, meta)
}

// fetchSnapshotRoot asks a peer for its latest snapshot's root block.
func (n *network) fetchSnapshotRoot(ctx context.Context, th *thread, p peer.ID) (blocks.Block, error) {
	resp, err := n.request(ctx, p, &codec.Message{Type: codec.MsgSnapshot, Thread: th.id.Bytes(), Auth: n.auth(th, p)})
	if err != nil {
		return nil, err
	}
	if resp.Type != codec.MsgSnapshot || len(resp.Blocks) != 1 {
		return nil, fmt.Errorf("snapshot from %s: unexpected answer", p)
	}
	if len(resp.Blocks[0]) > codec.MaxBlockSize {
		return nil, fmt.Errorf("%w: root of %d bytes from %s", codec.ErrBadSnapshot, len(resp.Blocks[0]), p)
	}
	root, err := codec.NewSnapshotBlock(codec.SnapshotCodec, resp.Blocks[0])
	if err != nil {
		return nil, err
	}
	if want, err := cid.Cast(resp.Root); err != nil || !want.Equals(root.Cid()) {
		return nil, fmt.Errorf("%w: root from %s does not match its CID", codec.ErrBadSnapshot, p)
	}
	return root, nil
}

// fetchSnapshotPages fetches the pages a root lists from p, in order. Each
// page must be the block asked for, at most codec.MaxSnapshotPageBytes, and
// open as its page of the thread's snapshot; it is written to the
// blockstore (unpinned until the root is) before the next answer is read.
// It returns how many entries the pages hold.
func (n *network) fetchSnapshotPages(ctx context.Context, th *thread, p peer.ID, links []cid.Cid) (uint64, error) {
	read := th.read.Load()
	var entries, total uint64
	for next := 0; next < len(links); {
		req := &codec.Message{Type: codec.MsgBlocks, Thread: th.id.Bytes(), Auth: n.auth(th, p)}
		for _, c := range links[next:min(len(links), next+pagesPerRequest)] {
			req.Cids = append(req.Cids, c.Bytes())
		}
		resp, err := n.request(ctx, p, req)
		if err != nil {
			return 0, err
		}
		if resp.Type != codec.MsgBlocks || len(resp.Blocks) == 0 || len(resp.Blocks) > len(req.Cids) {
			return 0, fmt.Errorf("snapshot pages from %s: unexpected answer", p)
		}
		got := make([]blocks.Block, 0, len(resp.Blocks))
		for _, data := range resp.Blocks {
			if len(data) > codec.MaxSnapshotPageBytes {
				return 0, fmt.Errorf("%w: page %d from %s: %d bytes", ErrSnapshotRefused, next, p, len(data))
			}
			if total += uint64(len(data)); total > codec.MaxSnapshotBytes {
				return 0, fmt.Errorf("%w: the pages from %s exceed %d bytes", ErrSnapshotRefused, p, uint64(codec.MaxSnapshotBytes))
			}
			blk, err := codec.NewSnapshotBlock(cid.Raw, data)
			if err != nil {
				return 0, err
			}
			if !blk.Cid().Equals(links[next]) {
				return 0, fmt.Errorf("%w: page %d from %s is not the one asked for", ErrSnapshotRefused, next, p)
			}
			es, err := codec.OpenSnapshotPage(read, th.id.Bytes(), next, blk)
			if err != nil {
				return 0, fmt.Errorf("%w: from %s: %w", ErrSnapshotRefused, p, err)
			}
			entries += uint64(len(es))
			got = append(got, blk)
			next++
		}
		if err := n.s.deps.Blockstore.PutMany(ctx, got); err != nil {
			return 0, fmt.Errorf("store snapshot pages: %w", err)
		}
	}
	return entries, nil
}

// adoptSnapshot makes a snapshot taken at a join (its pages stored, its
// root opened and its maker checked) the thread's latest, and
// fast-forwards every log that is behind its cursor: such a log's base
// moves to the cursor and only later events are pulled. A log that holds
// events past the cursor must hold the cursor's event itself. It is only
// ever called by joinSnapshot; the caller holds th.ingestMu.
func (s *Service) adoptSnapshot(ctx context.Context, th *thread, root blocks.Block, links []cid.Cid, meta codec.SnapshotMeta) (SnapshotInfo, error) {
	type ff struct {
		st  *logState
		seq uint64
		c   cid.Cid
	}
	var moves []ff
	for _, sc := range meta.Cursor {
		id, err := ipel.LogIDFromBytes(sc.Log)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("%w: %v", codec.ErrBadSnapshot, err)
		}
		c, err := cid.Cast(sc.Cid)
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("%w: cursor of log %s", codec.ErrBadSnapshot, id)
		}
		if err := s.addLog(ctx, th, id); err != nil {
			return SnapshotInfo{}, err
		}
		th.mu.Lock()
		st := th.logs[id]
		seq, base, own := st.seq, st.base, st == th.own
		th.mu.Unlock()
		switch {
		case seq >= sc.Seq:
			held, err := s.cidAt(ctx, th, id, sc.Seq)
			if err != nil {
				return SnapshotInfo{}, fmt.Errorf("snapshot cursor of log %s at %d: %w", id, sc.Seq, err)
			}
			if !held.Equals(c) {
				return SnapshotInfo{}, fmt.Errorf("%w: log %s: the snapshot's event %d differs from the one held", ErrEquivocation, id, sc.Seq)
			}
		case own:
			return SnapshotInfo{}, fmt.Errorf("%w: the snapshot is ahead of this node's own log %s", codec.ErrBadSnapshot, id)
		default:
			if base > 0 && base > sc.Seq {
				return SnapshotInfo{}, fmt.Errorf("snapshot behind the compaction of log %s", id)
			}
			moves = append(moves, ff{st, sc.Seq, c})
		}
	}
	si, err := s.storeSnapshot(ctx, th, root, nil, links, meta)
	if err != nil {
		return SnapshotInfo{}, err
	}
	for _, m := range moves {
		th.mu.Lock()
		behind := m.st.seq - m.st.base
		th.mu.Unlock()
		if err := s.setBase(ctx, th, m.st, m.seq, m.c, behind, 0); err != nil {
			return SnapshotInfo{}, err
		}
	}
	return si, nil
}

// servedSnapshot returns the thread's latest snapshot when this node may
// serve it: one it made and signed itself, in a thread that is not
// access-controlled. (A snapshot taken at a join is the inviter's word,
// which a joiner of this node would not take; an unsigned one is nobody's.)
func (n *network) servedSnapshot(ctx context.Context, th *thread) (*snapshotRecord, cid.Cid, error) {
	if th.id.Variant() == ipel.VariantAccessControlled {
		return nil, cid.Undef, fmt.Errorf("%w: access-controlled threads serve no snapshots (members replay the history)", ErrSnapshotRefused)
	}
	rec, err := n.s.snapshotRecord(ctx, th.id)
	if err != nil {
		return nil, cid.Undef, err
	}
	switch maker := peer.ID(rec.Maker); {
	case maker == "":
		return nil, cid.Undef, fmt.Errorf("%w: this node's latest snapshot is unsigned", ErrSnapshotRefused)
	case maker != n.self():
		return nil, cid.Undef, fmt.Errorf("%w: this node's latest snapshot was made by %s (it serves only its own)", ErrSnapshotRefused, maker)
	}
	root, err := cid.Cast(rec.Root)
	if err != nil {
		return nil, cid.Undef, err
	}
	return rec, root, nil
}

// serveSnapshot answers a snapshot request with the latest root.
func (n *network) serveSnapshot(ctx context.Context, th *thread) (*codec.Message, error) {
	rec, root, err := n.servedSnapshot(ctx, th)
	if err != nil {
		return nil, err
	}
	blk, err := n.s.deps.Blockstore.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("snapshot root: %w", err)
	}
	return &codec.Message{Type: codec.MsgSnapshot, Root: rec.Root, Blocks: [][]byte{blk.RawData()}}, nil
}

// serveBlocks answers with blocks of the latest snapshot, and only those,
// in the order asked, as many as fit a message.
func (n *network) serveBlocks(ctx context.Context, th *thread, m *codec.Message) (*codec.Message, error) {
	_, root, err := n.servedSnapshot(ctx, th)
	if err != nil {
		return nil, err
	}
	rblk, err := n.s.deps.Blockstore.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("snapshot root: %w", err)
	}
	links, err := codec.SnapshotLinks(rblk.RawData())
	if err != nil {
		return nil, err
	}
	allowed := make(map[cid.Cid]bool, len(links))
	for _, l := range links {
		allowed[l] = true
	}
	out := &codec.Message{Type: codec.MsgBlocks}
	size := 0
	for _, b := range m.Cids {
		c, err := cid.Cast(b)
		if err != nil || !allowed[c] {
			return nil, errors.New("not a block of the latest snapshot (it may have been replaced: ask again)")
		}
		blk, err := n.s.deps.Blockstore.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		if size+len(blk.RawData()) > codec.MaxMessageSize-(64<<10) {
			break
		}
		size += len(blk.RawData())
		out.Blocks = append(out.Blocks, blk.RawData())
	}
	if len(out.Blocks) == 0 {
		return nil, errors.New("no blocks asked")
	}
	return out, nil
}
