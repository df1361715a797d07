package views

// Tests of the work ACL changes cause: a late ACL change re-judges the
// events it affects and no others, a rebuild keeps the ACL whole, and a
// batch carrying ACL operations looks only at the roles that changed.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// stateDump lists a thread's views as a snapshot would hold them.
func stateDump(t testing.TB, n *node, tid ipel.ThreadID) string {
	t.Helper()
	var out []string
	for _, e := range dump(t, n.store, threadPrefix(tid)) {
		if inSnapshot(strings.TrimPrefix(e, threadPrefix(tid))) && !strings.HasPrefix(e, threadPrefix(tid)+"/replay") {
			out = append(out, e)
		}
	}
	return strings.Join(out, "\n")
}

func rejudged(m *Manager) int { return int(testutil.ToFloat64(m.rejudged)) }

// TestLateACLChangeRejudgesWhatItAffects: B writes 30 events; ACL changes
// reaching back into them re-read only B's events from the point they
// apply (not A's, nor B's earlier ones) unless a refused write was what a
// key held, and every time the views equal those of a full rebuild.
func TestLateACLChangeRejudgesWhatItAffects(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleWrite)
	kvb, err := b.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		if err := kvb.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte("b")); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, tid, a, b)
	// A writes over B's last writes: those no longer hold their keys.
	putKeys(t, &a.node, tid, "a", 20, 30)
	ti, _ := a.s.Info(tid)
	bLog := ipel.LogID(b.host.ID())
	bSeq := logSeq(ti, b.host.ID())
	if bSeq != 30 {
		t.Fatalf("B's log is at %d, want 30", bSeq)
	}
	rebuilt := func(what string) {
		t.Helper()
		before := stateDump(t, &a.node, tid)
		if err := a.m.Rebuild(ctx, tid); err != nil {
			t.Fatal(err)
		}
		if after := stateDump(t, &a.node, tid); after != before {
			t.Fatalf("%s: the views differ from a rebuild's:\n%s\n---\n%s", what, before, after)
		}
	}
	setRole := func(role Role, from uint64) {
		t.Helper()
		forceOps(t, a, tid, Ops{ACL: []ACLOp{{Kind: ACLSetRole, Peer: bLog.String(), Role: role, From: from}}})
		if err := a.m.CatchUp(ctx, tid); err != nil {
			t.Fatal(err)
		}
	}

	// Revoked from seq 25: B's events 25-30 are judged again, twice read
	// (sorted out, applied); nothing they wrote holds its key.
	start := rejudged(a.m)
	setRole(RoleRead, 25)
	if got := rejudged(a.m) - start; got != 12 {
		t.Fatalf("re-judging read %d events, want 12 (B's 25-30, twice)", got)
	}
	rebuilt("revoked from 25")

	// Revoked from seq 10: B's writes 10-19 held their keys, which go back
	// to what else wrote them (nothing), reading the thread once more.
	start = rejudged(a.m)
	setRole(RoleRead, 10)
	if got, want := rejudged(a.m)-start, 21+int(logSeqOf(t, a, tid, a.host.ID()))+30; got != want {
		t.Fatalf("re-judging read %d events, want %d", got, want)
	}
	for _, k := range []string{"/b/10", "/b/19"} {
		if v, err := kvGet(a, tid, k); err == nil {
			t.Fatalf("%s = %q after B was revoked before writing it", k, v)
		}
	}
	if v, _ := kvGet(a, tid, "/b/9"); v != "b" {
		t.Fatalf("/b/9 = %q, written before the revocation", v)
	}
	rebuilt("revoked from 10")

	// Given write back from seq 1 (a later change): B's writes count again,
	// where A did not write later.
	setRole(RoleWrite, 1)
	if v, _ := kvGet(a, tid, "/b/15"); v != "b" {
		t.Fatalf("/b/15 = %q after B's write was allowed again", v)
	}
	if v, _ := kvGet(a, tid, "/b/25"); v != "a" {
		t.Fatalf("/b/25 = %q, A wrote it later", v)
	}
	rebuilt("allowed again")
	waitSame(t, tid, a, b)
	eventually(t, func() bool { return stateDump(t, &a.node, tid) == stateDump(t, &b.node, tid) })
}

