package views

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	dstest "github.com/ipfs/go-datastore/test"
	"github.com/ipld/go-ipld-prime/multicodec"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

func init() { codec.RegisterIPLD(multicodec.DefaultRegistry) }

type node struct {
	s     *threads.Service
	m     *Manager
	store ds.Batching
}

// newNode runs an engine and a view manager on in-memory stores.
func newNode(t testing.TB) *node { t.Helper(); return newNodeAs(t, nil) }

// newNodeAs is newNode for a node whose libp2p identity is identity.
func newNodeAs(t testing.TB, identity crypto.PrivKey) *node {
	t.Helper()
	ctx := context.Background()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	bs := bstore.NewBlockstore(store)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	p, err := dspinner.New(ctx, store, dag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := threads.New(ctx, threads.Deps{Datastore: namespace.Wrap(store, ds.NewKey("/threads")), Blockstore: bs, Pinner: p, Identity: identity}, threads.Config{})
	if err != nil {
		t.Fatal(err)
	}
	viewStore := namespace.Wrap(store, ds.NewKey("/views"))
	m := NewManager(s, viewStore, nil)
	t.Cleanup(func() {
		_ = m.Close()
		_ = s.Close()
	})
	return &node{s: s, m: m, store: viewStore}
}

func (n *node) thread(t testing.TB) ipel.ThreadID {
	t.Helper()
	ti, err := n.s.CreateThread(context.Background(), ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	return ti.ID
}

// TestKVDatastoreConformance runs go-datastore's conformance suite. Its
// SubtestCombinations makes about 460,000 writes, each an event (about five
// minutes here); it runs with THREADS_FULL_CONFORMANCE=1, as `make test`
// sets it, and every other subtest always runs.
func TestKVDatastoreConformance(t *testing.T) {
	n := newNode(t)
	kv, err := n.m.KV(n.thread(t))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("THREADS_FULL_CONFORMANCE") == "1" {
		dstest.SubtestAll(t, kv)
		return
	}
	// SubtestAll without SubtestCombinations.
	clear := func(t *testing.T) {
		res, err := kv.Query(context.Background(), dsq.Query{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		all, _ := res.Rest()
		for _, e := range all {
			if err := kv.Delete(context.Background(), ds.NewKey(e.Key)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range dstest.BasicSubtests {
		name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
		if strings.HasSuffix(name, "SubtestCombinations") {
			continue
		}
		t.Run(name, func(t *testing.T) { f(t, kv); clear(t) })
	}
	for _, f := range dstest.BatchSubtests {
		name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
		t.Run(name, func(t *testing.T) { f(t, kv); clear(t) })
	}
}

func TestKVTombstonesAndRawEvents(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, _ := n.m.KV(tid)
	if _, err := n.s.Append(ctx, tid, []byte("a raw event, not a view operation")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, ds.NewKey("/a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, ds.NewKey("/a")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, ds.NewKey("/a")); err != ds.ErrNotFound {
		t.Fatalf("deleted key: %v", err)
	}
	recs, _ := n.s.Events(ctx, tid, threads.Query{})
	if len(recs) != 3 {
		t.Fatalf("%d events: a delete is a tombstone event", len(recs))
	}
	// Deleting a missing key writes nothing.
	if err := kv.Delete(ctx, ds.NewKey("/missing")); err != nil {
		t.Fatal(err)
	}
	if recs, _ := n.s.Events(ctx, tid, threads.Query{}); len(recs) != 3 {
		t.Fatal("deleting a missing key wrote an event")
	}
}

// dump returns every key and value of a store, sorted.
func dump(t testing.TB, store ds.Datastore, prefix string) []string {
	t.Helper()
	res, err := store.Query(context.Background(), dsq.Query{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s=%x", e.Key, e.Value))
	}
	sort.Strings(out)
	return out
}

func TestRebuildGivesTheSameView(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, _ := n.m.KV(tid)
	for i := 0; i < 50; i++ {
		if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%d", i%7)), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = kv.Delete(ctx, ds.NewKey("/k/3"))
	before := dump(t, n.store, "/")
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	after := dump(t, n.store, "/")
	if len(before) == 0 || fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("rebuild differs:\n%v\n%v", before, after)
	}
	v, err := kv.Get(ctx, ds.NewKey("/k/6"))
	if err != nil || string(v) != "v48" {
		t.Fatalf("after rebuild: %q %v", v, err)
	}
}

// TestConvergenceProperty feeds the same events to replicas in random
// orders, with duplicates, and requires byte-identical views.
// TestConvergenceProperty feeds replicas the same events (key/value and
// document operations, with schemas and indexes declared at random points)
// in random orders with duplicates; their views must be byte-identical.
func TestConvergenceProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	tid, _ := ipel.NewThreadID(ipel.VariantRaw)
	schemas := newSchemaCache()
	for round := 0; round < 30; round++ {
		// Events of three logs; clocks collide on purpose, so the log ID
		// and the op index must break ties.
		var recs []threads.Record
		for l := 0; l < 3; l++ {
			_, logID, _ := ipel.NewLogIdentity()
			for seq := 1; seq <= 15; seq++ {
				var ops Ops
				for i := 0; i < 1+rng.IntN(3); i++ {
					op := KVOp{Key: fmt.Sprintf("/k%d", rng.IntN(5))}
					if rng.IntN(4) == 0 {
						op.Delete = true
					} else {
						op.Value = fmt.Appendf(nil, "%d-%d-%d", l, seq, i)
					}
					ops.KV = append(ops.KV, op)
				}
				ops.Docs = randomDocOps(rng, l, seq)
				body, _ := EncodeOps(ops)
				recs = append(recs, threads.Record{
					EventRef: threads.EventRef{Thread: tid, Log: logID, Seq: uint64(seq)},
					Clock:    codec.Clock{Wall: int64(rng.IntN(10)), Counter: uint32(rng.IntN(2))},
					Body:     body,
				})
			}
		}
		var want []string
		for replica := 0; replica < 4; replica++ {
			order := append([]threads.Record(nil), recs...)
			for i := 0; i < 10; i++ { // duplicates
				order = append(order, recs[rng.IntN(len(recs))])
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			store := ds.NewMapDatastore()
			for _, rec := range order {
				applyAndRecheck(t, store, schemas, rec)
			}
			// Everything but the cursors, which record the order of arrival.
			got := append(dump(t, store, kvPrefix(tid)), dump(t, store, threadPrefix(tid)+"/docs")...)
			if replica == 0 {
				want = got
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d: replica %d differs:\n%v\n%v", round, replica, got, want)
			}
		}
	}
}

// applyAndRecheck applies one event as a batch of its own, then the
// re-checks it asked for, as the runner does.
func applyAndRecheck(t testing.TB, store ds.Batching, schemas *schemaCache, rec threads.Record) {
	t.Helper()
	ctx := context.Background()
	b, _ := store.Batch(ctx)
	if _, err := applyRecord(ctx, store, b, &applyEnv{schemas: schemas}, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := drainRechecks(ctx, store, schemas, nil, rec.Thread, recheckChunk, func(ov *overlay, _ threads.Record, _ []DocChange) error {
		ov.endEvent(true)
		return commitOverlay(ctx, store, ov)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestViewsSurviveRestartAndStayConsistent(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, _ := n.m.KV(tid)
	b, _ := kv.Batch(ctx)
	for i := 0; i < 10; i++ {
		_ = b.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte{byte(i)})
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _ := n.s.Events(ctx, tid, threads.Query{})
	if len(recs) != 1 {
		t.Fatalf("a batch is %d events, want 1", len(recs))
	}
	// A new manager on the same store resumes from its cursors.
	_ = n.m.Close()
	m2 := NewManager(n.s, n.store, nil)
	defer m2.Close()
	kv2, _ := m2.KV(tid)
	if err := kv2.Put(ctx, ds.NewKey("/after"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	res, _ := kv2.Query(ctx, dsq.Query{Prefix: "/b"})
	all, _ := res.Rest()
	if len(all) != 10 {
		t.Fatalf("%d entries after restart", len(all))
	}
	if v, _ := kv2.Get(ctx, ds.NewKey("/b/9")); !bytes.Equal(v, []byte{9}) {
		t.Fatalf("value %v", v)
	}
}

func TestRebuildRacingWritesLosesNothing(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, _ := n.m.KV(tid)
	for round := 0; round < 5; round++ {
		key := ds.NewKey(fmt.Sprintf("/r%d", round))
		if err := kv.Put(ctx, key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.m.Rebuild(ctx, tid) }()
		for i := 0; i < 5; i++ {
			if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("/w%d-%d", round, i)), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := n.m.CatchUp(ctx, tid); err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= round; r++ {
			if _, err := kv.Get(ctx, ds.NewKey(fmt.Sprintf("/r%d", r))); err != nil {
				t.Fatalf("round %d: key /r%d lost: %v", round, r, err)
			}
		}
	}
	before := dump(t, n.store, "/")
	if err := n.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, n.store, "/"); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("a quiet rebuild changed the view")
	}
}
