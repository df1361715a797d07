package views

// Benchmarks of the work one event can cause (see bounded_test.go for the
// behaviour): per-operation costs must not grow with the batch or the
// collection, a late ACL change must cost what it affects, and the worst
// event the budget admits is measured. Run them with
//
//	go test ./views/ -run '^$' -bench 'PutCost|SchemaChangeCost|ACLBatchDocRoles|LateACL|WorstEvent' -benchtime=3x -count=3

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// appendDocs appends events of perEvent puts each to a collection,
// documents numbered from first, without waiting for the views.
func appendDocs(tb testing.TB, n *node, tid ipel.ThreadID, coll string, first, events, perEvent int) {
	tb.Helper()
	ctx := context.Background()
	for e := 0; e < events; e++ {
		ops := make([]DocOp, perEvent)
		for j := range ops {
			i := first + e*perEvent + j
			id := fmt.Sprintf("doc-%08d", i)
			ops[j] = DocOp{Kind: DocPut, Coll: coll, ID: id, JSON: fmt.Appendf(nil, `{"_id":%q,"group":%d,"seq":%d,"name":"name %d"}`, id, i%1000, i, i)}
		}
		body, err := EncodeOps(Ops{Docs: ops})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := n.s.Append(ctx, tid, body); err != nil {
			tb.Fatal(err)
		}
	}
}

// docsThread makes a thread, on a pebble repo, with a collection "items"
// (a schema and two indexes) holding size documents.
func docsThread(tb testing.TB, size int) (*node, ipel.ThreadID) {
	tb.Helper()
	ctx := context.Background()
	n := newPebbleNode(tb)
	tid := n.thread(tb)
	d, err := n.m.Docs(tid)
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.AddCollection(ctx, "items", []byte(`{"type":"object","required":["group","seq"]}`)); err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"group", "seq"} {
		if err := d.AddIndex(ctx, "items", f); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < size; i += 1000 {
		appendDocs(tb, n, tid, "items", i, 1, min(1000, size-i))
	}
	if err := n.m.CatchUp(ctx, tid); err != nil {
		tb.Fatal(err)
	}
	return n, tid
}

// BenchmarkPutCost applies five equal events of docs-per-event puts (the
// runner applies them in one batch) to a collection of coll documents,
// and reports the cost of one put: flat in both.
func BenchmarkPutCost(b *testing.B) {
	ctx := context.Background()
	for _, coll := range []int{0, 20000} {
		for _, batch := range []int{100, 1000, 4000} {
			b.Run(fmt.Sprintf("coll=%d/docs-per-event=%d", coll, batch), func(b *testing.B) {
				n, tid := docsThread(b, coll)
				next := coll
				var spent time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := n.m.CatchUp(ctx, tid); err != nil {
						b.Fatal(err)
					}
					// Hold the runner so that the five events are one batch.
					r, err := n.m.runnerOf(tid)
					if err != nil {
						b.Fatal(err)
					}
					r.applyMu.Lock()
					appendDocs(b, n, tid, "items", next, 5, batch)
					next += 5 * batch
					start := time.Now()
					r.applyMu.Unlock()
					if err := n.m.CatchUp(ctx, tid); err != nil {
						b.Fatal(err)
					}
					spent += time.Since(start)
				}
				b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*5*batch), "ns/put")
			})
		}
	}
}

// BenchmarkSchemaChangeCost applies one event that changes a collection's
// schema four times (rejecting odd "seq", then not, twice), over coll
// documents, and reports the cost per document and the change-feed
// entries the event wrote.
func BenchmarkSchemaChangeCost(b *testing.B) {
	ctx := context.Background()
	strict := []byte(`{"type":"object","properties":{"seq":{"type":"integer","multipleOf":2}}}`)
	loose := []byte(`{"type":"object"}`)
	for _, coll := range []int{1000, 4000, 16000} {
		b.Run(fmt.Sprintf("coll=%d", coll), func(b *testing.B) {
			n, tid := docsThread(b, coll)
			var spent time.Duration
			var feed uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := n.m.CatchUp(ctx, tid); err != nil {
					b.Fatal(err)
				}
				before := feedCount(b, n, tid)
				ops := Ops{Docs: []DocOp{
					{Kind: DocCollection, Coll: "items", JSON: strict},
					{Kind: DocCollection, Coll: "items", JSON: loose},
					{Kind: DocCollection, Coll: "items", JSON: strict},
					{Kind: DocCollection, Coll: "items", JSON: loose},
				}}
				start := time.Now()
				if _, err := n.m.Write(ctx, tid, ops); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
				feed += feedCount(b, n, tid) - before
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*coll), "ns/doc")
			b.ReportMetric(float64(feed)/float64(b.N), "feed-entries/op")
		})
	}
}

// feedCount returns the number of a thread's change-feed entries.
func feedCount(tb testing.TB, n *node, tid ipel.ThreadID) uint64 {
	tb.Helper()
	r, err := n.m.runnerOf(tid)
	if err != nil {
		tb.Fatal(err)
	}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	return r.feed.last
}
