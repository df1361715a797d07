package threads

// Benchmarks of the engine on real on-disk stores laid out as Kubo lays them
// out. Run them with, for example:
//
//	go test ./threads/ -run '^$' -bench . -benchtime=3s -count=5
//
// Store kinds:
//
//   - flatfs-levelds: Kubo's default layout (profile "flatfs-levelds"): a
//     mount datastore with blocks in go-ds-flatfs under /blocks (shard
//     next-to-last/2) and everything else in go-ds-leveldb (compression
//     none, synced writes). flatfs is opened with sync=true, so every block
//     write is fsynced (file and directory) before the append returns.
//   - flatfs-nosync-levelds: the same with flatfs sync=false, which is what
//     `ipfs init` writes since Kubo v0.33. flatfs's Sync is a no-op, so the
//     engine gets FlatfsSync as Deps.SyncBlocks, as the plugin gives it: it
//     journals each commit's blocks in its synced batch and fsyncs their
//     files in a background checkpoint (ms/blocksync, %blocksync).
//   - pebbleds: Kubo's "pebbleds" profile: one go-ds-pebble datastore for
//     blocks and everything else, opened as Kubo's plugin opens it
//     (FormatMajorVersion FormatNewest, other options pebble's defaults,
//     NoSync writes; durability comes from the engine's Sync, which fsyncs
//     the WAL).
//
// As in Kubo, the blockstore is NewBlockstore(root, WriteThrough(true))
// wrapped in the ARC "has" cache (no bloom filter), an identity store and a
// GC blockstore; the pinner is a dspinner over the root datastore with a DAG
// service whose Sync syncs /blocks and /filestore; the engine's datastore is
// the root namespaced under /threads, as the plugin does it.

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/mount"
	"github.com/ipfs/go-datastore/namespace"
	flatfs "github.com/ipfs/go-ds-flatfs"
	leveldb "github.com/ipfs/go-ds-leveldb"
	pebbleds "github.com/ipfs/go-ds-pebble"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// benchStore opens a Kubo-like repo datastore in dir.
type benchStore struct {
	name string
	open func(tb testing.TB, dir string) ds.Batching
	// syncBlocks is the Deps.SyncBlocks the plugin gives the engine for
	// this layout (nil: none).
	syncBlocks func(tb testing.TB, dir string) func(context.Context, []cid.Cid) error
}

var benchStores = []benchStore{
	{"flatfs-levelds", func(tb testing.TB, dir string) ds.Batching { return openFlatfsLevelds(tb, dir, true) }, nil},
	{"flatfs-nosync-levelds", func(tb testing.TB, dir string) ds.Batching { return openFlatfsLevelds(tb, dir, false) }, flatfsBlockSync},
	{"pebbleds", openPebble, nil},
}

// flatfsBlockSync is FlatfsSync for the blocks of openFlatfsLevelds.
func flatfsBlockSync(tb testing.TB, dir string) func(context.Context, []cid.Cid) error {
	tb.Helper()
	sync, err := FlatfsSync(filepath.Join(dir, "blocks"))
	if err != nil {
		tb.Fatal(err)
	}
	return sync
}

func openFlatfsLevelds(tb testing.TB, dir string, syncFiles bool) ds.Batching {
	tb.Helper()
	fs, err := flatfs.CreateOrOpen(filepath.Join(dir, "blocks"), flatfs.NextToLast(2), syncFiles)
	if err != nil {
		tb.Fatal(err)
	}
	ldb, err := leveldb.NewDatastore(filepath.Join(dir, "datastore"), &leveldb.Options{Compression: opt.NoCompression})
	if err != nil {
		tb.Fatal(err)
	}
	return mount.New([]mount.Mount{
		{Prefix: ds.NewKey("/blocks"), Datastore: fs},
		{Prefix: ds.NewKey("/"), Datastore: ldb},
	})
}

