package threads

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
	pin "github.com/ipfs/boxo/pinning/pinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// hookBS lets a test block or fail PutMany calls.
type hookBS struct {
	bstore.Blockstore
	hook func(n int) error
	n    atomic.Int32
}

func (h *hookBS) PutMany(ctx context.Context, b []blocks.Block) error {
	if h.hook != nil {
		if err := h.hook(int(h.n.Add(1))); err != nil {
			return err
		}
	}
	return h.Blockstore.PutMany(ctx, b)
}

// One failed store releases the GC pin lock while another store is in flight:
// GC can then run between that store's commit and its pin.
func TestRegressionFailedStoreReleasesGCLockOfOthers(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	locker := bstore.NewGCLocker()
	entered, release := make(chan struct{}), make(chan struct{})
	hb := &hookBS{Blockstore: r.blocks}
	hb.hook = func(n int) error {
		switch n {
		case 1: // writer B: blocks
			close(entered)
			<-release
			return nil
		case 2: // writer A: fails
			return errors.New("disk error")
		}
		return nil
	}
	s, err := New(ctx, Deps{Datastore: r.store, Blockstore: hb, Pinner: r.pinner, GCLocker: locker}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t1, t2 := mustCreate(t, s), mustCreate(t, s)
	bDone := make(chan EventRef, 1)
	go func() {
		ref, err := s.Append(ctx, t1, []byte("B"))
		if err != nil {
			t.Error(err)
		}
		bDone <- ref
	}()
	<-entered
	if _, err := s.Append(ctx, t2, []byte("A")); err == nil {
		t.Fatal("A should fail")
	}
	// B is between begin and end: GC must be kept out. Is it?
	got := make(chan bstore.Unlocker, 1)
	go func() { got <- locker.GCLock(ctx) }()
	select {
	case u := <-got:
		close(release)
		ref := <-bDone
		_, pinned, _ := r.pinner.IsPinnedWithType(ctx, ref.Cid, pin.Recursive)
		u.Unlock(ctx)
		t.Fatalf("GC got the lock while B was writing; B's head %s pinned while GC held the lock: %v", ref.Cid, pinned)
	case <-time.After(300 * time.Millisecond):
		close(release)
		<-bDone
		(<-got).Unlock(ctx)
	}
}

// Close and RemoveThread both close th.changed.
func TestRegressionCloseRacesRemoveThread(t *testing.T) {
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		r := newRig(t)
		s, err := New(ctx, Deps{Datastore: r.store, Blockstore: r.blocks, Pinner: r.pinner}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		tid := mustCreate(t, s)
		var wg sync.WaitGroup
		panicked := make(chan any, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panicked <- p
				}
			}()
			_ = s.RemoveThread(ctx, tid)
		}()
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panicked <- p
				}
			}()
			_ = s.Close()
		}()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case p := <-panicked:
			t.Fatalf("iteration %d: panic: %v", i, p)
		case <-done:
		}
	}
}

// A follower (follow key only) adds a log to the thread and an event whose
// header no reader can open: every reader's Events/Listen then fail.
func TestRegressionFollowerWritesAndPoisonsReads(t *testing.T) {
	ctx := context.Background()
	a, f := newTestNode(t, nodeOpts{interval: time.Hour}), newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, f)
	ti, _ := a.CreateThread(ctx, ipel.VariantAccessControlled)
	tid := ti.ID
	if _, err := a.Append(ctx, tid, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	invite(t, a, f, tid, codec.RoleFollow)
	fth, _ := f.thread(tid)
	if fth.read.Load() != nil {
		t.Fatal("follower holds the read key")
	}
	sk, logID, _ := ipel.NewLogIdentity()
	junkKey, _ := codec.NewKey()
	c, _ := codec.SealContent(junkKey, []byte("junk"), time.Now(), 1024)
	ev, err := codec.Seal(sk, fth.follow, codec.Position{Thread: tid, Log: logID, Seq: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: f.net.auth(fth, a.host.ID()), Events: [][]byte{ev.Block.RawData()}}); err != nil {
		t.Fatal(err)
	}
	info, _ := a.Info(tid)
	t.Logf("a now has %d logs", len(info.Logs))
	if _, err := a.Events(ctx, tid, Query{}); err != nil {
		t.Fatalf("a can no longer read its thread: %v", err)
	}
}

