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
// What one event may make a replica do is bounded by counts and sizes that
// every replica applies alike (budget.go, schemacost.go): what is over a
// bound is skipped everywhere, its cursor moves, and each node counts it
// (Manager.Stats). Work in proportion to the state an event meets is done
// once per batch (re-checks, recheck.go) or in proportion to what changed
// (re-judging after an ACL or schema change, rejudge.go).
//
// Datastore layout, under the namespace it is given:
//
//	/<thread>/cursor/<log>            last seq of the log applied (8 bytes, big endian)
//	/<thread>/kv/<key>                key/value entry (value or tombstone, and its version)
//	/<thread>/docs/...                documents, collections and indexes (docs.go)
//	/<thread>/acl/<version>           an ACL operation that may count (access-controlled threads)
//	/<thread>/acldocroles/<peer>      document-role changes kept of a non-admin (8 bytes)
//	/<thread>/replay                  re-judging after a batch is under way (rejudge.go)
//	/<thread>/local/skipped           this node's counts of what the views skipped, by reason
//	/<thread>/local/recheck/<coll>    a collection to re-check (recheck.go)
//	/feed/<thread>/...                change feed (docfeed.go), local to the node
//	/layout/<thread>                  version of the views (layout.go)
//
// Everything under /<thread>/ but the cursors, the replay mark and the
// node-local data (/<thread>/local/, which snapshots leave out) is a
// function of the events applied, the same on every replica.
package views
