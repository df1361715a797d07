// Package threads is the Threads engine: the key book, single-writer logs
// and their heads, append with group commit, verified reads, lossless change
// streams, and ingestion of events from elsewhere with equivocation
// detection.
//
// It works on small interfaces (a datastore, a blockstore, a pinner, a GC
// locker, a clock) so that it runs the same inside a Kubo daemon and in tests
// with in-memory stores.
//
// Datastore layout, under the namespace it is given:
//
//	/m/<thread>                  thread record: variant, keys held
//	/lg/<thread>/<log>           log record: identity, head, its clock, seq, pinned head
//	/ev/<thread>/<log>/<seq>     CID of the event at seq (seq as 16 hex digits)
//	/eq/<thread>/<log>/<seq>/<cid>  equivocation evidence: the conflicting signed
//	                             node (or its digest), at most 4 per log (earlier
//	                             versions kept the conflicting block)
//	/sn/<thread>                 the latest snapshot: root, cursor, maker
//	/inv/<thread>/<peer>         an invite delivered by peer, until joined
//	/af/<thread>/<peer>          the thread was followed on peer's invite (AcceptFollowInvites)
//	/jn/<n>/<cid>                a block's copy, until the blockstore's is synced (block journal)
//
// Every append writes its blocks first, then the index entries and the new
// head in one synced datastore batch, so a crash or a power loss leaves the
// old state or the new one, and a head never points at a missing block.
// When the blockstore does not sync its writes (Deps.SyncBlocks is set,
// see FlatfsSync), the batch also holds copies of the blocks, dropped once
// a background checkpoint has synced the blockstore's, and put back at the
// next start after a crash.
//
// With a libp2p host, the engine speaks the sync protocol (ProtocolID): one
// request and one answer per stream, each a frame whose small header (type,
// thread, proof, body size) is checked before its body is read, within
// limits per message type and a memory share per peer reserved in the
// libp2p resource manager. What peers can make a node hold (frames,
// held-back events, logs learnt from announces, invites, automatic
// follows) is bounded; the README lists the bounds.
package threads
