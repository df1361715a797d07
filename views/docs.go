package views

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"

	ds "github.com/ipfs/go-datastore"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// The documents view: collections of JSON documents keyed by their "_id",
// declared in the thread itself with an optional JSON Schema and indexes.
//
// Its state, under the thread's view prefix:
//
//	docs/c/<coll>                           collection: schema and version
//	docs/x/<coll>/<hex field>               index definition (declared)
//	docs/xd/<coll>/<hex field>              index definition (dropped)
//	docs/d/<coll>/<hex id>                  document (or tombstone) and version
//	docs/i/<coll>/<hex field>/<value>/<hex id>  index entry (empty)
//
// Documents converge like key/value entries: the write with the later
// Version wins. Whether a document is visible is a function of the final
// state alone (not deleted, its collection declared, and valid under the
// collection's schema), and index entries exist exactly for visible
// documents, so replicas that saw the same events in any order hold the
// same bytes.
//
// An index definition is declared or dropped, the later Version winning;
// of the declared ones, the first MaxIndexes in field order are a
// collection's indexes (more only arise from concurrent declarations), so
// every replica maintains the same ones.
//
// In an access-controlled thread, a put that would hide a document (break
// the collection's schema) counts only from a writer with the delete role
// on it (docReducer.counts): judged against the schema the collection
// holds, and judged again when the schema changes (recheck.go,
// rejudge.go).

// DocOpKind says what a DocOp does.
type DocOpKind uint8

// Document operations.
const (
	DocPut        DocOpKind = 1 // put a document (create or replace)
	DocDelete     DocOpKind = 2 // delete a document (a tombstone)
	DocCollection DocOpKind = 3 // declare a collection, or replace its schema
	DocIndex      DocOpKind = 4 // add an index on a field
	DocIndexDrop  DocOpKind = 5 // drop the index on a field
)

// MaxIndexes is how many indexes a collection has at most.
const MaxIndexes = 16

// DocOp is one operation on the documents view.
type DocOp struct {
	Kind  DocOpKind `cbor:"t"`
	Coll  string    `cbor:"c"`
	ID    string    `cbor:"i,omitempty"`
	JSON  []byte    `cbor:"j,omitempty"` // the document (put) or the schema (collection)
	Field string    `cbor:"f,omitempty"` // the indexed field path (index)
}

// CollEntry is a declared collection.
type CollEntry struct {
	Schema  []byte  `cbor:"s,omitempty"`
	Version Version `cbor:"w"`
}

// IndexEntry is an index definition, declared (under docs/x) or dropped
// (under docs/xd).
type IndexEntry struct {
	Field   string  `cbor:"f"`
	Version Version `cbor:"w"`
}

// DocEntry is what a document ID holds: a document or a tombstone, whether
// it is hidden (collection undeclared or schema not met), and the version of
// the write that put it there.
type DocEntry struct {
	Doc     []byte  `cbor:"j,omitempty"` // canonical JSON
	Deleted bool    `cbor:"d,omitempty"`
	Hidden  bool    `cbor:"h,omitempty"`
	Version Version `cbor:"w"`
}

func (e *DocEntry) visible() bool { return e != nil && !e.Deleted && !e.Hidden }

// ChangeType is the kind of a document change.
type ChangeType string

// Document changes, as a change stream reports them.
const (
	ChangeCreate ChangeType = "create"
	ChangeUpdate ChangeType = "update"
	ChangeDelete ChangeType = "delete"
)

// DocChange is one visible change of a document.
type DocChange struct {
	Coll string     `cbor:"c"`
	ID   string     `cbor:"i"`
	Type ChangeType `cbor:"t"`
	Doc  []byte     `cbor:"j,omitempty"` // the document after a create or update
}

var collNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// ErrBadCollection is returned for a collection name that is not allowed.
var ErrBadCollection = errors.New("collection names are 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit")

func validCollection(name string) error {
	if !collNameRE.MatchString(name) {
		return fmt.Errorf("collection %q: %w", name, ErrBadCollection)
	}
	return nil
}

func docsPrefix(tid ipel.ThreadID, kind, coll string) string {
	return threadPrefix(tid) + "/docs/" + kind + "/" + coll
}

func collKey(tid ipel.ThreadID, coll string) ds.Key {
	return ds.RawKey(docsPrefix(tid, "c", coll))
}

func indexDefKey(tid ipel.ThreadID, coll, field string) ds.Key {
	return ds.RawKey(docsPrefix(tid, "x", coll) + "/" + hex.EncodeToString([]byte(field)))
}

