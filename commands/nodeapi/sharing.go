package nodeapi

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

type sharingAPI API

func (api *sharingAPI) Invite(ctx context.Context, tid ipel.ThreadID, to peer.ID, opts ...options.InviteOption) (iface.Invite, error) {
	s, err := options.InviteOptions(opts...)
	if err != nil {
		return iface.Invite{}, iface.MarkBadInput(err)
	}
	role, err := api.inviteRole(ctx, tid, to, s.Role)
	if err != nil {
		return iface.Invite{}, iface.Classify(err)
	}
	r, err := api.svc.Invite(ctx, tid, to, role)
	if err != nil {
		return iface.Invite{}, iface.Classify(err)
	}
	return iface.Invite{Invite: r.Invite, Thread: tid, Peer: to, Role: role, Delivered: r.Delivered}, nil
}

// inviteRole maps a role's name to the keys an invite carries. In an
// access-controlled thread it first grants the role in the ACL.
func (api *sharingAPI) inviteRole(ctx context.Context, tid ipel.ThreadID, to peer.ID, name string) (codec.Role, error) {
	if tid.Variant() != ipel.VariantAccessControlled {
		role, err := codec.ParseRole(name)
		if err != nil {
			return "", iface.MarkBadInput(err)
		}
		return role, nil
	}
	role, err := views.ParseRole(name)
	if err != nil || role == views.RoleNone {
		return "", iface.BadInput("invalid role %q: want follow, read, write or delete", name)
	}
	if err := api.views.SetRole(ctx, tid, to, role); err != nil {
		return "", err
	}
	switch role {
	case views.RoleFollow:
		return codec.RoleFollow, nil
	case views.RoleRead:
		return codec.RoleRead, nil
	}
	return codec.RoleWrite, nil
}

func (api *sharingAPI) Invites(ctx context.Context) ([]iface.ReceivedInvite, error) {
	invs, err := api.svc.Invites(ctx)
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.ReceivedInvite, 0, len(invs))
	for _, inv := range invs {
		out = append(out, iface.ReceivedInvite{Invite: inv.Invite, Thread: inv.Thread, Role: inv.Role, From: inv.From, Received: inv.Received.UTC()})
	}
	return out, nil
}

func (api *sharingAPI) Join(ctx context.Context, invite string, opts ...options.JoinOption) (iface.Thread, error) {
	s, err := options.JoinOptions(opts...)
	if err != nil {
		return iface.Thread{}, iface.MarkBadInput(err)
	}
	ti, err := api.svc.JoinWith(ctx, invite, threads.JoinOptions{FullReplay: !s.Snapshot})
	if err != nil {
		return iface.Thread{}, iface.Classify(err)
	}
	if err := (*API)(api).clearStaleRemoval(ctx, ti.ID); err != nil {
		return iface.Thread{}, err
	}
	if ti.HasReadKey {
		if err := api.views.Ensure(ti.ID); err != nil {
			return iface.Thread{}, iface.Classify(err)
		}
	}
	return (*API)(api).thread(ti), nil
}

func (api *sharingAPI) AddFollower(ctx context.Context, tid ipel.ThreadID, addr ma.Multiaddr) (iface.Invite, error) {
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return iface.Invite{}, iface.BadInput("address %s: %s (want /.../p2p/<peer-id>)", addr, err)
	}
	r, err := api.svc.AddFollower(ctx, tid, addr)
	if err != nil {
		return iface.Invite{}, iface.Classify(err)
	}
	return iface.Invite{Invite: r.Invite, Thread: tid, Peer: info.ID, Role: codec.RoleFollow, Delivered: r.Delivered}, nil
}

func (api *sharingAPI) Addrs(ctx context.Context, tid ipel.ThreadID) ([]iface.AddrEntry, error) {
	entries, err := api.svc.Addrs(ctx, tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.AddrEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, iface.AddrEntry{Log: e.Log, Peer: e.Peer, Addrs: e.Addrs, Expires: e.Expires.UTC()})
	}
	return out, nil
}
