package nodeapi

import (
	"encoding/json"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// thread describes a thread; the logs this node writes carry the addresses
// where it serves them.
func (api *API) thread(ti threads.ThreadInfo) iface.Thread {
	out := iface.Thread{
		ID: ti.ID, Variant: ti.Variant, Created: ti.Created.UTC(), Creator: ti.Creator,
		Keys: iface.Keys{Follow: ti.HasFollowKey, Read: ti.HasReadKey, Log: ti.OwnLog, ReadKeys: ti.ReadKeys},
		Logs: make([]iface.Log, 0, len(ti.Logs)),
	}
	for _, l := range ti.Logs {
		lo := iface.Log{
			ID: l.ID, Head: l.Head, Seq: l.Seq, Own: l.Own,
			Base: l.Base, CompactedEvents: l.CompactedEvents, CompactedBytes: l.CompactedBytes,
			CatchUp: catchUp(l.CatchUp),
		}
		if l.Own {
			lo.Addrs = api.logAddrs(l.ID)
		}
		out.Logs = append(out.Logs, lo)
	}
	return out
}

// logAddrs are the addresses where this node serves a log; none offline.
func (api *API) logAddrs(log ipel.LogID) []ma.Multiaddr {
	if api.host == nil {
		return nil
	}
	addrs, err := ipel.LogAddr{Peer: peer.AddrInfo{ID: api.host.ID(), Addrs: api.host.Addrs()}, Log: log}.Multiaddrs()
	if err != nil {
		return nil
	}
	return addrs
}

func catchUp(e *threads.CatchUpError) *iface.CatchUp {
	if e == nil {
		return nil
	}
	out := &iface.CatchUp{Have: e.Have, Since: e.At.UTC(), Error: e.Error(), Peers: make([]iface.CompactedPeer, 0, len(e.Peers))}
	for _, p := range e.Peers {
		out.Peers = append(out.Peers, iface.CompactedPeer{Peer: p.Peer, Base: p.Base})
	}
	return out
}

func event(r threads.Record) iface.Event {
	return iface.Event{
		Log: r.Log, Seq: r.Seq, Cid: r.Cid, Time: r.Time.UTC(), Body: r.Body,
		To: r.To, Private: r.Private, NotAuthentic: r.NotAuthentic,
	}
}

func docChange(e views.FeedEntry) iface.DocChange {
	c := iface.DocChange{Seq: e.Seq, Type: e.Type, Collection: e.Coll, ID: e.ID, Doc: rawJSON(e.Doc)}
	if ev, err := cid.Decode(e.Event); err == nil {
		c.Event = ev
	}
	return c
}

func snapshot(si threads.SnapshotInfo) iface.Snapshot {
	out := iface.Snapshot{
		Root: si.Root, Maker: si.Maker, Events: si.Events, Entries: si.Entries, Size: si.Size, Pages: si.Pages,
		Created: si.Created.UTC(), Cursor: make([]iface.SnapshotCursor, 0, len(si.Cursor)),
	}
	for _, c := range si.Cursor {
		out.Cursor = append(out.Cursor, iface.SnapshotCursor{Log: c.Log, Seq: c.Seq, Cid: c.Cid})
	}
	return out
}

// rawJSON is b as JSON, nil when empty.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}
