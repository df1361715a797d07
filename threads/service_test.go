package threads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/ipld/go-ipld-prime/multicodec"
	"go.uber.org/goleak"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

func init() {
	// The daemon registers the codec through Kubo's plugin loader; tests
	// register it the same way, so the pinner can walk logs.
	codec.RegisterIPLD(multicodec.DefaultRegistry)
}

// rig is a node's stores, kept across service restarts.
type rig struct {
	t      testing.TB
	store  ds.Batching
	blocks bstore.Blockstore
	dag    ipld.DAGService
	pinner pin.Pinner
}

func newRig(t testing.TB) *rig {
	t.Helper()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	bs := bstore.NewBlockstore(store)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	p, err := dspinner.New(context.Background(), store, dag)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, store: store, blocks: bs, dag: dag, pinner: p}
}

func (r *rig) open(cfg Config) *Service {
	r.t.Helper()
	s, err := New(context.Background(), Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner}, cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Service) ipel.ThreadID {
	t.Helper()
	ti, err := s.CreateThread(context.Background(), ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	return ti.ID
}

func TestAppendReadRestart(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{})
	tid := mustCreate(t, s)
	var refs []EventRef
	for i := 1; i <= 5; i++ {
		ref, err := s.Append(ctx, tid, fmt.Appendf(nil, "event %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if ref.Seq != uint64(i) {
			t.Fatalf("seq %d, want %d", ref.Seq, i)
		}
		refs = append(refs, ref)
	}
	check := func(s *Service) {
		t.Helper()
		recs, err := s.Events(ctx, tid, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 5 {
			t.Fatalf("%d events", len(recs))
		}
		for i, rec := range recs {
			if want := fmt.Sprintf("event %d", i+1); string(rec.Body) != want || !rec.Cid.Equals(refs[i].Cid) {
				t.Fatalf("event %d: %q %s", i, rec.Body, rec.Cid)
			}
		}
		ti, err := s.Info(tid)
		if err != nil {
			t.Fatal(err)
		}
		if len(ti.Logs) != 1 || ti.Logs[0].Seq != 5 || !ti.Logs[0].Head.Equals(refs[4].Cid) || !ti.Logs[0].Own {
			t.Fatalf("info %+v", ti)
		}
		if !ti.HasFollowKey || !ti.HasReadKey || ti.OwnLog != refs[0].Log {
			t.Fatalf("info keys %+v", ti)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := r.open(Config{})
	check(s2)
	ref, err := s2.Append(ctx, tid, []byte("after restart"))
	if err != nil || ref.Seq != 6 {
		t.Fatalf("append after restart: %v %d", err, ref.Seq)
	}
	recs, err := s2.Events(ctx, tid, Query{Since: 5})
	if err != nil || len(recs) != 1 || !recs[0].Cid.Equals(ref.Cid) {
		t.Fatalf("since: %v %v", recs, err)
	}
}

func TestQuerySinceLimitLog(t *testing.T) {
	ctx := context.Background()
	s := newRig(t).open(Config{})
	tid := mustCreate(t, s)
	for i := 0; i < 10; i++ {
		if _, err := s.Append(ctx, tid, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ti, _ := s.Info(tid)
	recs, err := s.Events(ctx, tid, Query{Log: ti.OwnLog, Since: 3, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0].Seq != 4 || recs[3].Seq != 7 || recs[0].Body[0] != 3 {
		t.Fatalf("got %d events from %d", len(recs), recs[0].Seq)
	}
	_, other, _ := ipel.NewLogIdentity()
	if _, err := s.Events(ctx, tid, Query{Log: other}); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("unknown log: %v", err)
	}
}

func TestConcurrentAppendsAreContiguous(t *testing.T) {
	ctx := context.Background()
	s := newRig(t).open(Config{})
	tid := mustCreate(t, s)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	seen := make(chan EventRef, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ref, err := s.Append(ctx, tid, fmt.Appendf(nil, "%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				seen <- ref
			}
		}()
	}
	wg.Wait()
	close(seen)
	bySeq := map[uint64]cid.Cid{}
	for ref := range seen {
		if _, dup := bySeq[ref.Seq]; dup {
			t.Fatalf("seq %d handed out twice", ref.Seq)
		}
		bySeq[ref.Seq] = ref.Cid
	}
	recs, err := s.Events(ctx, tid, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != writers*each {
		t.Fatalf("%d events, want %d", len(recs), writers*each)
	}
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) || !rec.Cid.Equals(bySeq[rec.Seq]) {
			t.Fatalf("event %d: seq %d cid %s", i, rec.Seq, rec.Cid)
		}
	}
}

func TestLargeBodyAndLimits(t *testing.T) {
	ctx := context.Background()
	s := newRig(t).open(Config{MaxBodySize: 100_000, InlineBodySize: 1000})
	tid := mustCreate(t, s)
	big := bytes.Repeat([]byte("big"), 20_000)
	ref, err := s.Append(ctx, tid, big)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Event(ctx, tid, ref.Cid)
	if err != nil || !bytes.Equal(rec.Body, big) {
		t.Fatalf("large body: %v", err)
	}
	if _, err := s.Append(ctx, tid, nil); !errors.Is(err, ErrEmptyBody) {
		t.Fatalf("empty body: %v", err)
	}
	if _, err := s.Append(ctx, tid, make([]byte, 100_001)); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	other, _ := ipel.NewThreadID(ipel.VariantRaw)
	if _, err := s.Append(ctx, other, []byte("x")); !errors.Is(err, ErrThreadNotFound) {
		t.Fatalf("unknown thread: %v", err)
	}
	// Failed appends lose nothing and use no seq.
	next, err := s.Append(ctx, tid, []byte("next"))
	if err != nil || next.Seq != 2 {
		t.Fatalf("after failures: seq %d, %v", next.Seq, err)
	}
}

func TestEventLookup(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{})
	a, b := mustCreate(t, s), mustCreate(t, s)
	ra, _ := s.Append(ctx, a, []byte("in a"))
	rb, _ := s.Append(ctx, b, []byte("in b"))
	rec, err := s.Event(ctx, a, ra.Cid)
	if err != nil || string(rec.Body) != "in a" {
		t.Fatalf("%v %q", err, rec.Body)
	}
	if _, err := s.Event(ctx, a, rb.Cid); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("event of another thread: %v", err)
	}
	missing, _ := cid.Prefix{Version: 1, Codec: codec.EventCodec, MhType: 0x12, MhLength: -1}.Sum([]byte("nope"))
	if _, err := s.Event(ctx, a, missing); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("missing event: %v", err)
	}
	raw, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: -1}.Sum([]byte("nope"))
	if _, err := s.Event(ctx, a, raw); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("raw CID: %v", err)
	}
}