// A member makes a node hold back events of any number of made-up logs,
// which are never released.
func TestRegressionHoldBackUnboundedAcrossLogs(t *testing.T) {
	ctx := context.Background()
	a, f := newTestNode(t, nodeOpts{interval: time.Hour}), newTestNode(t, nodeOpts{interval: time.Hour})
	connect(t, a, f)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	tid := ti.ID
	invite(t, a, f, tid, codec.RoleFollow)
	fth, _ := f.thread(tid)
	mk := func(seq uint64, sk crypto.PrivKey, logID ipel.LogID, size int) []byte {
		c, _ := codec.SealContent(fth.follow, make([]byte, size), time.Now(), 4<<20)
		prev := cid.Undef
		if seq > 1 {
			prev, _ = cid.Decode("bafkqaaa")
		}
		ev, err := codec.Seal(sk, fth.follow, codec.Position{Thread: tid, Log: logID, Seq: seq, Prev: prev, Clock: codec.Clock{Wall: int64(seq)}}, c)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Block.RawData()
	}
	_ = mk
	total := 0
	for round := 0; round < 8; round++ {
		// first event: a fresh log with a gap (seq 2), then events of other fresh logs
		var evs [][]byte
		sk0, l0, _ := ipel.NewLogIdentity()
		evs = append(evs, mk(2, sk0, l0, 10))
		for i := 0; i < 6; i++ {
			sk, l, _ := ipel.NewLogIdentity()
			evs = append(evs, mk(uint64(1000+i), sk, l, 1<<20))
		}
		if _, err := f.net.request(ctx, a.host.ID(), &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: f.net.auth(fth, a.host.ID()), Events: evs}); err != nil {
			t.Fatal(err)
		}
		total += len(evs)
	}
	n, bytes, _ := a.net.held.usage(f.host.ID())
	a.net.held.mu.Lock()
	keys := len(a.net.held.byLog)
	a.net.held.mu.Unlock()
	info, _ := a.Info(tid)
	fmt.Printf("pending: %d events of %d logs, %d bytes held; thread now has %d logs\n", n, keys, bytes, len(info.Logs))
	if keys > len(info.Logs) {
		t.Fatalf("held back events of %d logs the thread does not have (never released)", keys-len(info.Logs)+0)
	}
}

// Group commit hands every body of a batch to the push of its first event:
// a batch of several large bodies makes a push over the wire limit.
func TestRegressionPushOfBatchWithLargeBodiesExceedsLimit(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	s := r.open(Config{MaxBodySize: 2 << 20})
	tid := mustCreate(t, s)
	th, _ := s.thread(tid)
	var item pushItem
	item.th = th
	for i := 0; i < 6; i++ {
		c, err := codec.SealContent(th.read.Load(), make([]byte, 1500<<10), time.Now(), 32<<10)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := codec.Seal(th.own.sk, th.follow, codec.Position{Thread: tid, Log: th.own.id, Seq: uint64(i + 1)}, c)
		if err != nil {
			t.Fatal(err)
		}
		item.events = append(item.events, pushEvent{event: ev.Block, body: c.BodyBlock})
	}
	_ = ctx
	for i, m := range mergePushes([]pushItem{item}, maxBatchBytes) {
		b, _ := codec.EncodeMessage(m.msg)
		t.Logf("message %d: %d events, %d bodies, %d bytes", i, len(m.msg.Events), len(m.msg.Bodies), len(b))
		if len(b) > codec.MaxMessageSize {
			t.Errorf("message %d is %d bytes, over the %d limit: WriteMessage refuses it", i, len(b), codec.MaxMessageSize)
		}
	}
}
