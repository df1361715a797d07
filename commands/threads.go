package commands

import (
	"fmt"
	"io"
	"strings"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// ThreadOutput describes a thread.
type ThreadOutput struct {
	ID      string
	Variant string
	Created time.Time
	// Creator is an access-controlled thread's creator.
	Creator string `json:",omitempty"`
	// Keys says which keys this node holds.
	Keys KeysOutput
	Logs []LogOutput
	// Equivocations lists conflicting events seen and rejected.
	Equivocations []EquivocationOutput `json:",omitempty"`
}

// KeysOutput says which of a thread's keys this node holds (never the keys).
type KeysOutput struct {
	Follow bool
	Read   bool
	// Log is the ID of the log this node writes, empty if none.
	Log string
	// ReadKeys counts the read keys held: one, and one per rotation this
	// node took part in.
	ReadKeys int `json:",omitempty"`
}

// LogOutput describes a log of a thread.
type LogOutput struct {
	ID    string
	Head  string
	Seq   uint64
	Own   bool
	Addrs []string `json:",omitempty"`
	// Base is the last compacted seq (0: none); the log holds Base+1..Seq.
	Base            uint64
	CompactedEvents uint64
	CompactedBytes  uint64
	// CatchUp, when set, says that the log cannot catch up.
	CatchUp *CatchUpOutput `json:",omitempty"`
}

// CatchUpOutput says that a log cannot catch up: this node holds it up to
// Have, and the peers that serve it compacted the events after that.
type CatchUpOutput struct {
	Have  uint64
	Peers []CompactedPeerOutput
	Since time.Time
	// Error says what happened and how to proceed.
	Error string
}

// CompactedPeerOutput is a peer that compacted a log up to Base.
type CompactedPeerOutput struct {
	Peer string
	Base uint64
}

func catchUpOutput(c *iface.CatchUp) *CatchUpOutput {
	if c == nil {
		return nil
	}
	out := &CatchUpOutput{Have: c.Have, Since: c.Since, Error: c.Error, Peers: []CompactedPeerOutput{}}
	for _, p := range c.Peers {
		out.Peers = append(out.Peers, CompactedPeerOutput{Peer: p.Peer.String(), Base: p.Base})
	}
	return out
}

// EquivocationOutput names a rejected conflicting event.
type EquivocationOutput struct {
	Log string
	Seq uint64
	Cid string
}

func threadOutput(t iface.Thread) ThreadOutput {
	out := ThreadOutput{
		ID: t.ID.String(), Variant: t.Variant.String(), Created: t.Created,
		Keys: KeysOutput{Follow: t.Keys.Follow, Read: t.Keys.Read, ReadKeys: t.Keys.ReadKeys},
		Logs: []LogOutput{},
	}
	if t.Keys.Log != "" {
		out.Keys.Log = t.Keys.Log.String()
	}
	if t.Creator != "" {
		out.Creator = t.Creator.String()
	}
	for _, l := range t.Logs {
		lo := LogOutput{ID: l.ID.String(), Seq: l.Seq, Own: l.Own, Base: l.Base, CompactedEvents: l.CompactedEvents, CompactedBytes: l.CompactedBytes,
			CatchUp: catchUpOutput(l.CatchUp)}
		if l.Head.Defined() {
			lo.Head = l.Head.String()
		}
		for _, a := range l.Addrs {
			lo.Addrs = append(lo.Addrs, a.String())
		}
		out.Logs = append(out.Logs, lo)
	}
	for _, e := range t.Equivocations {
		out.Equivocations = append(out.Equivocations, EquivocationOutput{Log: e.Log.String(), Seq: e.Seq, Cid: e.Cid.String()})
	}
	return out
}

func createCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Create a thread.", `
Creates a thread with fresh follow and read keys and a log for this node,
and prints its ID. Variants: 'raw' (every member holds the same keys and is
trusted alike) and 'acl' (access-controlled: roles in an ACL that every
replica enforces, see 'ipfs threads acl').
`, `
Prints the thread's ID; --enc=json prints the thread as 'ipfs threads info'
does. Fails on an unknown --variant.

Example:

  $ T=$(ipfs threads create)
  $ ipfs threads create --variant acl
  bafyiktufww5w5d3axaryafl7sr2g77j56a7rv2rieic43ngfw6kouzy
`),
		Options: []cmds.Option{
			cmds.StringOption("variant", "Thread variant: raw or acl.").WithDefault("raw"),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, err := backend(p, env)
			if err != nil {
				return err
			}
			name, _ := req.Options["variant"].(string)
			variant, err := ipel.ParseVariant(name)
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "%s", err)
			}
			t, err := api.Threads().Create(req.Context, options.Thread.Variant(variant))
			if err != nil {
				return userError(err)
			}
			return res.Emit(threadOutput(t))
		},
		Type: ThreadOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: threadIDEncoder,
		},
	}
}

// ThreadList lists threads.
type ThreadList struct {
	Threads []ThreadSummary
}

// ThreadSummary is a line of `ipfs threads ls`.
type ThreadSummary struct {
	ID      string
	Variant string
	Logs    int
	Events  uint64
}

func lsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("List the threads this node holds.", `
Lists every thread this node holds: its ID, variant, number of logs and
number of events.
`, `
Text output is one line a thread, tab-separated; nothing when this node
holds no thread. --enc=json prints {"Threads": [{"ID", "Variant", "Logs",
"Events"}]}.

Example:

  $ ipfs threads ls
  bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3...  raw  1 logs  3 events
  bafyiktufww5w5d3axaryafl7sr2g77j56a...  acl  2 logs  9 events
`),
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, err := backend(p, env)
			if err != nil {
				return err
			}
			ths, err := api.Threads().List(req.Context)
			if err != nil {
				return userError(err)
			}
			out := ThreadList{Threads: []ThreadSummary{}}
			for _, t := range ths {
				out.Threads = append(out.Threads, ThreadSummary{ID: t.ID.String(), Variant: t.Variant.String(), Logs: t.Logs, Events: t.Events})
			}
			return res.Emit(&out)
		},
		Type: ThreadList{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ThreadList) error {
				for _, t := range out.Threads {
					if _, err := fmt.Fprintf(w, "%s\t%s\t%d logs\t%d events\n", t.ID, t.Variant, t.Logs, t.Events); err != nil {
						return err
					}
				}
				return nil
			}),
		},
	}
}

func infoCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show a thread: logs, heads, seqs, addresses and keys held.", `
Shows a thread's variant, the keys this node holds (follow, read, and the
log it writes), every log with its head and seq, the addresses where this
node serves its own log (/p2p/<peer>/ipel/<log>), and any equivocation
(two events signed at the same log position) seen and rejected.

