package views

import (
	"context"
	"errors"
	"fmt"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Tests of access-controlled threads between in-process nodes. A hostile
// member is played by calling the engine directly (threads.Service.Append),
// which skips the checks the views make before writing, as modified
// software would.

// aclMember joins n to a thread as role: an admin of from grants the role,
// then invites n with its keys. It returns the invite text.
func aclMember(t testing.TB, n, from *netNode, tid ipel.ThreadID, role Role) string {
	t.Helper()
	ctx := context.Background()
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: from.host.ID(), Addrs: from.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := from.m.SetRole(ctx, tid, n.host.ID(), role); err != nil {
		t.Fatal(err)
	}
	keys := codec.RoleWrite
	if role == RoleRead {
		keys = codec.RoleRead
	}
	res, err := from.s.Invite(ctx, tid, n.host.ID(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.s.Join(ctx, res.Invite); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		acl, err := n.m.ACL(ctx, tid)
		return err == nil && acl.Role(n.host.ID().String(), ^uint64(0)) == role
	})
	return res.Invite
}

// forceOps appends view operations straight through the engine.
func forceOps(t testing.TB, n *netNode, tid ipel.ThreadID, ops Ops) {
	t.Helper()
	body, err := EncodeOps(ops)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.s.Append(context.Background(), tid, body); err != nil {
		t.Fatal(err)
	}
}

func kvGet(n *netNode, tid ipel.ThreadID, key string) (string, error) {
	kv, err := n.m.KV(tid)
	if err != nil {
		return "", err
	}
	v, err := kv.Get(context.Background(), ds.NewKey(key))
	return string(v), err
}

func aclString(t *testing.T, n *netNode, tid ipel.ThreadID) string {
	t.Helper()
	acl, err := n.m.ACL(context.Background(), tid)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("default %s %v rotations %d", acl.Default(), acl.Entries(), len(acl.Rotations))
}

func newACLThread(t testing.TB, a *netNode) ipel.ThreadID {
	t.Helper()
	ti, err := a.s.CreateThread(context.Background(), ipel.VariantAccessControlled)
	if err != nil {
		t.Fatal(err)
	}
	if ti.OwnLog != ipel.LogID(a.host.ID()) || ti.Creator != a.host.ID() || !ti.ID.CreatedBy(a.host.ID()) {
		t.Fatalf("thread %s: own log %s, creator %s, want both %s", ti.ID, ti.OwnLog, ti.Creator, a.host.ID())
	}
	return ti.ID
}

// TestACLHostileMembers: a writer that is not an admin changes the ACL, a
// writer demoted to reader grants itself write and writes, and an event is
// forged in the admin's log. Each is rejected, and nothing it carried
// reaches a view, on any replica.
func TestACLHostileMembers(t *testing.T) {
	ctx := context.Background()
	a, b, c := newNetNode(t, 0), newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	aclMember(t, c, a, tid, RoleWrite)
	putN(t, &a.node, tid, 0, 1, "a")

	// B, a writer but not an admin, makes itself admin with delete, then
	// deletes A's key: the local checks refuse, the forced events count
	// for nothing.
	if err := b.m.SetRole(ctx, tid, b.host.ID(), RoleDelete); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a non-admin's ACL change was accepted locally: %v", err)
	}
	forceOps(t, b, tid, Ops{ACL: []ACLOp{{Kind: ACLSetAdmin, Peer: b.host.ID().String(), Admin: true, From: 1}, {Kind: ACLSetRole, Peer: b.host.ID().String(), Role: RoleDelete, From: 1}}})
	forceOps(t, b, tid, Ops{KV: []KVOp{{Key: "/k/0", Delete: true}}})

	// C is demoted to reader; it grants itself write back and writes.
	if err := a.m.SetRole(ctx, tid, c.host.ID(), RoleRead); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b, c)
	forceOps(t, c, tid, Ops{ACL: []ACLOp{{Kind: ACLSetRole, Peer: c.host.ID().String(), Role: RoleWrite, From: 1}}})
	forceOps(t, c, tid, Ops{KV: []KVOp{{Key: "/from-c", Value: []byte("x")}}})
	if _, err := c.m.Write(ctx, tid, Ops{KV: []KVOp{{Key: "/from-c", Value: []byte("y")}}}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a reader's write was accepted locally: %v", err)
	}

	// A's last event (the ACL change demoting C), altered to say
	// something else: every replica refuses it.
	evs, err := a.s.Events(ctx, tid, threads.Query{Log: ipel.LogID(a.host.ID())})
	if err != nil {
		t.Fatal(err)
	}
	raw := eventBlock(t, a, evs[len(evs)-1].Cid).RawData()
	raw[len(raw)-20] ^= 0x40
	forged, _ := blocks.NewBlockWithCid(raw, cidOf(t, raw))
	if _, err := c.s.Ingest(ctx, tid, []blocks.Block{forged}, nil); err == nil {
		t.Fatal("an altered ACL event was accepted")
	}

	waitSame(t, tid, a, b, c)
	want := aclString(t, a, tid)
	for _, n := range []*netNode{a, b, c} {
		if v, err := kvGet(n, tid, "/k/0"); err != nil || v != "a0" {
			t.Fatalf("%s: /k/0 = %q %v: a delete without the role reached a view", n.host.ID(), v, err)
		}
		if _, err := kvGet(n, tid, "/from-c"); !errors.Is(err, ds.ErrNotFound) {
			t.Fatalf("%s: a demoted writer's put reached a view: %v", n.host.ID(), err)
		}
		if got := aclString(t, n, tid); got != want {
			t.Fatalf("ACLs differ:\n%s\n%s", got, want)
		}
		acl, _ := n.m.ACL(ctx, tid)
		if acl.Role(b.host.ID().String(), 100) != RoleWrite || acl.Admin(b.host.ID().String(), 100) || acl.Role(c.host.ID().String(), 100) != RoleRead {
			t.Fatalf("self-granted roles took effect: %s", want)
		}
		st, _ := n.m.Stats(ctx, tid)
		if st.Skipped[SkipACLNotAllowed] != 3 || acl.Rejected != 0 {
			t.Fatalf("%d ACL operations skipped, %d kept and rejected; want 3 skipped, none kept", st.Skipped[SkipACLNotAllowed], acl.Rejected)
		}
		if recs, _ := n.m.loadACLRecords(ctx, tid); len(recs) != 3 {
			t.Fatalf("%d ACL operations stored, want A's 3", len(recs))
		}
	}
}

