package threads

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/mount"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	flatfs "github.com/ipfs/go-ds-flatfs"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// opLog records, in order, what the engine asks of its stores.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *opLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ops...)
}

// recordingBS records the blocks written.
type recordingBS struct {
	bstore.Blockstore
	log *opLog
}

func (r *recordingBS) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		r.log.add("put " + b.Cid().String())
	}
	return r.Blockstore.PutMany(ctx, bs)
}

func (r *recordingBS) Put(ctx context.Context, b blocks.Block) error {
	r.log.add("put " + b.Cid().String())
	return r.Blockstore.Put(ctx, b)
}

// recordingDS records the keys of each committed batch, and syncs.
type recordingDS struct {
	ds.Batching
	log *opLog
}

func (r *recordingDS) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := r.Batching.Batch(ctx)
	return &recordingBatch{Batch: b, log: r.log}, err
}

func (r *recordingDS) Sync(ctx context.Context, k ds.Key) error {
	r.log.add("sync datastore")
	return r.Batching.Sync(ctx, k)
}

type recordingBatch struct {
	ds.Batch
	log  *opLog
	keys []string
}

func (b *recordingBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	b.keys = append(b.keys, k.String())
	return b.Batch.Put(ctx, k, v)
}

func (b *recordingBatch) Delete(ctx context.Context, k ds.Key) error {
	b.keys = append(b.keys, "-"+k.String())
	return b.Batch.Delete(ctx, k)
}

func (b *recordingBatch) Commit(ctx context.Context) error {
	b.log.add("commit " + strings.Join(b.keys, " "))
	return b.Batch.Commit(ctx)
}