func putKeys(t *testing.T, n *node, tid ipel.ThreadID, value string, from, to int) {
	t.Helper()
	kv, err := n.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		if err := kv.Put(context.Background(), ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
}

func logSeqOf(t testing.TB, n *netNode, tid ipel.ThreadID, p peer.ID) uint64 {
	t.Helper()
	ti, err := n.s.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	return logSeq(ti, p)
}

// TestRebuildKeepsTheACL: a rebuild keeps the ACL's operations, so no
// event is judged under a partial ACL and applied again (before, the ACL
// was dropped with the views, and the rebuild replayed the thread when the
// ACL change came back).
func TestRebuildKeepsTheACL(t *testing.T) {
	ctx := context.Background()
	a, b := newNetNode(t, 0), newNetNode(t, 0)
	if b.host.ID() > a.host.ID() {
		a, b = b, a // a rebuild reads the member's log first (logs in ID order)
	}
	var applied atomic.Int64
	a.m.beforeApply = func(threads.Record) { applied.Add(1) }
	tid := newACLThread(t, a)
	aclMember(t, b, a, tid, RoleDelete)
	kv, err := b.m.KV(tid)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := kv.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, ds.NewKey("/k/3")); err != nil {
		t.Fatal(err)
	}
	waitSame(t, tid, a, b)
	// The member is lowered to write from its first event: its delete no
	// longer counts. (The creator, whose own role never changes, cannot be
	// the one lowered.)
	forceOps(t, a, tid, Ops{ACL: []ACLOp{{Kind: ACLSetRole, Peer: b.host.ID().String(), Role: RoleWrite, From: 1}}})
	if err := a.m.CatchUp(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := kvGet(a, tid, "/k/3"); err != nil {
		t.Fatal("a delete without the delete role counts")
	}
	before := stateDump(t, &a.node, tid)
	events := applied.Load()
	startRejudged := rejudged(a.m)
	ti, err := a.s.Info(tid)
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	for _, l := range ti.Logs {
		held += int64(l.Seq)
	}
	if err := a.m.Rebuild(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if got := applied.Load() - events; got != held {
		t.Fatalf("a rebuild of %d events applied %d", held, got)
	}
	if got := rejudged(a.m) - startRejudged; got != 0 {
		t.Fatalf("a rebuild re-judged %d events", got)
	}
	if after := stateDump(t, &a.node, tid); after != before {
		t.Fatalf("the rebuild differs:\n%s\n---\n%s", before, after)
	}
}

// TestAffectedLogsLookOnlyAtChanges: an ACL change is compared with the
// previous ACL on what changed only: an invalid operation affects nothing,
// a document role affects its peer's log from where it applies.
func TestAffectedLogsLookOnlyAtChanges(t *testing.T) {
	var ids [3]ipel.LogID
	for i := range ids {
		_, ids[i], _ = ipel.NewLogIdentity()
	}
	creator, alice, bob := ids[0].String(), ids[1].String(), ids[2].String()
	var recs []aclRecord
	for i := 0; i < 2000; i++ {
		recs = append(recs, aclRec(creator, uint64(i+1), int64(i+1), ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: fmt.Sprint(i), Peer: alice, Role: RoleRead, From: 1}))
	}
	old := ResolveACL(creator, recs)
	applied := map[ipel.LogID]uint64{ids[1]: 500, ids[2]: 500, ids[0]: 2000}
	// Bob, not an admin, grants himself delete: refused, nothing affected.
	next := ResolveACL(creator, append(recs, aclRec(bob, 501, 9999, ACLOp{Kind: ACLSetRole, Peer: bob, Role: RoleDelete, From: 1})))
	if got := affectedLogs(creator, old, next, applied); len(got) != 0 {
		t.Fatalf("an invalid operation affects %v", got)
	}
	// Alice gets delete on one document from her seq 300.
	next = ResolveACL(creator, append(recs, aclRec(creator, 2001, 9999, ACLOp{Kind: ACLSetDocRole, Coll: "c", ID: "7", Peer: alice, Role: RoleDelete, From: 300})))
	got := affectedLogs(creator, old, next, applied)
	if len(got) != 1 || got[ids[1]] != 300 {
		t.Fatalf("affected %v, want alice from 300", got)
	}
	// A new default affects every log but the creator's, from its start.
	next = ResolveACL(creator, append(recs, aclRec(creator, 2001, 9999, ACLOp{Kind: ACLSetDefault, Role: RoleWrite})))
	got = affectedLogs(creator, old, next, applied)
	if len(got) != 2 || got[ids[1]] != 1 || got[ids[2]] != 1 {
		t.Fatalf("affected %v, want alice and bob from 1", got)
	}
}
