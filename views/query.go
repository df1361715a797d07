package views

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// ErrBadQuery is wrapped by errors about malformed queries.
var ErrBadQuery = errors.New("bad query")

// Query selects, orders and pages documents of a collection.
type Query struct {
	// Filter selects documents; nil selects all. See ParseFilter.
	Filter Cond
	// Sort orders the result, by the first key, then the next...; documents
	// are otherwise in _id order.
	Sort []SortKey
	// Skip drops that many documents from the start of the result.
	Skip int
	// Limit keeps at most that many documents; 0 keeps all.
	Limit int
}

// SortKey orders by a field path.
type SortKey struct {
	Field string
	Desc  bool
}

// ParseSort reads "field" (ascending) or "-field" (descending).
func ParseSort(s string) (SortKey, error) {
	k := SortKey{Field: s}
	if strings.HasPrefix(s, "-") {
		k = SortKey{Field: s[1:], Desc: true}
	} else if strings.HasPrefix(s, "+") {
		k.Field = s[1:]
	}
	if err := validPath(k.Field); err != nil {
		return SortKey{}, fmt.Errorf("%w: sort: %v", ErrBadQuery, err)
	}
	return k, nil
}

func (q Query) check() error {
	if q.Skip < 0 || q.Limit < 0 {
		return fmt.Errorf("%w: skip and limit must not be negative", ErrBadQuery)
	}
	for _, k := range q.Sort {
		if err := validPath(k.Field); err != nil {
			return fmt.Errorf("%w: sort: %v", ErrBadQuery, err)
		}
	}
	return nil
}

// QueryResult is the documents a query found and how it found them.
type QueryResult struct {
	Docs [][]byte
	// Plan says how the documents were found: "full scan", or the index
	// used.
	Plan string
}

// Cond is a filter condition on documents.
type Cond interface {
	match(doc any) bool
}

// Comparison operators.
const (
	opEq = "$eq"
	opNe = "$ne"
	opGt = "$gt"
	opGe = "$ge"
	opLt = "$lt"
	opLe = "$le"
	opIn = "$in"
)

// aliases are the MongoDB spellings of some operators.
var aliases = map[string]string{"$gte": opGe, "$lte": opLe}

type andCond []Cond
type orCond []Cond

type fieldCond struct {
	path  string
	op    string
	value any   // every operator but $in
	set   []any // $in
}

func (c andCond) match(doc any) bool {
	for _, s := range c {
		if !s.match(doc) {
			return false
		}
	}
	return true
}

func (c orCond) match(doc any) bool {
	for _, s := range c {
		if s.match(doc) {
			return true
		}
	}
	return false
}

func (c *fieldCond) match(doc any) bool {
	v, ok := lookup(doc, c.path)
	switch c.op {
	case opEq:
		return ok && equalValues(v, c.value)
	case opNe:
		return !ok || !equalValues(v, c.value)
	case opIn:
		if !ok {
			return false
		}
		for _, e := range c.set {
			if equalValues(v, e) {
				return true
			}
		}
		return false
	}
	if !ok || !orderable(v, c.value) {
		return false
	}
	cmp := compareValues(v, true, c.value, true)
	switch c.op {
	case opGt:
		return cmp > 0
	case opGe:
		return cmp >= 0
	case opLt:
		return cmp < 0
	default: // opLe
		return cmp <= 0
	}
}

