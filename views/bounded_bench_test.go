package views

// Benchmarks of the work one event can cause (see bounded_test.go for the
// behaviour): per-operation costs must not grow with the batch or the
// collection, a late ACL change must cost what it affects, and the worst
// event the budget admits is measured. Run them with
//
//	go test ./views/ -run '^$' -bench 'PutCost|SchemaChangeCost|ACLBatchDocRoles|LateACL|WorstEvent' -benchtime=3x -count=3

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"

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

// aclNode makes a node with an identity and an access-controlled thread it
// created.
func aclNode(tb testing.TB) (*node, ipel.ThreadID) {
	tb.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	n := newNodeAs(tb, sk)
	ti, err := n.s.CreateThread(context.Background(), ipel.VariantAccessControlled)
	if err != nil {
		tb.Fatal(err)
	}
	return n, ti.ID
}

// BenchmarkACLBatchDocRoles measures an event carrying one ACL operation
// after a writer set its own role on 1,024 to 8,192 documents, one an
// event, each from that event on (before: every document role compared at
// every point, 32 s at 8,192).
func BenchmarkACLBatchDocRoles(b *testing.B) {
	for _, roles := range []int{1024, 4096, 8192} {
		b.Run(fmt.Sprintf("roles=%d", roles), func(b *testing.B) {
			ctx := context.Background()
			sk, _, _ := crypto.GenerateEd25519Key(rand.Reader)
			n := newNodeAs(b, sk)
			ti, err := n.s.CreateThread(ctx, ipel.VariantAccessControlled)
			if err != nil {
				b.Fatal(err)
			}
			tid := ti.ID
			// The writer sets its own role on a document in each of its
			// events, each from that event on: as many points as roles.
			self := n.s.Self().String()
			for i := 0; i < roles; i++ {
				body, err := EncodeOps(Ops{ACL: []ACLOp{{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i), Peer: self, Role: RoleDelete, From: uint64(i + 1)}}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := n.s.Append(ctx, tid, body); err != nil {
					b.Fatal(err)
				}
			}
			if err := n.m.CatchUp(ctx, tid); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				op := ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i % roles), Peer: self, Role: RoleDelete, From: 1 << 30}
				if _, err := n.m.Write(ctx, tid, Ops{ACL: []ACLOp{op}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLateACL: on a thread where a member wrote 300 events (over 50
// keys), each ACL event revokes or restores the member's write from five
// events before its head (as a change arriving late does); reports the
// events read again per ACL event (before: the whole thread applied again,
// 2,773 applications for 10 such events on a 305-event thread). When the
// member's last writes have been written over, only its last six events
// are read (twice); when they still hold their keys, a revocation reads
// the thread once more to find what the keys go back to.
func BenchmarkLateACL(b *testing.B) {
	for _, overwritten := range []bool{true, false} {
		name := "writes-held"
		if overwritten {
			name = "writes-overwritten"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			a, m := newNetNode(b, 0), newNetNode(b, 0)
			tid := newACLThread(b, a)
			aclMember(b, m, a, tid, RoleWrite)
			for _, n := range []*netNode{m, a} {
				if n == a && !overwritten {
					break
				}
				kv, err := n.m.KV(tid)
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < 300 && (n == m || i < 50); i++ {
					if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("/m/%d", i%50)), []byte("v")); err != nil {
						b.Fatal(err)
					}
				}
				waitSame(b, tid, a, m)
			}
			head := logSeqOf(b, a, tid, m.host.ID())
			start := rejudged(a.m)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				role := []Role{RoleRead, RoleWrite}[i%2]
				forceOps(b, a, tid, Ops{ACL: []ACLOp{{Kind: ACLSetRole, Peer: m.host.ID().String(), Role: role, From: head - 5}}})
				if err := a.m.CatchUp(ctx, tid); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rejudged(a.m)-start)/float64(b.N), "events-read/op")
		})
	}
}

// BenchmarkWorstEvent measures the dearest events the limits let through:
// a document of MaxEventValues numbers under a schema at the cost limit
// (each number visited by MaxSchemaCost schemas); a document with a 900 KB
// string matched by large patterns; and 4,096 puts (the most an event
// carries) under the same costly schema.
func BenchmarkWorstEvent(b *testing.B) {
	ctx := context.Background()
	costly := `{"type":"object","properties":{"a":{"type":"array","items":{"allOf":[` +
		strings.TrimSuffix(strings.Repeat(`{"minimum":0},`, MaxSchemaCost-2), ",") + `]}}}}`
	pattern := `^(` + strings.Repeat(`[a-z]`, 120) + `)*$`
	regex := `{"type":"object","properties":{"s":{"allOf":[{"pattern":"` + pattern + `"},{"pattern":"` + pattern + `"}]}}}`
	numbers := `{"_id":"x","a":[` + strings.TrimSuffix(strings.Repeat(`0,`, MaxEventValues-3), ",") + `]}`
	text := `{"_id":"x","s":"` + strings.Repeat("a", 900<<10) + `"}`
	many := make([]DocOp, MaxEventOps)
	for i := range many {
		id := fmt.Sprintf("d%d", i)
		many[i] = DocOp{Kind: DocPut, Coll: "c", ID: id, JSON: fmt.Appendf(nil, `{"_id":%q,"a":[0,1,2,3,4,5,6,7,8,9,10,11,12]}`, id)}
	}
	for _, c := range []struct {
		name, schema string
		ops          []DocOp
	}{
		{"numbers", costly, []DocOp{{Kind: DocPut, Coll: "c", ID: "x", JSON: []byte(numbers)}}},
		{"patterns", regex, []DocOp{{Kind: DocPut, Coll: "c", ID: "x", JSON: []byte(text)}}},
		{"4096-puts", costly, many},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := compileSchema([]byte(c.schema)); err != nil {
				b.Fatalf("the schema is refused: %v", err)
			}
			n := newNode(b)
			tid := n.thread(b)
			d, err := n.m.Docs(tid)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.AddCollection(ctx, "c", []byte(c.schema)); err != nil {
				b.Fatal(err)
			}
			if err := checkLimits(Ops{Docs: c.ops}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				body, err := EncodeOps(Ops{Docs: c.ops})
				if err != nil {
					b.Fatal(err)
				}
				ref, err := n.s.Append(ctx, tid, body)
				if err != nil {
					b.Fatal(err)
				}
				if err := n.m.WaitApplied(ctx, tid, ref.Log, ref.Seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
