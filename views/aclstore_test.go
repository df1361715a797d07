package views

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// What is kept of ACL operations: only those that may count, at most
// MaxDocRolesPerAuthor document roles from a non-admin, and a batch folds
// in what it adds instead of resolving everything again.

// TestACLOpsThatCannotCountAreNotKept: a writer floods the ACL with
// operations it may not make: none is stored, all are counted. Then the
// creator makes it an admin while they are cut off from each other, and
// the writer grants a role before it learns of it: the writer's node does
// not keep its own grant at first, and when the admin right arrives (before
// the grant in version order) it applies its events again and keeps it, as
// the creator's node did at once.
func TestACLOpsThatCannotCountAreNotKept(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	waitSame(t, tid, a, b)
	stored := func(n *netNode) int {
		recs, err := n.m.loadACLRecords(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	before := stored(a)
	flood := make([]ACLOp, 1000)
	for i := range flood {
		flood[i] = ACLOp{Kind: ACLSetDefault, Role: Role(i % 5)}
	}
	forceOps(t, b, tid, Ops{ACL: flood})
	waitSame(t, tid, a, b)
	for _, n := range []*netNode{a, b} {
		if got := stored(n); got != before {
			t.Fatalf("%s: %d ACL operations stored, want %d: a writer's were kept", n.host.ID(), got, before)
		}
		st, _ := n.m.Stats(ctx, tid)
		if st.Skipped[SkipACLNotAllowed] != 1000 {
			t.Fatalf("%s: skipped %v", n.host.ID(), st.Skipped)
		}
	}

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
	if got := stored(b); got != before {
		t.Fatalf("B kept its grant before it knew it may make it: %d stored", got)
	}
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
	if da, db := dump(t, a.store, aclPrefix(tid)), dump(t, b.store, aclPrefix(tid)); fmt.Sprint(da) != fmt.Sprint(db) || len(da) != before+2 {
		t.Fatalf("ACL operations stored: %d on A, %d on B, want %d on both", len(da), len(db), before+2)
	}
}

// TestDocRolesOfANonAdminAreCapped: a member with the delete role, not an
// admin, sets more document roles than are kept: the first
// MaxDocRolesPerAuthor are, the rest are counted.
func TestDocRolesOfANonAdminAreCapped(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleDelete)
	waitSame(t, tid, a, b)
	writer := testPeer("writer")
	ops := make([]ACLOp, MaxDocRolesPerAuthor+100)
	for i := range ops {
		ops[i] = ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i), Peer: writer, Role: RoleRead, From: 1}
	}
	forceOps(t, b, tid, Ops{ACL: ops})
	waitSame(t, tid, a, b)
	acl, _ := a.m.ACL(ctx, tid)
	if n := len(acl.DocEntries("c", fmt.Sprint(MaxDocRolesPerAuthor-1))); n != 1 {
		t.Fatalf("the last document role under the cap: %d entries", n)
	}
	if n := len(acl.DocEntries("c", fmt.Sprint(MaxDocRolesPerAuthor))); n != 0 {
		t.Fatalf("the first document role over the cap: %d entries", n)
	}
	st, _ := a.m.Stats(ctx, tid)
	if st.Skipped[SkipACLOverCap] != 100 {
		t.Fatalf("skipped %v, want 100 over the cap", st.Skipped)
	}
}

// TestACLBatchFoldsInWhatItAdds: adding operations that come after the
// ones held and do not touch their authors extends the resolved ACL; the
// result is what resolving everything gives, whatever the operations.
func TestACLBatchFoldsInWhatItAdds(t *testing.T) {
	creator := testPeer("C")
	peers := []string{creator, testPeer("A"), testPeer("B"), testPeer("D"), testPeer("E")}
	var held []aclRecord
	for i := range 200 {
		held = append(held, aclRec(creator, uint64(i+1), int64(i), ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i), Peer: peers[1], Role: RoleRead, From: 1}))
	}
	acl := ResolveACL(creator, held)
	grant := aclRec(creator, 300, 1000, ACLOp{Kind: ACLSetRole, Peer: peers[2], Role: RoleWrite, From: 1})
	if acl.extend([]*aclRecord{&grant}) == nil {
		t.Fatal("a grant to a peer that wrote no ACL operation, after all held ones, is not folded in")
	}
	// Any batch, folded in or resolved again, gives what ResolveACL does.
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var all []aclRecord
		next := map[string]uint64{}
		acl := ResolveACL(creator, nil)
		for range 6 {
			var batch []aclRecord
			for range 1 + rng.IntN(3) {
				author := peers[rng.IntN(len(peers))]
				next[author]++
				batch = append(batch, aclRec(author, next[author], int64(rng.IntN(40)), randomACLOp(rng, peers)))
			}
			all = append(all, batch...)
			acl = acl.withRecords(batch, nil)
			want := ResolveACL(creator, all)
			if got, w := describeACL(acl, peers)+fmt.Sprint(acl.Rejected), describeACL(want, peers)+fmt.Sprint(want.Rejected); got != w {
				t.Fatalf("round %d: folded in\n%s\nresolved\n%s", round, got, w)
			}
		}
	}
}

// BenchmarkACLBatch: the resolution work of one batch adding one grant to
// a thread that keeps 10,000 ACL operations: folded in (withRecords) and
// resolved again (ResolveACL, what every batch did before).
func BenchmarkACLBatch(b *testing.B) {
	creator := testPeer("C")
	peers := make([]string, 100)
	for i := range peers {
		peers[i] = testPeer(fmt.Sprint("p", i))
	}
	var held []aclRecord
	for i := range 10000 {
		held = append(held, aclRec(creator, uint64(i+1), int64(i), ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i), Peer: peers[i%len(peers)], Role: RoleRead, From: 1}))
	}
	acl := ResolveACL(creator, held)
	grant := aclRec(creator, 20000, 20000, ACLOp{Kind: ACLSetRole, Peer: testPeer("new"), Role: RoleWrite, From: 1})
	b.Run("fold-in", func(b *testing.B) {
		for range b.N {
			if next := acl.withRecords([]aclRecord{grant}, nil); next.Role(grant.Op.Peer, 1) != RoleWrite {
				b.Fatal("grant lost")
			}
		}
	})
	b.Run("resolve-all", func(b *testing.B) {
		all := append(append([]aclRecord(nil), held...), grant)
		for range b.N {
			ResolveACL(creator, all)
		}
	})
}
