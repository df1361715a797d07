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
// What one event may make a replica do is bounded by counts and sizes that
// every replica applies alike (budget.go, schemacost.go): what is over a
// bound is skipped everywhere, its cursor moves, and each node counts it
// (Manager.Stats). Work in proportion to the state an event meets is done
// once per batch (re-checks, recheck.go) or in proportion to what changed
// (re-judging after an ACL change, rejudge.go).
//
// Datastore layout, under the namespace it is given:
//
//	/<thread>/cursor/<log>   last seq of the log applied (8 bytes, big endian)
//	/<thread>/kv/<key>       key/value entry (value or tombstone, and its version)
//	/<thread>/docs/...       documents, collections and indexes (see docs.go)
//	/<thread>/acl/...        the ACL's operations (see aclview.go)
//	/<thread>/local/...      node-local data, left out of snapshots: skip
//	                         counts and re-check marks
//	/feed/<thread>/...       the change feed (see docfeed.go)
package views
