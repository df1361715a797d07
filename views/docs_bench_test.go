package views

// Benchmarks of the key/value and document views on a pebble repo (Kubo's
// pebbleds profile: one go-ds-pebble datastore for blocks, the engine and
// the views). Run them with
//
//	go test ./views/ -run '^$' -bench 'KVPut|DocInsert|DocQuery' -benchtime=3s -count=5
//
// puts/s and inserts/s are reported as custom metrics; queries in ms/op.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// newPebbleNode runs an engine and a view manager on a pebble datastore in
// a temporary directory, laid out as the plugin lays out a Kubo repo.
func newPebbleNode(tb testing.TB) *node {
	tb.Helper()
	ctx := context.Background()
	opts := &pebble.Options{FormatMajorVersion: pebble.FormatNewest}
	root, err := pebbleds.NewDatastore(filepath.Join(tb.TempDir(), "pebbleds"), pebbleds.WithCacheSize(0), pebbleds.WithPebbleOpts(opts))
	if err != nil {
		tb.Fatal(err)
	}
	bs := bstore.NewGCBlockstore(bstore.NewBlockstore(root, bstore.WriteThrough(true)), bstore.NewGCLocker())
	p, err := dspinner.New(ctx, root, merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs))))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := threads.New(ctx, threads.Deps{Datastore: namespace.Wrap(root, ds.NewKey("/threads")), Blockstore: bs, Pinner: p}, threads.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	store := namespace.Wrap(root, ds.NewKey("/threads/views"))
	m := NewManager(s, store, nil)
	tb.Cleanup(func() {
		_ = m.Close()
		_ = s.Close()
		_ = root.Close()
	})
	return &node{s: s, m: m, store: store}
}

// parallel runs fn b.N times over `writers` goroutines and reports the rate.
func parallel(b *testing.B, writers int, unit string, perOp int, fn func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), unit)
}

func BenchmarkKVPut(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			n := newPebbleNode(b)
			kv, err := n.m.KV(n.thread(b))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			value := make([]byte, 100)
			parallel(b, writers, "puts/s", 1, func(i int) error {
				return kv.Put(ctx, ds.NewKey(fmt.Sprintf("/key/%d", i%10000)), value)
			})
		})
	}
}

func benchDocs(tb testing.TB, indexes ...string) (*node, ipel.ThreadID, *Docs) {
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
	for _, f := range indexes {
		if err := d.AddIndex(ctx, "items", f); err != nil {
			tb.Fatal(err)
		}
	}
	return n, tid, d
}

func benchDoc(i int) []byte {
	return fmt.Appendf(nil, `{"_id":"doc-%07d","group":%d,"seq":%d,"name":"name %d","tags":{"color":"c%d"}}`, i, i%1000, i, i, i%7)
}

func BenchmarkDocInsert(b *testing.B) {
	for _, idx := range [][]string{nil, {"group", "seq"}} {
		for _, batch := range []int{1, 100} {
			name := fmt.Sprintf("indexes=%d/docs-per-event=%d", len(idx), batch)
			b.Run(name, func(b *testing.B) {
				_, _, d := benchDocs(b, idx...)
				ctx := context.Background()
				writers := 64
				if batch > 1 {
					writers = 4
				}
				parallel(b, writers, "inserts/s", batch, func(i int) error {
					docs := make([][]byte, batch)
					for j := range docs {
						docs[j] = benchDoc(i*batch + j)
					}
					_, err := d.Put(ctx, "items", docs...)
					return err
				})
			})
		}
	}
}

// BenchmarkDocQuery queries 100,000 documents (group = i % 1000, seq = i):
// an equality and a range that each match 100 documents, through an index
// and through a full scan.
func BenchmarkDocQuery(b *testing.B) {
	const total, perEvent = 100_000, 1000
	_, _, d := benchDocs(b, "group", "seq")
	ctx := context.Background()
	for i := 0; i < total; i += perEvent {
		docs := make([][]byte, perEvent)
		for j := range docs {
			docs[j] = benchDoc(i + j)
		}
		if _, err := d.Put(ctx, "items", docs...); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct{ name, filter, plan string }{
		{"eq/indexed", `{"group":417}`, "index group $eq"},
		{"eq/full-scan", `{"name":"name 417"}`, "full scan"},
		{"range/indexed", `{"seq":{"$ge":50000,"$lt":50100}}`, "index seq range"},
		{"range/full-scan", `{"tags.color":"c3","seq":{"$ne":-1}}`, "full scan"},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := ParseFilter([]byte(c.filter))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				res, err := d.Query(ctx, "items", Query{Filter: f})
				if err != nil {
					b.Fatal(err)
				}
				if res.Plan != c.plan || len(res.Docs) == 0 {
					b.Fatalf("plan %q, %d documents", res.Plan, len(res.Docs))
				}
			}
		})
	}
}
