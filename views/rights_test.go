package views

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
)

// No rights beyond the role: each test plays a member that tries to do
// more than its role allows.

// TestCreatorCannotBeDeposed: an admin takes the creator's admin right and
// role from its first event, with a clock far ahead of everything; the
// creator stays admin with delete, and revoking that admin from its first
// event drops everything it did to the ACL.
func TestCreatorCannotBeDeposed(t *testing.T) {
	creator, admin, bob := testPeer("C"), testPeer("A"), testPeer("B")
	const future = 1 << 40
	recs := []aclRecord{
		aclRec(creator, 1, 10, ACLOp{Kind: ACLSetAdmin, Peer: admin, Admin: true, From: 1}),
		aclRec(admin, 1, future, ACLOp{Kind: ACLSetAdmin, Peer: creator, Admin: false, From: 1}),
		aclRec(admin, 2, future, ACLOp{Kind: ACLSetRole, Peer: creator, Role: RoleNone, From: 1}),
		aclRec(admin, 3, future, ACLOp{Kind: ACLSetRole, Peer: bob, Role: RoleWrite, From: 1}),
	}
	acl := ResolveACL(creator, recs)
	if !acl.Admin(creator, 100) || acl.Role(creator, 100) != RoleDelete {
		t.Fatalf("the creator was deposed: admin %t, %s", acl.Admin(creator, 100), acl.Role(creator, 100))
	}
	if acl.Rejected != 2 || acl.Role(bob, 5) != RoleWrite {
		t.Fatalf("%d rejected (want the 2 changes of the creator), bob %s", acl.Rejected, acl.Role(bob, 5))
	}
	// The creator answers: the admin loses its right from its first event,
	// which drops its grant to bob too.
	recs = append(recs, aclRec(creator, 2, 20, ACLOp{Kind: ACLSetAdmin, Peer: admin, Admin: false, From: 1}))
	acl = ResolveACL(creator, recs)
	if acl.Admin(admin, 1) || acl.Role(bob, 5) != RoleNone {
		t.Fatalf("after the creator revoked the admin from its first event: admin %t, bob %s", acl.Admin(admin, 1), acl.Role(bob, 5))
	}
	local := &aclRecord{Op: ACLOp{Kind: ACLSetAdmin, Peer: creator, From: 1}, Author: creator, Seq: 9}
	if err := acl.checkChange(local); !errors.Is(err, ErrForbidden) {
		t.Fatalf("the local check lets the creator's admin right change: %v", err)
	}
}