func openPebble(tb testing.TB, dir string) ds.Batching {
	tb.Helper()
	// As Kubo's pebbleds plugin with the "pebbleds" profile's spec: only
	// formatMajorVersion is set, so the plugin passes these options and
	// go-ds-pebble fills in pebble's defaults; cacheSize 0 is the default
	// cache; writes are NoSync.
	opts := &pebble.Options{FormatMajorVersion: pebble.FormatNewest}
	d, err := pebbleds.NewDatastore(filepath.Join(dir, "pebbleds"), pebbleds.WithCacheSize(0), pebbleds.WithPebbleOpts(opts))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// syncDAG is Kubo's syncDagService: the pinner syncs blocks through it.
type syncDAG struct {
	ipld.DAGService
	sync func() error
}

func (d syncDAG) Sync() error { return d.sync() }

// countingDS counts the engine's datastore batches and syncs.
type countingDS struct {
	ds.Batching
	batches, syncs atomic.Int64
}

func (c *countingDS) Batch(ctx context.Context) (ds.Batch, error) {
	c.batches.Add(1)
	return c.Batching.Batch(ctx)
}

func (c *countingDS) Sync(ctx context.Context, k ds.Key) error {
	c.syncs.Add(1)
	return c.Batching.Sync(ctx, k)
}

// timedPinner counts pin moves (a PinWithMode of the new head and the Unpin
// of the old) and the time they take.
type timedPinner struct {
	Pinner
	updates atomic.Int64
	nanos   atomic.Int64
}

func (p *timedPinner) PinWithMode(ctx context.Context, c cid.Cid, mode pin.Mode, name string) error {
	t0 := time.Now()
	err := p.Pinner.PinWithMode(ctx, c, mode, name)
	p.updates.Add(1)
	p.nanos.Add(int64(time.Since(t0)))
	return err
}

func (p *timedPinner) Unpin(ctx context.Context, c cid.Cid, recursive bool) error {
	t0 := time.Now()
	err := p.Pinner.Unpin(ctx, c, recursive)
	p.nanos.Add(int64(time.Since(t0)))
	return err
}

// benchNode is a node's stores and engine.
type benchNode struct {
	root   ds.Batching
	dstore *countingDS
	pinner pin.Pinner
	timed  *timedPinner
	svc    *Service
	closed bool
	// blockSyncs and blockSyncNanos count the calls of Deps.SyncBlocks and
	// the time they took.
	blockSyncs, blockSyncNanos atomic.Int64
}

func openBenchNode(tb testing.TB, kind benchStore) *benchNode {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	root := kind.open(tb, dir)
	var syncBlocks func(context.Context, []cid.Cid) error
	if kind.syncBlocks != nil {
		syncBlocks = kind.syncBlocks(tb, dir)
	}
	base := bstore.NewBlockstore(root, bstore.WriteThrough(true))
	cached, err := bstore.CachedBlockstore(ctx, base, bstore.CacheOpts{HasBloomFilterSize: 0, HasBloomFilterHashes: 7, HasTwoQueueCacheSize: 64 << 10})
	if err != nil {
		tb.Fatal(err)
	}
	locker := bstore.NewGCLocker()
	bs := bstore.NewGCBlockstore(bstore.NewIdStore(cached), locker)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	sdag := syncDAG{dag, func() error {
		if err := root.Sync(ctx, bstore.BlockPrefix); err != nil {
			return err
		}
		return root.Sync(ctx, ds.NewKey("/filestore"))
	}}
	p, err := dspinner.New(ctx, root, sdag)
	if err != nil {
		tb.Fatal(err)
	}
	n := &benchNode{root: root, dstore: &countingDS{Batching: namespace.Wrap(root, ds.NewKey("/threads"))}, pinner: p}
	n.timed = &timedPinner{Pinner: p}
	if syncBlocks != nil {
		inner := syncBlocks
		syncBlocks = func(ctx context.Context, cids []cid.Cid) error {
			t0 := time.Now()
			err := inner(ctx, cids)
			n.blockSyncs.Add(1)
			n.blockSyncNanos.Add(int64(time.Since(t0)))
			return err
		}
	}
	n.svc, err = New(ctx, Deps{Datastore: n.dstore, Blockstore: bs, Pinner: n.timed, GCLocker: locker, SyncBlocks: syncBlocks}, Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		n.closeService(tb)
		if err := root.Close(); err != nil {
			tb.Error(err)
		}
	})
	return n
}