func TestListenIsLosslessAndResumable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newRig(t).open(Config{})
	tid := mustCreate(t, s)
	for i := 0; i < 10; i++ {
		if _, err := s.Append(ctx, tid, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	const total = 300
	got := make(chan Record, total)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(lctx, tid, 5, func(r Record) error {
			time.Sleep(100 * time.Microsecond) // a slow reader
			got <- r
			return nil
		})
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < (total-5)/4+1; i++ {
				if _, err := s.Append(ctx, tid, []byte("live")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ti, _ := s.Info(tid)
	head := ti.Logs[0].Seq
	want := uint64(6)
	for want <= head {
		select {
		case r := <-got:
			if r.Seq != want {
				t.Fatalf("got seq %d, want %d", r.Seq, want)
			}
			want++
		case <-ctx.Done():
			t.Fatalf("listener stalled at seq %d of %d", want, head)
		}
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("listen ended with %v", err)
	}
}

func TestListenEndsOnRemoveAndClose(t *testing.T) {
	ctx := context.Background()
	s := newRig(t).open(Config{})
	a, b := mustCreate(t, s), mustCreate(t, s)
	errs := make(chan error, 2)
	for _, tid := range []ipel.ThreadID{a, b} {
		go func() { errs <- s.Listen(ctx, tid, 0, func(Record) error { return nil }) }()
	}
	if err := s.RemoveThread(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrThreadNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	_ = s.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// ownKey returns the private key and follow key of the node's log in a thread.
func ownLog(t *testing.T, s *Service, tid ipel.ThreadID) (*thread, *logState) {
	t.Helper()
	th, err := s.thread(tid)
	if err != nil {
		t.Fatal(err)
	}
	return th, th.own
}

func forge(t *testing.T, th *thread, st *logState, seq uint64, prev cid.Cid, body string) *codec.Event {
	t.Helper()
	c, err := codec.SealContent(th.read.Load(), []byte(body), time.Now(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Seal(st.sk, th.follow, codec.Position{Thread: th.id, Log: st.id, Seq: seq, Prev: prev, Clock: codec.Clock{Wall: time.Now().UnixNano()}}, c)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEquivocationIsDetectedAndFirstKept(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{})
	tid := mustCreate(t, s)
	first, _ := s.Append(ctx, tid, []byte("first"))
	th, st := ownLog(t, s, tid)

	// Replaying the held event is a harmless duplicate.
	blk, _ := r.blocks.Get(ctx, first.Cid)
	res, err := s.Ingest(ctx, tid, []blocks.Block{blk}, nil)
	if err != nil || res.Duplicates != 1 || res.Stored != 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	// A second, validly signed event at seq 1.
	conflict := forge(t, th, st, 1, cid.Undef, "second")
	if _, err := s.Ingest(ctx, tid, []blocks.Block{conflict.Block}, nil); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("conflict: %v", err)
	}
	// An event beyond the head of our own log, signed with our key.
	beyond := forge(t, th, st, 2, first.Cid, "beyond")
	if _, err := s.Ingest(ctx, tid, []blocks.Block{beyond.Block}, nil); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("beyond own head: %v", err)
	}
	recs, err := s.Events(ctx, tid, Query{})
	if err != nil || len(recs) != 1 || string(recs[0].Body) != "first" {
		t.Fatalf("first not kept: %v %v", recs, err)
	}
	if _, err := s.Event(ctx, tid, conflict.Cid()); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("conflicting event readable: %v", err)
	}
	eqs, err := s.Equivocations(ctx, tid)
	if err != nil || len(eqs) != 2 {
		t.Fatalf("evidence: %v %v", eqs, err)
	}
}

func TestIngestRejectsForgeriesAndGaps(t *testing.T) {
	ctx := context.Background()
	s := newRig(t).open(Config{})
	tid := mustCreate(t, s)
	th, _ := ownLog(t, s, tid)

	// A foreign log the thread does not know.
	sk, id, _ := ipel.NewLogIdentity()
	stranger := &logState{id: id, sk: sk}
	ev := forge(t, th, stranger, 1, cid.Undef, "x")
	if _, err := s.Ingest(ctx, tid, []blocks.Block{ev.Block}, nil); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("unknown log: %v", err)
	}
	// Make the log known, then send seq 2 before seq 1.
	th.mu.Lock()
	known := &logState{id: id}
	th.logs[id] = known
	th.mu.Unlock()
	ev2 := forge(t, th, stranger, 2, ev.Cid(), "y")
	if _, err := s.Ingest(ctx, tid, []blocks.Block{ev2.Block}, nil); !errors.Is(err, ErrGap) {
		t.Fatalf("gap: %v", err)
	}
	// In order, both are stored.
	res, err := s.Ingest(ctx, tid, []blocks.Block{ev.Block, ev2.Block}, nil)
	if err != nil || res.Stored != 2 {
		t.Fatalf("in order: %+v %v", res, err)
	}
	// An impostor signing for the log.
	impostorKey, _, _ := ipel.NewLogIdentity()
	forged := forge(t, th, &logState{id: id, sk: impostorKey}, 3, ev2.Cid(), "z")
	if _, err := s.Ingest(ctx, tid, []blocks.Block{forged.Block}, nil); !errors.Is(err, codec.ErrBadSignature) {
		t.Fatalf("impostor: %v", err)
	}
	// Garbage.
	junk := blocks.NewBlock([]byte("junk"))
	if _, err := s.Ingest(ctx, tid, []blocks.Block{junk}, nil); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
	recs, _ := s.Events(ctx, tid, Query{Log: id})
	if len(recs) != 2 {
		t.Fatalf("%d events in the foreign log", len(recs))
	}
}

func TestPinsCoverTheWholeLog(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{InlineBodySize: 64})
	tid := mustCreate(t, s)
	var want []cid.Cid
	for i := 0; i < 20; i++ {
		ref, err := s.Append(ctx, tid, bytes.Repeat([]byte{byte(i)}, 100)) // bodies in blocks of their own
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ref.Cid)
	}
	s.pins.flush(ctx) // pins follow heads within pinInterval
	th, st := ownLog(t, s, tid)
	th.mu.Lock()
	head := st.pinned
	th.mu.Unlock()
	if _, pinned, err := r.pinner.IsPinnedWithType(ctx, head, pin.Recursive); err != nil || !pinned {
		t.Fatalf("retention root not pinned: %v", err)
	}
	// What the garbage collector would keep: everything reachable from the pins.
	reached := reachableFromPins(t, r)
	for _, c := range want {
		if !reached.Has(c) {
			t.Fatalf("event %s not reachable from the pinned retention DAG", c)
		}
	}
	if reached.Len() != 42 {
		t.Fatalf("reached %d blocks, want 20 events + 20 bodies + a page and a root", reached.Len())
	}
	if n := len(recursivePins(t, r)); n != 1 {
		t.Fatalf("%d recursive pins, want 1", n)
	}
	// Removing the thread releases the pin and forgets the thread.
	if err := s.RemoveThread(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, pinned, _ := r.pinner.IsPinned(ctx, head); pinned {
		t.Fatal("head still pinned after remove")
	}
	if _, err := s.Info(tid); !errors.Is(err, ErrThreadNotFound) {
		t.Fatalf("info after remove: %v", err)
	}
	_ = s.Close()
	s2 := r.open(Config{})
	if ths, _ := s2.Threads(); len(ths) != 0 {
		t.Fatalf("%d threads after remove and restart", len(ths))
	}
	keys, _ := r.store.Query(ctx, dsqPrefix("/ev/"))
	if rest, _ := keys.Rest(); len(rest) != 0 {
		t.Fatalf("%d index entries left", len(rest))
	}
}

func TestRestartMovesAPinLeftBehind(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{})
	tid := mustCreate(t, s)
	first, _ := s.Append(ctx, tid, []byte("1"))
	if _, err := s.Append(ctx, tid, []byte("2")); err != nil {
		t.Fatal(err)
	}
	last, _ := s.Append(ctx, tid, []byte("3"))
	_ = s.Close()
	// Simulate a crash between the head commit and the pin update: the pin
	// is still on the first event.
	s2 := r.open(Config{})
	th, _ := ownLog(t, s2, tid)
	st := th.own
	_ = s2.Close()
	for _, p := range recursivePins(t, r) {
		if err := r.pinner.Unpin(ctx, p, true); err != nil {
			t.Fatal(err)
		}
	}
	// The pin is on the first event, as before retention DAGs.
	if err := r.pinner.PinWithMode(ctx, first.Cid, pin.Recursive, "old"); err != nil {
		t.Fatal(err)
	}
	st.pinned = first.Cid
	if err := (&Service{deps: Deps{Datastore: r.store}}).saveLog(ctx, tid, st); err != nil {
		t.Fatal(err)
	}
	s3 := r.open(Config{})
	if reached := reachableFromPins(t, r); !reached.Has(last.Cid) || !reached.Has(first.Cid) {
		t.Fatal("restart did not pin the log")
	}
	if _, pinned, _ := r.pinner.IsPinnedWithType(ctx, first.Cid, pin.Recursive); pinned {
		t.Fatal("restart left the old pin")
	}
	if recs, err := s3.Events(ctx, tid, Query{}); err != nil || len(recs) != 3 {
		t.Fatalf("after restart: %d %v", len(recs), err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	r := newRig(t)
	s, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tid := mustCreate(t, s)
	done := make(chan error)
	go func() { done <- s.Listen(ctx, tid, 0, func(Record) error { return nil }) }()
	for i := 0; i < 50; i++ {
		if _, err := s.Append(ctx, tid, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("listen: %v", err)
	}
	if _, err := s.Append(ctx, tid, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func dsqPrefix(p string) dsq.Query { return dsq.Query{Prefix: p, KeysOnly: true} }

func TestGCWaitsUntilPinsCoverHeads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := newRig(t)
	locker := bstore.NewGCLocker()
	s, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner, GCLocker: locker}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tid := mustCreate(t, s)
	for round := 0; round < 5; round++ {
		var last EventRef
		for i := 0; i < 20; i++ {
			if last, err = s.Append(ctx, tid, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		// A collector that gets the lock now must find the head pinned.
		unlock := locker.GCLock(ctx)
		pinned := reachableFromPins(t, r).Has(last.Cid)
		unlock.Unlock(ctx)
		if !pinned {
			t.Fatalf("round %d: GC got the lock while head %s was unpinned", round, last.Cid)
		}
	}
}

// recursivePins lists the rig's recursive pins.
func recursivePins(t testing.TB, r *rig) []cid.Cid {
	t.Helper()
	var out []cid.Cid
	for p := range r.pinner.RecursiveKeys(context.Background(), false) {
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		out = append(out, p.Pin.Key)
	}
	return out
}

// reachableFromPins is what a garbage collection keeps: every block reached
// from a recursive pin. A missing block fails the test, as it fails Kubo's GC.
func reachableFromPins(t testing.TB, r *rig) *cid.Set {
	t.Helper()
	ctx := context.Background()
	reached := cid.NewSet()
	for _, p := range recursivePins(t, r) {
		if err := merkledag.Walk(ctx, merkledag.GetLinksWithDAG(r.dag), p, reached.Visit); err != nil {
			t.Fatalf("walk from pin %s: %v", p, err)
		}
	}
	return reached
}
