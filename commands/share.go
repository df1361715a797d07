package commands

import (
	"errors"
	"fmt"
	"io"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
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
		Helptext: cmds.HelpText{
			Tagline: "Invite a peer to a thread.",
			ShortDescription: `
Creates an invite for a peer: the thread ID, where its logs are, and the
keys of the role (follow: the follow key; read: follow and read keys;
write: the same, and the joiner creates a log of its own), sealed to the
peer's public key so that only that peer can open it. Raw threads offer
no read role (any holder of the read key can write a log the others
accept): use an access-controlled thread (--variant acl) for readers. When the peer is
reachable the invite is also delivered to its node ('ipfs threads invites'
lists it there). Prints the invite: pass it on out of band, or let the peer
run 'ipfs threads join <invite>'.

In an access-controlled thread only an admin of its ACL invites: the
invite first grants the peer the role in the ACL (write, read, follow or
delete, which is write with the right to delete), then carries the keys of
that role.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("peer", true, false, "Peer ID of the invitee."),
		},
		Options: []cmds.Option{
			cmds.StringOption("role", "Role: write or follow (access-controlled threads: also read and delete).").WithDefault("write"),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			to, err := peer.Decode(req.Arguments[1])
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "invalid peer ID %q: %s", req.Arguments[1], err)
			}
			name, _ := req.Options["role"].(string)
			role, err := inviteRole(req.Context, b, tid, to, name)
			if err != nil {
				return err
			}
			r, err := b.Threads.Invite(req.Context, tid, to, role)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&InviteOutput{Invite: r.Invite, Thread: tid.String(), Peer: to.String(), Role: string(role), Delivered: r.Delivered})
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
		Helptext: cmds.HelpText{
			Tagline: "List invites delivered to this node.",
			ShortDescription: `
Lists the invites other nodes delivered to this one and that it has not
joined yet: thread, role, sender, and the invite to pass to 'ipfs threads
join'.
`,
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, err := backend(p, env)
			if err != nil {
				return err
			}
			invs, err := b.Threads.Invites(req.Context)
			if err != nil {
				return err
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
		Helptext: cmds.HelpText{
			Tagline: "Join a thread with an invite.",
			ShortDescription: `
Opens an invite sealed to this node, records the thread's keys, creates this
node's log when the role is write, tells the thread's members where it is,
and starts pulling the history in the background ('ipfs threads info' shows
the progress). Prints the thread ID.

Readers and writers first fetch the inviter's latest snapshot of the
thread's views (when it has one) and pull only the events after it;
--snapshot=false pulls and replays the whole history instead. A snapshot is
authenticated by the read key only: any reader could forge the state it
claims before its cursor (events after it are verified as usual).
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("invite", true, false, "The invite, as 'ipfs threads invite' printed it."),
		},
		Options: []cmds.Option{
			cmds.BoolOption("snapshot", "Start from the inviter's latest snapshot.").WithDefault(true),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, err := backend(p, env)
			if err != nil {
				return err
			}
			useSnap, _ := req.Options["snapshot"].(bool)
			ti, err := b.Threads.JoinWith(req.Context, req.Arguments[0], threads.JoinOptions{FullReplay: !useSnap})
			if errors.Is(err, codec.ErrBadInvite) || errors.Is(err, threads.ErrAlreadyMember) {
				return cmds.Errorf(cmds.ErrClient, "%s", err)
			}
			if err != nil {
				return err
			}
			if ti.HasReadKey {
				if err := b.Views.Ensure(ti.ID); err != nil {
					return err
				}
			}
			return res.Emit(threadOutput(b, ti))
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
		Helptext: cmds.HelpText{
			Tagline: "Show where a thread's logs are: its address book.",
			ShortDescription: `
Lists which peers serve which logs of the thread (writers their own logs,
readers and followers their copies), at which addresses, and until when:
members announce their addresses with a time to live, and expired entries
drop out.
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			entries, err := b.Threads.Addrs(req.Context, tid)
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
		Helptext: cmds.HelpText{
			Tagline: "Add a follower to a thread.",
			ShortDescription: `
Connects to the peer at the address, delivers a follow invite (the follow
key only), and from then on pushes the thread's events to it. The peer's
node follows the thread when its config has AcceptFollowInvites set, or when
its operator runs 'ipfs threads join' with the invite (printed here).
`,
		},
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("addr", true, false, "The follower's address, ending in /p2p/<peer-id>."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			b, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			addr, err := ma.NewMultiaddr(req.Arguments[1])
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "invalid address %q: %s", req.Arguments[1], err)
			}
			info, err := peer.AddrInfoFromP2pAddr(addr)
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "address %s: %s (want /.../p2p/<peer-id>)", addr, err)
			}
			r, err := b.Threads.AddFollower(req.Context, tid, addr)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&InviteOutput{Invite: r.Invite, Thread: tid.String(), Peer: info.ID.String(), Role: string(codec.RoleFollow), Delivered: r.Delivered})
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
