package views

// Tests of the work one event can cause: the schema cost rule, the per-event
// budget, skipping what breaks the reducer, linear costs, coalesced
// re-checks and the bounds on what the views keep. Each reproduces an attack
// of the issue "views survive hostile and heavy members" first.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// blowupSchema is the attack on validation: levels of "allOf" each holding
// two "$ref"s to the next level, so that validating one value takes 2^levels
// visits (20 levels: 1,307 bytes, 4.9 s for a 12-byte document before the
// cost rule).
func blowupSchema(levels int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"$ref":"#/$defs/l0","$defs":{`)
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&sb, `"l%d":{"allOf":[{"$ref":"#/$defs/l%d"},{"$ref":"#/$defs/l%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&sb, `"l%d":{"type":"object"}}}`, levels)
	return []byte(sb.String())
}

func TestSchemaCostRule(t *testing.T) {
	if n := len(blowupSchema(20)); n < 1200 || n > 1400 {
		t.Fatalf("the attack schema is %d bytes", n)
	}
	for _, c := range []struct {
		name   string
		schema string
		ok     bool
	}{
		{"typical", `{"type":"object","required":["name"],"properties":{"name":{"type":"string","pattern":"^[A-Z][a-z]+$"},"age":{"type":"integer","minimum":0}}}`, true},
		{"recursive tree", `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`, true},
		{"shared definitions", `{"$defs":{"addr":{"type":"object","properties":{"city":{"type":"string"}}}},"properties":{"home":{"$ref":"#/$defs/addr"},"work":{"$ref":"#/$defs/addr"}}}`, true},
		{"variants", `{"oneOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"b":{"type":"number"}}},{"properties":{"c":{"type":"boolean"}}}]}`, true},
		{"draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"x":{"type":"number"}}}`, true},
		{"allOf of refs, 3 levels", string(blowupSchema(3)), true},
		{"allOf of refs, 5 levels", string(blowupSchema(5)), false},
		{"allOf of refs, 20 levels", string(blowupSchema(20)), false},
		{"allOf of refs, 40 levels", string(blowupSchema(40)), false},
		{"in-place cycle", `{"$ref":"#/$defs/a","$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"anyOf":[{"$ref":"#/$defs/a"}]}}}`, false},
		{"recursion that doubles per level", `{"$ref":"#/$defs/n","$defs":{"n":{"properties":{"a":{"$ref":"#/$defs/n"}},"allOf":[{"properties":{"a":{"$ref":"#/$defs/n"}}}]}}}`, false},
		{"dynamic reference", `{"$dynamicAnchor":"x","properties":{"a":{"$dynamicRef":"#x"}}}`, false},
		{"huge regular expression", `{"pattern":"(a{1000}){1}b{900}"}`, false},
		{"too large", `{"description":"` + strings.Repeat("x", MaxSchemaSize) + `"}`, false},
	} {
		_, err := compileSchema([]byte(c.schema))
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrBadSchema) {
			t.Errorf("%s: accepted (%v)", c.name, err)
		}
	}
}

// forceWrite appends view operations straight through the engine, skipping
// the local checks and the encoder's (a hostile or modified writer), and
// waits until the views applied them.
func forceWrite(t *testing.T, n *node, tid ipel.ThreadID, ops Ops) threads.EventRef {
	t.Helper()
	ctx := context.Background()
	ref, err := n.s.Append(ctx, tid, encodeUnchecked(t, ops))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.m.WaitApplied(ctx, tid, ref.Log, ref.Seq); err != nil {
		t.Fatal(err)
	}
	return ref
}

// encodeUnchecked encodes view operations as a modified writer could:
// without the encoder's checks (EncodeOps refuses more than MaxEventOps in
// all, which the decoder reads when no list holds more).
func encodeUnchecked(t testing.TB, ops Ops) []byte {
	t.Helper()
	ops.Magic = opsMagic
	b, err := codec.Marshal(&ops)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func skipCount(t *testing.T, n *node, tid ipel.ThreadID, reason string) uint64 {
	t.Helper()
	st, err := n.m.Stats(context.Background(), tid)
	if err != nil {
		t.Fatal(err)
	}
	return st.Skipped[reason]
}

// TestBlowupSchemaRefusedEverywhere: the local check refuses the schema,
// and a declaration that skipped it is refused by the replica applying it,
// counted, and puts afterwards are applied at once.
func TestBlowupSchemaRefusedEverywhere(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", blowupSchema(24)); !errors.Is(err, ErrBadSchema) {
		t.Fatalf("the local check accepted the schema: %v", err)
	}
	forceWrite(t, n, tid, Ops{Docs: []DocOp{{Kind: DocCollection, Coll: "c", JSON: blowupSchema(24)}}})
	if got := skipCount(t, n, tid, RefuseSchema); got != 1 {
		t.Fatalf("%d refused schemas counted, want 1", got)
	}
	if _, err := d.collection(ctx, "c"); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("the refused declaration took effect: %v", err)
	}
	// A 12-byte document put under it (2^24 visits were it accepted).
	forceWrite(t, n, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "x", JSON: []byte(`{"_id":"x"}`)}}})
	// An earlier schema stays in force.
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	forceWrite(t, n, tid, Ops{Docs: []DocOp{{Kind: DocCollection, Coll: "c", JSON: blowupSchema(24)}}})
	if doc, err := d.Get(ctx, "c", "x"); err != nil || string(doc) != `{"_id":"x"}` {
		t.Fatalf("document under the earlier schema: %s %v", doc, err)
	}
}