// An event's blocks are written before the batch that moves its log's head,
// and that synced batch holds copies of them (the journal); a checkpoint
// then makes the blockstore's copies durable (Deps.SyncBlocks) before it
// drops the journal's. For appends and for events received from peers.
func TestBlocksAreJournaledWithTheirHead(t *testing.T) {
	ctx := context.Background()
	log := &opLog{}
	r := newRig(t)
	s, err := New(ctx, Deps{
		Datastore:  &recordingDS{Batching: r.store, log: log},
		Blockstore: &recordingBS{Blockstore: r.blocks, log: log},
		Pinner:     r.pinner,
		SyncBlocks: func(_ context.Context, cids []cid.Cid) error {
			for _, c := range cids {
				log.add("sync " + c.String())
			}
			return nil
		},
	}, Config{InlineBodySize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tid := mustCreate(t, s)
	var refs []EventRef
	for _, body := range [][]byte{[]byte("small"), bytes.Repeat([]byte("large"), 1000)} {
		ref, err := s.Append(ctx, tid, body)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	check := func(what string, refs []EventRef) {
		t.Helper()
		if err := s.journal.checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		ops := log.list()
		for _, ref := range refs {
			blks := []cid.Cid{ref.Cid}
			evBlk, err := r.blocks.Get(ctx, ref.Cid)
			if err != nil {
				t.Fatal(err)
			}
			links, err := codec.EnvelopeLinks(evBlk.RawData())
			if err != nil {
				t.Fatal(err)
			}
			blks = append(blks, links...)
			head := -1
			for i, op := range ops {
				if strings.HasPrefix(op, "commit ") && strings.Contains(op, eventKey(tid, ref.Log, ref.Seq).String()+" ") {
					head = i
					break
				}
			}
			if head < 0 {
				t.Fatalf("%s: no commit of event %d in %q", what, ref.Seq, ops)
			}
			for _, c := range blks {
				put, synced := index(ops, "put "+c.String()), index(ops, "sync "+c.String())
				journaled := strings.Contains(ops[head], "/jn/") && strings.Contains(ops[head], "/"+c.String())
				dropped := -1
				for i, op := range ops {
					if strings.HasPrefix(op, "commit ") && strings.Contains(op, "-/jn/") && strings.Contains(op, "/"+c.String()) {
						dropped = i
					}
				}
				if put < 0 || put > head || !journaled || synced < head || dropped < synced {
					t.Fatalf("%s: block %s of event %d: put at %d, head committed at %d (journaled with it: %v), synced at %d, dropped from the journal at %d: %q",
						what, c, ref.Seq, put, head, journaled, synced, dropped, ops)
				}
			}
		}
		if n := journalEntries(t, r.store); n != 0 {
			t.Fatalf("%s: %d journal entries after the checkpoint", what, n)
		}
	}
	check("append", refs)
	if len(refs) != 2 {
		t.Fatal("two appends expected")
	}

	// Events of another writer, received from the network.
	log.mu.Lock()
	log.ops = nil
	log.mu.Unlock()
	th, _ := s.thread(tid)
	sk, id, _ := ipel.NewLogIdentity()
	writer := &logState{id: id, sk: sk}
	th.mu.Lock()
	th.logs[id] = &logState{id: id}
	th.mu.Unlock()
	ev1 := forge(t, th, writer, 1, cid.Undef, "one")
	ev2 := forge(t, th, writer, 2, ev1.Cid(), "two")
	if res, err := s.Ingest(ctx, tid, []blocks.Block{ev1.Block, ev2.Block}, nil); err != nil || res.Stored != 2 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	check("ingest", []EventRef{{Log: id, Seq: 1, Cid: ev1.Cid()}, {Log: id, Seq: 2, Cid: ev2.Cid()}})
}

// journalEntries counts the entries of the block journal.
func journalEntries(t testing.TB, store ds.Datastore) int {
	t.Helper()
	res, err := store.Query(context.Background(), dsq.Query{Prefix: "/jn/", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// volatileBS is a blockstore whose writes are lost at a power loss until
// they are synced (Deps.SyncBlocks), as flatfs without sync.
type volatileBS struct {
	bstore.Blockstore
	mu       sync.Mutex
	unsynced map[cid.Cid]bool
}

func (v *volatileBS) PutMany(ctx context.Context, bs []blocks.Block) error {
	v.mu.Lock()
	for _, b := range bs {
		v.unsynced[b.Cid()] = true
	}
	v.mu.Unlock()
	return v.Blockstore.PutMany(ctx, bs)
}

func (v *volatileBS) Put(ctx context.Context, b blocks.Block) error {
	v.mu.Lock()
	v.unsynced[b.Cid()] = true
	v.mu.Unlock()
	return v.Blockstore.Put(ctx, b)
}

func (v *volatileBS) sync(_ context.Context, cids []cid.Cid) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range cids {
		delete(v.unsynced, c)
	}
	return nil
}

// powerLoss loses every write that was not synced: half the blocks are gone,
// the others left empty (a file renamed into place before its data).
func (v *volatileBS) powerLoss(t testing.TB) int {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for c := range v.unsynced {
		_ = v.Blockstore.DeleteBlock(context.Background(), c)
		if n%2 == 1 {
			empty, _ := blocks.NewBlockWithCid(nil, c)
			if err := v.Blockstore.Put(context.Background(), empty); err != nil {
				t.Fatal(err)
			}
		}
		n++
	}
	v.unsynced = map[cid.Cid]bool{}
	return n
}

// Every acknowledged append survives a power loss that takes the blocks
// written since the last checkpoint: the next start puts them back from the
// journal.
func TestAcknowledgedAppendsSurvivePowerLoss(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	vbs := &volatileBS{Blockstore: r.blocks, unsynced: map[cid.Cid]bool{}}
	open := func() *Service {
		s, err := New(ctx, Deps{Datastore: r.store, Blockstore: vbs, Pinner: r.pinner, SyncBlocks: vbs.sync}, Config{InlineBodySize: 1024})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	tid := mustCreate(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[cid.Cid][]byte{}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				body := bytes.Repeat(fmt.Appendf(nil, "%d/%d ", w, i), 1+i*40)
				ref, err := s.Append(ctx, tid, body)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[ref.Cid] = body
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.pins.flush(ctx)
	// The power goes before the checkpoint: the service never closes.
	lost := vbs.powerLoss(t)
	if lost < len(acked) {
		t.Fatalf("only %d blocks were unsynced", lost)
	}
	s2 := open()
	defer s2.Close()
	recs, err := s2.Events(ctx, tid, Query{})
	if err != nil {
		t.Fatalf("after the power loss: %v", err)
	}
	if len(recs) != len(acked) {
		t.Fatalf("%d events after the power loss, %d acknowledged", len(recs), len(acked))
	}
	for _, rec := range recs {
		if !bytes.Equal(rec.Body, acked[rec.Cid]) {
			t.Fatalf("event %s: body differs", rec.Cid)
		}
	}
	if n := journalEntries(t, r.store); n != 0 {
		t.Fatalf("%d journal entries after recovery", n)
	}
	vbs.mu.Lock()
	defer vbs.mu.Unlock()
	for c := range acked {
		if vbs.unsynced[c] {
			t.Fatalf("event %s restored, not synced", c)
		}
	}
}

func index(ops []string, op string) int {
	for i, o := range ops {
		if o == op {
			return i
		}
	}
	return -1
}

// FlatfsSync finds the files of the blocks a blockstore wrote to a flatfs
// laid out as Kubo lays out its default repo, and fails on a block that is
// not there.
func TestFlatfsSyncFindsBlockFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := flatfs.CreateOrOpen(filepath.Join(dir, "blocks"), flatfs.NextToLast(2), false)
	if err != nil {
		t.Fatal(err)
	}
	root := mount.New([]mount.Mount{
		{Prefix: ds.NewKey("/blocks"), Datastore: fs},
		{Prefix: ds.NewKey("/"), Datastore: dssync.MutexWrap(ds.NewMapDatastore())},
	})
	t.Cleanup(func() { _ = root.Close() })
	sync, err := FlatfsSync(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	var synced int
	r := newRig(t)
	bs := bstore.NewBlockstore(root)
	s, err := New(ctx, Deps{
		Datastore: r.store, Blockstore: bs, Pinner: r.pinner,
		SyncBlocks: func(ctx context.Context, cids []cid.Cid) error {
			synced += len(cids)
			return sync(ctx, cids)
		},
	}, Config{InlineBodySize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tid := mustCreate(t, s)
	for i := range 20 {
		if _, err := s.Append(ctx, tid, bytes.Repeat(fmt.Appendf(nil, "%d", i), 100*i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // checkpoints the journal
		t.Fatal(err)
	}
	if synced < 20 {
		t.Fatalf("%d blocks synced", synced)
	}
	if haveSyncFS {
		// Many blocks at once: the whole filesystem is flushed.
		blk := blocks.NewBlock([]byte("stored"))
		if err := bs.Put(ctx, blk); err != nil {
			t.Fatal(err)
		}
		many := make([]cid.Cid, syncFSFiles)
		for i := range many {
			many[i] = blk.Cid()
		}
		if err := sync(ctx, many); err != nil {
			t.Fatal(err)
		}
	}
	missing := blocks.NewBlock([]byte("never stored"))
	if err := sync(ctx, []cid.Cid{missing.Cid()}); err == nil {
		t.Fatal("a block that is not stored was synced")
	}
	if _, err := FlatfsSync(t.TempDir()); err == nil {
		t.Fatal("a directory without flatfs accepted")
	}
}
