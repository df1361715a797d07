package views

import (
	"context"
	"encoding/binary"
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

// TestSkipCountsOfLayout2AreCarriedOver: the skip counts layout 2 kept in
// the views become this node's counts when the views are applied again,
// and the events are not counted twice.
func TestSkipCountsOfLayout2AreCarriedOver(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	tid := n.thread(t)
	ops := Ops{Magic: opsMagic}
	for i := range MaxEventOps + 1 {
		ops.KV = append(ops.KV, KVOp{Key: fmt.Sprintf("/m/%d", i)})
	}
	if _, err := n.s.Append(ctx, tid, mustMarshal(t, &ops)); err != nil {
		t.Fatal(err)
	}
	if err := n.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	_ = n.m.Close()
	// What layout 2 left: the count in the views, none of this node's.
	old := ds.RawKey(threadPrefix(tid) + "/skipped/" + SkipMalformed)
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], 1)
	for _, err := range []error{
		n.store.Put(ctx, old, count[:]),
		n.store.Delete(ctx, skipsKey(tid)),
		n.store.Put(ctx, layoutKey(tid), []byte("2")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	m2 := NewManager(n.s, n.store, nil)
	defer m2.Close()
	if err := m2.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	st, err := m2.Stats(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped[SkipMalformed] != 1 || len(st.Skipped) != 1 {
		t.Fatalf("after the upgrade: skipped %v, want the one malformed event", st.Skipped)
	}
	if _, err := n.store.Get(ctx, old); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("the count of layout 2 is still in the views: %v", err)
	}
}
