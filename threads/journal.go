package threads

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// The block journal makes an event's blocks as durable as its head when the
// blockstore does not make its writes durable by itself (Deps.SyncBlocks is
// set): the synced batch that moves a head also holds a copy of every block
// it names, so a crash or a power loss cannot leave a head without its
// blocks. In the background, at most journalInterval later, a checkpoint
// makes the blockstore's copies durable (SyncBlocks, one call for every
// commit since the last checkpoint) and then drops the journal's. A start
// after a crash puts back every journaled block the blockstore lost or
// holds damaged, syncs them, and empties the journal. Close checkpoints, so
// a clean stop leaves the journal empty.
//
// Journal entries are keyed /jn/<n>/<cid>, with n counting up in each run,
// so that a block written twice (two events with the same body) has two
// entries, each dropped by the checkpoint that synced it.

// journalInterval is how long blocks may wait in the journal for the
// checkpoint that makes the blockstore's copies durable.
const journalInterval = time.Second

type blockJournal struct {
	s *Service

	next atomic.Uint64 // n of the next entry

	mu      sync.Mutex
	pending []ds.Key // entries committed since the last checkpoint
	timer   *time.Timer
	closed  bool

	checkpointMu sync.Mutex // one checkpoint at a time
}

func newBlockJournal(s *Service) *blockJournal { return &blockJournal{s: s} }

// journalKey is the journal entry of a block; n orders and tells apart the
// entries of a run.
func journalKey(n uint64, c cid.Cid) ds.Key {
	return ds.KeyWithNamespaces([]string{"jn", seqString(n), c.String()})
}

// add puts copies of blocks in the batch that commits their head and
// returns their entries, for committed.
func (j *blockJournal) add(ctx context.Context, b ds.Write, blks []blocks.Block) ([]ds.Key, error) {
	keys := make([]ds.Key, 0, len(blks))
	for _, blk := range blks {
		k := journalKey(j.next.Add(1), blk.Cid())
		if err := b.Put(ctx, k, blk.RawData()); err != nil {
			return nil, fmt.Errorf("journal block %s: %w", blk.Cid(), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// committed queues the entries of a committed batch for the next
// checkpoint.
func (j *blockJournal) committed(keys []ds.Key) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, keys...)
	j.armLocked()
}

// armLocked schedules a checkpoint, unless one is scheduled or the journal
// is closed (Close checkpoints itself).
func (j *blockJournal) armLocked() {
	if j.timer != nil || j.closed {
		return
	}
	j.timer = time.AfterFunc(journalInterval, func() {
		j.mu.Lock()
		closed := j.closed
		j.mu.Unlock()
		if closed {
			return
		}
		if err := j.checkpoint(context.Background()); err != nil {
			log.Warnf("block journal: %s (the blocks stay journaled; retrying)", err)
		}
	})
}

// checkpoint makes the blocks of the pending entries durable in the
// blockstore, then deletes the entries. On failure they stay pending, and
// in the journal, and a later checkpoint tries again.
func (j *blockJournal) checkpoint(ctx context.Context) error {
	j.checkpointMu.Lock()
	defer j.checkpointMu.Unlock()
	j.mu.Lock()
	keys := j.pending
	j.pending = nil
	if j.timer != nil {
		j.timer.Stop()
		j.timer = nil
	}
	j.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	err := j.sync(ctx, keys)
	if err != nil {
		j.mu.Lock()
		j.pending = append(keys, j.pending...)
		j.armLocked()
		j.mu.Unlock()
	}
	return err
}

// sync syncs the blocks of entries and deletes the entries.
func (j *blockJournal) sync(ctx context.Context, keys []ds.Key) error {
	cids := make([]cid.Cid, 0, len(keys))
	for _, k := range keys {
		if c, err := cid.Decode(k.BaseNamespace()); err == nil {
			cids = append(cids, c)
		}
	}
	if err := j.s.deps.SyncBlocks(ctx, cids); err != nil {
		return fmt.Errorf("sync %d journaled blocks: %w", len(cids), err)
	}
	b, err := j.s.deps.Datastore.Batch(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			return err
		}
	}
	// Not synced: entries that come back after a crash are checked again.
	return b.Commit(ctx)
}

// close checkpoints what is pending and stops the timer.
func (j *blockJournal) close(ctx context.Context) error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	return j.checkpoint(ctx)
}

// recoverBlocks runs at start, before anything reads a block: it puts back
// every journaled block the blockstore lacks or holds damaged (a crash
// before the checkpoint), syncs them all and empties the journal.
func (s *Service) recoverBlocks(ctx context.Context) error {
	res, err := s.deps.Datastore.Query(ctx, dsq.Query{Prefix: "/jn/"})
	if err != nil {
		return fmt.Errorf("read the block journal: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("read the block journal: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	keys := make([]ds.Key, 0, len(entries))
	restored := 0
	for _, e := range entries {
		k := ds.NewKey(e.Key)
		keys = append(keys, k)
		c, err := cid.Decode(k.BaseNamespace())
		if err != nil {
			continue // not an entry this engine wrote
		}
		if sum, err := c.Prefix().Sum(e.Value); err != nil || !sum.Equals(c) {
			continue
		}
		held, err := s.deps.Blockstore.Get(ctx, c)
		if err == nil && bytes.Equal(held.RawData(), e.Value) {
			continue
		}
		// Lost or damaged: write it again (delete first, so that a
		// blockstore that skips blocks it has does not skip it).
		_ = s.deps.Blockstore.DeleteBlock(ctx, c)
		blk, err := blocks.NewBlockWithCid(e.Value, c)
		if err != nil {
			return err
		}
		if err := s.deps.Blockstore.Put(ctx, blk); err != nil {
			return fmt.Errorf("restore block %s: %w", c, err)
		}
		restored++
	}
	if restored > 0 {
		log.Warnf("restored %d blocks from the block journal (the last stop was a crash)", restored)
	}
	return newBlockJournal(s).sync(ctx, keys)
}
