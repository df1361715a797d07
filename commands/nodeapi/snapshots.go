package nodeapi

import (
	"context"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type snapshotsAPI API

func (api *snapshotsAPI) Latest(ctx context.Context, tid ipel.ThreadID) (iface.Snapshot, error) {
	si, err := api.svc.Snapshot(ctx, tid)
	if err != nil {
		return iface.Snapshot{}, iface.Classify(err)
	}
	return snapshot(si), nil
}

func (api *snapshotsAPI) Create(ctx context.Context, tid ipel.ThreadID) (iface.Snapshot, error) {
	si, err := api.views.Snapshot(ctx, tid)
	if err != nil {
		return iface.Snapshot{}, iface.Classify(err)
	}
	return snapshot(si), nil
}

func (api *snapshotsAPI) Compact(ctx context.Context, tid ipel.ThreadID) ([]iface.CompactedLog, error) {
	r, err := api.views.Compact(ctx, tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.CompactedLog, len(r.Logs))
	for i, l := range r.Logs {
		out[i] = iface.CompactedLog{Log: l.Log, Base: l.Base, Events: l.Events, Bytes: l.Bytes}
	}
	return out, nil
}