func indexDropKey(tid ipel.ThreadID, coll, field string) ds.Key {
	return ds.RawKey(docsPrefix(tid, "xd", coll) + "/" + hex.EncodeToString([]byte(field)))
}

func docKey(tid ipel.ThreadID, coll, id string) ds.Key {
	return ds.RawKey(docsPrefix(tid, "d", coll) + "/" + hex.EncodeToString([]byte(id)))
}

func indexFieldPrefix(tid ipel.ThreadID, coll, field string) string {
	return docsPrefix(tid, "i", coll) + "/" + hex.EncodeToString([]byte(field))
}

func indexEntryKey(tid ipel.ThreadID, coll, field string, value any, id string) ds.Key {
	return ds.RawKey(indexFieldPrefix(tid, coll, field) + "/" + indexValue(value) + "/" + hex.EncodeToString([]byte(id)))
}

// docReducer folds document operations into the view. Its methods depend
// only on their arguments and the state they read.
type docReducer struct {
	env *applyEnv // nil when reading
	tid ipel.ThreadID
	ov  *overlay
	// by is the event being applied; change-feed entries of the re-checks
	// it asks for name it.
	by      threads.EventRef
	changes []DocChange
}

// collState is what the reducer reads of a collection for each document:
// its entry, compiled schema and indexed fields, kept for a batch (the
// reducer's own writes keep it current).
type collState struct {
	entry     *CollEntry
	schema    *jsonschema.Schema // nil: no schema (or bad)
	bad       bool               // the schema does not compile: every document is hidden
	fields    []string
	hasFields bool
}

func getEntry[T any](ctx context.Context, ov *overlay, k ds.Key) (*T, error) {
	b, err := ov.get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e T
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("view entry %s: %w", k, err)
	}
	return &e, nil
}

func (r *docReducer) putEntry(ctx context.Context, k ds.Key, v any) error {
	b, err := codec.Marshal(v)
	if err != nil {
		return err
	}
	return r.ov.Put(ctx, k, b)
}

func (r *docReducer) refuse(reason string) { r.env.report.refuse(reason) }

// coll returns a collection's state, read once a batch.
func (r *docReducer) coll(ctx context.Context, name string) (*collState, error) {
	if cs := r.env.colls[name]; cs != nil {
		return cs, nil
	}
	entry, err := getEntry[CollEntry](ctx, r.ov, collKey(r.tid, name))
	if err != nil {
		return nil, err
	}
	cs := &collState{entry: entry}
	if entry != nil && len(entry.Schema) > 0 {
		s, err := r.env.schemas.compile(entry.Schema)
		cs.schema, cs.bad = s, err != nil
	}
	if r.env.colls == nil {
		r.env.colls = map[string]*collState{}
	}
	r.env.colls[name] = cs
	return cs, nil
}

// fieldsOf returns a collection's indexed fields, read once a batch.
func (r *docReducer) fieldsOf(ctx context.Context, cs *collState, coll string) ([]string, error) {
	if !cs.hasFields {
		fields, err := r.indexedFields(ctx, coll)
		if err != nil {
			return nil, err
		}
		cs.fields, cs.hasFields = fields, true
	}
	return cs.fields, nil
}

// apply folds one operation; ops that are malformed (a hostile or buggy
// writer) change nothing, and are counted.
func (r *docReducer) apply(ctx context.Context, op DocOp, v Version) error {
	if validCollection(op.Coll) != nil {
		r.refuse(RefuseCollection)
		return nil
	}
	switch op.Kind {
	case DocPut, DocDelete:
		return r.applyDoc(ctx, op, v)
	case DocCollection:
		return r.applyCollection(ctx, op, v)
	case DocIndex, DocIndexDrop:
		return r.applyIndex(ctx, op, v)
	}
	r.refuse(RefuseUnknownKind)
	return nil
}

// docEntryOf returns the entry a put or delete writes (without its hidden
// flag) and the parsed document, or the reason the operation is refused.
func docEntryOf(op DocOp, v Version) (DocEntry, any, string) {
	switch {
	case op.ID == "":
		return DocEntry{}, nil, RefuseMismatchID
	case len(op.ID) > MaxKeySize:
		return DocEntry{}, nil, RefuseKeySize
	case op.Kind == DocDelete:
		return DocEntry{Deleted: true, Version: v}, nil, ""
	}
	parsed, err := parseDocument(op.JSON)
	if err != nil {
		return DocEntry{}, nil, RefuseDocShape
	}
	if id, _ := lookup(parsed, "_id"); id != op.ID {
		return DocEntry{}, nil, RefuseMismatchID // the document must carry the ID it is written under
	}
	doc, err := canonicalJSON(parsed)
	if err != nil {
		return DocEntry{}, nil, RefuseDocShape
	}
	if len(doc) > MaxDocSize {
		return DocEntry{}, nil, RefuseDocSize
	}
	return DocEntry{Doc: doc, Version: v}, parsed, ""
}