// ParseFilter reads a filter written as JSON:
//
//	{"name": "Ann"}                          equality ($eq)
//	{"age": {"$gt": 30, "$le": 65}}          $eq $ne $gt $ge $lt $le $in
//	{"address.city": {"$in": ["Oslo", "Rome"]}}  nested fields by dotted path
//	{"$or": [{...}, {...}]}, {"$and": [...]}  combinations
//
// Several keys in one object must all hold. An empty object, or no
// filter, selects every document.
func ParseFilter(b []byte) (Cond, error) {
	v, err := parseJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	c, err := parseCond(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	return c, nil
}

func parseCond(v any) (Cond, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a filter is a JSON object")
	}
	var all andCond
	for _, k := range sortedKeys(obj) {
		val := obj[k]
		switch {
		case k == "$and" || k == "$or":
			list, ok := val.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s takes a non-empty array of filters", k)
			}
			subs := make([]Cond, 0, len(list))
			for _, e := range list {
				c, err := parseCond(e)
				if err != nil {
					return nil, err
				}
				subs = append(subs, c)
			}
			if k == "$and" {
				all = append(all, andCond(subs))
			} else {
				all = append(all, orCond(subs))
			}
		case strings.HasPrefix(k, "$"):
			return nil, fmt.Errorf("unknown operator %s at the top of a filter", k)
		default:
			if err := validPath(k); err != nil {
				return nil, err
			}
			conds, err := parseFieldConds(k, val)
			if err != nil {
				return nil, err
			}
			all = append(all, conds...)
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

// parseFieldConds reads the condition on one field: a value (equality) or
// an object of operators.
func parseFieldConds(path string, v any) ([]Cond, error) {
	obj, isObj := v.(map[string]any)
	if !isObj || len(obj) == 0 || !strings.HasPrefix(sortedKeys(obj)[0], "$") {
		return []Cond{&fieldCond{path: path, op: opEq, value: v}}, nil
	}
	var out []Cond
	for _, op := range sortedKeys(obj) {
		arg := obj[op]
		if a, ok := aliases[op]; ok {
			op = a
		}
		switch op {
		case opEq, opNe:
			out = append(out, &fieldCond{path: path, op: op, value: arg})
		case opGt, opGe, opLt, opLe:
			if r := rank(arg, true); r != rankNumber && r != rankString {
				return nil, fmt.Errorf("%s on %s takes a number or a string", op, path)
			}
			out = append(out, &fieldCond{path: path, op: op, value: arg})
		case opIn:
			set, ok := arg.([]any)
			if !ok {
				return nil, fmt.Errorf("$in on %s takes an array", path)
			}
			out = append(out, &fieldCond{path: path, op: op, set: set})
		default:
			if !strings.HasPrefix(op, "$") {
				return nil, fmt.Errorf("field %s mixes operators and plain keys", path)
			}
			return nil, fmt.Errorf("unknown operator %s on %s (use $eq $ne $gt $ge $lt $le $in)", op, path)
		}
	}
	return out, nil
}

// executor runs a query on one collection of the view store.
type executor struct {
	store ds.Read
	tid   ipel.ThreadID
	coll  string
}

// access is a way to find candidate documents through one index.
type access struct {
	field string
	// eq lists the values looked up exactly; otherwise lo/hi bound a range.
	eq     []any
	lo, hi *fieldCond
	plan   string
}

func (ex *executor) indexes(ctx context.Context) (map[string]bool, error) {
	r := &docReducer{tid: ex.tid, ov: newOverlay(ex.store)}
	fields, err := r.indexedFields(ctx, ex.coll)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(fields))
	for _, f := range fields {
		out[f] = true
	}
	return out, nil
}

// choose finds an index that narrows a condition, or nil.
func choose(c Cond, indexed map[string]bool) []*access {
	switch t := c.(type) {
	case *fieldCond:
		if !indexed[t.path] {
			return nil
		}
		switch t.op {
		case opEq:
			if scalar(t.value) {
				return []*access{{field: t.path, eq: []any{t.value}, plan: "index " + t.path + " $eq"}}
			}
		case opIn:
			for _, v := range t.set {
				if !scalar(v) {
					return nil
				}
			}
			return []*access{{field: t.path, eq: t.set, plan: "index " + t.path + " $in"}}
		case opGt, opGe:
			return []*access{{field: t.path, lo: t, plan: "index " + t.path + " range"}}
		case opLt, opLe:
			return []*access{{field: t.path, hi: t, plan: "index " + t.path + " range"}}
		}
		return nil
	case andCond:
		// The first equality found wins; otherwise a range, tightened by
		// the other bound on the same field when there is one.
		var best []*access
		for _, s := range t {
			a := choose(s, indexed)
			if len(a) == 1 && a[0].eq != nil {
				return a
			}
			if best == nil && len(a) > 0 {
				best = a
			}
		}
		if len(best) == 1 && best[0].eq == nil {
			rng := *best[0]
			for _, s := range t {
				if fc, ok := s.(*fieldCond); ok && fc.path == rng.field {
					switch fc.op {
					case opGt, opGe:
						if rng.lo == nil {
							rng.lo = fc
						}
					case opLt, opLe:
						if rng.hi == nil {
							rng.hi = fc
						}
					}
				}
			}
			return []*access{&rng}
		}
		return best
	case orCond:
		// Every branch must use an index; the result is their union.
		var all []*access
		for _, s := range t {
			a := choose(s, indexed)
			if len(a) == 0 {
				return nil
			}
			all = append(all, a...)
		}
		return all
	}
	return nil
}

func (ex *executor) run(ctx context.Context, q Query) (QueryResult, error) {
	var accesses []*access
	if q.Filter != nil {
		indexed, err := ex.indexes(ctx)
		if err != nil {
			return QueryResult{}, err
		}
		accesses = choose(q.Filter, indexed)
	}
	want := -1 // stop after this many matches: no sort, so _id order
	if len(q.Sort) == 0 && q.Limit > 0 {
		want = q.Skip + q.Limit
	}
	type hit struct {
		id     string
		raw    []byte
		parsed any
	}
	var hits []hit
	consider := func(id string, raw []byte) (bool, error) {
		parsed, err := parseJSON(raw)
		if err != nil {
			return false, fmt.Errorf("document %s/%s: %w", ex.coll, id, err)
		}
		if q.Filter == nil || q.Filter.match(parsed) {
			hits = append(hits, hit{id, raw, parsed})
		}
		return want < 0 || len(hits) < want, nil
	}
	plan := "full scan"
	if accesses != nil {
		var plans []string
		ids := map[string]bool{}
		for _, a := range accesses {
			if err := ex.lookupIndex(ctx, a, ids); err != nil {
				return QueryResult{}, err
			}
			plans = append(plans, a.plan)
		}
		plan = strings.Join(plans, " + ")
		sorted := make([]string, 0, len(ids))
		for id := range ids {
			sorted = append(sorted, id)
		}
		sort.Strings(sorted) // hex IDs: the order of the IDs
		ov := newOverlay(ex.store)
		for _, hid := range sorted {
			e, err := getEntry[DocEntry](ctx, ov, ds.RawKey(docsPrefix(ex.tid, "d", ex.coll)+"/"+hid))
			if err != nil {
				return QueryResult{}, err
			}
			if !e.visible() {
				continue
			}
			more, err := consider(hid, e.Doc)
			if err != nil {
				return QueryResult{}, err
			}
			if !more {
				break
			}
		}
	} else if err := scanDocs(ctx, ex.store, ex.tid, ex.coll, consider); err != nil {
		return QueryResult{}, err
	}
	if len(q.Sort) > 0 {
		sort.SliceStable(hits, func(i, j int) bool {
			for _, k := range q.Sort {
				a, aok := lookup(hits[i].parsed, k.Field)
				b, bok := lookup(hits[j].parsed, k.Field)
				c := compareValues(a, aok, b, bok)
				if k.Desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
	}
	if q.Skip >= len(hits) {
		hits = nil
	} else {
		hits = hits[q.Skip:]
	}
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	out := QueryResult{Docs: make([][]byte, len(hits)), Plan: plan}
	for i, h := range hits {
		out.Docs[i] = h.raw
	}
	return out, nil
}

// lookupIndex adds to ids the (hex) IDs of documents an index access finds.
func (ex *executor) lookupIndex(ctx context.Context, a *access, ids map[string]bool) error {
	prefix := indexFieldPrefix(ex.tid, ex.coll, a.field)
	// collect reads index entries under p in key order (so in value
	// order); keep says whether to take an entry's value, and whether any
	// later value can still be taken.
	collect := func(p string, keep func(value string) (take, more bool)) error {
		q := dsq.Query{Prefix: p, KeysOnly: true}
		if keep != nil {
			q.Orders = []dsq.Order{dsq.OrderByKey{}}
		}
		res, err := ex.store.Query(ctx, q)
		if err != nil {
			return err
		}
		defer res.Close()
		for r := range res.Next() {
			if r.Error != nil {
				return r.Error
			}
			// <prefix>/<value>/<hex id>
			cut := strings.LastIndexByte(r.Key, '/')
			id := r.Key[cut+1:]
			if keep != nil {
				value := r.Key[len(prefix)+1 : cut]
				take, more := keep(value)
				if !more {
					return nil
				}
				if !take {
					continue
				}
			}
			ids[id] = true
		}
		return nil
	}
	if a.eq != nil {
		for _, v := range a.eq {
			if err := collect(prefix+"/"+indexValue(v), nil); err != nil {
				return err
			}
		}
		return nil
	}
	// A range holds values of the bound's type only (numbers or strings).
	var lo, hi string
	var tag byte
	if a.lo != nil {
		lo, tag = indexValue(a.lo.value), indexValue(a.lo.value)[0]
	}
	if a.hi != nil {
		hi, tag = indexValue(a.hi.value), indexValue(a.hi.value)[0]
	}
	if a.lo != nil && a.hi != nil && lo[0] != hi[0] {
		return nil // a number above and a string below: nothing matches
	}
	return collect(prefix, func(v string) (take, more bool) {
		switch {
		case v[0] < tag:
			return false, true
		case v[0] > tag:
			return false, false // values of a later type follow
		// A bound that is a long string, cut short in the index, cannot
		// tell values equal to it in the index apart: they are taken,
		// and the filter decides.
		case a.lo != nil && (v < lo || (v == lo && a.lo.op == opGt && !strings.HasSuffix(lo, truncatedMark))):
			return false, true
		case a.hi != nil && (v > hi || (v == hi && a.hi.op == opLt && !strings.HasSuffix(hi, truncatedMark))):
			return false, false
		}
		return true, true
	})
}
