package commands

import (
	"fmt"
	"io"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
)

// InviteOutput is a created invite.
type InviteOutput struct {
	Invite    string
	Thread    string
	Peer      string
	Role      string
	Delivered bool
}

func inviteCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Invite a peer to a thread.", `
Creates an invite for a peer: the thread ID, where its logs are, and the
keys of the role (follow: the follow key; read: follow and read keys;
write: the same, and the joiner creates a log of its own), sealed to the
peer's public key so that only that peer can open it. Raw threads offer
no read role (any holder of the read key can write a log the others
accept): use an access-controlled thread (--variant acl) for readers.
When the peer is reachable the invite is also delivered to its node
('ipfs threads invites' lists it there). Prints the invite: pass it on out
of band, or let the peer run 'ipfs threads join <invite>'.

In an access-controlled thread only an admin of its ACL invites: the
invite first grants the peer the role in the ACL (write, read, follow or
delete, which is write with the right to delete), then carries the keys of
that role.
`, `
Prints the invite; --enc=json prints {"Invite", "Thread", "Peer", "Role",
"Delivered"}, Delivered saying whether the peer's node received it.

Fails when the thread ID or the peer ID is malformed, the thread is
unknown, the peer ID does not embed a public key, the role is unknown, the
role is more than this node holds (a follower cannot invite readers, a
reader cannot invite writers), or, in an access-controlled thread, this
node is not an admin.

Example:

  $ PEER=$(ipfs id -f '<id>')    # on the invitee's node
  $ ipfs threads invite $T $PEER
  bgjfqa...
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("peer", true, false, "Peer ID of the invitee."),
		},
		Options: []cmds.Option{
			cmds.StringOption("role", "Role: write or follow (access-controlled threads: also read and delete).").WithDefault("write"),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			to, err := peerArg("peer ID", req.Arguments[1])
			if err != nil {
				return err
			}
			name, _ := req.Options["role"].(string)
			inv, err := api.Sharing().Invite(req.Context, tid, to, options.Invite.Role(name))
			if err != nil {
				return userError(err)
			}
			return res.Emit(inviteOutput(inv))
		},
		Type: InviteOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *InviteOutput) error {
				_, err := fmt.Fprintln(w, out.Invite)
				return err
			}),
		},
	}
}

func inviteOutput(inv iface.Invite) *InviteOutput {
	return &InviteOutput{Invite: inv.Invite, Thread: inv.Thread.String(), Peer: inv.Peer.String(), Role: string(inv.Role), Delivered: inv.Delivered}
}

// InviteList lists invites delivered to this node.
type InviteList struct {
	Invites []ReceivedInviteOutput
}

// ReceivedInviteOutput is an invite delivered to this node.
type ReceivedInviteOutput struct {
	Invite   string
	Thread   string
	Role     string
	From     string
	Received time.Time
}

func invitesCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("List invites delivered to this node.", `
Lists the invites other nodes delivered to this one and that it has not
joined yet: thread, role, sender, and the invite to pass to 'ipfs threads
join'.
`, `
Text output is two lines an invite: thread, role and "from <peer>",
tab-separated, then the invite; nothing when there is none. --enc=json
prints {"Invites": [{"Invite", "Thread", "Role", "From", "Received"}]}.

Example:

  $ ipfs threads invites
  bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omzvuy6jvca  write  from 12D...
  bgjfqa...
  $ ipfs threads invites --enc=json | jq -r '.Invites[0].Invite'
  bgjfqa...
`),
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, err := backend(p, env)
			if err != nil {
				return err
			}
			invs, err := api.Sharing().Invites(req.Context)
			if err != nil {
				return userError(err)
			}
			out := InviteList{Invites: []ReceivedInviteOutput{}}
			for _, inv := range invs {
				out.Invites = append(out.Invites, ReceivedInviteOutput{Invite: inv.Invite, Thread: inv.Thread.String(), Role: string(inv.Role), From: inv.From.String(), Received: inv.Received.UTC()})
			}
			return res.Emit(&out)
		},
		Type: InviteList{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *InviteList) error {
				for _, inv := range out.Invites {
					if _, err := fmt.Fprintf(w, "%s\t%s\tfrom %s\n%s\n", inv.Thread, inv.Role, inv.From, inv.Invite); err != nil {
						return err
					}
				}
				return nil
			}),
		},
	}
}

func joinCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Join a thread with an invite.", `
Opens an invite sealed to this node, records the thread's keys, creates this
node's log when the role is write, tells the thread's members where it is,
and starts pulling the history in the background ('ipfs threads info' shows
the progress). Prints the thread ID.

Readers and writers of a raw thread first take the inviter's latest
snapshot of the thread's views (when it has one, made and signed by the
inviter itself) and pull only the events after it: the joiner takes the
inviter's word for the state before the snapshot's cursor (events after it
are verified as usual). --snapshot=false pulls and replays the whole
history instead. Access-controlled threads always replay the whole history.

