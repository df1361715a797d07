package commands

import (
	"fmt"
	"io"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/views"
)

func aclCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Show and change an access-controlled thread's ACL.",
			ShortDescription: `
An access-controlled thread (create --variant acl) has an ACL, built from
events like every view, that every replica enforces: an operation from a
peer whose role did not allow it at that point of its log is ignored
everywhere. Roles, each including the ones before: none, follow (replicate,
read nothing), read, write, delete (write and delete; also schemas and
indexes). Admins may change the ACL; the creator is the first, the thread
ID commits to it, and its role and admin right never change.

Taking the read role from a peer rotates the read key: the new key goes to
every remaining reader (at most 4096), sealed to each, with a commitment
every reader checks, and later events are sealed with it, so the peer
cannot read them.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"show":    aclShowCmd(p),
			"grant":   aclGrantCmd(p),
			"revoke":  aclRevokeCmd(p),
			"default": aclDefaultCmd(p),
		},
	}
}

// ACLEntryOutput is a peer's standing in an ACL.
type ACLEntryOutput struct {
	Peer  string
	Role  string
	Admin bool `json:",omitempty"`
}

// ACLOutput is a thread's ACL.
type ACLOutput struct {
	Thread  string
	Creator string
	Default string
	Peers   []ACLEntryOutput
	// Rotations is how many times the read key was rotated; ReadKeys how
	// many read keys this node holds.
	Rotations int
	ReadKeys  int
	// Ignored counts ACL changes that were not allowed.
	Ignored int
	// RefusedKeys counts rotated read keys sealed to this node that it did
	// not take up: they did not open, or were not the key their rotation
	// commits to.
	RefusedKeys int `json:",omitempty"`
}

func aclShowCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Show a thread's ACL.", `
Prints the creator, the default role, and each peer the ACL names with the
role its next event gets ('*' marks admins), as this node resolves it once
its views include every event it holds.
`, `
Text output is tab-separated lines: "creator <peer>", "default <role>",
"rotations <n>" (read key rotations), then one line a peer: peer ID and
role, '*' after the role of an admin. --enc=json prints {"Thread",
"Creator", "Default", "Peers": [{"Peer", "Role", "Admin"}], "Rotations",
"ReadKeys", "Ignored"}: ReadKeys counts the read keys this node holds,
Ignored the ACL changes that were not allowed.

Fails when the thread ID is malformed, the thread is unknown, or it is not
an access-controlled thread.

Example:

  $ ipfs threads acl show $T
  creator    12D3KooWBHGvyH5rXWqKsNXKNdydyDGdSXghRz7bLo5UxGDoMrYW
  default    none
  rotations  0
  12D3KooWBHGvyH5rXWqKsNXKNdydyDGdSXghRz7bLo5UxGDoMrYW  delete*
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5  write
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			acl, err := api.ACL().Show(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&ACLOutput{
				Thread: acl.Thread.String(), Creator: acl.Creator, Default: acl.Default.String(), Rotations: acl.Rotations,
				ReadKeys: acl.ReadKeys, Ignored: acl.Ignored, RefusedKeys: acl.RefusedKeys, Peers: aclEntriesOutput(acl.Peers),
			})
		},
		Type: ACLOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ACLOutput) error {
				fmt.Fprintf(w, "creator\t%s\ndefault\t%s\nrotations\t%d\n", printable([]byte(out.Creator)), out.Default, out.Rotations)
				if out.RefusedKeys > 0 {
					fmt.Fprintf(w, "refused keys\t%d\n", out.RefusedKeys)
				}
				for _, e := range out.Peers {
					admin := ""
					if e.Admin {
						admin = "*"
					}
					if _, err := fmt.Fprintf(w, "%s\t%s%s\n", printable([]byte(e.Peer)), e.Role, admin); err != nil {
						return err
					}
				}
				return nil
			}),
		},
	}
}

func aclEntriesOutput(es []iface.ACLEntry) []ACLEntryOutput {
	out := make([]ACLEntryOutput, len(es))
	for i, e := range es {
		out[i] = ACLEntryOutput{Peer: e.Peer, Role: e.Role.String(), Admin: e.Admin}
	}
	return out
}

