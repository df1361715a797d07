package views

import (
	"context"
	"errors"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/codec"
)

// TestViewsOfAnOlderLayoutAreAppliedAgain: views applied by an older
// version (no layout recorded), holding what this version would not (an
// ACL operation of a writer who may not make it), are dropped and applied
// again from the logs when their runner starts; the change feed is not fed
// again.
func TestViewsOfAnOlderLayoutAreAppliedAgain(t *testing.T) {
	ctx := context.Background()
	a := newNetNode(t, 0)
	tid := newACLThread(t, a)
	d, _ := a.m.Docs(tid)
	if err := d.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, d, "c", `{"_id":"x"}`)
	want := dump(t, a.store, threadPrefix(tid)+"/")
	feed := dump(t, a.store, feedPrefix(tid))

	// What an older version left: no layout, and a writer's ACL operation
	// kept although it may not make it.
	junk := aclRec(testPeer("W"), 1, 1, ACLOp{Kind: ACLSetAdmin, Peer: testPeer("W"), Admin: true, From: 1})
	b, _ := codec.Marshal(&junk)
	if err := a.store.Put(ctx, aclRecordKey(tid, junk.Version), b); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Delete(ctx, layoutKey(tid)); err != nil {
		t.Fatal(err)
	}
	_ = a.m.Close()
	m2 := NewManager(a.s, a.store, nil)
	defer m2.Close()
	if err := m2.Ensure(tid); err != nil {
		t.Fatal(err)
	}
	if err := m2.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, a.store, threadPrefix(tid)+"/"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("views after the upgrade:\n%s", diffLines(got, want))
	}
	if got := dump(t, a.store, feedPrefix(tid)); fmt.Sprint(got) != fmt.Sprint(feed) {
		t.Fatal("the change feed was fed again")
	}
	if v, err := a.store.Get(ctx, layoutKey(tid)); err != nil || string(v) != fmt.Sprint(viewsLayout) {
		t.Fatalf("layout %q %v", v, err)
	}
	// Dropping the thread's views forgets the layout too.
	if err := m2.Drop(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Get(ctx, layoutKey(tid)); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("layout after Drop: %v", err)
	}
}
