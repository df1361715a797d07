package views

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kubo-threads/kubo-threads/ipel"
)

var indexFields = func() []string {
	fields := []string{"n", "tag", "nested.x", "a0", "a1", "a2"}
	for i := range 16 {
		fields = append(fields, fmt.Sprintf("z%d", i))
	}
	return fields
}()

// randomDocOps makes document operations for the convergence property
// test: puts and deletes over a few IDs in two collections, collection
// declarations whose schema sometimes rejects odd values, and indexes.
func randomDocOps(rng *rand.Rand, l, seq int) []DocOp {
	var ops []DocOp
	colls := []string{"people", "things"}
	for i := 0; i < rng.IntN(6); i++ {
		coll := colls[rng.IntN(len(colls))]
		id := fmt.Sprintf("d%d", rng.IntN(6))
		switch rng.IntN(10) {
		case 0:
			schema := []byte(`{"type":"object"}`)
			if rng.IntN(2) == 0 {
				schema = []byte(`{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}`)
			}
			ops = append(ops, DocOp{Kind: DocCollection, Coll: coll, JSON: schema})
		case 1, 4:
			// More fields than a collection has indexes, some sorting
			// before the ones documents hold, so the cap decides.
			field := indexFields[rng.IntN(len(indexFields))]
			kind := DocIndex
			if rng.IntN(3) == 0 {
				kind = DocIndexDrop
			}
			ops = append(ops, DocOp{Kind: kind, Coll: coll, Field: field})
		case 2, 3:
			ops = append(ops, DocOp{Kind: DocDelete, Coll: coll, ID: id})
		default:
			doc := fmt.Sprintf(`{"_id":%q,"n":%d,"tag":"t%d","nested":{"x":%d},"w":"%d-%d"}`,
				id, rng.IntN(5), rng.IntN(3), rng.IntN(4), l, seq)
			ops = append(ops, DocOp{Kind: DocPut, Coll: coll, ID: id, JSON: []byte(doc)})
		}
	}
	return ops
}

func newDocs(t *testing.T) (*node, ipel.ThreadID, *Docs) {
	t.Helper()
	n := newNode(t)
	tid := n.thread(t)
	d, err := n.m.Docs(tid)
	if err != nil {
		t.Fatal(err)
	}
	return n, tid, d
}

func mustPut(t *testing.T, d *Docs, coll string, docs ...string) []string {
	t.Helper()
	raw := make([][]byte, len(docs))
	for i, doc := range docs {
		raw[i] = []byte(doc)
	}
	ids, err := d.Put(context.Background(), coll, raw...)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestDocsCRUDAndSchema(t *testing.T) {
	ctx := context.Background()
	_, _, d := newDocs(t)
	if _, err := d.Put(ctx, "people", []byte(`{"a":1}`)); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("put into an undeclared collection: %v", err)
	}
	schema := `{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}`
	if err := d.AddCollection(ctx, "people", []byte(schema)); err != nil {
		t.Fatal(err)
	}
	if err := d.AddCollection(ctx, "bad name!", nil); !errors.Is(err, ErrBadCollection) {
		t.Fatalf("bad collection name: %v", err)
	}
	if err := d.AddCollection(ctx, "x", []byte(`{"type": 12}`)); err == nil {
		t.Fatal("a schema that does not compile was accepted")
	}
	if err := d.AddCollection(ctx, "x", []byte(`{"$ref":"file:///etc/passwd"}`)); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("a schema with an external reference: %v", err)
	}
	ids := mustPut(t, d, "people", `{"_id":"ann","name":"Ann","age":31}`, `{"name":"Bob","age":40}`)
	if ids[0] != "ann" || ids[1] == "" {
		t.Fatalf("ids %v", ids)
	}
	if _, err := d.Put(ctx, "people", []byte(`{"_id":"c","age":-1,"name":"C"}`)); !errors.Is(err, ErrSchema) {
		t.Fatalf("schema violation: %v", err)
	}
	for _, bad := range []string{`{"_id":1,"name":"x"}`, `[1]`, `{"name":`, `{"name":"x"} {}`, `{"_id":"","name":"x"}`} {
		if _, err := d.Put(ctx, "people", []byte(bad)); err == nil {
			t.Fatalf("put %s was accepted", bad)
		}
	}
	doc, err := d.Get(ctx, "people", "ann")
	if err != nil || string(doc) != `{"_id":"ann","age":31,"name":"Ann"}` {
		t.Fatalf("get: %s %v", doc, err)
	}
	mustPut(t, d, "people", `{"_id":"ann","name":"Ann","age":32}`)
	if doc, _ := d.Get(ctx, "people", "ann"); !strings.Contains(string(doc), `"age":32`) {
		t.Fatalf("replaced document: %s", doc)
	}
	if err := d.Delete(ctx, "people", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "people", "ann"); !errors.Is(err, ErrDocNotFound) {
		t.Fatalf("deleted document: %v", err)
	}
	if err := d.Delete(ctx, "people", "ann"); !errors.Is(err, ErrDocNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	colls, err := d.Collections(ctx)
	if err != nil || len(colls) != 1 || colls[0].Name != "people" || string(colls[0].Schema) != schema {
		t.Fatalf("collections: %+v %v", colls, err)
	}
}