// ACLChangeOutput confirms an ACL change.
type ACLChangeOutput struct {
	Peer  string `json:",omitempty"`
	Role  string `json:",omitempty"`
	Admin *bool  `json:",omitempty"`
}

var aclChangeEncoder = cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ACLChangeOutput) error {
	who := out.Peer
	if who == "" {
		who = "default"
	}
	if out.Role != "" {
		fmt.Fprintf(w, "%s: %s\n", who, out.Role)
	}
	if out.Admin != nil {
		fmt.Fprintf(w, "%s: admin %t\n", who, *out.Admin)
	}
	return nil
})

// roleArg parses a role argument into a client error on failure.
func roleArg(s string) (views.Role, error) {
	role, err := views.ParseRole(s)
	if err != nil {
		return 0, cmds.Errorf(cmds.ErrClient, "%s", err)
	}
	return role, nil
}

func aclGrantCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Give a peer a role (admins only).", `
Sets a peer's role: none, follow, read, write or delete. It applies to the
peer's events this node has not seen yet. --admin also lets the peer change
the ACL. The peer still needs an invite for the keys of its role ('ipfs
threads invite' grants the role and sends the keys at once).
`, `
Prints "<peer>: <role>" (and "<peer>: admin true" with --admin);
--enc=json prints {"Peer", "Role", "Admin"}.

Fails when the thread ID or the peer ID is malformed, the role is unknown,
the thread is unknown or not access-controlled, or this node is not an
admin of its ACL.

Example:

  $ PEER=12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5
  $ ipfs threads acl grant $T $PEER read
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5: read
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("peer", true, false, "Peer ID."),
			cmds.StringArg("role", true, false, "none, follow, read, write or delete."),
		},
		Options: []cmds.Option{
			cmds.BoolOption("admin", "Also make the peer an admin of the ACL."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			who, err := peerArg("peer ID", req.Arguments[1])
			if err != nil {
				return err
			}
			role, err := roleArg(req.Arguments[2])
			if err != nil {
				return err
			}
			admin, _ := req.Options["admin"].(bool)
			if err := api.ACL().Grant(req.Context, tid, who, role, options.Grant.Admin(admin)); err != nil {
				return userError(err)
			}
			out := &ACLChangeOutput{Peer: who.String(), Role: role.String()}
			if admin {
				out.Admin = &admin
			}
			return res.Emit(out)
		},
		Type:     ACLChangeOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: aclChangeEncoder},
	}
}

func aclRevokeCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Take a peer's role (admins only).", `
Sets the peer's role to none and takes its admin right, from the peer's
events this node has not seen yet: its later writes are ignored by every
replica. If the peer could read, the read key rotates. --admin-only takes
only the admin right.
`, `
Prints "<peer>: none" (unless --admin-only) and "<peer>: admin false";
--enc=json prints {"Peer", "Role", "Admin"}.

Fails when the thread ID or the peer ID is malformed, the thread is
unknown or not access-controlled, or this node is not an admin of its ACL.

Example:

  $ ipfs threads acl revoke $T $PEER
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5: none
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5: admin false
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("peer", true, false, "Peer ID."),
		},
		Options: []cmds.Option{
			cmds.BoolOption("admin-only", "Take only the admin right."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			who, err := peerArg("peer ID", req.Arguments[1])
			if err != nil {
				return err
			}
			adminOnly, _ := req.Options["admin-only"].(bool)
			if err := api.ACL().Revoke(req.Context, tid, who, options.Revoke.AdminOnly(adminOnly)); err != nil {
				return userError(err)
			}
			no := false
			out := &ACLChangeOutput{Peer: who.String(), Admin: &no}
			if !adminOnly {
				out.Role = iface.RoleNone.String()
			}
			return res.Emit(out)
		},
		Type:     ACLChangeOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: aclChangeEncoder},
	}
}

func aclDefaultCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Set the role of peers the ACL does not name (admins only).", `
Sets the default role: the role of every peer the ACL does not name (none,
follow, read, write or delete; 'none' when the thread is created). It
applies to events this node has not seen yet.
`, `
Prints "default: <role>"; --enc=json prints {"Role"}.

Fails when the thread ID is malformed, the role is unknown, the thread is
unknown or not access-controlled, or this node is not an admin of its ACL.

