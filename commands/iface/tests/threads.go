package tests

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// unknownThread is a thread ID no node holds.
func unknownThread(t *testing.T) ipel.ThreadID {
	tid, err := ipel.NewThreadID(ipel.VariantRaw)
	must(t, err, "new thread ID")
	return tid
}

func testThreads(t *testing.T, n Node) {
	ctx := testContext(t)
	api := n.API

	raw, err := api.Threads().Create(ctx)
	must(t, err, "create")
	if raw.Variant != ipel.VariantRaw || !raw.ID.Defined() || !raw.Keys.Follow || !raw.Keys.Read || raw.Keys.Log == "" {
		t.Fatalf("create: %+v", raw)
	}
	if len(raw.Logs) != 1 || !raw.Logs[0].Own || raw.Logs[0].ID != raw.Keys.Log || raw.Logs[0].Seq != 0 || raw.Logs[0].Head.Defined() {
		t.Errorf("a new thread's logs: %+v", raw.Logs)
	}
	acl, err := api.Threads().Create(ctx, options.Thread.Variant(ipel.VariantAccessControlled))
	must(t, err, "create acl")
	if acl.Variant != ipel.VariantAccessControlled || acl.Creator != n.ID {
		t.Errorf("create acl: variant %s, creator %s, want acl by %s", acl.Variant, acl.Creator, n.ID)
	}
	_, err = api.Threads().Create(ctx, options.Thread.Variant(ipel.Variant(7)))
	wantErr(t, err, iface.ErrBadInput, nil, "create with an unknown variant")

	info, err := api.Threads().Info(ctx, raw.ID)
	must(t, err, "info")
	if info.ID != raw.ID || info.Keys != raw.Keys || len(info.Logs) != 1 || len(info.Equivocations) != 0 {
		t.Errorf("info: %+v, want %+v", info, raw)
	}
	if len(info.Logs[0].Addrs) == 0 {
		t.Errorf("info: no address for the own log")
	}
	for _, a := range info.Logs[0].Addrs {
		if _, err := a.ValueForProtocol(ma.P_P2P); err != nil {
			t.Errorf("own log address %s has no /p2p", a)
		}
	}
	_, err = api.Threads().Info(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "info of an unknown thread")

	list, err := api.Threads().List(ctx)
	must(t, err, "ls")
	found := map[ipel.ThreadID]iface.ThreadSummary{}
	for _, s := range list {
		found[s.ID] = s
	}
	if s, ok := found[raw.ID]; !ok || s.Variant != ipel.VariantRaw || s.Logs != 1 || s.Events != 0 {
		t.Errorf("ls: raw thread %+v (listed: %t)", s, ok)
	}
	if _, ok := found[acl.ID]; !ok {
		t.Errorf("ls: the acl thread is missing")
	}

	st, err := api.Threads().Stats(ctx, raw.ID)
	must(t, err, "stats")
	if st.Thread != raw.ID || st.Logs != 1 || st.Events != 0 {
		t.Errorf("stats: %+v", st)
	}
	_, err = api.Threads().Stats(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "stats of an unknown thread")

	must(t, api.Threads().RebuildViews(ctx, raw.ID), "rebuild views")
	wantErr(t, api.Threads().RebuildViews(ctx, unknownThread(t)), iface.ErrNotFound, threads.ErrThreadNotFound, "rebuild an unknown thread")

	must(t, api.Threads().Remove(ctx, raw.ID), "rm")
	_, err = api.Threads().Info(ctx, raw.ID)
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "info after rm")
	wantErr(t, api.Threads().Remove(ctx, raw.ID), iface.ErrNotFound, threads.ErrThreadNotFound, "rm twice")
	list, err = api.Threads().List(ctx)
	must(t, err, "ls after rm")
	for _, s := range list {
		if s.ID == raw.ID {
			t.Errorf("ls after rm lists the thread")
		}
	}
}
