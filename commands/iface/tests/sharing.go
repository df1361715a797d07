package tests

import (
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// bodies lists the bodies of a thread's events, in log order.
func bodies(t *testing.T, api iface.API, tid ipel.ThreadID) (string, error) {
	evs, err := api.Events().Log(testContext(t), tid)
	if err != nil {
		return "", err
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Body))
	}
	return strings.Join(out, " "), nil
}

// received waits for an invite to a thread to reach a node.
func received(t *testing.T, n Node, tid ipel.ThreadID) iface.ReceivedInvite {
	t.Helper()
	var got iface.ReceivedInvite
	eventually(t, "invite delivered", func() error {
		invs, err := n.API.Sharing().Invites(testContext(t))
		if err != nil {
			return err
		}
		for _, inv := range invs {
			if inv.Thread == tid {
				got = inv
				return nil
			}
		}
		return errorf("%d invites, none to %s", len(invs), tid)
	})
	return got
}

func testSharing(t *testing.T, a, b Node) {
	ctx := testContext(t)
	tid := newThread(t, a.API)
	add(t, a.API, tid, "from-a")

	inv, err := a.API.Sharing().Invite(ctx, tid, b.ID)
	must(t, err, "invite")
	if inv.Invite == "" || inv.Thread != tid || inv.Peer != b.ID || inv.Role != codec.RoleWrite || !inv.Delivered {
		t.Fatalf("invite: %+v", inv)
	}
	got := received(t, b, tid)
	if got.Invite != inv.Invite || got.From != a.ID || got.Role != codec.RoleWrite || got.Received.IsZero() {
		t.Errorf("invites: %+v", got)
	}

	_, err = a.API.Sharing().Invite(ctx, tid, b.ID, options.Invite.Role("read"))
	wantErr(t, err, iface.ErrBadInput, threads.ErrNoReadRole, "invite a reader to a raw thread")
	_, err = a.API.Sharing().Invite(ctx, tid, b.ID, options.Invite.Role("admin"))
	wantErr(t, err, iface.ErrBadInput, nil, "invite with an unknown role")
	_, err = b.API.Sharing().Join(ctx, "garbage")
	wantErr(t, err, iface.ErrBadInput, codec.ErrBadInvite, "join garbage")

	joined, err := b.API.Sharing().Join(ctx, got.Invite, options.Join.Snapshot(false))
	must(t, err, "join")
	if joined.ID != tid || !joined.Keys.Read || joined.Keys.Log == "" {
		t.Fatalf("join: %+v", joined)
	}
	_, err = b.API.Sharing().Join(ctx, got.Invite)
	wantErr(t, err, iface.ErrBadInput, threads.ErrAlreadyMember, "join twice")

	eventually(t, "B has A's event", func() error {
		got, err := bodies(t, b.API, tid)
		if err != nil || got != "from-a" {
			return errorf("%q, %v", got, err)
		}
		return nil
	})
	add(t, b.API, tid, "from-b")
	eventually(t, "A has B's event", func() error {
		got, err := bodies(t, a.API, tid)
		if err != nil || !strings.Contains(got, "from-b") {
			return errorf("%q, %v", got, err)
		}
		return nil
	})

	entries, err := b.API.Sharing().Addrs(ctx, tid)
	must(t, err, "addrs")
	info, err := a.API.Threads().Info(ctx, tid)
	must(t, err, "info")
	found := false
	for _, e := range entries {
		if e.Log == info.Keys.Log && e.Peer == a.ID && len(e.Addrs) > 0 && !e.Expires.IsZero() {
			found = true
		}
	}
	if !found {
		t.Errorf("addrs on B: no entry for A's log %s: %+v", info.Keys.Log, entries)
	}
	_, err = a.API.Sharing().Addrs(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "addrs of an unknown thread")
}

func testFollowers(t *testing.T, a, b Node) {
	ctx := testContext(t)
	tid := newThread(t, a.API)
	add(t, a.API, tid, "for followers")

	_, err := a.API.Sharing().AddFollower(ctx, tid, a.Addrs[0].Decapsulate(mustP2P(t, a)))
	wantErr(t, err, iface.ErrBadInput, nil, "follower add without /p2p")
	inv, err := a.API.Sharing().AddFollower(ctx, tid, b.Addrs[0])
	must(t, err, "follower add")
	if inv.Peer != b.ID || inv.Role != codec.RoleFollow || !inv.Delivered || inv.Thread != tid {
		t.Fatalf("follower add: %+v", inv)
	}
	got := received(t, b, tid)
	if got.Role != codec.RoleFollow {
		t.Fatalf("follow invite: %+v", got)
	}
	th, err := b.API.Sharing().Join(ctx, got.Invite)
	must(t, err, "join as a follower")
	if !th.Keys.Follow || th.Keys.Read || th.Keys.Log != "" {
		t.Errorf("a follower's keys: %+v", th.Keys)
	}
	eventually(t, "the follower holds the event", func() error {
		info, err := b.API.Threads().Info(ctx, tid)
		if err != nil {
			return err
		}
		for _, l := range info.Logs {
			if l.Seq == 1 {
				return nil
			}
		}
		return errorf("logs %+v", info.Logs)
	})
	_, err = b.API.Events().Log(ctx, tid)
	wantErr(t, err, iface.ErrNotAllowed, threads.ErrNoReadKey, "a follower reads")
	_, err = b.API.Events().Listen(ctx, tid)
	wantErr(t, err, iface.ErrNotAllowed, threads.ErrNoReadKey, "a follower listens")
	_, err = b.API.Events().Add(ctx, tid, strings.NewReader("x"))
	wantErr(t, err, iface.ErrNotAllowed, nil, "a follower writes")
}

// mustP2P is a node's /p2p/<ID> component.
func mustP2P(t *testing.T, n Node) ma.Multiaddr {
	t.Helper()
	p, err := ma.NewMultiaddr("/p2p/" + n.ID.String())
	must(t, err, "p2p address")
	return p
}

func testACLSharing(t *testing.T, a, b Node) {
	ctx := testContext(t)
	tid := newThread(t, a.API, options.Thread.Variant(ipel.VariantAccessControlled))
	_, err := a.API.Sharing().Invite(ctx, tid, b.ID, options.Invite.Role("none"))
	wantErr(t, err, iface.ErrBadInput, nil, "invite with role none")
	inv, err := a.API.Sharing().Invite(ctx, tid, b.ID, options.Invite.Role("read"))
	must(t, err, "invite a reader")
	if inv.Role != codec.RoleRead {
		t.Errorf("invite a reader: role %s", inv.Role)
	}
	_, err = b.API.Sharing().Join(ctx, inv.Invite)
	must(t, err, "join as a reader")
	_, err = b.API.KV().Put(ctx, tid, "k", []byte("v"))
	wantErr(t, err, iface.ErrNotAllowed, nil, "a reader writes")
	eventually(t, "B sees A's ACL", func() error {
		acl, err := b.API.ACL().Show(ctx, tid)
		if err != nil {
			return err
		}
		if e, ok := entry(acl.Peers, b.ID.String()); !ok || e.Role != iface.RoleRead {
			return errorf("B is %+v", e)
		}
		return nil
	})
	err = b.API.ACL().SetDefault(ctx, tid, iface.RoleWrite)
	wantErr(t, err, iface.ErrNotAllowed, views.ErrForbidden, "a reader changes the ACL")
}
