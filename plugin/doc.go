// Package plugin is the Kubo plugin: it registers the event codec with
// Kubo's IPLD registry, adds `ipfs threads` to the CLI and RPC command trees
// (and to the command list of `ipfs --help`), and runs the Threads engine
// inside the daemon on the node's blockstore, pinner, repo datastore and
// libp2p host, with its views and the API the commands work on
// (commands/nodeapi). It tells the engine how to make blocks durable for
// the repo's datastore layout (see blockSync).
//
// Kubo loads plugins through package-level lists, so this package holds the
// only process-wide state of the project: the plugin instances.
package plugin
