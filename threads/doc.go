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
//
// Every append writes its blocks first, then the index entries and the new
// head in one datastore batch, so a crash leaves the old state or the new
// one, and a head never points at a missing block.
package threads