Example:

  $ ipfs threads acl default $T read
  default: read
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("role", true, false, "none, follow, read, write or delete."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			role, err := roleArg(req.Arguments[1])
			if err != nil {
				return err
			}
			if err := api.ACL().SetDefault(req.Context, tid, role); err != nil {
				return userError(err)
			}
			return res.Emit(&ACLChangeOutput{Role: role.String()})
		},
		Type:     ACLChangeOutput{},
		Encoders: cmds.EncoderMap{cmds.Text: aclChangeEncoder},
	}
}

// DocACLOutput lists a document's roles.
type DocACLOutput struct {
	Collection string
	ID         string
	Peers      []ACLEntryOutput
}

func docsACLCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Document-level roles (access-controlled threads).",
			ShortDescription: `
A role on one document overrides the peer's thread-level role for writes
and deletes of that document (reading is thread-level: it is a matter of
keys). It is set by an admin of the ACL, or by a peer with the delete role
on the document; the latter only lowers: never above what admins grant
the peer, and never for admins or the creator.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"grant": {
				Helptext: helpText("Give a peer a role on a document.", `
Sets a peer's role on one document of a collection: none, follow, read,
write or delete. It applies to the peer's events this node has not seen
yet.
`, `
Prints "<peer>: <role>"; --enc=json prints {"Peer", "Role"}.

Fails when the thread ID or the peer ID is malformed, the role is unknown,
the thread is unknown or not access-controlled, or this node is neither an
admin nor allowed to delete the document.

Example:

  $ ipfs threads docs acl grant $T people ann $PEER write
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5: write
`),
				Arguments: []cmds.Argument{
					cmds.StringArg("thread", true, false, "Thread ID."),
					cmds.StringArg("collection", true, false, "Collection."),
					cmds.StringArg("id", true, false, "Document ID."),
					cmds.StringArg("peer", true, false, "Peer ID."),
					cmds.StringArg("role", true, false, "none, follow, read, write or delete."),
				},
				Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
					api, tid, err := threadArg(p, req, env)
					if err != nil {
						return err
					}
					who, err := peerArg("peer ID", req.Arguments[3])
					if err != nil {
						return err
					}
					role, err := roleArg(req.Arguments[4])
					if err != nil {
						return err
					}
					if err := api.ACL().GrantDoc(req.Context, tid, req.Arguments[1], req.Arguments[2], who, role); err != nil {
						return userError(err)
					}
					return res.Emit(&ACLChangeOutput{Peer: who.String(), Role: role.String()})
				},
				Type:     ACLChangeOutput{},
				Encoders: cmds.EncoderMap{cmds.Text: aclChangeEncoder},
			},
			"show": {
				Helptext: helpText("List a document's roles.", `
Lists the peers with a role on one document of a collection, and their
roles.
`, `
Text output is one line a peer, tab-separated: peer ID and role; nothing
when the document has no roles of its own. --enc=json prints
{"Collection", "ID", "Peers": [{"Peer", "Role"}]}.

Fails when the thread ID is malformed, or the thread is unknown or not
access-controlled.

Example:

  $ ipfs threads docs acl show $T people ann
  12D3KooWCUciu7PUfsxh32XMSoDS7ZbRXezUeVZ3inP1yHbsZES5  write
`),
				Arguments: []cmds.Argument{
					cmds.StringArg("thread", true, false, "Thread ID."),
					cmds.StringArg("collection", true, false, "Collection."),
					cmds.StringArg("id", true, false, "Document ID."),
				},
				Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
					api, tid, err := threadArg(p, req, env)
					if err != nil {
						return err
					}
					roles, err := api.ACL().DocRoles(req.Context, tid, req.Arguments[1], req.Arguments[2])
					if err != nil {
						return userError(err)
					}
					return res.Emit(&DocACLOutput{Collection: req.Arguments[1], ID: req.Arguments[2], Peers: aclEntriesOutput(roles)})
				},
				Type: DocACLOutput{},
				Encoders: cmds.EncoderMap{
					cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *DocACLOutput) error {
						for _, e := range out.Peers {
							if _, err := fmt.Fprintf(w, "%s\t%s\n", printable([]byte(e.Peer)), e.Role); err != nil {
								return err
							}
						}
						return nil
					}),
				},
			},
		},
	}
}