func (n *benchNode) closeService(tb testing.TB) {
	if n.closed {
		return
	}
	n.closed = true
	if err := n.svc.Close(); err != nil {
		tb.Error(err)
	}
}

func benchBody() []byte {
	body := make([]byte, 100)
	_, _ = rand.Read(body)
	return body
}

// reportAppends reports throughput and what the commits looked like.
func (n *benchNode) reportAppends(b *testing.B, appends int) {
	b.ReportMetric(float64(appends)/b.Elapsed().Seconds(), "appends/s")
	if c := n.dstore.batches.Load(); c > 0 {
		b.ReportMetric(float64(appends)/float64(c), "appends/commit")
	}
	if u := n.timed.updates.Load(); u > 0 {
		b.ReportMetric(float64(n.timed.nanos.Load())/float64(u)/1e6, "ms/pinmove")
		b.ReportMetric(float64(u), "pinmoves")
	}
	if c := n.blockSyncs.Load(); c > 0 {
		// What the journal's checkpoints spend making blocks durable
		// (Deps.SyncBlocks), per checkpoint and as a share of the time;
		// they run beside the appends, not in their way.
		b.ReportMetric(float64(n.blockSyncNanos.Load())/float64(c)/1e6, "ms/blocksync")
		b.ReportMetric(100*float64(n.blockSyncNanos.Load())/float64(b.Elapsed()), "%blocksync")
	}
}

// checkSeqs checks that the logs hold exactly the appends made.
func (n *benchNode) checkSeqs(b *testing.B, tids []ipel.ThreadID, want int) {
	total := 0
	for _, tid := range tids {
		ti, err := n.svc.Info(tid)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range ti.Logs {
			total += int(l.Seq)
		}
	}
	if total != want {
		b.Fatalf("logs hold %d events, %d appended", total, want)
	}
}

// resetCounters zeroes the commit counters once the setup is done.
func (n *benchNode) resetCounters() {
	n.dstore.batches.Store(0)
	n.dstore.syncs.Store(0)
	n.timed.updates.Store(0)
	n.timed.nanos.Store(0)
	n.blockSyncs.Store(0)
	n.blockSyncNanos.Store(0)
}

// BenchmarkAppendSerial: one appender waiting for each append; 100-byte
// bodies.
func BenchmarkAppendSerial(b *testing.B) {
	for _, kind := range benchStores {
		b.Run(kind.name, func(b *testing.B) { benchAppendSerial(b, kind) })
	}
}

func benchAppendSerial(b *testing.B, kind benchStore) {
	ctx := context.Background()
	n := openBenchNode(b, kind)
	tid := mustCreate(b, n.svc)
	body := benchBody()
	n.resetCounters()
	appends := 0
	for b.Loop() {
		if _, err := n.svc.Append(ctx, tid, body); err != nil {
			b.Fatal(err)
		}
		appends++
	}
	n.reportAppends(b, appends)
	n.checkSeqs(b, []ipel.ThreadID{tid}, appends)
}

// appenders is the number of concurrent appenders in the concurrent
// benchmarks.
const appenders = 64

// BenchmarkAppendConcurrent: 64 appenders on one thread (group commit), and
// spread over 8 threads (commits, and so signing, of different threads run
// in parallel).
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, kind := range benchStores {
		for _, nthreads := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/threads=%d", kind.name, nthreads), func(b *testing.B) {
				benchAppendConcurrent(b, kind, nthreads)
			})
		}
	}
}

