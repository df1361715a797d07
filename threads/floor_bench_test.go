package threads

// The machine's floor: what the hardware under the engine can do, measured
// in the same run as the workloads so that their figures can be read as a
// fraction of it (the bench program, test/bench, runs these and prints every
// workload against them). Run them with
//
//	go test ./threads/ -run '^$' -bench '^BenchmarkFloor' -benchtime=1s
//
// The engine's own floor, its in-process append rate, is
// BenchmarkAppendConcurrent (bench_test.go) on the same store layouts.

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// floorMessageSize is the size of the message the Ed25519 floor signs:
// about an event's signed node with a 100-byte body (positions, clock,
// links and the body; Ed25519 hashes the message, so a few bytes more or
// less do not show).
const floorMessageSize = 256

// BenchmarkFloorEd25519 measures Ed25519 signing and verification on one
// core, with the key type the engine signs events with (libp2p's Ed25519
// keys, Go's crypto/ed25519 underneath). Metrics: signs/s or verifies/s on
// one core, and the cores the process may use (GOMAXPROCS): the floor of
// signing or verifying with every core is the product.
func BenchmarkFloorEd25519(b *testing.B) {
	sk, pk, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, floorMessageSize)
	if _, err := rand.Read(msg); err != nil {
		b.Fatal(err)
	}
	b.Run("sign", func(b *testing.B) {
		ops := 0
		for b.Loop() {
			if _, err := sk.Sign(msg); err != nil {
				b.Fatal(err)
			}
			ops++
		}
		reportFloorRate(b, ops, "signs/s")
	})
	b.Run("verify", func(b *testing.B) {
		sig, err := sk.Sign(msg)
		if err != nil {
			b.Fatal(err)
		}
		ops := 0
		for b.Loop() {
			ok, err := pk.Verify(msg, sig)
			if err != nil || !ok {
				b.Fatalf("signature refused: %v", err)
			}
			ops++
		}
		reportFloorRate(b, ops, "verifies/s")
	})
}

func reportFloorRate(b *testing.B, ops int, unit string) {
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

// BenchmarkFloorSyncedBatch measures one durable write of the storage an
// append stands on, one at a time: a datastore batch holding what an append
// of one event writes (its block under /blocks, its index entry and the
// log's head under /threads), committed, then synced (Sync of /threads, as
// the engine's commit does), on the repo layouts of bench_test.go. Metric:
// synced batches per second; its inverse is the latency floor of a durable
// write.
func BenchmarkFloorSyncedBatch(b *testing.B) {
	for _, kind := range benchStores {
		b.Run(kind.name, func(b *testing.B) {
			store := kind.open(b, b.TempDir())
			b.Cleanup(func() {
				if err := store.Close(); err != nil {
					b.Error(err)
				}
			})
			benchSyncedBatch(b, store)
		})
	}
}

func benchSyncedBatch(b *testing.B, store ds.Batching) {
	ctx := context.Background()
	block := make([]byte, 400)
	head := make([]byte, 120)
	if _, err := rand.Read(block); err != nil {
		b.Fatal(err)
	}
	indexed := make([]byte, 36)
	batches := 0
	for b.Loop() {
		batch, err := store.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// Distinct keys, as appends write new events.
		block[0], block[1], block[2], block[3] = byte(batches), byte(batches>>8), byte(batches>>16), byte(batches>>24)
		puts := []struct {
			key   string
			value []byte
		}{
			{fmt.Sprintf("/blocks/FLOOR%010d", batches), block},
			{fmt.Sprintf("/threads/ev/floor/log/%016x", batches), indexed},
			{"/threads/lg/floor/log", head},
		}
		for _, p := range puts {
			if err := batch.Put(ctx, ds.NewKey(p.key), p.value); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		if err := store.Sync(ctx, ds.NewKey("/threads")); err != nil {
			b.Fatal(err)
		}
		batches++
	}
	b.ReportMetric(float64(batches)/b.Elapsed().Seconds(), "batches/s")
}
