package views

import (
	"context"
	"errors"
	"testing"
)

// Same events, same views: keys that join fields cannot be confused, so
// no document ID passes for another, whatever bytes it holds.

// TestDocRoleOnIDWithSeparator: a writer puts a document whose ID holds a
// NUL, then an admin lowers the writer's role on that document from its
// first event. The replica that applied the put first must judge it again
// and hide it, as one that received the role first does.
func TestDocRoleOnIDWithSeparator(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	da, _ := a.m.Docs(tid)
	if err := da.AddCollection(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	db, _ := b.m.Docs(tid)
	const id = "x\x00y"
	mustPut(t, db, "c", `{"_id":"x\u0000y","v":1}`, `{"_id":"x","v":2}`)
	waitSame(t, tid, a, b)
	if _, err := da.Get(ctx, "c", id); err != nil {
		t.Fatalf("A before the role change: %v", err)
	}
	forceOps(t, a, tid, Ops{ACL: []ACLOp{{Kind: ACLSetDocRole, Coll: "c", ID: id, Peer: b.host.ID().String(), Role: RoleRead, From: 1}}})
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		if doc, err := d.Get(ctx, "c", id); !errors.Is(err, ErrDocNotFound) {
			t.Fatalf("%s: the put of a writer without write on %q is visible: %s %v", n.host.ID(), id, doc, err)
		}
		if _, err := d.Get(ctx, "c", "x"); err != nil {
			t.Fatalf("%s: document x, whose roles did not change: %v", n.host.ID(), err)
		}
		acl, _ := n.m.ACL(ctx, tid)
		if es := acl.DocEntries("c", "x"); len(es) != 0 {
			t.Fatalf("%s: document x lists the roles of %q: %v", n.host.ID(), id, es)
		}
	}
}