// TestDocRolesByNonAdminsOnlyLower: a member with the delete role, not an
// admin, sets document roles. It cannot raise anyone (a revoked writer
// stays out), cannot touch admins or the creator, and lowers others only;
// an admin's later role on the document decides.
func TestDocRolesByNonAdminsOnlyLower(t *testing.T) {
	creator, admin, deleter, writer, revoked := testPeer("C"), testPeer("A"), testPeer("D"), testPeer("W"), testPeer("R")
	op := func(peer string, role Role, from uint64) ACLOp {
		return ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: "doc", Peer: peer, Role: role, From: from}
	}
	base := []aclRecord{
		aclRec(creator, 1, 1, ACLOp{Kind: ACLSetAdmin, Peer: admin, Admin: true, From: 1}),
		aclRec(creator, 2, 2, ACLOp{Kind: ACLSetRole, Peer: deleter, Role: RoleDelete, From: 1}),
		aclRec(creator, 3, 3, ACLOp{Kind: ACLSetRole, Peer: writer, Role: RoleWrite, From: 1}),
		aclRec(creator, 4, 4, ACLOp{Kind: ACLSetRole, Peer: revoked, Role: RoleWrite, From: 1}),
		aclRec(creator, 5, 5, ACLOp{Kind: ACLSetRole, Peer: revoked, Role: RoleNone, From: 3}),
		aclRec(creator, 6, 6, ACLOp{Kind: ACLSetRole, Peer: admin, Role: RoleWrite, From: 1}),
	}
	cases := []struct {
		name string
		ops  []aclRecord
		peer string
		seq  uint64
		want Role
	}{
		{"a revoked writer is not raised back", []aclRecord{aclRec(deleter, 1, 10, op(revoked, RoleDelete, 1))}, revoked, 5, RoleNone},
		{"a writer is not raised", []aclRecord{aclRec(deleter, 1, 10, op(writer, RoleDelete, 1))}, writer, 5, RoleWrite},
		{"the creator is not lowered", []aclRecord{aclRec(deleter, 1, 10, op(creator, RoleNone, 1))}, creator, 5, RoleDelete},
		{"an admin is not lowered", []aclRecord{aclRec(deleter, 1, 10, op(admin, RoleNone, 1))}, admin, 5, RoleWrite},
		{"a writer is lowered", []aclRecord{aclRec(deleter, 1, 10, op(writer, RoleRead, 1))}, writer, 5, RoleRead},
		{"a lowering is undone up to what admins grant", []aclRecord{aclRec(deleter, 1, 10, op(writer, RoleRead, 1)), aclRec(deleter, 2, 11, op(writer, RoleDelete, 1))}, writer, 5, RoleWrite},
		{"an admin raises", []aclRecord{aclRec(admin, 1, 10, op(writer, RoleDelete, 1))}, writer, 5, RoleDelete},
		{"a non-admin lowers below an admin's grant", []aclRecord{aclRec(admin, 1, 10, op(writer, RoleDelete, 1)), aclRec(deleter, 1, 11, op(writer, RoleRead, 1))}, writer, 5, RoleRead},
		{"an admin's later change decides", []aclRecord{aclRec(deleter, 1, 10, op(writer, RoleRead, 1)), aclRec(admin, 1, 11, op(writer, RoleWrite, 1))}, writer, 5, RoleWrite},
		{"a writer cannot change roles", []aclRecord{aclRec(writer, 1, 10, op(deleter, RoleNone, 1))}, deleter, 5, RoleDelete},
	}
	for _, c := range cases {
		acl := ResolveACL(creator, append(append([]aclRecord(nil), base...), c.ops...))
		if got := acl.DocRole("c", "doc", c.peer, c.seq); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// The local check says so before writing.
	acl := ResolveACL(creator, base)
	for _, c := range []struct {
		name string
		op   ACLOp
		ok   bool
	}{
		{"lower a writer", op(writer, RoleRead, 1), true},
		{"raise a writer", op(writer, RoleDelete, 1), false},
		{"raise a revoked writer", op(revoked, RoleWrite, 1), false},
		{"lower the creator", op(creator, RoleNone, 1), false},
		{"lower an admin", op(admin, RoleNone, 1), false},
	} {
		err := acl.checkChange(&aclRecord{Op: c.op, Author: deleter, Seq: 9})
		if (err == nil) != c.ok {
			t.Errorf("local check, %s: %v", c.name, err)
		}
	}
}

