package views

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

var (
	// ErrUnknownCollection is returned for a collection the thread does not
	// declare.
	ErrUnknownCollection = errors.New("unknown collection")
	// ErrDocNotFound is returned for a document ID with no document.
	ErrDocNotFound = errors.New("document not found")
	// ErrBadDocument is wrapped by errors about documents that are not JSON
	// objects with a string "_id".
	ErrBadDocument = errors.New("bad document")
)

// Docs is a thread's documents view. Writes append events and return once
// this node's view includes them; reads come from the view.
type Docs struct {
	m   *Manager
	tid ipel.ThreadID
}

// Docs returns the documents view of a thread.
func (m *Manager) Docs(tid ipel.ThreadID) (*Docs, error) {
	if err := m.Ensure(tid); err != nil {
		return nil, err
	}
	return &Docs{m: m, tid: tid}, nil
}

// Collection describes a declared collection.
type Collection struct {
	Name    string
	Schema  []byte   `json:",omitempty"` // JSON Schema, if any
	Indexes []string // indexed field paths
}

// Collections lists the thread's collections, by name.
func (d *Docs) Collections(ctx context.Context) ([]Collection, error) {
	ov := newOverlay(d.m.store)
	entries, err := ov.scan(ctx, threadPrefix(d.tid)+"/docs/c")
	if err != nil {
		return nil, err
	}
	out := make([]Collection, 0, len(entries))
	for _, e := range entries {
		var ce CollEntry
		if err := codec.Unmarshal(e.Value, &ce); err != nil {
			return nil, fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		name := ds.RawKey(e.Key).BaseNamespace()
		r := &docReducer{tid: d.tid, ov: ov}
		fields, err := r.indexedFields(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Collection{Name: name, Schema: ce.Schema, Indexes: fields})
	}
	return out, nil
}

// collection returns a declared collection's entry.
func (d *Docs) collection(ctx context.Context, name string) (*CollEntry, error) {
	if err := validCollection(name); err != nil {
		return nil, err
	}
	ce, err := getEntry[CollEntry](ctx, newOverlay(d.m.store), collKey(d.tid, name))
	if err != nil {
		return nil, err
	}
	if ce == nil {
		return nil, fmt.Errorf("collection %q: %w", name, ErrUnknownCollection)
	}
	return ce, nil
}

// AddCollection declares a collection, with an optional JSON Schema (nil
// for none); declaring it again replaces its schema.
func (d *Docs) AddCollection(ctx context.Context, name string, schema []byte) error {
	if err := validCollection(name); err != nil {
		return err
	}
	if len(schema) > 0 {
		if _, err := d.m.schemas.compile(schema); err != nil {
			return err
		}
	}
	_, err := d.m.Write(ctx, d.tid, Ops{Docs: []DocOp{{Kind: DocCollection, Coll: name, JSON: schema}}})
	return err
}

// ErrTooManyIndexes is returned when declaring an index on a collection
// that has MaxIndexes already.
var ErrTooManyIndexes = fmt.Errorf("a collection has at most %d indexes", MaxIndexes)

// ErrNoIndex is returned when dropping an index that does not exist.
var ErrNoIndex = errors.New("no such index")

// indexes lists a declared collection's indexes.
func (d *Docs) indexes(ctx context.Context, coll string) ([]string, error) {
	if _, err := d.collection(ctx, coll); err != nil {
		return nil, err
	}
	r := &docReducer{tid: d.tid, ov: newOverlay(d.m.store)}
	return r.indexedFields(ctx, coll)
}

// AddIndex indexes a collection's documents on a field path ("a.b");
// documents already there are indexed too. Indexing a field already
// indexed does nothing.
func (d *Docs) AddIndex(ctx context.Context, coll, field string) error {
	if err := validPath(field); err != nil {
		return err
	}
	fields, err := d.indexes(ctx, coll)
	if err != nil {
		return err
	}
	if slices.Contains(fields, field) {
		return nil
	}
	if len(fields) >= MaxIndexes {
		return fmt.Errorf("collection %q: %w: drop one first", coll, ErrTooManyIndexes)
	}
	_, err = d.m.Write(ctx, d.tid, Ops{Docs: []DocOp{{Kind: DocIndex, Coll: coll, Field: field}}})
	return err
}

// DropIndex drops a collection's index on a field path (or its
// declaration, if it is not among the collection's MaxIndexes indexes).
func (d *Docs) DropIndex(ctx context.Context, coll, field string) error {
	if _, err := d.collection(ctx, coll); err != nil {
		return err
	}
	def, err := getEntry[IndexEntry](ctx, newOverlay(d.m.store), indexDefKey(d.tid, coll, field))
	if err != nil {
		return err
	}
	if def == nil {
		return fmt.Errorf("collection %q, field %q: %w", coll, field, ErrNoIndex)
	}
	_, err = d.m.Write(ctx, d.tid, Ops{Docs: []DocOp{{Kind: DocIndexDrop, Coll: coll, Field: field}}})
	return err
}

// Put creates or replaces documents, in one event when they fit, and
// returns their IDs. A document without "_id" gets a new one.
func (d *Docs) Put(ctx context.Context, coll string, docs ...[]byte) ([]string, error) {
	ce, err := d.collection(ctx, coll)
	if err != nil {
		return nil, err
	}
	ops := make([]DocOp, 0, len(docs))
	ids := make([]string, 0, len(docs))
	for i, raw := range docs {
		op, err := d.preparePut(ce, coll, raw)
		if err != nil {
			if len(docs) > 1 {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, err
		}
		ops = append(ops, op)
		ids = append(ids, op.ID)
	}
	if err := d.write(ctx, ops); err != nil {
		return nil, err
	}
	return ids, nil
}

func (d *Docs) preparePut(ce *CollEntry, coll string, raw []byte) (DocOp, error) {
	parsed, err := parseDocument(raw)
	if err != nil {
		return DocOp{}, fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	obj, ok := parsed.(map[string]any)
	if !ok {
		return DocOp{}, fmt.Errorf("%w: a document is a JSON object", ErrBadDocument)
	}
	id, has := obj["_id"]
	if !has {
		u, err := uuid.NewV7()
		if err != nil {
			return DocOp{}, err
		}
		id = u.String()
		obj["_id"] = id
	}
	ids, ok := id.(string)
	if !ok || ids == "" {
		return DocOp{}, fmt.Errorf("%w: \"_id\" must be a non-empty string", ErrBadDocument)
	}
	if len(ids) > MaxKeySize {
		return DocOp{}, fmt.Errorf("%w: \"_id\" of %d bytes, at most %d", ErrBadDocument, len(ids), MaxKeySize)
	}
	if err := d.m.schemas.validate(ce, parsed); err != nil {
		return DocOp{}, err
	}
	doc, err := canonicalJSON(parsed)
	if err != nil {
		return DocOp{}, err
	}
	if len(doc) > MaxDocSize {
		return DocOp{}, fmt.Errorf("%w: %d bytes as stored (canonical JSON), at most %d", ErrBadDocument, len(doc), MaxDocSize)
	}
	return DocOp{Kind: DocPut, Coll: coll, ID: ids, JSON: doc}, nil
}

// write appends operations as few events as fit (MaxEventOps operations,
// the body size limit, the budget's bound on document values).
func (d *Docs) write(ctx context.Context, ops []DocOp) error {
	limit := d.m.s.Config().MaxBodySize - 1024
	size := func(i int) int { return docOpSize(ops[i]) }
	values := func(i int) int {
		if ops[i].Kind != DocPut {
			return 0
		}
		return jsonValues(ops[i].JSON)
	}
	for len(ops) > 0 {
		n := fitOps(len(ops), limit, size, values)
		if size(0) > limit {
			return fmt.Errorf("%w: document %s is larger than an event body can hold", ErrBadDocument, ops[0].ID)
		}
		if _, err := d.m.Write(ctx, d.tid, Ops{Docs: ops[:n]}); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// entry returns a visible document's entry.
func (d *Docs) entry(ctx context.Context, coll, id string) (*DocEntry, error) {
	if _, err := d.collection(ctx, coll); err != nil {
		return nil, err
	}
	e, err := getEntry[DocEntry](ctx, newOverlay(d.m.store), docKey(d.tid, coll, id))
	if err != nil {
		return nil, err
	}
	if !e.visible() {
		return nil, fmt.Errorf("%s/%s: %w", coll, id, ErrDocNotFound)
	}
	return e, nil
}

// Get returns a document.
func (d *Docs) Get(ctx context.Context, coll, id string) ([]byte, error) {
	e, err := d.entry(ctx, coll, id)
	if err != nil {
		return nil, err
	}
	return e.Doc, nil
}

// Delete deletes a document (a tombstone event).
func (d *Docs) Delete(ctx context.Context, coll, id string) error {
	if _, err := d.entry(ctx, coll, id); err != nil {
		return err
	}
	return d.write(ctx, []DocOp{{Kind: DocDelete, Coll: coll, ID: id}})
}

// Query runs a query on a collection.
func (d *Docs) Query(ctx context.Context, coll string, q Query) (QueryResult, error) {
	if _, err := d.collection(ctx, coll); err != nil {
		return QueryResult{}, err
	}
	if err := q.check(); err != nil {
		return QueryResult{}, err
	}
	ex := &executor{store: d.m.store, tid: d.tid, coll: coll}
	return ex.run(ctx, q)
}

// scanDocs calls fn with every visible document of a collection, in ID
// order, until fn returns false.
func scanDocs(ctx context.Context, store ds.Read, tid ipel.ThreadID, coll string, fn func(id string, doc []byte) (bool, error)) error {
	res, err := store.Query(ctx, dsq.Query{Prefix: docsPrefix(tid, "d", coll), Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		var e DocEntry
		if err := codec.Unmarshal(r.Value, &e); err != nil {
			return fmt.Errorf("view entry %s: %w", r.Key, err)
		}
		if !e.visible() {
			continue
		}
		more, err := fn(ds.RawKey(r.Key).BaseNamespace(), e.Doc)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
