package views

import (
	"context"
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
// collection are visible, an index that joins a collection's indexes is
// filled in from the documents there, and one that leaves them is emptied;
// that is work in proportion to the collection, which replicas meet in
// different states, so it is not charged to the event. The event leaves a
// mark instead (node-local, under /<thread>/local/recheck/<coll>, written in
// the event's batch), and once the batch is applied the runner goes over
// the marked collections: one pass a batch however many changes the batch
// made, reading documents as a stream, committing every recheckChunk bytes
// with the mark moved past the last document done (a crash resumes there),
// and feeding a change only for a document whose visibility changed. The
// cursors move after the pass, and a snapshot never sees a pass half done.
//
// In an access-controlled thread a schema change also judges the
// collection's puts again (docReducer.counts): a document whose put no
// longer counts (it breaks the new schema, from a writer without the
// delete role) is left for re-judging to take back to the last put that
// counts, and puts that did not count may count now (see rejudge.go).

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
	// Fields are indexes to fill in, if they are among the collection's
	// indexes when the pass runs.
	Fields []string `cbor:"f,omitempty"`
	// Unfill are indexes to empty first (and fill in again if they are
	// among the collection's indexes when the pass runs).
	Unfill []string `cbor:"u,omitempty"`
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
	rc.Fields = union(rc.Fields, add.Fields)
	rc.Unfill = union(rc.Unfill, add.Unfill)
	r.env.rechecks = true
	r.env.schemaMarked = r.env.schemaMarked || add.Schema
	rc.Log, rc.Seq, rc.Event = []byte(r.by.Log), r.by.Seq, nil
	if r.by.Cid.Defined() {
		rc.Event = r.by.Cid.Bytes()
	}
	return r.putEntry(ctx, k, rc)
}

// recheckCommit commits a chunk of a re-check with the changes it made
// visible, which the event by asked for.
type recheckCommit func(ov *overlay, by threads.Record, changes []DocChange) error

// recheckResult is what re-checks leave to re-judging, in an
// access-controlled thread (see rejudge.go).
type recheckResult struct {
	// lost are documents whose put no longer counts under their
	// collection's new schema.
	lost []ds.Key
	// colls are the collections whose schema changed.
	colls []string
	// by is the event that asked for the first of them.
	by threads.Record
}

func (res *recheckResult) empty() bool { return len(res.lost) == 0 && len(res.colls) == 0 }

// drainRechecks goes over every marked collection of a thread, committing
// every chunk bytes. acl is the thread's ACL (nil in a raw thread), by
// which the puts of a collection whose schema changed are judged again.
func drainRechecks(ctx context.Context, store ds.Batching, schemas *schemaCache, acl *ACL, tid ipel.ThreadID, chunk int, commit recheckCommit) (recheckResult, error) {
	var out recheckResult
	res, err := store.Query(ctx, dsq.Query{Prefix: recheckPrefix(tid)})
	if err != nil {
		return out, err
	}
	marks, err := res.Rest()
	if err != nil {
		return out, err
	}
	for _, e := range marks {
		var rc recheck
		if err := codec.Unmarshal(e.Value, &rc); err != nil {
			return out, fmt.Errorf("re-check mark %s: %w", e.Key, err)
		}
		coll := ds.RawKey(e.Key).BaseNamespace()
		by, err := rc.event(tid)
		if err != nil {
			return out, err
		}
		lost, err := recheckCollection(ctx, store, schemas, acl, tid, coll, rc, by, chunk, commit)
		if err != nil {
			return out, fmt.Errorf("re-check collection %q: %w", coll, err)
		}
		if acl != nil && rc.Schema {
			if out.empty() {
				out.by = by
			}
			out.lost = append(out.lost, lost...)
			out.colls = append(out.colls, coll)
		}
	}
	return out, nil
}

