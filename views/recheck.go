package views

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Re-checks. A schema change decides again which documents of its
// collection are visible, and a new index is filled in from the documents
// there; that is work in proportion to the collection, which replicas meet
// in different states, so it is not charged to the event. The event leaves a
// mark instead (node-local, under /<thread>/local/recheck/<coll>, written in
// the event's batch), and once the batch is applied the runner goes over
// the marked collections: one pass a batch however many changes the batch
// made, reading documents as a stream, committing every recheckChunk bytes
// with the mark moved past the last document done (a crash resumes there),
// and feeding a change only for a document whose visibility changed. The
// cursors move after the pass, and a snapshot never sees a pass half done.

// recheckChunk is how many bytes of writes a re-check commits at a time.
const recheckChunk = 16 << 20

func recheckPrefix(tid ipel.ThreadID) string { return threadPrefix(tid) + localPart + "recheck" }

func recheckKey(tid ipel.ThreadID, coll string) ds.Key {
	return ds.RawKey(recheckPrefix(tid) + "/" + coll)
}

// recheck is the mark of a collection to go over.
type recheck struct {
	// After is the key of the last document done; empty: from the start.
	After string `cbor:"a,omitempty"`
	// Schema: decide the documents' visibility again.
	Schema bool `cbor:"s,omitempty"`
	// Fields are new indexes to fill in.
	Fields []string `cbor:"f,omitempty"`
	// Log, Seq and Event name the event that asked, for the change feed.
	Log   []byte `cbor:"l,omitempty"`
	Seq   uint64 `cbor:"n,omitempty"`
	Event []byte `cbor:"e,omitempty"`
}

// markRecheck adds to a collection's mark, which starts over from the
// first document.
func (r *docReducer) markRecheck(ctx context.Context, coll string, add recheck) error {
	k := recheckKey(r.tid, coll)
	rc, err := getEntry[recheck](ctx, r.ov, k)
	if err != nil {
		return err
	}
	if rc == nil {
		rc = &recheck{}
	}
	rc.After = ""
	rc.Schema = rc.Schema || add.Schema
	for _, f := range add.Fields {
		if !slices.Contains(rc.Fields, f) {
			rc.Fields = append(rc.Fields, f)
		}
	}
	r.env.rechecks = true
	rc.Log, rc.Seq, rc.Event = []byte(r.by.Log), r.by.Seq, nil
	if r.by.Cid.Defined() {
		rc.Event = r.by.Cid.Bytes()
	}
	return r.putEntry(ctx, k, rc)
}

// drainRechecks goes over every marked collection of a runner's thread;
// the caller holds the runner's applyMu.
func (m *Manager) drainRechecks(ctx context.Context, r *runner) error {
	return drainRechecks(ctx, m.store, m.schemas, r.tid, m.recheckChunk, func(ov *overlay, by threads.Record, changes []DocChange) error {
		saved := r.feed.last
		if err := r.feed.write(ctx, ov, by, changes); err != nil {
			r.feed.last = saved
			return err
		}
		ov.endEvent(true)
		if err := commitOverlay(ctx, m.store, ov); err != nil {
			r.feed.last = saved
			return err
		}
		return nil
	})
}

// recheckCommit commits a chunk of a re-check with the changes it made
// visible, which the event by asked for.
type recheckCommit func(ov *overlay, by threads.Record, changes []DocChange) error

// drainRechecks goes over every marked collection of a thread, committing
// every chunk bytes.
func drainRechecks(ctx context.Context, store ds.Batching, schemas *schemaCache, tid ipel.ThreadID, chunk int, commit recheckCommit) error {
	res, err := store.Query(ctx, dsq.Query{Prefix: recheckPrefix(tid)})
	if err != nil {
		return err
	}
	marks, err := res.Rest()
	if err != nil {
		return err
	}
	for _, e := range marks {
		var rc recheck
		if err := codec.Unmarshal(e.Value, &rc); err != nil {
			return fmt.Errorf("re-check mark %s: %w", e.Key, err)
		}
		coll := ds.RawKey(e.Key).BaseNamespace()
		if err := recheckCollection(ctx, store, schemas, tid, coll, rc, chunk, commit); err != nil {
			return fmt.Errorf("re-check collection %q: %w", coll, err)
		}
	}
	return nil
}

