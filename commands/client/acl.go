package client

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type aclAPI Client

func (api *aclAPI) core() *Client { return (*Client)(api) }

func (api *aclAPI) Show(ctx context.Context, tid ipel.ThreadID) (iface.ACL, error) {
	var out commands.ACLOutput
	if err := exec(ctx, api.core().request("acl/show", tid.String()), &out); err != nil {
		return iface.ACL{}, err
	}
	var p parser
	acl := iface.ACL{
		Thread: p.thread(out.Thread), Creator: out.Creator, Default: p.role(out.Default), Rotations: out.Rotations,
		ReadKeys: out.ReadKeys, Ignored: out.Ignored, RefusedKeys: out.RefusedKeys,
	}
	if p.err != nil {
		return iface.ACL{}, p.err
	}
	var err error
	acl.Peers, err = aclEntries(out.Peers)
	return acl, err
}

func (api *aclAPI) Grant(ctx context.Context, tid ipel.ThreadID, who peer.ID, role iface.Role, opts ...options.GrantOption) error {
	s, err := options.GrantOptions(opts...)
	if err != nil {
		return iface.MarkBadInput(err)
	}
	return exec(ctx, api.core().request("acl/grant", tid.String(), who.String(), role.String()).Option("admin", s.Admin), nil)
}

func (api *aclAPI) Revoke(ctx context.Context, tid ipel.ThreadID, who peer.ID, opts ...options.RevokeOption) error {
	s, err := options.RevokeOptions(opts...)
	if err != nil {
		return iface.MarkBadInput(err)
	}
	return exec(ctx, api.core().request("acl/revoke", tid.String(), who.String()).Option("admin-only", s.AdminOnly), nil)
}

func (api *aclAPI) SetDefault(ctx context.Context, tid ipel.ThreadID, role iface.Role) error {
	return exec(ctx, api.core().request("acl/default", tid.String(), role.String()), nil)
}

func (api *aclAPI) GrantDoc(ctx context.Context, tid ipel.ThreadID, coll, id string, who peer.ID, role iface.Role) error {
	return exec(ctx, api.core().request("docs/acl/grant", tid.String(), coll, id, who.String(), role.String()), nil)
}

func (api *aclAPI) DocRoles(ctx context.Context, tid ipel.ThreadID, coll, id string) ([]iface.ACLEntry, error) {
	var out commands.DocACLOutput
	if err := exec(ctx, api.core().request("docs/acl/show", tid.String(), coll, id), &out); err != nil {
		return nil, err
	}
	return aclEntries(out.Peers)
}