// recheckCollection goes over a collection's index entries to empty, then
// its documents from its mark on; it returns the documents whose put no
// longer counts.
func recheckCollection(ctx context.Context, store ds.Read, schemas *schemaCache, acl *ACL, tid ipel.ThreadID, coll string, rc recheck, by threads.Record, chunk int, commit recheckCommit) ([]ds.Key, error) {
	dr := &docReducer{env: &applyEnv{schemas: schemas, acl: acl}, tid: tid, ov: newOverlay(store)}
	flush := func() error {
		if err := commit(dr.ov, by, dr.changes); err != nil {
			return err
		}
		dr.ov, dr.changes = newOverlay(store), nil
		return nil
	}
	if len(rc.Unfill) > 0 {
		for _, f := range rc.Unfill {
			if err := dr.unfillIndex(ctx, store, coll, f, chunk, flush); err != nil {
				return nil, err
			}
		}
		rc.Fields, rc.Unfill = union(rc.Fields, rc.Unfill), nil
		if err := dr.putEntry(ctx, recheckKey(tid, coll), &rc); err != nil {
			return nil, err
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	cs, err := dr.coll(ctx, coll)
	if err != nil {
		return nil, err
	}
	indexes, err := dr.fieldsOf(ctx, cs, coll)
	if err != nil {
		return nil, err
	}
	var fill []string
	for _, f := range rc.Fields {
		if slices.Contains(indexes, f) {
			fill = append(fill, f)
		}
	}
	var lost []ds.Key
	if rc.Schema || len(fill) > 0 {
		q := dsq.Query{Prefix: docsPrefix(tid, "d", coll), Orders: []dsq.Order{dsq.OrderByKey{}}}
		if rc.After != "" {
			q.Filters = []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: rc.After}}
		}
		// The query reads the store as it was when it started; the pass
		// only writes documents it has passed.
		res, err := store.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				return nil, e.Error
			}
			gone, err := dr.recheckDoc(ctx, cs, coll, rc.Schema, fill, e.Entry)
			if err != nil {
				return nil, err
			}
			if gone {
				lost = append(lost, ds.RawKey(e.Key))
			}
			if dr.ov.size() >= chunk {
				rc.After = e.Key
				if err := dr.putEntry(ctx, recheckKey(tid, coll), &rc); err != nil {
					return nil, err
				}
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := dr.ov.Delete(ctx, recheckKey(tid, coll)); err != nil {
		return nil, err
	}
	return lost, flush()
}

// unfillIndex deletes the entries of an index, committing every chunk
// bytes (a crash deletes again what is left).
func (r *docReducer) unfillIndex(ctx context.Context, store ds.Read, coll, field string, chunk int, flush func() error) error {
	res, err := store.Query(ctx, dsq.Query{Prefix: indexFieldPrefix(r.tid, coll, field), KeysOnly: true})
	if err != nil {
		return err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		if err := r.ov.Delete(ctx, ds.RawKey(e.Key)); err != nil {
			return err
		}
		if r.ov.size() >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// recheckDoc decides one document's visibility again (when schema is set)
// and fills in the given indexes. In an access-controlled thread, a
// document whose put would now hide it, from a writer without the delete
// role on it, is left as it is and reported gone: its put no longer counts.
func (r *docReducer) recheckDoc(ctx context.Context, cs *collState, coll string, schema bool, fill []string, e dsq.Entry) (gone bool, err error) {
	key := ds.RawKey(e.Key)
	if key.Parent().String() != docsPrefix(r.tid, "d", coll) {
		return false, nil
	}
	var old DocEntry
	if err := codec.Unmarshal(e.Value, &old); err != nil {
		return false, fmt.Errorf("view entry %s: %w", e.Key, err)
	}
	if old.Deleted {
		return false, nil
	}
	id, err := hexID(key)
	if err != nil {
		return false, err
	}
	updated := old
	if schema {
		if cs.entry != nil && !cs.bad && cs.schema == nil {
			updated.Hidden = false // no schema: nothing to validate
		} else {
			parsed, err := parseJSON(old.Doc)
			updated.Hidden = err != nil || r.hidden(cs, parsed)
		}
		if !r.counts(cs, coll, id, &updated) {
			return true, nil
		}
	}
	if updated.Hidden != old.Hidden {
		if err := r.putEntry(ctx, key, &updated); err != nil {
			return false, err
		}
		return false, r.reindex(ctx, cs, coll, id, &old, &updated)
	}
	if updated.visible() {
		return false, r.indexDoc(ctx, coll, id, old.Doc, fill, true)
	}
	return false, nil
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

// union returns a with the strings of b it lacks appended.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
