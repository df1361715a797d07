package commands

import (
	"fmt"
	"io"

	ds "github.com/ipfs/go-datastore"
	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface/options"
)

func kvCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "A key/value database on a thread.",
			ShortDescription: `
Keys are go-datastore keys ('a/b' is '/a/b'). A put or delete appends an
event to this node's log (a delete is a tombstone) and returns once it is
durable and the view includes it. Reads come from the view, which every
replica computes the same way: of concurrent writes to a key, the one with
the later hybrid logical clock wins, then the greater log ID. In JSON,
values are base64.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"put": kvPutCmd(p),
			"get": kvGetCmd(p),
			"del": kvDelCmd(p),
			"ls":  kvLsCmd(p),
		},
	}
}

// KVEntry is a key and its value; in JSON the value is base64.
type KVEntry struct {
	Key   string
	Value []byte `json:",omitempty"`
}

// KVValue is a key and its value as `kv get` prints it: in text the value
// alone, as it was put; in JSON both, the value base64 (empty: "").
type KVValue struct {
	Key   string
	Value []byte
}

func kvPutCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Set a key.", `
Sets a key to a value: the argument or, when it is omitted, the first line
of stdin (without its newline). Appends an event, and returns once it is
durable and the view includes it.
`, `
Prints the key as stored ('a/b' is '/a/b'); --enc=json prints {"Key"}.

Fails when the thread ID is malformed, the thread is unknown, the key is
empty, or this node cannot write to the thread (it has no log, or its role
in an access-controlled thread does not allow it).

Example:

  $ ipfs threads kv put $T color blue
  /color
  $ echo large | ipfs threads kv put $T size
  /size
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("key", true, false, "Key."),
			cmds.StringArg("value", true, false, "Value (stdin when omitted).").EnableStdin(),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			key, err := api.KV().Put(req.Context, tid, req.Arguments[1], []byte(req.Arguments[2]))
			if err != nil {
				return userError(err)
			}
			return res.Emit(&KVEntry{Key: key})
		},
		Type: KVEntry{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *KVEntry) error {
				_, err := fmt.Fprintln(w, printable([]byte(out.Key)))
				return err
			}),
		},
	}
}

func kvGetCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Write a key's value to stdout.", `
Writes the value of a key, as it was put, with no newline added (like
'ipfs threads cat').
`, `
--enc=json prints {"Key", "Value"}, the value in base64 ("" when empty).

Fails when the thread ID is malformed, the thread is unknown, or the key
is not set.

Example:

  $ ipfs threads kv get $T color
  blue
  $ ipfs threads kv get $T color --enc=json
  {"Key":"/color","Value":"Ymx1ZQ=="}
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("key", true, false, "Key."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			v, err := api.KV().Get(req.Context, tid, req.Arguments[1])
			if err != nil {
				return userError(err)
			}
			if v == nil {
				v = []byte{} // "Value": "", not null
			}
			return res.Emit(&KVValue{Key: ds.NewKey(req.Arguments[1]).String(), Value: v})
		},
		Type: KVValue{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *KVValue) error {
				_, err := w.Write(out.Value)
				return err
			}),
		},
	}
}

func kvDelCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Delete a key.", `
Deletes a key: appends a tombstone event.
`, `
Prints "deleted <key>"; --enc=json prints {"Key"}.

Fails when the thread ID is malformed, the thread is unknown, the key is
not set, or this node cannot write to the thread.

Example:

  $ ipfs threads kv del $T color
  deleted /color
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("key", true, false, "Key."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			key, err := api.KV().Delete(req.Context, tid, req.Arguments[1])
			if err != nil {
				return userError(err)
			}
			return res.Emit(&KVEntry{Key: key})
		},
		Type: KVEntry{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *KVEntry) error {
				_, err := fmt.Fprintf(w, "deleted %s\n", printable([]byte(out.Key)))
				return err
			}),
		},
	}
}

func kvLsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("List keys and values.", `
Lists keys in order, with their values. --prefix keeps the keys under a
prefix ('/a' matches '/a/b', not '/ab'); -k lists the keys alone.
`, `
Text output is one line a key: the key, a tab, and the value (Go-quoted
when it is not printable text on one line); with -k the key alone.
--enc=json prints one object a key, {"Key", "Value"}, the value in base64
(left out with -k, or when empty).

Fails when the thread ID is malformed or the thread unknown.

Example:

  $ ipfs threads kv ls $T --prefix /a
  /a/b    1
  /a/c    "two\nlines"
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Options: []cmds.Option{
			cmds.StringOption("prefix", "Only keys under this prefix."),
			cmds.BoolOption("keys", "k", "Keys only."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			prefix, _ := req.Options["prefix"].(string)
			keysOnly, _ := req.Options["keys"].(bool)
			entries, err := api.KV().List(req.Context, tid, options.KV.Prefix(prefix), options.KV.KeysOnly(keysOnly))
			if err != nil {
				return userError(err)
			}
			for _, e := range entries {
				if err := res.Emit(&KVEntry{Key: e.Key, Value: e.Value}); err != nil {
					return err
				}
			}
			return nil
		},
		Type: KVEntry{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *KVEntry) error {
				if keys, _ := req.Options["keys"].(bool); keys {
					_, err := fmt.Fprintln(w, printable([]byte(out.Key)))
					return err
				}
				_, err := fmt.Fprintf(w, "%s\t%s\n", printable([]byte(out.Key)), printable(out.Value))
				return err
			}),
		},
	}
}

// RebuildOutput confirms a rebuild.
type RebuildOutput struct {
	Rebuilt string
}

func viewCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "Manage a thread's materialized views.",
			ShortDescription: `
A thread's views (the key/value store, the documents, the ACL) are computed
from its events on every replica; they can be dropped and computed again.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"rebuild": {
				Helptext: helpText("Drop a thread's views and recompute them from its logs.", `
Views are disposable: this drops them and replays every event of every log
(from the latest snapshot when the logs are compacted); the result is the
same as before.
`, `
Prints "rebuilt the views of <thread>"; --enc=json prints {"Rebuilt":
<thread>}. Fails when the thread ID is malformed or the thread unknown, or
when a rebuild of the thread is already running.

Example:

  $ ipfs threads view rebuild $T
  rebuilt the views of bafkzo5xxg5bvue25wjmu3wdstvqzv6t5n3zs6szgnab3omz...
`),
				Arguments: []cmds.Argument{
					cmds.StringArg("thread", true, false, "Thread ID."),
				},
				Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
					api, tid, err := threadArg(p, req, env)
					if err != nil {
						return err
					}
					if err := api.Threads().RebuildViews(req.Context, tid); err != nil {
						return userError(err)
					}
					return res.Emit(&RebuildOutput{Rebuilt: tid.String()})
				},
				Type: RebuildOutput{},
				Encoders: cmds.EncoderMap{
					cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *RebuildOutput) error {
						_, err := fmt.Fprintf(w, "rebuilt the views of %s\n", out.Rebuilt)
						return err
					}),
				},
			},
		},
	}
}