// A schema declared (or changed) after documents exist decides which are
// visible, whatever order the events were applied in.
func TestDocsSchemaChangeHidesAndShows(t *testing.T) {
	ctx := context.Background()
	_, _, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AddIndex(ctx, "c", "n"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "c", `{"_id":"a","n":1}`, `{"_id":"b","n":"two"}`)
	if err := d.AddCollection(ctx, "c", []byte(`{"properties":{"n":{"type":"number"}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "c", "b"); !errors.Is(err, ErrDocNotFound) {
		t.Fatalf("a document the new schema rejects is still visible: %v", err)
	}
	res := query(t, d, "c", `{"n":"two"}`)
	if len(res.Docs) != 0 {
		t.Fatalf("the index still holds a hidden document: %s", res.Docs)
	}
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if res := query(t, d, "c", `{"n":"two"}`); len(res.Docs) != 1 || res.Plan != "index n $eq" {
		t.Fatalf("after dropping the schema: %s (%s)", res.Docs, res.Plan)
	}
}

func query(t *testing.T, d *Docs, coll, filter string, sortKeys ...string) QueryResult {
	t.Helper()
	q := Query{}
	if filter != "" {
		c, err := ParseFilter([]byte(filter))
		if err != nil {
			t.Fatal(err)
		}
		q.Filter = c
	}
	for _, s := range sortKeys {
		k, err := ParseSort(s)
		if err != nil {
			t.Fatal(err)
		}
		q.Sort = append(q.Sort, k)
	}
	res, err := d.Query(context.Background(), coll, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ids(res QueryResult) string {
	var out []string
	for _, doc := range res.Docs {
		v, _ := parseJSON(doc)
		id, _ := lookup(v, "_id")
		out = append(out, fmt.Sprint(id))
	}
	return strings.Join(out, ",")
}

// TestQueries checks every operator, with and without indexes: the
// indexed plan must return exactly what a full scan returns.
func TestQueries(t *testing.T) {
	ctx := context.Background()
	_, _, d := newDocs(t)
	if err := d.AddCollection(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "p",
		`{"_id":"a","age":30,"name":"Ann","addr":{"city":"Oslo"}}`,
		`{"_id":"b","age":25,"name":"Bob","addr":{"city":"Rome"}}`,
		`{"_id":"c","age":35,"name":"Cid","addr":{"city":"Oslo"}}`,
		`{"_id":"d","age":"old","name":"Dan"}`,
		`{"_id":"e","name":"Eve","addr":{"city":"Lima"}}`,
		`{"_id":"f","age":30.0,"name":"Fay","addr":{"city":null}}`,
	)
	cases := []struct {
		filter string
		sort   []string
		want   string
	}{
		{`{}`, nil, "a,b,c,d,e,f"},
		{`{"age":30}`, nil, "a,f"},
		{`{"age":{"$eq":30}}`, nil, "a,f"},
		{`{"age":{"$ne":30}}`, nil, "b,c,d,e"},
		{`{"age":{"$gt":25}}`, nil, "a,c,f"},
		{`{"age":{"$ge":25}}`, nil, "a,b,c,f"},
		{`{"age":{"$lt":35}}`, nil, "a,b,f"},
		{`{"age":{"$le":30,"$gt":25}}`, nil, "a,f"},
		{`{"age":{"$gte":30,"$lte":35}}`, nil, "a,c,f"},
		{`{"name":{"$gt":"B","$lt":"D"}}`, nil, "b,c"},
		{`{"age":{"$in":[25,35,"old"]}}`, nil, "b,c,d"},
		{`{"addr.city":"Oslo"}`, nil, "a,c"},
		{`{"addr.city":null}`, nil, "f"},
		{`{"addr.city":"Oslo","age":35}`, nil, "c"},
		{`{"$or":[{"age":25},{"addr.city":"Lima"}]}`, nil, "b,e"},
		{`{"$and":[{"age":{"$gt":20}},{"$or":[{"name":"Ann"},{"name":"Cid"}]}]}`, nil, "a,c"},
		{`{}`, []string{"-age", "name"}, "d,c,a,f,b,e"},
		{`{}`, []string{"age", "-name"}, "e,b,f,a,c,d"},
		{`{"age":{"$gt":0}}`, []string{"-addr.city"}, "b,a,c,f"},
	}
	run := func(stage string, wantIndex bool) {
		for _, c := range cases {
			res := query(t, d, "p", c.filter, c.sort...)
			if got := ids(res); got != c.want {
				t.Errorf("%s: %s sort %v: got %s, want %s (%s)", stage, c.filter, c.sort, got, c.want, res.Plan)
			}
			if !wantIndex && res.Plan != "full scan" {
				t.Errorf("%s: %s used %q without an index", stage, c.filter, res.Plan)
			}
		}
	}
	run("no index", false)
	for _, f := range []string{"age", "name", "addr.city"} {
		if err := d.AddIndex(ctx, "p", f); err != nil {
			t.Fatal(err)
		}
	}
	run("indexed", true)
	for filter, plan := range map[string]string{
		`{"age":30}`:                         "index age $eq",
		`{"age":{"$in":[1,2]}}`:              "index age $in",
		`{"age":{"$gt":1,"$lt":9}}`:          "index age range",
		`{"age":{"$ne":30}}`:                 "full scan",
		`{"$or":[{"age":1},{"x":2}]}`:        "full scan",
		`{"$or":[{"age":1},{"name":"Ann"}]}`: "index age $eq + index name $eq",
		`{"age":{"$gt":1},"name":"Ann"}`:     "index name $eq",
	} {
		if res := query(t, d, "p", filter); res.Plan != plan {
			t.Errorf("%s: plan %q, want %q", filter, res.Plan, plan)
		}
	}
	// Skip and limit, with and without a sort.
	res, err := d.Query(ctx, "p", Query{Skip: 1, Limit: 2})
	if err != nil || ids(res) != "b,c" {
		t.Fatalf("skip/limit: %s %v", ids(res), err)
	}
	res, err = d.Query(ctx, "p", Query{Sort: []SortKey{{Field: "name", Desc: true}}, Skip: 1, Limit: 2})
	if err != nil || ids(res) != "e,d" {
		t.Fatalf("sorted skip/limit: %s %v", ids(res), err)
	}
	for _, bad := range []string{`[]`, `{"$nor":[]}`, `{"age":{"$regex":"x"}}`, `{"age":{"$gt":[1]}}`, `{"age":{"$in":3}}`, `{"$or":[]}`, `{"a..b":1}`, `{"age":{"$gt":1,"x":2}}`, `nope`} {
		if _, err := ParseFilter([]byte(bad)); !errors.Is(err, ErrBadQuery) {
			t.Errorf("filter %s: %v", bad, err)
		}
	}
	if _, err := d.Query(ctx, "p", Query{Limit: -1}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("negative limit: %v", err)
	}
	if _, err := d.Query(ctx, "nope", Query{}); !errors.Is(err, ErrUnknownCollection) {
		t.Errorf("unknown collection: %v", err)
	}
}

// TestDocChangesAreLossless reads the change feed while writing, resumes
// it from the middle, and checks a rebuild does not feed changes again.
func TestDocChangesAreLossless(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AddCollection(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan FeedEntry, 100)
	lctx, lcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- n.m.Changes(lctx, tid, "c", 0, func(e FeedEntry) error {
			got <- e
			return nil
		})
	}()
	mustPut(t, d, "c", `{"_id":"x","v":1}`)
	mustPut(t, d, "other", `{"_id":"y"}`)
	mustPut(t, d, "c", `{"_id":"x","v":2}`)
	mustPut(t, d, "c", `{"_id":"x","v":2}`) // no visible change
	if err := d.Delete(ctx, "c", "x"); err != nil {
		t.Fatal(err)
	}
	want := []string{"create x", "update x", "delete x"}
	var seqs []uint64
	for _, w := range want {
		select {
		case e := <-got:
			if fmt.Sprintf("%s %s", e.Type, e.ID) != w {
				t.Fatalf("got %s %s, want %s", e.Type, e.ID, w)
			}
			seqs = append(seqs, e.Seq)
		case <-ctx.Done():
			t.Fatalf("waiting for %s", w)
		}
	}
	lcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "c", `{"_id":"z"}`)
	var resumed []string
	rctx, rcancel := context.WithCancel(ctx)
	err := n.m.Changes(rctx, tid, "c", seqs[0], func(e FeedEntry) error {
		resumed = append(resumed, fmt.Sprintf("%s %s", e.Type, e.ID))
		if e.ID == "z" {
			rcancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if fmt.Sprint(resumed) != "[update x delete x create z]" {
		t.Fatalf("resumed after a rebuild: %v", resumed)
	}
}
