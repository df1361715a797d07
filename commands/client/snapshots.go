package client

import (
	"context"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type snapshotsAPI Client

func (api *snapshotsAPI) core() *Client { return (*Client)(api) }

func (api *snapshotsAPI) Latest(ctx context.Context, tid ipel.ThreadID) (iface.Snapshot, error) {
	var out commands.SnapshotOutput
	if err := exec(ctx, api.core().request("snapshot", tid.String()), &out); err != nil {
		return iface.Snapshot{}, err
	}
	return snapshot(&out)
}

func (api *snapshotsAPI) Create(ctx context.Context, tid ipel.ThreadID) (iface.Snapshot, error) {
	var out commands.SnapshotOutput
	if err := exec(ctx, api.core().request("snapshot", tid.String()).Option("create", true), &out); err != nil {
		return iface.Snapshot{}, err
	}
	return snapshot(&out)
}

func (api *snapshotsAPI) Compact(ctx context.Context, tid ipel.ThreadID) ([]iface.CompactedLog, error) {
	var out commands.CompactOutput
	if err := exec(ctx, api.core().request("compact", tid.String()), &out); err != nil {
		return nil, err
	}
	var p parser
	logs := make([]iface.CompactedLog, len(out.Logs))
	for i, l := range out.Logs {
		logs[i] = iface.CompactedLog{Log: p.peer(l.Log), Base: l.Base, Events: l.Events, Bytes: l.Bytes}
	}
	return logs, p.err
}
