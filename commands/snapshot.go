package commands

import (
	"fmt"
	"io"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// SnapshotOutput describes a thread's latest snapshot.
type SnapshotOutput struct {
	Root string
	// Maker is the peer that made and signed the snapshot; empty when
	// unsigned.
	Maker   string `json:",omitempty"`
	Cursor  []SnapshotCursorOutput
	Events  uint64 // events covered: the sum of the cursor's seqs
	Entries uint64 // view entries
	Size    uint64 // bytes of its blocks
	Pages   int
	Created time.Time
}

// SnapshotCursorOutput is where a snapshot stands in one log.
type SnapshotCursorOutput struct {
	Log string
	Seq uint64
	Cid string
}

func snapshotOutput(si iface.Snapshot) SnapshotOutput {
	out := SnapshotOutput{Root: si.Root.String(), Maker: si.Maker.String(), Events: si.Events, Entries: si.Entries, Size: si.Size, Pages: si.Pages,
		Created: si.Created, Cursor: []SnapshotCursorOutput{}}
	for _, c := range si.Cursor {
		out.Cursor = append(out.Cursor, SnapshotCursorOutput{Log: c.Log.String(), Seq: c.Seq, Cid: c.Cid.String()})
	}
	return out
}

func snapshotCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show (or take) the thread's latest snapshot.", `
Shows the thread's latest snapshot of its views: root CID, cursor (per log:
seq and the event's CID), events covered, entries, size. With --create,
first takes one now, at the events the views have applied.

Snapshots are also taken automatically whenever the events applied reach a
multiple of the SnapshotInterval config (default 1000). They are sealed
with the thread's read key, deterministically (replicas that applied the
same events produce the same pages), and signed by the node that takes
them (Maker): the root names its maker. The latest is pinned; a node
serves its own to the peers it invites, which take it at their join. A
snapshot taken at a join is the inviter's (Maker: the inviter) and is not
served on; an unsigned one (no Maker) is for this node's own use.
`, `
--enc=json prints {"Root", "Cursor": [{"Log", "Seq", "Cid"}], "Events",
"Entries", "Size", "Pages", "Created", "Maker"}.

Fails when the thread ID is malformed, the thread is unknown, or (without
--create) the thread has no snapshot yet.

Example:

  $ ipfs threads snapshot $T --create
  Root:     bafyreih5x2ze7tptf6ocl4a4ptibzzmtmopq2pjuxdpkpqyoqn2owdhb6q
  Events:   1000
  Entries:  412
  Size:     38211 bytes in 1 pages
  Created:  2026-12-01T04:31:02Z
  Cursor:
    12D3KooWBHGv...  1000  bahqihqabciqh4bxxihyrwupicdmmdcvfjv6nvsaklhj...
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.BoolOption("create", "Take a snapshot now."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			var si iface.Snapshot
			if create, _ := req.Options["create"].(bool); create {
				si, err = api.Snapshots().Create(req.Context, tid)
			} else {
				si, err = api.Snapshots().Latest(req.Context, tid)
			}
			if err != nil {
				return userError(err)
			}
			return res.Emit(snapshotOutput(si))
		},
		Type: SnapshotOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *SnapshotOutput) error {
				maker := out.Maker
				if maker == "" {
					maker = "none (unsigned)"
				}
				fmt.Fprintf(w, "Root:     %s\nMaker:    %s\nEvents:   %d\nEntries:  %d\nSize:     %d bytes in %d pages\nCreated:  %s\nCursor:\n",
					out.Root, maker, out.Events, out.Entries, out.Size, out.Pages, out.Created.Format(time.RFC3339))
				for _, c := range out.Cursor {
					fmt.Fprintf(w, "  %s  %d  %s\n", c.Log, c.Seq, c.Cid)
				}
				return nil
			}),
		},
	}
}

// CompactOutput says what a compaction dropped.
type CompactOutput struct {
	Logs []CompactedLogOutput
}

// CompactedLogOutput is one log's part of a compaction.
type CompactedLogOutput struct {
	Log    string
	Base   uint64
	Events uint64
	Bytes  uint64
}

func compactCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Drop the events the latest snapshot covers.", `
Truncates each log of the thread at the latest snapshot's cursor: the
events at or below it leave the index and the log's pin, and the next
'ipfs repo gc' deletes their blocks. The views read the same afterwards
(the snapshot holds their effect), 'ipfs threads view rebuild' starts from
the snapshot, and 'ipfs threads info' shows each log's base and what was
compacted. Local only: other members keep their copies.
`, `
Prints a line a log that was truncated: log ID, its new base, and the
events and bytes dropped; "nothing to compact" when the snapshot covers
nothing more. --enc=json prints {"Logs": [{"Log", "Base", "Events",
"Bytes"}]}.

Fails when the thread ID is malformed, the thread is unknown or
access-controlled (those are never compacted), or it has no snapshot (take
one with 'ipfs threads snapshot --create').

Example:

  $ ipfs threads compact $T
  12D3KooWBHGv...  base 1000  dropped 1000 events, 131072 bytes
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			logs, err := api.Snapshots().Compact(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			out := CompactOutput{Logs: []CompactedLogOutput{}}
			for _, l := range logs {
				out.Logs = append(out.Logs, CompactedLogOutput{Log: l.Log.String(), Base: l.Base, Events: l.Events, Bytes: l.Bytes})
			}
			return res.Emit(out)
		},
		Type: CompactOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *CompactOutput) error {
				if len(out.Logs) == 0 {
					_, err := fmt.Fprintln(w, "nothing to compact")
					return err
				}
				for _, l := range out.Logs {
					fmt.Fprintf(w, "%s  base %d  dropped %d events, %d bytes\n", l.Log, l.Base, l.Events, l.Bytes)
				}
				return nil
			}),
		},
	}
}
