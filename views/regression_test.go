package views

import (
	"context"
	"fmt"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// Rebuild racing a concurrent write: the write's Ensure starts a runner from
// the old cursors between Rebuild stopping the old runner and dropping the
// state; Rebuild's Drop then erases what that runner relies on.
func TestRegressionRebuildRacesWrite(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("k%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 200; round++ {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := n.m.Rebuild(ctx, tid); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("r%d", round)), []byte("v")); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if err := n.m.CatchUp(ctx, tid); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			if has, _ := kv.Has(ctx, ds.NewKey(fmt.Sprintf("k%d", i))); !has {
				t.Fatalf("round %d: key k%d lost from the view after Rebuild raced a Put", round, i)
			}
		}
	}
}