// TestEventOverBudgetSkipped: an event with more operations than the
// budget is refused locally, and skipped whole where it is applied: nothing
// of it lands, its cursor moves, and it is counted.
func TestEventOverBudgetSkipped(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	// Within the decoder's limit on each list, over the budget together.
	ops := Ops{KV: make([]KVOp, MaxEventOps/2+1), Docs: make([]DocOp, MaxEventOps/2)}
	for i := range ops.KV {
		ops.KV[i] = KVOp{Key: fmt.Sprintf("/k/%d", i), Value: []byte("v")}
	}
	for i := range ops.Docs {
		ops.Docs[i] = DocOp{Kind: DocDelete, Coll: "c", ID: fmt.Sprint(i)}
	}
	if _, err := n.m.Write(ctx, tid, ops); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("the local check accepted %d operations: %v", MaxEventOps+1, err)
	}
	forceWrite(t, n, tid, ops)
	if has, _ := kv.Has(ctx, ds.NewKey("/k/0")); has {
		t.Fatal("an event over budget was applied")
	}
	if got := skipCount(t, n, tid, SkipTooManyOps); got != 1 {
		t.Fatalf("%d skipped events counted, want 1", got)
	}
	if err := kv.Put(ctx, ds.NewKey("/after"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	// A rebuild skips it again, and does not count it twice.
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if has, _ := kv.Has(ctx, ds.NewKey("/k/0")); has {
		t.Fatal("an event over budget was applied by a rebuild")
	}
	if got := skipCount(t, n, tid, SkipTooManyOps); got != 1 {
		t.Fatalf("after a rebuild, %d skipped events counted, want 1", got)
	}
	// Limits of single operations.
	for _, op := range []KVOp{{Key: "/" + strings.Repeat("k", MaxKeySize)}, {Key: "/big", Value: make([]byte, MaxDocSize+1)}} {
		if _, err := n.m.Write(ctx, tid, Ops{KV: []KVOp{op}}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("the local check accepted a key of %d bytes, value of %d: %v", len(op.Key), len(op.Value), err)
		}
	}
}

// TestPanicSkipsTheEvent: an event whose application panics is skipped
// (what it wrote is dropped), counted, and the thread goes on, also after a
// restart.
func TestPanicSkipsTheEvent(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	var bad atomic.Value
	n.m.beforeApply = func(rec threads.Record) {
		if ref, _ := bad.Load().(threads.EventRef); ref.Seq == rec.Seq && ref.Log == rec.Log {
			panic("a reducer bug")
		}
	}
	tid := n.thread(t)
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, ds.NewKey("/before"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	ti, _ := n.s.Info(tid)
	bad.Store(threads.EventRef{Log: ti.OwnLog, Seq: 2})
	forceWrite(t, n, tid, Ops{KV: []KVOp{{Key: "/poison", Value: []byte("x")}}})
	if err := kv.Put(ctx, ds.NewKey("/after"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if has, _ := kv.Has(ctx, ds.NewKey("/poison")); has {
		t.Fatal("the failed event's writes were kept")
	}
	if got := skipCount(t, n, tid, SkipPanic); got != 1 {
		t.Fatalf("%d failed events counted, want 1", got)
	}
	_ = n.m.Close()
	m2 := NewManager(n.s, n.store, nil)
	m2.beforeApply = n.m.beforeApply
	defer m2.Close()
	kv2, err := m2.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv2.Put(ctx, ds.NewKey("/restarted"), []byte("1")); err != nil {
		t.Fatal(err)
	}
}

// countingStore counts the queries made of a datastore.
type countingStore struct {
	ds.Batching
	queries atomic.Int64
}

func (c *countingStore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	c.queries.Add(1)
	return c.Batching.Query(ctx, q)
}

// TestPutsDoNotRescanTheBatch: applying five events of 2,000 puts in one
// batch reads the collection's indexes once, not once a put (before, each
// put listed the indexes through every write of the batch: five equal
// 4,000-put events took 0.55 s for the first and 6.2 s for the fifth).
func TestPutsDoNotRescanTheBatch(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	counting := &countingStore{Batching: n.store}
	_ = n.m.Close()
	n.m = NewManager(n.s, counting, nil)
	t.Cleanup(func() { _ = n.m.Close() })
	tid := n.thread(t)
	d, err := n.m.Docs(tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddCollection(ctx, "items", []byte(`{"type":"object"}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.AddIndex(ctx, "items", "group"); err != nil {
		t.Fatal(err)
	}
	r, err := n.m.runnerOf(tid)
	if err != nil {
		t.Fatal(err)
	}
	r.applyMu.Lock()
	appendDocs(t, n, tid, "items", 0, 5, 2000)
	before := counting.queries.Load()
	r.applyMu.Unlock()
	if err := n.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if q := counting.queries.Load() - before; q > 20 {
		t.Fatalf("%d datastore queries to apply 10,000 puts", q)
	}
	if res := query(t, d, "items", `{"group":7}`); len(res.Docs) != 10 || res.Plan != "index group $eq" {
		t.Fatalf("%d documents by %s", len(res.Docs), res.Plan)
	}
}

// TestSchemaFlipsFeedNetChanges: one event that changes a schema four
// times re-checks the collection once and feeds nothing when no document's
// visibility changed (before: 16,000 change-feed entries over 4,000
// documents); a change that hides documents feeds one delete each, and the
// index agrees with a full scan.
func TestSchemaFlipsFeedNetChanges(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AddIndex(ctx, "c", "seq"); err != nil {
		t.Fatal(err)
	}
	docs := make([]string, 200)
	for i := range docs {
		docs[i] = fmt.Sprintf(`{"_id":"d%03d","seq":%d}`, i, i)
	}
	mustPut(t, d, "c", docs...)
	strict := []byte(`{"properties":{"seq":{"multipleOf":2}}}`)
	loose := []byte(`{"type":"object"}`)
	flips := Ops{Docs: []DocOp{
		{Kind: DocCollection, Coll: "c", JSON: strict}, {Kind: DocCollection, Coll: "c", JSON: loose},
		{Kind: DocCollection, Coll: "c", JSON: strict}, {Kind: DocCollection, Coll: "c", JSON: loose},
	}}
	before := feedCount(t, n, tid)
	if _, err := n.m.Write(ctx, tid, flips); err != nil {
		t.Fatal(err)
	}
	if got := feedCount(t, n, tid) - before; got != 0 {
		t.Fatalf("%d change-feed entries for schema changes that changed no visibility", got)
	}
	before = feedCount(t, n, tid)
	if err := d.AddCollection(ctx, "c", strict); err != nil {
		t.Fatal(err)
	}
	if got := feedCount(t, n, tid) - before; got != 100 {
		t.Fatalf("%d change-feed entries for a schema that hides 100 documents", got)
	}
	if res := query(t, d, "c", `{"seq":{"$ge":0}}`); len(res.Docs) != 100 || res.Plan != "index seq range" {
		t.Fatalf("%d documents through the index (%s), want 100", len(res.Docs), res.Plan)
	}
	if res := query(t, d, "c", `{"seq":{"$ne":-1}}`); len(res.Docs) != 100 {
		t.Fatalf("%d documents by a full scan, want 100", len(res.Docs))
	}
}

// TestRecheckResumesAfterACrash: a re-check cut short (a mark left, as a
// crash after the schema change's batch would leave it) is finished when
// the views start, in chunks, before a snapshot is taken.
func TestRecheckResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AddIndex(ctx, "c", "seq"); err != nil {
		t.Fatal(err)
	}
	docs := make([]string, 300)
	for i := range docs {
		docs[i] = fmt.Sprintf(`{"_id":"d%03d","seq":%d}`, i, i)
	}
	mustPut(t, d, "c", docs...)
	// The schema change's batch committed, its re-check not done.
	_ = n.m.Close()
	ce := CollEntry{Schema: []byte(`{"properties":{"seq":{"maximum":99}}}`), Version: Version{Seq: 1 << 40}}
	if err := n.store.Put(ctx, collKey(tid, "c"), codecMarshal(t, &ce)); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Put(ctx, recheckKey(tid, "c"), codecMarshal(t, &recheck{Schema: true})); err != nil {
		t.Fatal(err)
	}
	m2 := NewManager(n.s, n.store, nil)
	m2.recheckChunk = 4 << 10 // many chunks
	defer m2.Close()
	d2, err := m2.Docs(tid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Snapshot(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if res := query(t, d2, "c", `{"seq":{"$ge":0}}`); len(res.Docs) != 100 {
		t.Fatalf("%d documents through the index after the resumed re-check, want 100", len(res.Docs))
	}
	if _, err := n.store.Get(ctx, recheckKey(tid, "c")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("the mark is still there: %v", err)
	}
}

// TestOversizedDocumentRefused: a document whose stored form would exceed
// MaxDocSize (invalid UTF-8 triples in size) is refused locally and where
// it is applied, so that snapshots stay possible.
func TestOversizedDocumentRefused(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	raw := append([]byte(`{"_id":"big","s":"`), bytes.Repeat([]byte{0xff}, 900<<10)...)
	raw = append(raw, `"}`...)
	if _, err := d.Put(ctx, "c", raw); !errors.Is(err, ErrBadDocument) {
		t.Fatalf("the local check accepted a document of %d bytes as stored: %v", 3*len(raw), err)
	}
	forceWrite(t, n, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "big", JSON: raw}}})
	if got := skipCount(t, n, tid, RefuseDocSize); got != 1 {
		t.Fatalf("%d oversized documents counted, want 1", got)
	}
	if _, err := n.m.Snapshot(ctx, tid); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	deep := strings.Repeat(`{"a":`, MaxDocDepth) + `1` + strings.Repeat(`}`, MaxDocDepth)
	deep = `{"_id":"deep","x":` + deep + `}`
	if _, err := d.Put(ctx, "c", []byte(deep)); !errors.Is(err, ErrBadDocument) {
		t.Fatalf("the local check accepted a document nested %d levels: %v", MaxDocDepth+1, err)
	}
	forceWrite(t, n, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "deep", JSON: []byte(deep)}}})
	if got := skipCount(t, n, tid, RefuseDocShape); got != 1 {
		t.Fatalf("%d documents too deep counted, want 1", got)
	}
	if _, err := d.Get(ctx, "c", "deep"); !errors.Is(err, ErrDocNotFound) {
		t.Fatalf("a document too deep was stored: %v", err)
	}
}

func codecMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSchemaCacheBounded: the compiled-schema cache holds at most
// maxCachedSchemaBytes of schemas, and gives the same answers after
// evicting.
func TestSchemaCacheBounded(t *testing.T) {
	c := newSchemaCache()
	pad := strings.Repeat("x", 60<<10)
	for i := 0; i < 200; i++ {
		if _, err := c.compile(fmt.Appendf(nil, `{"description":"%s","maxProperties":%d}`, pad, i)); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	size, n := c.bytes, c.lru.Len()
	c.mu.Unlock()
	if size > maxCachedSchemaBytes || n > maxCachedSchemas {
		t.Fatalf("%d schemas, %d bytes cached", n, size)
	}
	if _, err := c.compile(blowupSchema(20)); !errors.Is(err, ErrBadSchema) {
		t.Fatal(err)
	}
	if _, err := c.compile(blowupSchema(20)); !errors.Is(err, ErrBadSchema) {
		t.Fatal("a refusal cached differently")
	}
}

// hostileDocOps adds to randomDocOps what a hostile writer sends: schemas
// the cost rule refuses, documents too large or too deep, IDs too long, and
// events over the budget.
func hostileDocOps(rng *rand.Rand, l, seq int) Ops {
	ops := Ops{Docs: randomDocOps(rng, l, seq)}
	colls := []string{"people", "things"}
	switch rng.IntN(8) {
	case 0:
		ops.Docs = append(ops.Docs, DocOp{Kind: DocCollection, Coll: colls[rng.IntN(2)], JSON: blowupSchema(12)})
	case 1:
		id := fmt.Sprintf("d%d", rng.IntN(6))
		big := fmt.Sprintf(`{"_id":%q,"s":"%s"}`, id, strings.Repeat("\xff", MaxDocSize/3+10))
		ops.Docs = append(ops.Docs, DocOp{Kind: DocPut, Coll: colls[rng.IntN(2)], ID: id, JSON: []byte(big)})
	case 2:
		id := fmt.Sprintf("d%d", rng.IntN(6))
		deep := fmt.Sprintf(`{"_id":%q,"x":%s1%s}`, id, strings.Repeat("[", MaxDocDepth), strings.Repeat("]", MaxDocDepth))
		ops.Docs = append(ops.Docs, DocOp{Kind: DocPut, Coll: colls[rng.IntN(2)], ID: id, JSON: []byte(deep)})
	case 3:
		ops.KV = append(ops.KV, KVOp{Key: "/" + strings.Repeat("k", MaxKeySize), Value: []byte("x")})
	case 4:
		for i := 0; i < MaxEventOps; i++ {
			ops.KV = append(ops.KV, KVOp{Key: fmt.Sprintf("/k%d", i%5), Value: []byte("over")})
		}
	}
	return ops
}

// applyBatches applies events in batches of the given sizes, each batch
// through one overlay and then its re-checks, as the runner does.
func applyBatches(t testing.TB, store ds.Batching, schemas *schemaCache, recs []threads.Record, sizes func() int) {
	t.Helper()
	ctx := context.Background()
	for len(recs) > 0 {
		n := min(len(recs), sizes())
		ov := newOverlay(store)
		env := &applyEnv{schemas: schemas}
		for _, rec := range recs[:n] {
			if _, err := applyGuarded(ctx, ov, env, rec, nil); err != nil {
				t.Fatal(err)
			}
			ov.endEvent(true)
		}
		if err := commitOverlay(ctx, store, ov); err != nil {
			t.Fatal(err)
		}
		_, err := drainRechecks(ctx, store, schemas, nil, recs[0].Thread, 1<<10, func(ov *overlay, _ threads.Record, _ []DocChange) error {
			ov.endEvent(true)
			return commitOverlay(ctx, store, ov)
		})
		if err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

// TestBoundedConvergenceProperty: replicas that get the same events,
// hostile ones included, in different orders and batches, hold the same
// views: what the budget skips and the limits refuse is decided alike
// everywhere, and re-checks coalesced per batch end where one by one would.
func TestBoundedConvergenceProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 19))
	tid, _ := ipel.NewThreadID(ipel.VariantRaw)
	schemas := newSchemaCache()
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for round := 0; round < rounds; round++ {
		var recs []threads.Record
		for l := 0; l < 3; l++ {
			_, logID, _ := ipel.NewLogIdentity()
			for seq := 1; seq <= 12; seq++ {
				ops := hostileDocOps(rng, l, seq)
				if len(ops.KV)+len(ops.Docs) == 0 {
					continue
				}
				body := encodeUnchecked(t, ops)
				recs = append(recs, threads.Record{
					EventRef: threads.EventRef{Thread: tid, Log: logID, Seq: uint64(seq)},
					Clock:    codecClock(rng),
					Body:     body,
				})
			}
		}
		var want string
		for replica := 0; replica < 3; replica++ {
			order := append([]threads.Record(nil), recs...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			store := ds.NewMapDatastore()
			applyBatches(t, store, schemas, order, func() int { return 1 + rng.IntN(8) })
			got := fmt.Sprint(dump(t, store, kvPrefix(tid)), dump(t, store, threadPrefix(tid)+"/docs"))
			if replica == 0 {
				want = got
			} else if got != want {
				t.Fatalf("round %d: replica %d differs", round, replica)
			}
		}
	}
}

func codecClock(rng *rand.Rand) codec.Clock {
	return codec.Clock{Wall: int64(rng.IntN(10)), Counter: uint32(rng.IntN(2))}
}

// TestLongStringsInIndexes: an index holds at most maxIndexedString bytes of
// a string, so a document with a string near MaxDocSize in an indexed field
// does not make an index key too large for a snapshot page; queries through
// the index still return exactly what a full scan does.
func TestLongStringsInIndexes(t *testing.T) {
	ctx := context.Background()
	n, tid, d := newDocs(t)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("m", maxIndexedString)
	values := []string{"a", long, long + "a", long + "b", long + "b" + strings.Repeat("z", 1000), "n", strings.Repeat("z", MaxDocSize-4096)}
	var docs []string
	for i, v := range values {
		docs = append(docs, fmt.Sprintf(`{"_id":"d%d","s":%q}`, i, v))
	}
	mustPut(t, d, "c", docs...)
	filters := []string{
		fmt.Sprintf(`{"s":%q}`, long+"b"),
		fmt.Sprintf(`{"s":%q}`, long),
		fmt.Sprintf(`{"s":{"$gt":%q}}`, long+"a"),
		fmt.Sprintf(`{"s":{"$ge":%q,"$lt":%q}}`, long, long+"b"),
		fmt.Sprintf(`{"s":{"$lt":%q}}`, long+"b"),
		fmt.Sprintf(`{"s":{"$le":%q}}`, long+"b"),
		`{"s":{"$gt":"m"}}`,
	}
	var scans []string
	for _, f := range filters {
		scans = append(scans, ids(query(t, d, "c", f)))
	}
	if err := d.AddIndex(ctx, "c", "s"); err != nil {
		t.Fatal(err)
	}
	for i, f := range filters {
		res := query(t, d, "c", f)
		if res.Plan == "full scan" || ids(res) != scans[i] {
			t.Errorf("%.60s...: %s by %s, a full scan finds %s", f, ids(res), res.Plan, scans[i])
		}
	}
	if _, err := n.m.Snapshot(ctx, tid); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
}
