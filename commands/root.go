package commands

import (
	"errors"
	"fmt"
	"io"

	cmds "github.com/ipfs/go-ipfs-cmds"
	oldcmds "github.com/ipfs/kubo/commands"
	"github.com/ipfs/kubo/repo/fsrepo"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// PluginName is the name of the plugin in Kubo's config
// (Plugins.Plugins.<name>).
const PluginName = "threads"

// Provider returns the running node's threads API or, when this process
// runs none, the reason why: ErrNoDaemon, ErrDisabled or ErrStopped. It
// must not open the repo.
type Provider func() (iface.API, error)

// Why a command finds no backend.
var (
	// ErrNoDaemon: the command runs in an ipfs process that is not the
	// daemon, i.e. the CLI found no daemon to send it to.
	ErrNoDaemon = errors.New("threads runs inside the IPFS daemon, and no daemon is running for this repo: start it with 'ipfs daemon' and try again")
	// ErrDisabled: the plugin is disabled in the node's config.
	ErrDisabled = fmt.Errorf("threads is disabled in this node's config: set Plugins.Plugins.%s.Disabled to false and restart the daemon", PluginName)
	// ErrStopped: the daemon has stopped the engine and is shutting down.
	ErrStopped = errors.New("threads has stopped: the daemon is shutting down")
)

// Root returns the `threads` command tree.
func Root(p Provider) *cmds.Command {
	root := &cmds.Command{
		Helptext: helpText("Encrypted, multi-writer event-sourced databases (Threads).", `
A thread is a database made of single-writer, signed, encrypted logs, one
per writer. Every event is sealed in three layers: the body under a fresh
content key, the header under the thread's read key, and the signed record
under the thread's follow key. Views (a key/value store, a document
database, the ACL of an access-controlled thread) are computed from the
events, the same way on every replica.

The threads commands run inside the daemon: start it with 'ipfs daemon'.
`, `
Every command prints text, or JSON with --enc=json, except 'cat', which
writes an event's body as it is (like 'ipfs cat'). Errors go to stderr,
with exit status 1.

A thread ID is a multibase string such as bafkzo5x... ('ipfs threads ls'
lists this node's threads); a log ID is a peer ID (12D3KooW...), one for
each writer; an event is named by its CID (bahqihqab...).

Example:

  $ T=$(ipfs threads create)
  $ echo hello | ipfs threads add $T
  bahqihqabciqnfuidnfss2vgoo5q5rij4z2fyb37tul5q5bk2apj556smkxa6ska 1
  $ ipfs threads log $T
  12D3KooWBHGv...  1  bahqihqab...6ska  2026-12-01T04:30:29.56Z  "hello\n"
`),
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
	root.Helptext.Subcommands = subcommandList(root.Subcommands, rootHelpGroups())
	layoutHelp(root, []string{PluginName})
	return root
}

// rootHelpGroups sorts the subcommands of `ipfs threads` by purpose for its
// help.
func rootHelpGroups() []helpGroup {
	return []helpGroup{
		{"THREADS", []string{"create", "ls", "info", "rm"}},
		{"EVENTS", []string{"add", "log", "cat", "listen"}},
		{"SHARING", []string{"invite", "invites", "join", "addrs", "follower"}},
		{"VIEWS", []string{"kv", "docs", "view"}},
		{"ACCESS CONTROL", []string{"acl"}},
		{"MAINTENANCE", []string{"stats", "snapshot", "compact"}},
	}
}

// backend returns the running node's API or an error that tells the user
// why there is none.
//
// Without one it must not open the repo (e.g. with the environment's
// GetConfig or GetNode, which build an offline node): run by the CLI with no
// daemon, that would take the repo lock, which a daemon starting at the same
// time needs, and run Kubo's repo checks, all to print an error.
func backend(p Provider, env cmds.Environment) (iface.API, error) {
	api, err := p()
	if api != nil {
		return api, nil
	}
	if err == nil {
		err = ErrNoDaemon
	}
	if errors.Is(err, ErrNoDaemon) {
		// No repo at all: say to make one, as Kubo's own commands do. Only
		// the config file's existence is checked, without any lock.
		if cctx, ok := env.(*oldcmds.Context); ok && !fsrepo.IsInitialized(cctx.ConfigRoot) {
			return nil, fsrepo.NoRepoError{Path: cctx.ConfigRoot}
		}
	}
	return nil, err
}

// threadArg returns the running node's API and the thread named by the
// first argument.
func threadArg(p Provider, req *cmds.Request, env cmds.Environment) (iface.API, ipel.ThreadID, error) {
	api, err := backend(p, env)
	if err != nil {
		return nil, ipel.ThreadID{}, err
	}
	tid, err := parseThreadID(req.Arguments[0])
	if err != nil {
		return nil, ipel.ThreadID{}, err
	}
	return api, tid, nil
}

// threadIDEncoder prints a thread's ID alone on a line.
var threadIDEncoder = cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ThreadOutput) error {
	_, err := fmt.Fprintln(w, out.ID)
	return err
})

// parseThreadID parses a thread ID argument into a client error, saying
// what a thread ID looks like, on failure.
func parseThreadID(s string) (ipel.ThreadID, error) {
	tid, err := ipel.ParseThreadID(s)
	if err != nil {
		return ipel.ThreadID{}, cmds.Errorf(cmds.ErrClient, "%s (want a thread ID such as bafkzo5x...; 'ipfs threads ls' lists yours)", err)
	}
	return tid, nil
}

// peerArg parses a peer ID argument (what names the option or argument in
// the error) into a client error, saying what a peer ID looks like, on
// failure.
func peerArg(what, s string) (peer.ID, error) {
	id, err := peer.Decode(s)
	if err != nil {
		return "", cmds.Errorf(cmds.ErrClient, "invalid %s %q (want a peer ID such as 12D3KooW...; 'ipfs id' prints this node's)", what, clipArg(s))
	}
	return id, nil
}

// clipArg shortens what a user typed for quoting in an error.
func clipArg(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// userError makes the API's errors that are the caller's to fix (those of
// a kind: not found, bad input, not allowed) client errors: HTTP 400 on the
// RPC API, with the error's message.
func userError(err error) error {
	if iface.Kind(err) != nil {
		return cmds.Errorf(cmds.ErrClient, "%s", err)
	}
	return err
}