func (r *docReducer) applyDoc(ctx context.Context, op DocOp, v Version) error {
	next, parsed, refused := docEntryOf(op, v)
	if refused != "" {
		r.refuse(refused)
		return nil
	}
	k := docKey(r.tid, op.Coll, op.ID)
	cur, err := getEntry[DocEntry](ctx, r.ov, k)
	if err != nil {
		return err
	}
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return nil
	}
	cs, err := r.coll(ctx, op.Coll)
	if err != nil {
		return err
	}
	next.Hidden = !next.Deleted && r.hidden(cs, parsed)
	if !next.Deleted && !r.counts(cs, op.Coll, op.ID, &next) {
		r.refuse(RefuseHide)
		r.env.hides.skipped(op.Coll, v)
		return nil
	}
	if err := r.putEntry(ctx, k, &next); err != nil {
		return err
	}
	return r.reindex(ctx, cs, op.Coll, op.ID, cur, &next)
}

// counts says whether a put counts. In an access-controlled thread, a put
// that breaks the collection's schema would hide the document, which only
// a peer with the delete role on it may do: from anyone else it does not
// count, as if it were not there, and the last put that counts stays. A
// put is judged against the schema the collection holds; a schema change
// judges the collection's puts again (recheck.go, rejudge.go).
func (r *docReducer) counts(cs *collState, coll, id string, e *DocEntry) bool {
	if r.env == nil || r.env.acl == nil || cs.entry == nil || !e.Hidden {
		return true
	}
	return r.env.acl.mayHide(coll, id, e.Version)
}

// hidden says whether a parsed document is invisible in a collection.
func (r *docReducer) hidden(cs *collState, doc any) bool {
	switch {
	case cs.entry == nil || cs.bad:
		return true
	case cs.schema == nil:
		return false
	}
	return cs.schema.Validate(doc) != nil
}

// reindex moves a document's index entries from its old entry to its new
// one and records the visible change.
func (r *docReducer) reindex(ctx context.Context, cs *collState, coll, id string, old, next *DocEntry) error {
	wasVisible, isVisible := old.visible(), next.visible()
	if wasVisible && isVisible && bytes.Equal(old.Doc, next.Doc) {
		return nil
	}
	fields, err := r.fieldsOf(ctx, cs, coll)
	if err != nil {
		return err
	}
	if wasVisible {
		if err := r.indexDoc(ctx, coll, id, old.Doc, fields, false); err != nil {
			return err
		}
	}
	if isVisible {
		if err := r.indexDoc(ctx, coll, id, next.Doc, fields, true); err != nil {
			return err
		}
	}
	switch {
	case !wasVisible && isVisible:
		r.changes = append(r.changes, DocChange{Coll: coll, ID: id, Type: ChangeCreate, Doc: next.Doc})
	case wasVisible && isVisible:
		r.changes = append(r.changes, DocChange{Coll: coll, ID: id, Type: ChangeUpdate, Doc: next.Doc})
	case wasVisible && !isVisible:
		r.changes = append(r.changes, DocChange{Coll: coll, ID: id, Type: ChangeDelete})
	}
	return nil
}

