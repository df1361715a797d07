// Package ipel holds the identifiers and addresses of Threads: thread IDs,
// log IDs, and the /ipel multiaddr protocol that names a log reachable at a
// peer (/ip4/.../tcp/.../p2p/<peer>/ipel/<log>).
//
// Importing this package registers the /ipel protocol with go-multiaddr, the
// way every multiaddr protocol package does: the protocol table is
// go-multiaddr's own process-wide registry.
package ipel