func benchAppendConcurrent(b *testing.B, kind benchStore, nthreads int) {
	ctx := context.Background()
	n := openBenchNode(b, kind)
	tids := make([]ipel.ThreadID, nthreads)
	for i := range tids {
		tids[i] = mustCreate(b, n.svc)
	}
	body := benchBody()
	n.resetCounters()
	var next atomic.Int64
	b.SetParallelism(max(1, appenders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tid := tids[int(next.Add(1)-1)%len(tids)]
		for pb.Next() {
			if _, err := n.svc.Append(ctx, tid, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	n.reportAppends(b, b.N)
	n.checkSeqs(b, tids, b.N)
}

// fillLog appends count events to a thread with concurrent appenders.
func fillLog(tb testing.TB, s *Service, tid ipel.ThreadID, count int) {
	tb.Helper()
	ctx := context.Background()
	body := benchBody()
	var left atomic.Int64
	left.Store(int64(count))
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := s.Append(ctx, tid, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// readLogSize is the length of the log BenchmarkReadLog reads.
const readLogSize = 10_000

// BenchmarkReadLog reads a 10,000-event log back with Events (warm caches:
// the same log is read repeatedly).
func BenchmarkReadLog(b *testing.B) {
	for _, kind := range benchStores {
		b.Run(kind.name, func(b *testing.B) {
			ctx := context.Background()
			// Let the pin catch up so no
			// pin move runs while the log is read.
			n := openBenchNode(b, kind)
			tid := mustCreate(b, n.svc)
			fillLog(b, n.svc, tid, readLogSize)
			n.svc.pins.flush(ctx)
			reads := 0
			for b.Loop() {
				recs, err := n.svc.Events(ctx, tid, Query{})
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) != readLogSize {
					b.Fatalf("%d events", len(recs))
				}
				reads++
			}
			b.ReportMetric(float64(reads*readLogSize)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPinMove measures moving a log's recursive pin one event forward
// or back, on logs of several lengths, with the pinner's Update (which
// diffs the old and new DAGs down to their roots: its cost grows with the
// log) and the way the engine does it (PinWithMode of the new head without
// fetching, then Unpin of the old).
func BenchmarkPinMove(b *testing.B) {
	for _, kind := range benchStores {
		if kind.name == "flatfs-nosync-levelds" {
			continue
		}
		for _, length := range []int{1_000, 10_000} {
			for _, method := range []string{"update", "pin+unpin"} {
				b.Run(fmt.Sprintf("%s/len=%d/%s", kind.name, length, method), func(b *testing.B) {
					ctx := context.Background()

					n := openBenchNode(b, kind)
					tid := mustCreate(b, n.svc)
					fillLog(b, n.svc, tid, length)
					recs, err := n.svc.Events(ctx, tid, Query{Since: uint64(length - 2)})
					if err != nil || len(recs) != 2 {
						b.Fatalf("heads: %d %v", len(recs), err)
					}
					// Closing the service moves the pin to the head.
					n.closeService(b)
					cur, other := recs[1].Cid, recs[0].Cid
					if _, ok, err := n.pinner.IsPinnedWithType(ctx, cur, pin.Recursive); err != nil || !ok {
						b.Fatalf("head not pinned: %v", err)
					}
					for b.Loop() {
						switch method {
						case "update":
							if err := n.pinner.Update(ctx, cur, other, true); err != nil {
								b.Fatal(err)
							}
						default:
							if err := n.pinner.PinWithMode(ctx, other, pin.Recursive, "bench"); err != nil {
								b.Fatal(err)
							}
							if err := n.pinner.Unpin(ctx, cur, true); err != nil {
								b.Fatal(err)
							}
						}
						cur, other = other, cur
					}
				})
			}
		}
	}
}
