package tests

import (
	"encoding/json"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// entry finds a peer in an ACL's entries.
func entry(es []iface.ACLEntry, p string) (iface.ACLEntry, bool) {
	for _, e := range es {
		if e.Peer == p {
			return e, true
		}
	}
	return iface.ACLEntry{}, false
}

func testACL(t *testing.T, n Node) {
	ctx := testContext(t)
	acl := n.API.ACL()

	raw := newThread(t, n.API)
	_, err := acl.Show(ctx, raw)
	wantErr(t, err, iface.ErrBadInput, views.ErrNotAccessControlled, "acl show of a raw thread")
	wantErr(t, acl.Grant(ctx, raw, newPeer(t, crypto.Ed25519), iface.RoleRead), iface.ErrBadInput, views.ErrNotAccessControlled, "acl grant in a raw thread")

	tid := newThread(t, n.API, options.Thread.Variant(ipel.VariantAccessControlled))
	a, err := acl.Show(ctx, tid)
	must(t, err, "acl show")
	if a.Thread != tid || a.Creator != n.ID.String() || a.Default != iface.RoleNone || a.Rotations != 0 || a.ReadKeys != 1 {
		t.Errorf("acl show: %+v", a)
	}
	if e, ok := entry(a.Peers, n.ID.String()); !ok || e.Role != iface.RoleDelete || !e.Admin {
		t.Errorf("acl show: the creator is %+v (listed: %t)", e, ok)
	}

	reader, writer := newPeer(t, crypto.Ed25519), newPeer(t, crypto.Ed25519)
	must(t, acl.Grant(ctx, tid, reader, iface.RoleRead), "grant read")
	must(t, acl.Grant(ctx, tid, writer, iface.RoleWrite, options.Grant.Admin(true)), "grant write --admin")
	must(t, acl.SetDefault(ctx, tid, iface.RoleFollow), "default follow")
	a, err = acl.Show(ctx, tid)
	must(t, err, "acl show after grants")
	if e, _ := entry(a.Peers, reader.String()); e.Role != iface.RoleRead || e.Admin {
		t.Errorf("reader: %+v", e)
	}
	if e, _ := entry(a.Peers, writer.String()); e.Role != iface.RoleWrite || !e.Admin {
		t.Errorf("writer: %+v", e)
	}
	if a.Default != iface.RoleFollow {
		t.Errorf("default: %s", a.Default)
	}

	must(t, acl.Revoke(ctx, tid, writer, options.Revoke.AdminOnly(true)), "revoke --admin-only")
	a, err = acl.Show(ctx, tid)
	must(t, err, "acl show after revoke --admin-only")
	if e, _ := entry(a.Peers, writer.String()); e.Role != iface.RoleWrite || e.Admin {
		t.Errorf("writer after revoke --admin-only: %+v", e)
	}
	must(t, acl.Revoke(ctx, tid, reader), "revoke")
	a, err = acl.Show(ctx, tid)
	must(t, err, "acl show after revoke")
	if e, _ := entry(a.Peers, reader.String()); e.Role != iface.RoleNone {
		t.Errorf("reader after revoke: %+v", e)
	}
	if a.Rotations != 1 || a.ReadKeys != 2 {
		t.Errorf("revoking a reader rotates the read key: %d rotations, %d read keys", a.Rotations, a.ReadKeys)
	}

	_, err = n.API.Docs().AddCollection(ctx, tid, "notes")
	must(t, err, "collection add")
	_, err = n.API.Docs().Put(ctx, tid, "notes", json.RawMessage(`{"_id":"n1"}`))
	must(t, err, "put")
	must(t, acl.GrantDoc(ctx, tid, "notes", "n1", writer, iface.RoleRead), "docs acl grant")
	roles, err := acl.DocRoles(ctx, tid, "notes", "n1")
	must(t, err, "docs acl show")
	if len(roles) != 1 || roles[0].Peer != writer.String() || roles[0].Role != iface.RoleRead {
		t.Errorf("docs acl show: %+v", roles)
	}
	roles, err = acl.DocRoles(ctx, tid, "notes", "n2")
	must(t, err, "docs acl show of a document without roles")
	if len(roles) != 0 {
		t.Errorf("docs acl show of a document without roles: %+v", roles)
	}

	_, err = acl.Show(ctx, unknownACLThread(t, n))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "acl show of an unknown thread")
}

// unknownACLThread is an access-controlled thread ID no node holds.
func unknownACLThread(t *testing.T, n Node) ipel.ThreadID {
	tid, err := ipel.NewACLThreadID(n.ID)
	must(t, err, "new thread ID")
	return tid
}

func testSnapshots(t *testing.T, n Node) {
	ctx := testContext(t)
	snaps := n.API.Snapshots()
	tid := newThread(t, n.API)

	_, err := snaps.Latest(ctx, tid)
	wantErr(t, err, iface.ErrNotFound, threads.ErrNoSnapshot, "snapshot of a thread without one")
	_, err = n.API.KV().Put(ctx, tid, "k", []byte("v"))
	must(t, err, "put")
	add(t, n.API, tid, "raw event")

	made, err := snaps.Create(ctx, tid)
	must(t, err, "snapshot --create")
	if !made.Root.Defined() || made.Events != 2 || made.Entries == 0 || made.Maker != n.ID || len(made.Cursor) != 1 || made.Cursor[0].Seq != 2 {
		t.Errorf("snapshot --create: %+v", made)
	}
	latest, err := snaps.Latest(ctx, tid)
	must(t, err, "snapshot")
	if latest.Root != made.Root || latest.Cursor[0].Cid != made.Cursor[0].Cid {
		t.Errorf("snapshot: %+v, want %+v", latest, made)
	}

	logs, err := snaps.Compact(ctx, tid)
	must(t, err, "compact")
	if len(logs) != 1 || logs[0].Base != 2 || logs[0].Events != 2 {
		t.Errorf("compact: %+v", logs)
	}
	if v, err := n.API.KV().Get(ctx, tid, "k"); err != nil || string(v) != "v" {
		t.Errorf("get after compact: %q, %v", v, err)
	}
	logs, err = snaps.Compact(ctx, tid)
	must(t, err, "compact again")
	if len(logs) != 0 {
		t.Errorf("compact again: %+v", logs)
	}

	acl := newThread(t, n.API, options.Thread.Variant(ipel.VariantAccessControlled))
	_, err = snaps.Create(ctx, acl)
	must(t, err, "snapshot --create of an acl thread")
	_, err = snaps.Compact(ctx, acl)
	wantErr(t, err, iface.ErrBadInput, nil, "compact an acl thread")
	_, err = snaps.Latest(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "snapshot of an unknown thread")
}