// TestACLRevokeRotatesTheReadKey: revoking a reader rotates the read key;
// later events are sealed with the new key, which the remaining members get
// and the revoked one does not, even after replaying its old invite; its
// writes with the old key count for nothing.
func TestACLRevokeRotatesTheReadKey(t *testing.T) {
	ctx := context.Background()
	a, b, c := newNetNode(t, 0), newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	invite := aclMember(t, c, a, tid, RoleWrite)
	putN(t, &a.node, tid, 0, 1, "before")
	waitSame(t, tid, a, b, c)
	if v, err := kvGet(c, tid, "/k/0"); err != nil || v != "before0" {
		t.Fatalf("C before the revocation: %q %v", v, err)
	}

	if err := a.m.SetRole(ctx, tid, c.host.ID(), RoleNone); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { ti, _ := b.s.Info(tid); return ti.ReadKeys == 2 })
	putN(t, &a.node, tid, 1, 2, "after")
	eventually(t, func() bool { v, _ := kvGet(b, tid, "/k/1"); return v == "after1" })

	// C, revoked, still holds the old key: A's new event does not open.
	evs, err := a.s.Events(ctx, tid, threads.Query{Log: ipel.LogID(a.host.ID())})
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if _, err := c.s.Ingest(ctx, tid, []blocks.Block{eventBlock(t, a, last.Cid)}, nil); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("the revoked reader opened an event sealed after the rotation: %v", err)
	}
	// C writes with the old key: A and B can open it, and ignore it.
	forceOps(t, c, tid, Ops{KV: []KVOp{{Key: "/k/0", Value: []byte("from revoked C")}}})
	cti, _ := c.s.Info(tid)
	eventually(t, func() bool {
		ti, _ := a.s.Info(tid)
		for _, l := range ti.Logs {
			if l.ID == ipel.LogID(c.host.ID()) {
				return l.Seq == logSeq(cti, c.host.ID())
			}
		}
		return false
	})
	if err := a.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if v, _ := kvGet(a, tid, "/k/0"); v != "before0" {
		t.Fatalf("a revoked writer's put reached A's view: %q", v)
	}

	// C forgets the thread and joins again with its old invite: it gets
	// the old key only, and still cannot read what came after.
	if err := c.m.Drop(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if err := c.s.RemoveThread(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.JoinWith(ctx, invite, threads.JoinOptions{FullReplay: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		st, _ := c.s.Stats(ctx, tid)
		return st.Node.Rejected["does not decrypt"] > 0
	})
	if v, err := kvGet(c, tid, "/k/1"); err == nil {
		t.Fatalf("a replayed invite reads events after the rotation: %q", v)
	}
}

// eventBlock reads an event's block from a node.
func eventBlock(t *testing.T, n *netNode, c cid.Cid) blocks.Block {
	t.Helper()
	nd, err := n.dag.Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := blocks.NewBlockWithCid(nd.RawData(), c)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

func cidOf(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: codec.EventCodec, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logSeq(ti threads.ThreadInfo, p peer.ID) uint64 {
	for _, l := range ti.Logs {
		if l.ID == ipel.LogID(p) {
			return l.Seq
		}
	}
	return 0
}

// TestACLRevocationRacingWrites: A revokes B's write while B, cut off, keeps
// writing. Once they reconnect, every replica (B included, which applied
// its own writes first) ignores B's writes after the revocation point, and
// all hold the same views.
func TestACLRevocationRacingWrites(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	putN(t, &b.node, tid, 0, 3, "b")
	waitSame(t, tid, a, b)

	a.gate.set(b.host.ID(), true)
	b.gate.set(a.host.ID(), true)
	_ = a.host.Network().ClosePeer(b.host.ID())
	_ = b.host.Network().ClosePeer(a.host.ID())
	if err := a.m.SetRole(ctx, tid, b.host.ID(), RoleRead); err != nil {
		t.Fatal(err)
	}
	putN(t, &b.node, tid, 3, 6, "b-cut-off") // B does not know yet
	if v, _ := kvGet(b, tid, "/k/4"); v != "b-cut-off4" {
		t.Fatalf("B's own view before it learns: %q", v)
	}

	a.gate.set(b.host.ID(), false)
	b.gate.set(a.host.ID(), false)
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.host.ID(), Addrs: a.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	eventually(t, func() bool { return viewDump(t, &a.node, tid) == viewDump(t, &b.node, tid) })
	for _, n := range []*netNode{a, b} {
		if _, err := kvGet(n, tid, "/k/4"); !errors.Is(err, ds.ErrNotFound) {
			t.Fatalf("a write after the revocation point reached a view")
		}
		if v, _ := kvGet(n, tid, "/k/2"); v != "b2" {
			t.Fatalf("a write before the revocation was lost: %q", v)
		}
	}
}
