package client

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type sharingAPI Client

func (api *sharingAPI) core() *Client { return (*Client)(api) }

func (api *sharingAPI) Invite(ctx context.Context, tid ipel.ThreadID, to peer.ID, opts ...options.InviteOption) (iface.Invite, error) {
	s, err := options.InviteOptions(opts...)
	if err != nil {
		return iface.Invite{}, iface.MarkBadInput(err)
	}
	var out commands.InviteOutput
	if err := exec(ctx, api.core().request("invite", tid.String(), to.String()).Option("role", s.Role), &out); err != nil {
		return iface.Invite{}, err
	}
	return invite(&out)
}

func (api *sharingAPI) Invites(ctx context.Context) ([]iface.ReceivedInvite, error) {
	var out commands.InviteList
	if err := exec(ctx, api.core().request("invites"), &out); err != nil {
		return nil, err
	}
	var p parser
	invs := make([]iface.ReceivedInvite, len(out.Invites))
	for i, inv := range out.Invites {
		invs[i] = iface.ReceivedInvite{Invite: inv.Invite, Thread: p.thread(inv.Thread), Role: codec.Role(inv.Role), From: p.peer(inv.From), Received: inv.Received}
	}
	return invs, p.err
}

func (api *sharingAPI) Join(ctx context.Context, inv string, opts ...options.JoinOption) (iface.Thread, error) {
	s, err := options.JoinOptions(opts...)
	if err != nil {
		return iface.Thread{}, iface.MarkBadInput(err)
	}
	var out commands.ThreadOutput
	if err := exec(ctx, api.core().request("join", inv).Option("snapshot", s.Snapshot), &out); err != nil {
		return iface.Thread{}, err
	}
	return thread(&out)
}

func (api *sharingAPI) AddFollower(ctx context.Context, tid ipel.ThreadID, addr ma.Multiaddr) (iface.Invite, error) {
	var out commands.InviteOutput
	if err := exec(ctx, api.core().request("follower/add", tid.String(), addr.String()), &out); err != nil {
		return iface.Invite{}, err
	}
	return invite(&out)
}

func (api *sharingAPI) Addrs(ctx context.Context, tid ipel.ThreadID) ([]iface.AddrEntry, error) {
	var out commands.AddrList
	if err := exec(ctx, api.core().request("addrs", tid.String()), &out); err != nil {
		return nil, err
	}
	var p parser
	entries := make([]iface.AddrEntry, len(out.Addrs))
	for i, e := range out.Addrs {
		entries[i] = iface.AddrEntry{Log: p.peer(e.Log), Peer: p.peer(e.Peer), Addrs: p.addrs(e.Addrs), Expires: e.Expires}
	}
	return entries, p.err
}