A log that cannot catch up shows 'blocked:' (JSON: CatchUp): the peers that
serve it compacted the events this node lacks (which peer, up to which
seq), and none it reaches holds them. The node never fills such a gap from
a peer's snapshot; to proceed, remove the thread and join it again with a
snapshot, or wait for a member that holds the events.
`, `
--enc=json prints the same as one object: ID, Variant, Created, Creator
(access-controlled threads), Keys (Follow, Read, Log, ReadKeys), Logs (each
with ID, Head, Seq, Own, Addrs, Base, CompactedEvents, CompactedBytes,
and CatchUp when blocked) and Equivocations (each with Log, Seq, Cid).

Fails when the thread ID is malformed or this node does not hold the
thread.

Example:

  $ ipfs threads info $T
  Thread:   bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omzvuy6jvca
  Variant:  raw
  Created:  2026-12-01T04:30:27Z
  Keys:     follow, read, log 12D3KooWBHGvyH5rXWqKsNXKNdydyDGdSXghRz7bLo5U...
  Logs:
    12D3KooWBHGvyH5rXWqKsNXKNdydyDGdSXghRz7bLo5UxGDoMrYW (own)
      seq:  3
      head: bahqihqabciqh4bxxihyrwupicdmmdcvfjv6nvsaklhjm7tyk6c3rb7sn2dzzcxa
      addr: /ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3ec.../ipel/12D3KooWBHGv...
  Equivocations: none
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			t, err := api.Threads().Info(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			out := threadOutput(t)
			return res.Emit(&out)
		},
		Type: ThreadOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ThreadOutput) error {
				var sb strings.Builder
				fmt.Fprintf(&sb, "Thread:   %s\nVariant:  %s\nCreated:  %s\n", out.ID, out.Variant, out.Created.Format(time.RFC3339))
				var keys []string
				if out.Keys.Follow {
					keys = append(keys, "follow")
				}
				if out.Keys.Read {
					keys = append(keys, "read")
				}
				if out.Keys.Log != "" {
					keys = append(keys, "log "+out.Keys.Log)
				}
				fmt.Fprintf(&sb, "Keys:     %s\nLogs:\n", strings.Join(keys, ", "))
				for _, l := range out.Logs {
					own := ""
					if l.Own {
						own = " (own)"
					}
					head := l.Head
					if head == "" {
						head = "none"
					}
					fmt.Fprintf(&sb, "  %s%s\n    seq:  %d\n    head: %s\n", l.ID, own, l.Seq, head)
					if l.Base > 0 {
						fmt.Fprintf(&sb, "    base: %d (compacted: %d events, %d bytes)\n", l.Base, l.CompactedEvents, l.CompactedBytes)
					}
					if l.CatchUp != nil {
						fmt.Fprintf(&sb, "    blocked: %s\n", l.CatchUp.Error)
					}
					for _, a := range l.Addrs {
						fmt.Fprintf(&sb, "    addr: %s\n", a)
					}
				}
				if len(out.Equivocations) == 0 {
					sb.WriteString("Equivocations: none\n")
				} else {
					sb.WriteString("Equivocations:\n")
					for _, e := range out.Equivocations {
						fmt.Fprintf(&sb, "  log %s seq %d: rejected %s\n", e.Log, e.Seq, e.Cid)
					}
				}
				_, err := io.WriteString(w, sb.String())
				return err
			}),
		},
	}
}

// RemoveOutput confirms a removal.
type RemoveOutput struct {
	Removed string
}

func rmCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Remove a thread from this node.", `
Forgets a thread: its keys, logs, views and index, and releases the pins on
its logs. Its blocks are deleted by the next 'ipfs repo gc'. Other members
keep their copies.
`, `
Prints "removed <thread>"; --enc=json prints {"Removed": <thread>}. Fails
when the thread ID is malformed or this node does not hold the thread.

Example:

  $ ipfs threads rm $T
  removed bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omzvuy6jvca
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			if err := api.Threads().Remove(req.Context, tid); err != nil {
				return userError(err)
			}
			return res.Emit(&RemoveOutput{Removed: tid.String()})
		},
		Type: RemoveOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *RemoveOutput) error {
				_, err := fmt.Fprintf(w, "removed %s\n", out.Removed)
				return err
			}),
		},
	}
}
