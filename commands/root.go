package commands

import (
	"errors"
	"fmt"
	"io"

	cmds "github.com/ipfs/go-ipfs-cmds"
	oldcmds "github.com/ipfs/kubo/commands"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// PluginName is the name of the plugin in Kubo's config
// (Plugins.Plugins.<name>).
const PluginName = "threads"

// Backend is what the commands work on: the running engine and the node's
// libp2p host (nil when the node is offline).
type Backend struct {
	Threads *threads.Service
	Views   *views.Manager
	Host    host.Host
}

// Provider returns the running backend, or nil when this process runs none.
type Provider func() *Backend

// Root returns the `threads` command tree.
func Root(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Encrypted, multi-writer event-sourced databases (Threads).",
			ShortDescription: `
A thread is a database made of single-writer, signed, encrypted logs, one
per writer. Every event is sealed in three layers: the body under a fresh
content key, the header under the thread's read key, and the signed record
under the thread's follow key.

The threads commands run inside the daemon: start it with 'ipfs daemon'.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"create":   createCmd(p),
			"ls":       lsCmd(p),
			"info":     infoCmd(p),
			"rm":       rmCmd(p),
			"add":      addCmd(p),
			"log":      logCmd(p),
			"cat":      catCmd(p),
			"listen":   listenCmd(p),
			"invite":   inviteCmd(p),
			"invites":  invitesCmd(p),
			"join":     joinCmd(p),
			"addrs":    addrsCmd(p),
			"follower": followerCmd(p),
			"kv":       kvCmd(p),
			"docs":     docsCmd(p),
			"acl":      aclCmd(p),
			"view":     viewCmd(p),
			"stats":    statsCmd(p),
			"snapshot": snapshotCmd(p),
			"compact":  compactCmd(p),
		},
	}
}

// backend returns the running backend or an error that tells the user why
// there is none.
func backend(p Provider, env cmds.Environment) (*Backend, error) {
	if b := p(); b != nil {
		return b, nil
	}
	if cctx, ok := env.(*oldcmds.Context); ok {
		if cfg, err := cctx.GetConfig(); err == nil && cfg.Plugins.Plugins[PluginName].Disabled {
			return nil, fmt.Errorf("threads is disabled in this node's config: set Plugins.Plugins.%s.Disabled to false and restart the daemon", PluginName)
		}
	}
	return nil, errors.New("threads runs inside the IPFS daemon, and no daemon is running for this repo: start it with 'ipfs daemon' and try again")
}

// threadArg returns the running backend and the thread named by the first
// argument.
func threadArg(p Provider, req *cmds.Request, env cmds.Environment) (*Backend, ipel.ThreadID, error) {
	b, err := backend(p, env)
	if err != nil {
		return nil, ipel.ThreadID{}, err
	}
	tid, err := parseThreadID(req.Arguments[0])
	if err != nil {
		return nil, ipel.ThreadID{}, err
	}
	return b, tid, nil
}

// threadIDEncoder prints a thread's ID alone on a line.
var threadIDEncoder = cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ThreadOutput) error {
	_, err := fmt.Fprintln(w, out.ID)
	return err
})

// parseThreadID parses a thread ID argument into a client error on failure.
func parseThreadID(s string) (ipel.ThreadID, error) {
	tid, err := ipel.ParseThreadID(s)
	if err != nil {
		return ipel.ThreadID{}, cmds.Errorf(cmds.ErrClient, "%s", err)
	}
	return tid, nil
}

// userError marks the errors that are the caller's to fix as client errors
// (HTTP 400 on the RPC API).
func userError(err error) error {
	for _, target := range []error{
		threads.ErrThreadNotFound, threads.ErrEventNotFound, threads.ErrLogNotFound,
		threads.ErrEmptyBody, threads.ErrBodyTooLarge, threads.ErrNotWriter, threads.ErrNoReadKey,
		threads.ErrNoSnapshot, threads.ErrBadRecipient, threads.ErrNoReadRole,
		views.ErrUnknownCollection, views.ErrDocNotFound, views.ErrBadDocument, views.ErrSchema,
		views.ErrBadQuery, views.ErrBadCollection, views.ErrBadField, views.ErrBadSchema,
		views.ErrNotAccessControlled, views.ErrForbidden, views.ErrNoCompaction, threads.ErrNeedEd25519,
	} {
		if errors.Is(err, target) {
			return cmds.Errorf(cmds.ErrClient, "%s", err)
		}
	}
	return err
}
