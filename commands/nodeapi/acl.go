package nodeapi

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

type aclAPI API

func (api *aclAPI) Show(ctx context.Context, tid ipel.ThreadID) (iface.ACL, error) {
	acl, err := api.views.ACL(ctx, tid)
	if err != nil {
		return iface.ACL{}, iface.Classify(err)
	}
	ti, err := api.svc.Info(tid)
	if err != nil {
		return iface.ACL{}, iface.Classify(err)
	}
	refused, err := api.views.RefusedKeys(tid)
	if err != nil {
		return iface.ACL{}, iface.Classify(err)
	}
	st, err := api.views.Stats(ctx, tid)
	if err != nil {
		return iface.ACL{}, iface.Classify(err)
	}
	out := iface.ACL{
		Thread: tid, Creator: acl.Creator(), Default: acl.Default(), Rotations: len(acl.Rotations), ReadKeys: ti.ReadKeys,
		Ignored:     acl.Rejected + int(st.Skipped[views.SkipACLNotAllowed]+st.Skipped[views.SkipACLOverCap]),
		RefusedKeys: refused, Peers: entries(acl.Entries()),
	}
	return out, nil
}

func entries(es []views.Entry) []iface.ACLEntry {
	out := make([]iface.ACLEntry, len(es))
	for i, e := range es {
		out[i] = iface.ACLEntry{Peer: e.Peer, Role: e.Role, Admin: e.Admin}
	}
	return out
}

func (api *aclAPI) Grant(ctx context.Context, tid ipel.ThreadID, who peer.ID, role iface.Role, opts ...options.GrantOption) error {
	s, err := options.GrantOptions(opts...)
	if err != nil {
		return iface.MarkBadInput(err)
	}
	if err := api.views.SetRole(ctx, tid, who, role); err != nil {
		return iface.Classify(err)
	}
	if s.Admin {
		return iface.Classify(api.views.SetAdmin(ctx, tid, who, true))
	}
	return nil
}

func (api *aclAPI) Revoke(ctx context.Context, tid ipel.ThreadID, who peer.ID, opts ...options.RevokeOption) error {
	s, err := options.RevokeOptions(opts...)
	if err != nil {
		return iface.MarkBadInput(err)
	}
	acl, err := api.views.ACL(ctx, tid)
	if err != nil {
		return iface.Classify(err)
	}
	if acl.Admin(who.String(), ^uint64(0)) {
		if err := api.views.SetAdmin(ctx, tid, who, false); err != nil {
			return iface.Classify(err)
		}
	}
	if s.AdminOnly {
		return nil
	}
	return iface.Classify(api.views.SetRole(ctx, tid, who, views.RoleNone))
}

func (api *aclAPI) SetDefault(ctx context.Context, tid ipel.ThreadID, role iface.Role) error {
	return iface.Classify(api.views.SetDefault(ctx, tid, role))
}

func (api *aclAPI) GrantDoc(ctx context.Context, tid ipel.ThreadID, coll, id string, who peer.ID, role iface.Role) error {
	return iface.Classify(api.views.SetDocRole(ctx, tid, coll, id, who, role))
}

func (api *aclAPI) DocRoles(ctx context.Context, tid ipel.ThreadID, coll, id string) ([]iface.ACLEntry, error) {
	acl, err := api.views.ACL(ctx, tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	return entries(acl.DocEntries(coll, id)), nil
}
