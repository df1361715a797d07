package client

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

// parser reads the strings of the commands' JSON into the API's types,
// keeping the first error.
type parser struct{ err error }

func (p *parser) fail(what, s string, err error) {
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("daemon sent %s %q: %w", what, s, err)
	}
}

func (p *parser) thread(s string) ipel.ThreadID {
	t, err := ipel.ParseThreadID(s)
	p.fail("thread ID", s, err)
	return t
}

func (p *parser) variant(s string) ipel.Variant {
	v, err := ipel.ParseVariant(s)
	p.fail("variant", s, err)
	return v
}

// peer reads a peer (or log) ID; "" is none.
func (p *parser) peer(s string) peer.ID {
	if s == "" {
		return ""
	}
	id, err := peer.Decode(s)
	p.fail("peer ID", s, err)
	return id
}

// cid reads a CID; "" is cid.Undef.
func (p *parser) cid(s string) cid.Cid {
	if s == "" {
		return cid.Undef
	}
	c, err := cid.Decode(s)
	p.fail("CID", s, err)
	return c
}

func (p *parser) addrs(ss []string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		p.fail("address", s, err)
		out = append(out, a)
	}
	return out
}

func (p *parser) role(s string) iface.Role {
	r, err := views.ParseRole(s)
	p.fail("role", s, err)
	return r
}

func thread(o *commands.ThreadOutput) (iface.Thread, error) {
	var p parser
	t := iface.Thread{
		ID: p.thread(o.ID), Variant: p.variant(o.Variant), Created: o.Created, Creator: p.peer(o.Creator),
		Keys: iface.Keys{Follow: o.Keys.Follow, Read: o.Keys.Read, Log: p.peer(o.Keys.Log), ReadKeys: o.Keys.ReadKeys},
		Logs: make([]iface.Log, 0, len(o.Logs)),
	}
	for _, l := range o.Logs {
		lo := iface.Log{
			ID: p.peer(l.ID), Head: p.cid(l.Head), Seq: l.Seq, Own: l.Own, Addrs: p.addrs(l.Addrs),
			Base: l.Base, CompactedEvents: l.CompactedEvents, CompactedBytes: l.CompactedBytes,
		}
		if c := l.CatchUp; c != nil {
			lo.CatchUp = &iface.CatchUp{Have: c.Have, Since: c.Since, Error: c.Error, Peers: make([]iface.CompactedPeer, 0, len(c.Peers))}
			for _, cp := range c.Peers {
				lo.CatchUp.Peers = append(lo.CatchUp.Peers, iface.CompactedPeer{Peer: p.peer(cp.Peer), Base: cp.Base})
			}
		}
		t.Logs = append(t.Logs, lo)
	}
	for _, e := range o.Equivocations {
		t.Equivocations = append(t.Equivocations, iface.Equivocation{Log: p.peer(e.Log), Seq: e.Seq, Cid: p.cid(e.Cid)})
	}
	return t, p.err
}

func event(o *commands.EventOutput) (iface.Event, error) {
	var p parser
	e := iface.Event{
		Log: p.peer(o.Log), Seq: o.Seq, Cid: p.cid(o.Cid), Time: o.Time, Body: o.Body,
		To: p.peer(o.To), Private: o.Private, NotAuthentic: o.NotAuthentic,
	}
	return e, p.err
}

func invite(o *commands.InviteOutput) (iface.Invite, error) {
	var p parser
	inv := iface.Invite{Invite: o.Invite, Thread: p.thread(o.Thread), Peer: p.peer(o.Peer), Role: codec.Role(o.Role), Delivered: o.Delivered}
	return inv, p.err
}

func docChange(o *commands.ChangeOutput) (iface.DocChange, error) {
	var p parser
	c := iface.DocChange{Seq: o.Seq, Type: views.ChangeType(o.Type), Collection: o.Collection, ID: o.ID, Doc: o.Doc, Event: p.cid(o.Event)}
	return c, p.err
}

func snapshot(o *commands.SnapshotOutput) (iface.Snapshot, error) {
	var p parser
	s := iface.Snapshot{
		Root: p.cid(o.Root), Maker: p.peer(o.Maker), Events: o.Events, Entries: o.Entries, Size: o.Size, Pages: o.Pages,
		Created: o.Created, Cursor: make([]iface.SnapshotCursor, 0, len(o.Cursor)),
	}
	for _, c := range o.Cursor {
		s.Cursor = append(s.Cursor, iface.SnapshotCursor{Log: p.peer(c.Log), Seq: c.Seq, Cid: p.cid(c.Cid)})
	}
	return s, p.err
}

func aclEntries(os []commands.ACLEntryOutput) ([]iface.ACLEntry, error) {
	var p parser
	out := make([]iface.ACLEntry, len(os))
	for i, e := range os {
		out[i] = iface.ACLEntry{Peer: e.Peer, Role: p.role(e.Role), Admin: e.Admin}
	}
	return out, p.err
}
