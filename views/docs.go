package views

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
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

// schemaCache compiles each distinct schema once. Compiling is a pure
// function of the schema bytes; the cache only saves time.
type schemaCache struct {
	mu       sync.Mutex
	compiled map[string]schemaResult
}

type schemaResult struct {
	s   *jsonschema.Schema
	err error
}

func newSchemaCache() *schemaCache { return &schemaCache{compiled: map[string]schemaResult{}} }

// refuseLoader keeps schemas from loading anything by URL: a schema comes
// from a thread, and must not make a replica read files or the network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: external references are not allowed", url)
}

// compile returns the compiled form of a JSON Schema.
func (c *schemaCache) compile(schema []byte) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.compiled[string(schema)]; ok {
		return r.s, r.err
	}
	s, err := compileSchema(schema)
	if len(c.compiled) > 1024 {
		clear(c.compiled)
	}
	c.compiled[string(schema)] = schemaResult{s, err}
	return s, err
}

// ErrBadSchema is wrapped by errors about schemas that do not compile.
var ErrBadSchema = errors.New("bad JSON Schema")

func compileSchema(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", ErrBadSchema, err)
	}
	comp := jsonschema.NewCompiler()
	comp.UseLoader(refuseLoader{})
	const loc = "thread:///schema.json"
	if err := comp.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	s, err := comp.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	return s, nil
}

// ErrSchema is wrapped by errors about documents that break their
// collection's schema.
var ErrSchema = errors.New("document does not match the collection's schema")

// validate checks a parsed document against a collection's schema; a
// collection without a schema accepts every document.
func (c *schemaCache) validate(coll *CollEntry, doc any) error {
	if len(coll.Schema) == 0 {
		return nil
	}
	s, err := c.compile(coll.Schema)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	return nil
}

// docReducer folds document operations into the view. Its methods depend
// only on their arguments and the state they read.
type docReducer struct {
	schemas *schemaCache
	tid     ipel.ThreadID
	ov      *overlay
	w       ds.Write
	env     *applyEnv // nil when reading
	changes []DocChange
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
	return r.ov.put(ctx, r.w, k, b)
}