A replay gets the whole history or stops with an error, never a truncated
one: when every member it reaches compacted events it lacks, 'ipfs threads
info' shows the log as blocked, naming the peers and up to which seq.
`, `
Prints the thread ID; --enc=json prints the thread as 'ipfs threads info'
does.

Fails when the invite is malformed, sealed to another peer or tampered
with, or names a thread this node already holds.

Example:

  $ ipfs threads join bgjfqa...
  bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omzvuy6jvca
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("invite", true, false, "The invite, as 'ipfs threads invite' printed it."),
		},
		Options: []cmds.Option{
			cmds.BoolOption("snapshot", "Start from the inviter's latest snapshot (raw threads).").WithDefault(true),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, err := backend(p, env)
			if err != nil {
				return err
			}
			useSnap, _ := req.Options["snapshot"].(bool)
			t, err := api.Sharing().Join(req.Context, req.Arguments[0], options.Join.Snapshot(useSnap))
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

// AddrList is a thread's address book.
type AddrList struct {
	Addrs []AddrOutput
}

// AddrOutput says that a peer serves a log, at addresses, until a time.
type AddrOutput struct {
	Log     string
	Peer    string
	Addrs   []string
	Expires time.Time
}

func addrsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show where a thread's logs are: its address book.", `
Lists which peers serve which logs of the thread (writers their own logs,
readers and followers their copies), at which addresses, and until when:
members announce their addresses with a time to live, and expired entries
drop out.
`, `
Text output is a line a log and peer (log ID, peer ID, "expires <time>",
tab-separated), then one indented line an address. --enc=json prints
{"Addrs": [{"Log", "Peer", "Addrs", "Expires"}]}.

Fails when the thread ID is malformed or the thread unknown.

Example:

  $ ipfs threads addrs $T
  12D3KooWBHGv...  12D3KooWCUci...  expires 2026-12-02T04:30:29Z
    /ip4/127.0.0.1/tcp/4001
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			entries, err := api.Sharing().Addrs(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			out := AddrList{Addrs: []AddrOutput{}}
			for _, e := range entries {
				ao := AddrOutput{Log: e.Log.String(), Peer: e.Peer.String(), Addrs: []string{}, Expires: e.Expires.UTC()}
				for _, a := range e.Addrs {
					ao.Addrs = append(ao.Addrs, a.String())
				}
				out.Addrs = append(out.Addrs, ao)
			}
			return res.Emit(&out)
		},
		Type: AddrList{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *AddrList) error {
				for _, e := range out.Addrs {
					if _, err := fmt.Fprintf(w, "%s\t%s\texpires %s\n", e.Log, e.Peer, e.Expires.Format(time.RFC3339)); err != nil {
						return err
					}
					for _, a := range e.Addrs {
						if _, err := fmt.Fprintf(w, "  %s\n", a); err != nil {
							return err
						}
					}
				}
				return nil
			}),
		},
	}
}

func followerCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Manage a thread's followers.",
			ShortDescription: `
A follower holds a thread's follow key only: it verifies, stores and serves
every event of every log, and can read none of them (a pinning service).
`,
		},
		Subcommands: map[string]*cmds.Command{
			"add": followerAddCmd(p),
		},
	}
}

func followerAddCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Add a follower to a thread.", `
Connects to the peer at the address, delivers a follow invite (the follow
key only), and from then on pushes the thread's events to it. The peer's
node follows the thread when its config has AcceptFollowInvites set, or when
its operator runs 'ipfs threads join' with the invite (printed here).
`, `
Prints "follower <peer> added to <thread> (invite delivered)" (or "invite
not delivered"), then the invite; --enc=json prints {"Invite", "Thread",
"Peer", "Role", "Delivered"}.

Fails when the thread ID or the address is malformed, the address does not
end in /p2p/<peer-id> or names this node, the thread is unknown, or the
node is offline.

Example:

  $ ipfs threads follower add $T /ip4/10.0.0.5/tcp/4001/p2p/12D3KooWF...
  follower 12D3KooWF... added to bafkzo5x... (invite delivered)
  bgjfqa...
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("addr", true, false, "The follower's address, ending in /p2p/<peer-id>."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			addr, err := ma.NewMultiaddr(req.Arguments[1])
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "invalid address %q: %s", req.Arguments[1], err)
			}
			inv, err := api.Sharing().AddFollower(req.Context, tid, addr)
			if err != nil {
				return userError(err)
			}
			return res.Emit(inviteOutput(inv))
		},
		Type: InviteOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *InviteOutput) error {
				state := "delivered"
				if !out.Delivered {
					state = "not delivered"
				}
				_, err := fmt.Fprintf(w, "follower %s added to %s (invite %s)\n%s\n", out.Peer, out.Thread, state, out.Invite)
				return err
			}),
		},
	}
}