// TestRotationCommitsToItsKey: an admin seals one key to one member and
// another key to another, committing to the first. The member given the
// other key refuses it (and says so); a rotation without a commitment does
// not count.
func TestRotationCommitsToItsKey(t *testing.T) {
	ctx := context.Background()
	a, b, c := newNetNode(t, 0), newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	aclMember(t, c, a, tid, RoleWrite)
	k1, _ := codec.NewKey()
	k2, _ := codec.NewKey()
	sealed := func(n *netNode, k *codec.Key) []byte {
		s, err := threads.SealToPeer(n.host.ID(), k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	forceOps(t, a, tid, Ops{ACL: []ACLOp{{Kind: ACLRotate, Epoch: 1, Commit: KeyCommitment(k1.Bytes()),
		Keys: map[string][]byte{b.host.ID().String(): sealed(b, k1), c.host.ID().String(): sealed(c, k2)}}}})
	// Without a commitment, a rotation does not count at all.
	forceOps(t, a, tid, Ops{ACL: []ACLOp{{Kind: ACLRotate, Epoch: 2, Keys: map[string][]byte{c.host.ID().String(): sealed(c, k2)}}}})
	waitSame(t, tid, a, b, c)
	readKeys := func(n *netNode) int { ti, _ := n.s.Info(tid); return ti.ReadKeys }
	eventually(t, func() bool { return readKeys(b) == 2 })
	if got := readKeys(c); got != 1 {
		t.Fatalf("C took up a key that is not the committed one: %d read keys", got)
	}
	if n, _ := c.m.RefusedKeys(tid); n != 1 {
		t.Fatalf("C refused %d keys, want 1", n)
	}
	if n, _ := b.m.RefusedKeys(tid); n != 0 {
		t.Fatalf("B refused %d keys", n)
	}
	acl, _ := c.m.ACL(ctx, tid)
	if len(acl.Rotations) != 1 {
		t.Fatalf("%d rotations count, want 1 (the one without a commitment does not)", len(acl.Rotations))
	}
}

// TestWriterCannotHideADocument: a writer puts a version of a document that
// breaks the collection's schema, with a later clock, which would hide the
// document everywhere (a delete it may not make): it does not count, and
// the change feed reports nothing. A later schema change that the writer's
// version breaks brings back the last version that meets it, on every
// replica. A peer with the delete role on the document may hide it.
func TestWriterCannotHideADocument(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	da, _ := a.m.Docs(tid)
	if err := da.AddCollection(ctx, "c", []byte(`{"properties":{"n":{"type":"number"}}}`)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, da, "c", `{"_id":"d","n":1}`, `{"_id":"e","n":1}`)
	waitSame(t, tid, a, b)
	feedLen := func(n *netNode) int { return len(dump(t, n.store, feedPrefix(tid)+"/e")) }
	feedA := feedLen(a)

	forceOps(t, b, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "d", JSON: []byte(`{"_id":"d","n":"hidden"}`)}}})
	db, _ := b.m.Docs(tid)
	if _, err := db.Put(ctx, "c", []byte(`{"_id":"d","n":"hidden"}`)); !errors.Is(err, ErrSchema) {
		t.Fatalf("the local check: %v", err)
	}
	mustPut(t, db, "c", `{"_id":"e","n":2}`) // a writer's valid put counts
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		if doc, err := d.Get(ctx, "c", "d"); err != nil || string(doc) != `{"_id":"d","n":1}` {
			t.Fatalf("%s: a writer's schema-breaking put hid the document: %s %v", n.host.ID(), doc, err)
		}
	}
	if got := feedLen(a) - feedA; got != 1 {
		t.Fatalf("%d changes fed, want 1 (the update of e)", got)
	}

	// The schema changes; the writer's version of e breaks it, A's does
	// not: A's comes back.
	if err := da.AddCollection(ctx, "c", []byte(`{"properties":{"n":{"type":"number","maximum":1}}}`)); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		if doc, err := d.Get(ctx, "c", "e"); err != nil || string(doc) != `{"_id":"e","n":1}` {
			t.Fatalf("%s: after the schema change, e is %s %v; want A's version", n.host.ID(), doc, err)
		}
	}
	if da, db := dump(t, a.store, threadPrefix(tid)+"/docs"), dump(t, b.store, threadPrefix(tid)+"/docs"); fmt.Sprint(da) != fmt.Sprint(db) {
		t.Fatalf("views differ:\n%s", diffLines(da, db))
	}

	// With the delete role on d, B may hide it.
	if err := a.m.SetDocRole(ctx, tid, "c", "d", b.host.ID(), RoleDelete); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	forceOps(t, b, tid, Ops{Docs: []DocOp{{Kind: DocPut, Coll: "c", ID: "d", JSON: []byte(`{"_id":"d","n":"hidden"}`)}}})
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		d, _ := n.m.Docs(tid)
		if _, err := d.Get(ctx, "c", "d"); !errors.Is(err, ErrDocNotFound) {
			t.Fatalf("%s: a deleter's schema-breaking put: %v", n.host.ID(), err)
		}
	}
}
