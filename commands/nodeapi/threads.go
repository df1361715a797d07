package nodeapi

import (
	"context"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type threadsAPI API

func (api *threadsAPI) core() *API { return (*API)(api) }

func (api *threadsAPI) Create(ctx context.Context, opts ...options.ThreadCreateOption) (iface.Thread, error) {
	s, err := options.ThreadCreateOptions(opts...)
	if err != nil {
		return iface.Thread{}, iface.MarkBadInput(err)
	}
	ti, err := api.svc.CreateThread(ctx, s.Variant)
	if err != nil {
		return iface.Thread{}, iface.Classify(err)
	}
	if err := api.views.Ensure(ti.ID); err != nil {
		return iface.Thread{}, iface.Classify(err)
	}
	return api.core().thread(ti), nil
}

func (api *threadsAPI) List(ctx context.Context) ([]iface.ThreadSummary, error) {
	ths, err := api.svc.Threads()
	if err != nil {
		return nil, err
	}
	out := make([]iface.ThreadSummary, 0, len(ths))
	for _, ti := range ths {
		sum := iface.ThreadSummary{ID: ti.ID, Variant: ti.Variant, Logs: len(ti.Logs)}
		for _, l := range ti.Logs {
			sum.Events += l.Seq
		}
		out = append(out, sum)
	}
	return out, nil
}

func (api *threadsAPI) Info(ctx context.Context, tid ipel.ThreadID) (iface.Thread, error) {
	ti, err := api.svc.Info(tid)
	if err != nil {
		return iface.Thread{}, iface.Classify(err)
	}
	out := api.core().thread(ti)
	eqs, err := api.svc.Equivocations(ctx, tid)
	if err != nil {
		return iface.Thread{}, iface.Classify(err)
	}
	for _, e := range eqs {
		out.Equivocations = append(out.Equivocations, iface.Equivocation{Log: e.Log, Seq: e.Seq, Cid: e.Cid})
	}
	return out, nil
}

func (api *threadsAPI) Remove(ctx context.Context, tid ipel.ThreadID) error {
	return iface.Classify(api.core().remove(ctx, tid))
}

func (api *threadsAPI) Stats(ctx context.Context, tid ipel.ThreadID) (iface.Stats, error) {
	st, err := api.svc.Stats(ctx, tid)
	if err != nil {
		return iface.Stats{}, iface.Classify(err)
	}
	out := iface.Stats{
		Thread: tid, Logs: len(st.Info.Logs), Events: st.Events, Equivocations: st.Equivocations,
		Peers: st.Peers, Lag: st.Lag, Received: st.Node.Received, Pushed: st.Node.Pushed, Pulled: st.Node.Pulled,
		Rejected: st.Node.Rejected,
	}
	for _, l := range st.Info.Logs {
		if l.CatchUp != nil {
			out.BlockedLogs++
		}
	}
	if st.Info.HasReadKey {
		vs, err := api.views.Stats(ctx, tid)
		if err != nil {
			return iface.Stats{}, iface.Classify(err)
		}
		out.ViewsSkipped = vs.Skipped
	}
	return out, nil
}

func (api *threadsAPI) RebuildViews(ctx context.Context, tid ipel.ThreadID) error {
	return iface.Classify(api.views.Rebuild(ctx, tid))
}
