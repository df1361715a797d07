// Package views turns a thread's events into materialized views: pure
// reducers fold events into state kept in a datastore namespace, together
// with a cursor per log, in one batch, so a crash never leaves state and
// cursor apart. Views are disposable: they can be dropped and rebuilt from
// the logs with the same result.
//
// Concurrent writes from different logs resolve the same way on every
// replica: the later by hybrid logical clock wins, then the greater log ID,
// then the later operation within the event. Replicas that saw the same
// events, in any order, hold byte-identical views.
//
// In an access-controlled thread, every operation is judged by the role
// its writer held at that point of its log (rights.go: one table for the
// replicas and for a node's checks of its own writes); see acl.go.
//
// Datastore layout, under the namespace it is given:
//
//	/<thread>/cursor/<log>            last seq of the log applied (8 bytes, big endian)
//	/<thread>/kv/<key>                key/value entry (value or tombstone, and its version)
//	/<thread>/docs/...                documents view (docs.go)
//	/<thread>/acl/<version>           an ACL operation that may count (access-controlled threads)
//	/<thread>/acldocroles/<peer>      document-role changes kept of a non-admin (8 bytes)
//	/<thread>/skipped/<reason>        events or operations skipped, by reason (8 bytes)
//	/<thread>/replay                  a replay is due
//	/feed/<thread>/...                change feed (docfeed.go), local to the node
//	/layout/<thread>                  version of the views (layout.go)
//
// Everything under /<thread>/ but the cursors and the replay mark is a
// function of the events applied, the same on every replica.
package views
