package views

// Tests of re-judging where the rights of one member meet the bounds on
// work: a backdated admin grant and a schema change judge again what they
// change, from where it changes, and no more.

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBackdatedAdminGrantRejudgesFromItsPoint: the creator makes a writer
// an admin while they are cut off, and the writer, before it learns of it,
// grants a role: its node does not keep the grant at first. When the admin
// right arrives, applying from before the grant, the writer's node keeps
// it, reading again only its own events from that point, not its earlier
// ones nor the creator's log.
func TestBackdatedAdminGrantRejudgesFromItsPoint(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	kv, err := b.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte("b")); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, tid, a, b)
	a.gate.set(b.host.ID(), true)
	b.gate.set(a.host.ID(), true)
	_ = a.host.Network().ClosePeer(b.host.ID())
	_ = b.host.Network().ClosePeer(a.host.ID())
	if err := a.m.SetAdmin(ctx, tid, b.host.ID(), true); err != nil {
		t.Fatal(err)
	}
	carol := testPeer("carol")
	forceOps(t, b, tid, Ops{ACL: []ACLOp{{Kind: ACLSetRole, Peer: carol, Role: RoleWrite, From: 1}}})
	if err := b.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if acl, _ := b.m.ACL(ctx, tid); acl.Role(carol, 1) != RoleNone {
		t.Fatal("the grant counts before its writer knows it may make it")
	}
	start := rejudged(b.m)
	a.gate.set(b.host.ID(), false)
	b.gate.set(a.host.ID(), false)
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.host.ID(), Addrs: a.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		eventually(t, func() bool {
			acl, err := n.m.ACL(ctx, tid)
			return err == nil && acl.Role(carol, 1) == RoleWrite
		})
	}
	// The grant's event, sorted out and applied again.
	if got := rejudged(b.m) - start; got != 2 {
		t.Fatalf("re-judging read %d events, want 2", got)
	}
}

// TestSchemaChangeRejudgesFromTheFirstHidingPut: a writer's put that would
// hide a document does not count; a schema change under which it is valid
// makes it count, on every replica, reading again only the writer's events
// from that put on.
func TestSchemaChangeRejudgesFromTheFirstHidingPut(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	da, _ := a.m.Docs(tid)
	if err := da.AddCollection(ctx, "c", []byte(`{"properties":{"n":{"type":"number"}}}`)); err != nil {
		t.Fatal(err)
	}
	var docs []string
	for i := 0; i < 10; i++ {
		docs = append(docs, fmt.Sprintf(`{"_id":"d%d","n":%d}`, i, i))
	}
	mustPut(t, da, "c", docs...)
	waitSame(t, tid, a, b)
	db, _ := b.m.Docs(tid)
	mustPut(t, db, "c", `{"_id":"e","n":1}`, `{"_id":"f","n":1}`) // puts that count
	forceOps(t, b, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "d1", JSON: []byte(`{"_id":"d1","n":"text"}`)}}})
	waitSame(t, tid, a, b)
	if doc, err := da.Get(ctx, "c", "d1"); err != nil || string(doc) != `{"_id":"d1","n":1}` {
		t.Fatalf("a writer's hiding put counts: %s %v", doc, err)
	}
	start := rejudged(a.m)
	if err := da.AddCollection(ctx, "c", []byte(`{"type":"object"}`)); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		if doc, err := d.Get(ctx, "c", "d1"); err != nil || string(doc) != `{"_id":"d1","n":"text"}` {
			t.Fatalf("%s: after the schema allows it, d1 is %s %v", n.host.ID(), doc, err)
		}
	}
	// The writer's hiding put, read again: not its puts before it, nor the
	// creator's log.
	if got := rejudged(a.m) - start; got != 1 {
		t.Fatalf("re-judging read %d events, want 1", got)
	}
}
