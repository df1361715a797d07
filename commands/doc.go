// Package commands is the `ipfs threads` command tree, served by Kubo on the
// CLI and as /api/v0/threads/... on the RPC API, with text and JSON output.
//
// The commands run inside the daemon; they reach the engine through a
// Provider that the plugin supplies. Without a running daemon (or with the
// plugin disabled) every command fails with a message that says what to do.
package commands
