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
// Datastore layout, under the namespace it is given:
//
//	/<thread>/cursor/<log>   last seq of the log applied (8 bytes, big endian)
//	/<thread>/kv/<key>       key/value entry (value or tombstone, and its version)
package views
