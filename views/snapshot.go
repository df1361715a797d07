package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Snapshots of views (paper §3.4.1). A snapshot holds every key/value the
// views keep under /<thread>/ except the cursors (/<thread>/cursor/, given
// by the snapshot's own cursor with each event's CID) and node-local data
// (/<thread>/local/), sorted by key. Views converge byte for byte, so
// replicas that applied the same events (the same cursor) produce the same
// pages; each node signs its own root (see codec/snapshot.go). A snapshot
// is loaded here only from the thread's own record: one this node took, or
// the one its inviter served at its join (threads.JoinWith).

// localPrefix and cursorPart are the parts of a thread's view keys that a
// snapshot leaves out.
const (
	cursorPart = "/cursor/"
	localPart  = "/local/"
)

func inSnapshot(rel string) bool {
	return !strings.HasPrefix(rel, cursorPart) && !strings.HasPrefix(rel, localPart)
}

// runnerOf returns the thread's runner, started if needed.
func (m *Manager) runnerOf(tid ipel.ThreadID) (*runner, error) {
	for {
		if err := m.Ensure(tid); err != nil {
			return nil, err
		}
		m.mu.Lock()
		r := m.runners[tid]
		m.mu.Unlock()
		if r != nil {
			return r, nil
		}
	}
}

// Snapshot takes a snapshot of a thread's views now, at the events applied
// so far, and makes it the thread's latest (see threads.SaveSnapshot).
func (m *Manager) Snapshot(ctx context.Context, tid ipel.ThreadID) (threads.SnapshotInfo, error) {
	if err := m.CatchUp(ctx, tid); err != nil {
		return threads.SnapshotInfo{}, err
	}
	r, err := m.runnerOf(tid)
	if err != nil {
		return threads.SnapshotInfo{}, err
	}
	return m.takeSnapshot(ctx, r)
}

// autoSnapshot is the runner's snapshot at a multiple of SnapshotInterval;
// it is skipped when the latest snapshot already covers as many events
// (a rebuild replaying history), and compacts afterwards if asked to.
func (m *Manager) autoSnapshot(ctx context.Context, r *runner) error {
	r.mu.Lock()
	var sum uint64
	for _, s := range r.applied {
		sum += s
	}
	r.mu.Unlock()
	if si, err := m.s.Snapshot(ctx, r.tid); err == nil && si.Events >= sum {
		return nil
	}
	if _, err := m.takeSnapshot(ctx, r); err != nil {
		return err
	}
	if m.AutoCompact {
		if _, err := m.Compact(ctx, r.tid); err != nil && !errors.Is(err, ErrNoCompaction) {
			return fmt.Errorf("compact: %w", err)
		}
	}
	return nil
}

func (m *Manager) takeSnapshot(ctx context.Context, r *runner) (threads.SnapshotInfo, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	// Re-checks a crash cut short finish first: a snapshot holds views
	// that are a function of its cursor.
	r.mu.Lock()
	upto := copyCursors(r.applied)
	r.mu.Unlock()
	if err := m.drainRechecks(ctx, r, upto); err != nil {
		return threads.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", r.tid, err)
	}
	prefix := threadPrefix(r.tid)
	res, err := m.store.Query(ctx, dsq.Query{Prefix: prefix + "/"})
	if err != nil {
		return threads.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", r.tid, err)
	}
	defer res.Close()
	var entries []codec.SnapshotEntry
	for e := range res.Next() {
		if e.Error != nil {
			return threads.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", r.tid, e.Error)
		}
		rel := strings.TrimPrefix(e.Key, prefix)
		if len(rel) == len(e.Key) || !inSnapshot(rel) {
			continue
		}
		entries = append(entries, codec.SnapshotEntry{Key: rel, Value: e.Value})
	}
	r.mu.Lock()
	cursor := copyCursors(r.applied)
	r.mu.Unlock()
	return m.s.SaveSnapshot(ctx, r.tid, cursor, entries)
}

// loadSnapshot replaces a thread's views with its latest snapshot: the
// entries in batches, the cursors in the last one (a crash before it leaves
// no cursors, and the next start loads the snapshot again).
func (m *Manager) loadSnapshot(ctx context.Context, r *runner) (map[ipel.LogID]uint64, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	prefix := threadPrefix(r.tid)
	if err := m.dropExceptLocal(ctx, r.tid); err != nil {
		return nil, fmt.Errorf("views of %s: %w", r.tid, err)
	}
	si, err := m.s.SnapshotEntries(ctx, r.tid, func(es []codec.SnapshotEntry) error {
		b, err := m.store.Batch(ctx)
		if err != nil {
			return err
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Key, "/") || !inSnapshot(e.Key) {
				return fmt.Errorf("%w: entry key %q", codec.ErrBadSnapshot, e.Key)
			}
			if err := b.Put(ctx, ds.NewKey(prefix+e.Key), e.Value); err != nil {
				return err
			}
		}
		return b.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("views of %s: load snapshot: %w", r.tid, err)
	}
	cursors := map[ipel.LogID]uint64{}
	b, err := m.store.Batch(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range si.Cursor {
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], c.Seq)
		if err := b.Put(ctx, cursorKey(r.tid, c.Log), seq[:]); err != nil {
			return nil, err
		}
		cursors[c.Log] = c.Seq
	}
	if err := b.Commit(ctx); err != nil {
		return nil, fmt.Errorf("views of %s: load snapshot: %w", r.tid, err)
	}
	// The snapshot carries the ACL's operations: judge what follows by them.
	r.hides = newHideTracker(false)
	if err := m.loadRunnerACL(ctx, r); err != nil {
		return nil, fmt.Errorf("views of %s: load snapshot: %w", r.tid, err)
	}
	r.mu.Lock()
	r.applied = copyCursors(cursors)
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
	log.Infof("views of %s: loaded snapshot %s (%d events, %d entries)", r.tid, si.Root, si.Events, si.Entries)
	return cursors, nil
}

// dropExceptLocal deletes a thread's views but the node-local data that
// outlives them (see keptLocal).
func (m *Manager) dropExceptLocal(ctx context.Context, tid ipel.ThreadID) error {
	return m.deleteUnder(ctx, threadPrefix(tid), keptLocal(tid))
}

// Compact compacts a thread's logs at its latest snapshot (see
// threads.Compact); the views read the same afterwards.
//
// Access-controlled threads are not compacted: a late ACL event can change
// how earlier events are judged, and judging them again needs them.
func (m *Manager) Compact(ctx context.Context, tid ipel.ThreadID) (threads.CompactResult, error) {
	if tid.Variant() == ipel.VariantAccessControlled {
		return threads.CompactResult{}, fmt.Errorf("compact %s: %w", tid, ErrNoCompaction)
	}
	return m.s.Compact(ctx, tid)
}
