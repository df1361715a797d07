package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// The change feed records, in the order this node applied them, the
// visible changes of a thread's documents, each numbered from 1. It is
// local to the node (other replicas apply events in other orders), kept
// apart from the views so it survives a rebuild, and written in the same
// batch as the state change it reports, so a change stream resumed from
// any number misses nothing.

func feedPrefix(tid ipel.ThreadID) string { return "/feed/" + tid.String() }

func feedCounterKey(tid ipel.ThreadID) ds.Key { return ds.RawKey(feedPrefix(tid) + "/n") }

func feedEntryKey(tid ipel.ThreadID, n uint64) ds.Key {
	return ds.RawKey(fmt.Sprintf("%s/e/%016x", feedPrefix(tid), n))
}

// FeedEntry is one change in a thread's change feed.
type FeedEntry struct {
	Seq uint64 `cbor:"n"`
	DocChange
	// Event is the event that made the change.
	Event string `cbor:"e"`
}

// feedWriter appends a runner's changes to its thread's feed.
type feedWriter struct {
	tid     ipel.ThreadID
	last    uint64                // number of the last committed entry
	pending uint64                // entries written to the open batch
	quiet   map[ipel.LogID]uint64 // events already fed before a rebuild
}

func (m *Manager) openFeed(ctx context.Context, tid ipel.ThreadID, quiet map[ipel.LogID]uint64) (*feedWriter, error) {
	f := &feedWriter{tid: tid, quiet: quiet}
	b, err := m.store.Get(ctx, feedCounterKey(tid))
	switch {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("change feed: %w", err)
	case len(b) != 8:
		return nil, errors.New("change feed: corrupt counter")
	default:
		f.last = binary.BigEndian.Uint64(b)
	}
	return f, nil
}

// write adds an event's changes to the batch w.
func (f *feedWriter) write(ctx context.Context, w ds.Write, rec threads.Record, changes []DocChange) error {
	f.pending = 0
	if len(changes) == 0 || rec.Seq <= f.quiet[rec.Log] {
		return nil
	}
	for _, c := range changes {
		n := f.last + f.pending + 1
		b, err := codec.Marshal(&FeedEntry{Seq: n, DocChange: c, Event: rec.Cid.String()})
		if err != nil {
			return err
		}
		if err := w.Put(ctx, feedEntryKey(f.tid, n), b); err != nil {
			return err
		}
		f.pending++
	}
	var cnt [8]byte
	binary.BigEndian.PutUint64(cnt[:], f.last+f.pending)
	if err := w.Put(ctx, feedCounterKey(f.tid), cnt[:]); err != nil {
		return err
	}
	f.last += f.pending
	return nil
}

// rollback forgets the entries of a batch that failed to commit.
func (f *feedWriter) rollback() {
	f.last -= f.pending
	f.pending = 0
}

// changed returns a channel closed the next time the thread's views move
// (or their runner stops).
func (m *Manager) changed(tid ipel.ThreadID) (<-chan struct{}, error) {
	for {
		if err := m.Ensure(tid); err != nil {
			return nil, err
		}
		m.mu.Lock()
		r := m.runners[tid]
		m.mu.Unlock()
		if r == nil {
			continue // replaced by a rebuild between the two calls
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.moved, nil
	}
}

// Changes calls fn with every entry of a thread's change feed after since,
// in order, then with each new one as it is made, until ctx ends or fn
// returns an error. coll, when set, selects one collection.
func (m *Manager) Changes(ctx context.Context, tid ipel.ThreadID, coll string, since uint64, fn func(FeedEntry) error) error {
	next := since + 1
	for {
		moved, err := m.changed(tid)
		if err != nil {
			return err
		}
		for {
			b, err := m.store.Get(ctx, feedEntryKey(tid, next))
			if errors.Is(err, ds.ErrNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("change feed of %s: %w", tid, err)
			}
			var e FeedEntry
			if err := codec.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("change feed of %s: entry %d: %w", tid, next, err)
			}
			next++
			if coll != "" && e.Coll != coll {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-moved:
		}
	}
}
