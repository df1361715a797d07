// Package commands is the `ipfs threads` command tree, served by Kubo on the
// CLI and as /api/v0/threads/... on the RPC API, with text and JSON output.
//
// The commands run inside the daemon and are thin over the node's threads
// API (commands/iface, in process: commands/nodeapi), which a Provider that
// the plugin supplies returns: each parses its arguments, calls the API, and
// emits the result. Without a running daemon (or with the plugin disabled)
// every command fails with a message that says what to do. The API's errors
// of a kind (not found, bad input, not allowed) are client errors: HTTP 400
// on the RPC API, as before; commands/client reads them back.
//
// Every command emits a typed value: its JSON form is the --enc=json output,
// and a text encoder prints it as lines that end with a newline; only `cat`
// (an event's body) and `kv get` in text (a value) write data as it is. Each
// command's help says what it prints, how it fails, and shows it run, in
// lines of at most 80 columns; help.go lays out the parts of the help that
// the CLI generates (subcommand lists, long usage lines) to fit them.
package commands