// recheckCollection goes over a collection's documents from its mark on.
func recheckCollection(ctx context.Context, store ds.Read, schemas *schemaCache, tid ipel.ThreadID, coll string, rc recheck, chunk int, commit recheckCommit) error {
	by, err := rc.event(tid)
	if err != nil {
		return err
	}
	q := dsq.Query{Prefix: docsPrefix(tid, "d", coll), Orders: []dsq.Order{dsq.OrderByKey{}}}
	if rc.After != "" {
		q.Filters = []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: rc.After}}
	}
	// The query reads the store as it was when it started; the pass only
	// writes documents it has passed.
	res, err := store.Query(ctx, q)
	if err != nil {
		return err
	}
	defer res.Close()
	dr := &docReducer{env: &applyEnv{schemas: schemas}, tid: tid, ov: newOverlay(store)}
	cs, err := dr.coll(ctx, coll)
	if err != nil {
		return err
	}
	flush := func() error {
		if err := commit(dr.ov, by, dr.changes); err != nil {
			return err
		}
		dr.ov, dr.changes = newOverlay(store), nil
		return nil
	}
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		if err := dr.recheckDoc(ctx, cs, coll, rc, e.Entry); err != nil {
			return err
		}
		if dr.ov.size() >= chunk {
			rc.After = e.Key
			if err := dr.putEntry(ctx, recheckKey(tid, coll), &rc); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := dr.ov.Delete(ctx, recheckKey(tid, coll)); err != nil {
		return err
	}
	return flush()
}

// recheckDoc decides one document's visibility again and fills in the new
// indexes.
func (r *docReducer) recheckDoc(ctx context.Context, cs *collState, coll string, rc recheck, e dsq.Entry) error {
	key := ds.RawKey(e.Key)
	if key.Parent().String() != docsPrefix(r.tid, "d", coll) {
		return nil
	}
	var old DocEntry
	if err := codec.Unmarshal(e.Value, &old); err != nil {
		return fmt.Errorf("view entry %s: %w", e.Key, err)
	}
	if old.Deleted {
		return nil
	}
	id, err := hex.DecodeString(key.BaseNamespace())
	if err != nil {
		return fmt.Errorf("view entry %s: %w", e.Key, err)
	}
	updated := old
	if rc.Schema {
		if cs.entry != nil && !cs.bad && cs.schema == nil {
			updated.Hidden = false // no schema: nothing to validate
		} else {
			parsed, err := parseJSON(old.Doc)
			updated.Hidden = err != nil || r.hidden(cs, parsed)
		}
	}
	if updated.Hidden != old.Hidden {
		if err := r.putEntry(ctx, key, &updated); err != nil {
			return err
		}
		return r.reindex(ctx, cs, coll, string(id), &old, &updated)
	}
	if updated.visible() {
		return r.indexDoc(ctx, coll, string(id), old.Doc, rc.Fields, true)
	}
	return nil
}

// commitOverlay writes an overlay's batch to the store, at once.
func commitOverlay(ctx context.Context, store ds.Batching, ov *overlay) error {
	b, err := store.Batch(ctx)
	if err != nil {
		return err
	}
	if err := ov.flush(ctx, b); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// event returns the event that asked for a re-check, as the change feed
// names it.
func (rc recheck) event(tid ipel.ThreadID) (threads.Record, error) {
	rec := threads.Record{EventRef: threads.EventRef{Thread: tid, Seq: rc.Seq}}
	rec.Log = ipel.LogID(rc.Log)
	if len(rc.Event) > 0 {
		c, err := cid.Cast(rc.Event)
		if err != nil {
			return rec, fmt.Errorf("re-check mark: %w", err)
		}
		rec.Cid = c
	}
	return rec, nil
}
