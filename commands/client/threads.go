package client

import (
	"context"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type threadsAPI Client

func (api *threadsAPI) core() *Client { return (*Client)(api) }

func (api *threadsAPI) Create(ctx context.Context, opts ...options.ThreadCreateOption) (iface.Thread, error) {
	s, err := options.ThreadCreateOptions(opts...)
	if err != nil {
		return iface.Thread{}, iface.MarkBadInput(err)
	}
	var out commands.ThreadOutput
	if err := exec(ctx, api.core().request("create").Option("variant", s.Variant.String()), &out); err != nil {
		return iface.Thread{}, err
	}
	return thread(&out)
}

func (api *threadsAPI) List(ctx context.Context) ([]iface.ThreadSummary, error) {
	var out commands.ThreadList
	if err := exec(ctx, api.core().request("ls"), &out); err != nil {
		return nil, err
	}
	var p parser
	ths := make([]iface.ThreadSummary, len(out.Threads))
	for i, t := range out.Threads {
		ths[i] = iface.ThreadSummary{ID: p.thread(t.ID), Variant: p.variant(t.Variant), Logs: t.Logs, Events: t.Events}
	}
	return ths, p.err
}

func (api *threadsAPI) Info(ctx context.Context, tid ipel.ThreadID) (iface.Thread, error) {
	var out commands.ThreadOutput
	if err := exec(ctx, api.core().request("info", tid.String()), &out); err != nil {
		return iface.Thread{}, err
	}
	return thread(&out)
}

func (api *threadsAPI) Remove(ctx context.Context, tid ipel.ThreadID) error {
	return exec(ctx, api.core().request("rm", tid.String()), nil)
}

func (api *threadsAPI) Stats(ctx context.Context, tid ipel.ThreadID) (iface.Stats, error) {
	var out commands.StatsOutput
	if err := exec(ctx, api.core().request("stats", tid.String()), &out); err != nil {
		return iface.Stats{}, err
	}
	var p parser
	st := iface.Stats{
		Thread: p.thread(out.Thread), Logs: out.Logs, Events: out.Events, Equivocations: out.Equivocations,
		Peers: out.Peers, Lag: out.Lag, BlockedLogs: out.BlockedLogs, Received: out.Received, Pushed: out.Pushed,
		Pulled: out.Pulled, Rejected: out.Rejected, ViewsSkipped: out.ViewsSkipped,
	}
	return st, p.err
}

func (api *threadsAPI) RebuildViews(ctx context.Context, tid ipel.ThreadID) error {
	return exec(ctx, api.core().request("view/rebuild", tid.String()), nil)
}