// apply folds one operation; ops that are malformed (a hostile or buggy
// writer) change nothing.
func (r *docReducer) apply(ctx context.Context, op DocOp, v Version) error {
	if validCollection(op.Coll) != nil {
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
	return nil
}

func (r *docReducer) applyDoc(ctx context.Context, op DocOp, v Version) error {
	var next DocEntry
	if op.Kind == DocDelete {
		next = DocEntry{Deleted: true, Version: v}
	} else {
		parsed, err := parseJSON(op.JSON)
		if err != nil {
			return nil
		}
		if id, _ := lookup(parsed, "_id"); id != op.ID {
			return nil // the document must carry the ID it is written under
		}
		doc, err := canonicalJSON(parsed)
		if err != nil {
			return nil
		}
		next = DocEntry{Doc: doc, Version: v}
	}
	if op.ID == "" {
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
	coll, err := getEntry[CollEntry](ctx, r.ov, collKey(r.tid, op.Coll))
	if err != nil {
		return err
	}
	next.Hidden = !next.Deleted && r.hidden(coll, next.Doc)
	if !next.Deleted && !r.counts(op.Coll, op.ID, coll, &next) {
		r.env.hides.skipped(op.Coll)
		return nil
	}
	if err := r.putEntry(ctx, k, &next); err != nil {
		return err
	}
	return r.reindex(ctx, op.Coll, op.ID, cur, &next)
}

// counts says whether a put counts. In an access-controlled thread, a put
// that breaks the collection's schema would hide the document, which only
// a peer with the delete role on it may do: from anyone else it does not
// count, as if it were not there, and the last put that counts stays. Any
// replica judges each put against the schema it holds; when the schema
// changes, judging again may bring back a put that did not count, or make
// one that counted not count: applyCollection then asks for the events to
// be applied again (the replay keeps the collections' schemas, so every
// put is judged against the last one).
func (r *docReducer) counts(coll, id string, ce *CollEntry, e *DocEntry) bool {
	if r.env == nil || r.env.acl == nil || ce == nil || !e.Hidden {
		return true
	}
	return r.mayHide(coll, id, e.Version)
}

// mayHide says whether the author of a write may hide a document: the
// delete role on it, at the write's seq.
func (r *docReducer) mayHide(coll, id string, v Version) bool {
	return r.env.acl.DocRole(coll, id, peer.ID(v.Log).String(), v.Seq) >= RoleDelete
}

// hidden says whether a document is invisible under a collection entry.
func (r *docReducer) hidden(coll *CollEntry, doc []byte) bool {
	if coll == nil {
		return true
	}
	parsed, err := parseJSON(doc)
	if err != nil {
		return true
	}
	return r.schemas.validate(coll, parsed) != nil
}

// reindex moves a document's index entries from its old entry to its new
// one and records the visible change.
func (r *docReducer) reindex(ctx context.Context, coll, id string, old, next *DocEntry) error {
	wasVisible, isVisible := old.visible(), next.visible()
	if wasVisible && isVisible && bytes.Equal(old.Doc, next.Doc) {
		return nil
	}
	fields, err := r.indexedFields(ctx, coll)
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
	entries, err := r.ov.scanFirst(ctx, docsPrefix(r.tid, "x", coll), MaxIndexes)
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
			err = r.ov.put(ctx, r.w, k, []byte{})
		} else {
			err = r.ov.del(ctx, r.w, k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *docReducer) applyCollection(ctx context.Context, op DocOp, v Version) error {
	k := collKey(r.tid, op.Coll)
	cur, err := getEntry[CollEntry](ctx, r.ov, k)
	if err != nil {
		return err
	}
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return nil
	}
	next := &CollEntry{Schema: op.JSON, Version: v}
	if err := r.putEntry(ctx, k, next); err != nil {
		return err
	}
	if cur != nil && bytes.Equal(cur.Schema, next.Schema) {
		return nil
	}
	judged := r.env != nil && r.env.acl != nil // puts are judged against schemas
	if judged && cur != nil && r.env.hides.mayHaveSkipped(op.Coll) {
		r.env.rejudge = true // a put that did not count may count now
	}
	// Visibility depends on the schema: look at every document again.
	entries, err := r.ov.scan(ctx, docsPrefix(r.tid, "d", op.Coll))
	if err != nil {
		return err
	}
	for _, e := range entries {
		var old DocEntry
		if err := codec.Unmarshal(e.Value, &old); err != nil {
			return fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if old.Deleted {
			continue
		}
		updated := old
		updated.Hidden = r.hidden(next, old.Doc)
		id, err := hex.DecodeString(ds.RawKey(e.Key).BaseNamespace())
		if err != nil {
			return fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if judged && updated.Hidden && !r.mayHide(op.Coll, string(id), old.Version) {
			r.env.rejudge = true // a put that counted does not count now
		}
		if updated.Hidden == old.Hidden {
			continue
		}
		if err := r.putEntry(ctx, ds.RawKey(e.Key), &updated); err != nil {
			return err
		}
		if err := r.reindex(ctx, op.Coll, string(id), &old, &updated); err != nil {
			return err
		}
	}
	return nil
}

// applyIndex declares or drops an index definition, and keeps the index
// entries of the collection's indexes (which may change by it: see
// indexedFields) in step.
func (r *docReducer) applyIndex(ctx context.Context, op DocOp, v Version) error {
	if validPath(op.Field) != nil {
		return nil
	}
	declared, dropped := indexDefKey(r.tid, op.Coll, op.Field), indexDropKey(r.tid, op.Coll, op.Field)
	cur, err := getEntry[IndexEntry](ctx, r.ov, declared)
	if err != nil {
		return err
	}
	if cur == nil {
		if cur, err = getEntry[IndexEntry](ctx, r.ov, dropped); err != nil {
			return err
		}
	}
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return nil
	}
	before, err := r.indexedFields(ctx, op.Coll)
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
	if err := r.ov.del(ctx, r.w, del); err != nil {
		return err
	}
	after, err := r.indexedFields(ctx, op.Coll)
	if err != nil {
		return err
	}
	for _, f := range before {
		if !slices.Contains(after, f) {
			if err := r.unfillIndex(ctx, op.Coll, f); err != nil {
				return err
			}
		}
	}
	for _, f := range after {
		if !slices.Contains(before, f) {
			if err := r.backfillIndex(ctx, op.Coll, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// backfillIndex indexes a collection's visible documents on a field.
func (r *docReducer) backfillIndex(ctx context.Context, coll, field string) error {
	entries, err := r.ov.scan(ctx, docsPrefix(r.tid, "d", coll))
	if err != nil {
		return err
	}
	for _, e := range entries {
		var d DocEntry
		if err := codec.Unmarshal(e.Value, &d); err != nil {
			return fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if !d.visible() {
			continue
		}
		id, err := hex.DecodeString(ds.RawKey(e.Key).BaseNamespace())
		if err != nil {
			return fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if err := r.indexDoc(ctx, coll, string(id), d.Doc, []string{field}, true); err != nil {
			return err
		}
	}
	return nil
}

// unfillIndex deletes an index's entries.
func (r *docReducer) unfillIndex(ctx context.Context, coll, field string) error {
	entries, err := r.ov.scan(ctx, indexFieldPrefix(r.tid, coll, field))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := r.ov.del(ctx, r.w, ds.RawKey(e.Key)); err != nil {
			return err
		}
	}
	return nil
}