// indexedFields lists a collection's indexes: the first MaxIndexes
// declared definitions, in field order.
func (r *docReducer) indexedFields(ctx context.Context, coll string) ([]string, error) {
	entries, err := r.ov.first(ctx, docsPrefix(r.tid, "x", coll), MaxIndexes)
	if err != nil {
		return nil, err
	}
	fields := make([]string, 0, len(entries))
	for _, e := range entries {
		var ie IndexEntry
		if err := codec.Unmarshal(e.Value, &ie); err != nil {
			return nil, fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		fields = append(fields, ie.Field)
	}
	return fields, nil
}

// indexDoc adds (or removes) a document's entries in the given indexes.
func (r *docReducer) indexDoc(ctx context.Context, coll, id string, doc []byte, fields []string, add bool) error {
	if len(fields) == 0 {
		return nil
	}
	parsed, err := parseJSON(doc)
	if err != nil {
		return nil
	}
	for _, f := range fields {
		val, ok := lookup(parsed, f)
		if !ok || !scalar(val) {
			continue
		}
		k := indexEntryKey(r.tid, coll, f, val, id)
		if add {
			err = r.ov.Put(ctx, k, []byte{})
		} else {
			err = r.ov.Delete(ctx, k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyCollection declares a collection or replaces its schema. A schema
// the schema rules refuse is refused alone. The documents already there are
// looked at again once the batch is applied (see recheck.go), so that
// changes within a batch cost one pass.
func (r *docReducer) applyCollection(ctx context.Context, op DocOp, v Version) error {
	if len(op.JSON) > 0 {
		if _, err := r.env.schemas.compile(op.JSON); err != nil {
			r.refuse(RefuseSchema)
			return nil
		}
	}
	k := collKey(r.tid, op.Coll)
	cur, err := getEntry[CollEntry](ctx, r.ov, k)
	if err != nil {
		return err
	}
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return nil
	}
	if err := r.putEntry(ctx, k, &CollEntry{Schema: op.JSON, Version: v}); err != nil {
		return err
	}
	delete(r.env.colls, op.Coll)
	if cur != nil && bytes.Equal(cur.Schema, op.JSON) {
		return nil
	}
	return r.markRecheck(ctx, op.Coll, recheck{Schema: true})
}

// applyIndex declares or drops an index definition. The collection's
// indexes (see indexedFields) may change by it: the entries of an index
// that leaves them are deleted, and those of one that joins them filled in,
// once the batch is applied (see recheck.go).
func (r *docReducer) applyIndex(ctx context.Context, op DocOp, v Version) error {
	if validPath(op.Field) != nil {
		r.refuse(RefuseIndexField)
		return nil
	}
	declared, dropped := indexDefKey(r.tid, op.Coll, op.Field), indexDropKey(r.tid, op.Coll, op.Field)
	cur, err := r.indexDef(ctx, op.Coll, op.Field)
	if err != nil {
		return err
	}
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return nil
	}
	cs, err := r.coll(ctx, op.Coll)
	if err != nil {
		return err
	}
	before, err := r.fieldsOf(ctx, cs, op.Coll)
	if err != nil {
		return err
	}
	put, del := declared, dropped
	if op.Kind == DocIndexDrop {
		put, del = dropped, declared
	}
	if err := r.putEntry(ctx, put, &IndexEntry{Field: op.Field, Version: v}); err != nil {
		return err
	}
	if err := r.ov.Delete(ctx, del); err != nil {
		return err
	}
	after, err := r.fieldsAfter(ctx, cs, op, before)
	if err != nil {
		return err
	}
	return r.markIndexChanges(ctx, op.Coll, before, after)
}

// indexDef returns a field's index definition, declared or dropped.
func (r *docReducer) indexDef(ctx context.Context, coll, field string) (*IndexEntry, error) {
	cur, err := getEntry[IndexEntry](ctx, r.ov, indexDefKey(r.tid, coll, field))
	if cur != nil || err != nil {
		return cur, err
	}
	return getEntry[IndexEntry](ctx, r.ov, indexDropKey(r.tid, coll, field))
}

// fieldsAfter returns a collection's indexes after an index operation, from
// those before it: a declaration can only push the last one out, while a
// drop of one of them lets the next declared in, which takes a reading.
func (r *docReducer) fieldsAfter(ctx context.Context, cs *collState, op DocOp, before []string) ([]string, error) {
	in := slices.Contains(before, op.Field)
	switch {
	case op.Kind == DocIndex && !in:
		after := append(slices.Clone(before), op.Field)
		sort.Strings(after)
		cs.fields = after[:min(len(after), MaxIndexes)]
	case op.Kind == DocIndexDrop && in:
		cs.hasFields = false
		return r.fieldsOf(ctx, cs, op.Coll)
	}
	return cs.fields, nil
}

// markIndexChanges marks a collection to re-check for the indexes that
// left its indexes (their entries go) and those that joined (filled in).
func (r *docReducer) markIndexChanges(ctx context.Context, coll string, before, after []string) error {
	var mark recheck
	for _, f := range before {
		if !slices.Contains(after, f) {
			mark.Unfill = append(mark.Unfill, f)
		}
	}
	for _, f := range after {
		if !slices.Contains(before, f) {
			mark.Fields = append(mark.Fields, f)
		}
	}
	if len(mark.Unfill) == 0 && len(mark.Fields) == 0 {
		return nil
	}
	return r.markRecheck(ctx, coll, mark)
}
