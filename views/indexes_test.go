package views

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kubo-threads/kubo-threads/ipel"
)

func indexEntries(t *testing.T, n *node, tid ipel.ThreadID, coll, field string) int {
	t.Helper()
	return len(dump(t, n.store, indexFieldPrefix(tid, coll, field)))
}

// TestIndexDrop: an index can be dropped (its entries go, queries scan),
// and declared again (backfilled).
func TestIndexDrop(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "c", `{"_id":"a","n":1}`, `{"_id":"b","n":2}`)
	if err := d.AddIndex(ctx, "c", "n"); err != nil {
		t.Fatal(err)
	}
	if res := query(t, d, "c", `{"n":2}`); res.Plan != "index n $eq" || ids(res) != "b" {
		t.Fatalf("indexed: %s (%s)", ids(res), res.Plan)
	}
	if err := d.DropIndex(ctx, "c", "n"); err != nil {
		t.Fatal(err)
	}
	if res := query(t, d, "c", `{"n":2}`); res.Plan != "full scan" || ids(res) != "b" {
		t.Fatalf("dropped: %s (%s)", ids(res), res.Plan)
	}
	if got := indexEntries(t, n, tid, "c", "n"); got != 0 {
		t.Fatalf("%d entries of a dropped index", got)
	}
	if err := d.DropIndex(ctx, "c", "n"); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("dropping twice: %v", err)
	}
	mustPut(t, d, "c", `{"_id":"c","n":2}`)
	if err := d.AddIndex(ctx, "c", "n"); err != nil {
		t.Fatal(err)
	}
	if res := query(t, d, "c", `{"n":2}`); res.Plan != "index n $eq" || ids(res) != "b,c" {
		t.Fatalf("declared again: %s (%s)", ids(res), res.Plan)
	}
	before := dump(t, n.store, threadPrefix(tid)+"/docs")
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, n.store, threadPrefix(tid)+"/docs"); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("a rebuild differs")
	}
}

// TestIndexCap: a collection has at most MaxIndexes indexes. The local
// check refuses more; a thousand declared in one event (as a writer that
// skips the check would) make the first MaxIndexes in field order the
// indexes, and a put writes no more entries than that; dropping one makes
// the next one an index.
func TestIndexCap(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "c", `{"_id":"a","f00":0,"zz":1}`)
	for i := range MaxIndexes {
		if err := d.AddIndex(ctx, "c", fmt.Sprintf("f%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddIndex(ctx, "c", "zz"); !errors.Is(err, ErrTooManyIndexes) {
		t.Fatalf("index %d: %v", MaxIndexes+1, err)
	}
	var flood []DocOp
	for i := range 1000 {
		flood = append(flood, DocOp{Kind: DocIndex, Coll: "c", Field: fmt.Sprintf("g%03d", i)})
	}
	flood = append(flood, DocOp{Kind: DocIndex, Coll: "c", Field: "e"}) // sorts first
	if _, err := n.m.Write(ctx, tid, Ops{Docs: flood}); err != nil {
		t.Fatal(err)
	}
	colls, _ := d.Collections(ctx)
	want := "e," + strings.Join(fieldNames("f%02d", MaxIndexes-1), ",")
	if got := strings.Join(colls[0].Indexes, ","); got != want {
		t.Fatalf("indexes %s, want %s", got, want)
	}
	last := fmt.Sprintf("f%02d", MaxIndexes-1)
	if got := indexEntries(t, n, tid, "c", last); got != 0 {
		t.Fatalf("%s, pushed out of the indexes, keeps %d entries", last, got)
	}
	before := len(dump(t, n.store, threadPrefix(tid)+"/docs/i"))
	doc := map[string]any{"_id": "b"}
	for i := range 1000 {
		doc[fmt.Sprintf("g%03d", i)] = i
	}
	for i := range MaxIndexes {
		doc[fmt.Sprintf("f%02d", i)] = i
	}
	doc["e"] = 1
	raw, _ := canonicalJSON(doc)
	mustPut(t, d, "c", string(raw))
	if added := len(dump(t, n.store, threadPrefix(tid)+"/docs/i")) - before; added != MaxIndexes {
		t.Fatalf("a put wrote %d index entries, want %d", added, MaxIndexes)
	}
	// Dropping "e" makes the last f-field an index again, backfilled.
	if err := d.DropIndex(ctx, "c", "e"); err != nil {
		t.Fatal(err)
	}
	if got := indexEntries(t, n, tid, "c", last); got != 1 {
		t.Fatalf("%s back among the indexes holds %d entries, want 1", last, got)
	}
	if res := query(t, d, "c", fmt.Sprintf(`{%q:%d}`, last, MaxIndexes-1)); res.Plan != "index "+last+" $eq" || ids(res) != "b" {
		t.Fatalf("query on %s: %s (%s)", last, ids(res), res.Plan)
	}
}

func fieldNames(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

// TestIndexesNeedTheDeleteRole: a writer may not declare or drop indexes:
// refused locally, ignored everywhere when forced.
func TestIndexesNeedTheDeleteRole(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	da, _ := a.m.Docs(tid)
	if err := da.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if err := da.AddIndex(ctx, "c", "n"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	db, _ := b.m.Docs(tid)
	if err := db.AddIndex(ctx, "c", "m"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a writer's index declaration: %v", err)
	}
	if err := db.DropIndex(ctx, "c", "n"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a writer's index drop: %v", err)
	}
	forceOps(t, b, tid, Ops{Docs: []DocOp{{Kind: DocIndex, Coll: "c", Field: "m"}, {Kind: DocIndexDrop, Coll: "c", Field: "n"}}})
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		colls, _ := d.Collections(ctx)
		if len(colls) != 1 || strings.Join(colls[0].Indexes, ",") != "n" {
			t.Fatalf("%s: indexes %+v after a writer's forced changes", n.host.ID(), colls)
		}
	}
}
