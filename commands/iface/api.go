// Package iface is the node's threads API as Go interfaces: threads, events,
// sharing (invites, joins, followers), the key/value and document views, the
// ACL and snapshots, with listen streams. It is to a threads node what
// Kubo's coreiface is to an IPFS node.
//
// Two implementations: commands/nodeapi runs in the daemon, over the engine
// (the `ipfs threads` commands are thin over it), and commands/client talks
// to a running daemon over its RPC API (/api/v0/threads/...). Both pass one
// conformance suite, commands/iface/tests. Options are functional options,
// from commands/iface/options.
//
// Errors: every error of the API can be tested with errors.Is for its kind
// (ErrNotFound, ErrBadInput, ErrNotAllowed) and for the engine's sentinel
// error it comes from (threads.ErrThreadNotFound, views.ErrSchema, ...), on
// both implementations; see errors.go for how they cross the RPC API.
package iface

import (
	"context"
	"encoding/json"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// API is a threads node.
type API interface {
	// Threads creates, lists, describes and removes threads.
	Threads() ThreadsAPI
	// Events appends, reads and listens to a thread's events.
	Events() EventsAPI
	// Sharing invites peers, joins threads and adds followers.
	Sharing() SharingAPI
	// KV is the key/value view of threads.
	KV() KVAPI
	// Docs is the document view of threads.
	Docs() DocsAPI
	// ACL shows and changes access-controlled threads' ACLs.
	ACL() ACLAPI
	// Snapshots shows and takes snapshots, and compacts logs.
	Snapshots() SnapshotsAPI

	// Services of the node that are not about one thread's data (webhooks:
	// the operator's push to HTTP receivers) join here, each as an accessor
	// returning its own interface.
}

// ThreadsAPI creates, lists, describes and removes threads.
type ThreadsAPI interface {
	// Create makes a thread with fresh keys and a log for this node, and
	// starts its views (options.Thread.Variant: raw by default).
	Create(ctx context.Context, opts ...options.ThreadCreateOption) (Thread, error)
	// List lists the threads this node holds, by ID.
	List(ctx context.Context) ([]ThreadSummary, error)
	// Info describes a thread, its logs and the equivocations seen.
	Info(ctx context.Context, tid ipel.ThreadID) (Thread, error)
	// Remove forgets a thread: keys, logs, views, index and pins. A crash
	// part way is completed when the node starts again.
	Remove(ctx context.Context, tid ipel.ThreadID) error
	// Stats is a quick look at a thread and the node's sync counters.
	Stats(ctx context.Context, tid ipel.ThreadID) (Stats, error)
	// RebuildViews drops a thread's views and recomputes them from its
	// logs.
	RebuildViews(ctx context.Context, tid ipel.ThreadID) error
}

// EventsAPI appends, reads and listens to a thread's events.
type EventsAPI interface {
	// Add appends body (non-empty, at most the node's MaxBodySize) as one
	// event to this node's log; the event is durable when Add returns.
	// options.Event.To seals it to one peer (a private event).
	Add(ctx context.Context, tid ipel.ThreadID, body io.Reader, opts ...options.EventAddOption) (EventRef, error)
	// Log lists events, verified and decrypted: each log in seq order,
	// logs merged by hybrid logical clock, then log ID.
	Log(ctx context.Context, tid ipel.ThreadID, opts ...options.LogOption) ([]Event, error)
	// Cat returns an event's body. It fails with ErrNotAllowed for a
	// private event this node cannot read.
	Cat(ctx context.Context, tid ipel.ThreadID, event cid.Cid) ([]byte, error)
	// Listen streams the events after options.Listen.Since (in each log),
	// then every event appended or received later. It fails at once for an
	// unknown thread or without the read key; the stream ends with an
	// error wrapping ErrNotFound when the thread is removed.
	Listen(ctx context.Context, tid ipel.ThreadID, opts ...options.ListenOption) (Stream[Event], error)
}

// SharingAPI invites peers, joins threads and adds followers.
type SharingAPI interface {
	// Invite makes an invite for a peer, sealed to its key, and delivers it
	// when the peer is reachable. options.Invite.Role: write by default;
	// in access-controlled threads the role is first granted in the ACL.
	Invite(ctx context.Context, tid ipel.ThreadID, to peer.ID, opts ...options.InviteOption) (Invite, error)
	// Invites lists the invites delivered to this node, not joined yet.
	Invites(ctx context.Context) ([]ReceivedInvite, error)
	// Join accepts an invite sealed to this node and starts the thread's
	// views; the history is pulled in the background.
	Join(ctx context.Context, invite string, opts ...options.JoinOption) (Thread, error)
	// AddFollower hands the peer at addr (ending in /p2p/<peer>) the follow
	// key and pushes the thread's events to it from then on.
	AddFollower(ctx context.Context, tid ipel.ThreadID, addr ma.Multiaddr) (Invite, error)
	// Addrs lists the thread's address book.
	Addrs(ctx context.Context, tid ipel.ThreadID) ([]AddrEntry, error)
}

// KVAPI is the key/value view of threads. Keys are go-datastore keys: "a/b"
// is "/a/b". Writes append an event and return once the view includes it.
type KVAPI interface {
	// Put sets a key and returns it as stored.
	Put(ctx context.Context, tid ipel.ThreadID, key string, value []byte) (string, error)
	// Get returns a key's value (ErrNotFound when it is not set).
	Get(ctx context.Context, tid ipel.ThreadID, key string) ([]byte, error)
	// Delete deletes a key (ErrNotFound when it is not set) and returns it
	// as stored.
	Delete(ctx context.Context, tid ipel.ThreadID, key string) (string, error)
	// List lists keys in order, with their values unless
	// options.KV.KeysOnly.
	List(ctx context.Context, tid ipel.ThreadID, opts ...options.KVListOption) ([]KVEntry, error)
}

// DocsAPI is the document view of threads: collections of JSON documents
// keyed by "_id". Writes append events and return once the view includes
// them.
type DocsAPI interface {
	// AddCollection declares a collection, or replaces its schema
	// (options.Collection.Schema).
	AddCollection(ctx context.Context, tid ipel.ThreadID, name string, opts ...options.CollectionOption) (Collection, error)
	// Collections lists the thread's collections.
	Collections(ctx context.Context, tid ipel.ThreadID) ([]Collection, error)
	// AddIndex indexes a collection on a field path ("address.city").
	AddIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error
	// DropIndex drops a collection's index on a field path.
	DropIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error
	// Put creates or replaces documents (JSON objects), in one event when
	// they fit, and returns their IDs; a document without "_id" gets one.
	Put(ctx context.Context, tid ipel.ThreadID, coll string, docs ...json.RawMessage) ([]string, error)
	// Get returns a document, as canonical JSON.
	Get(ctx context.Context, tid ipel.ThreadID, coll, id string) (json.RawMessage, error)
	// Delete deletes a document.
	Delete(ctx context.Context, tid ipel.ThreadID, coll, id string) error
	// Query returns the documents of a collection that match
	// options.Query.Filter, sorted and paged as the options say.
	Query(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.QueryOption) (QueryResult, error)
	// Listen streams the collection's changes after options.Changes.Since,
	// then each new one; numbered in the order this node applied them.
	Listen(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.ChangesOption) (Stream[DocChange], error)
}

// ACLAPI shows and changes the ACL of access-controlled threads; on a raw
// thread every method fails with ErrBadInput (views.ErrNotAccessControlled).
type ACLAPI interface {
	// Show returns the ACL as this node resolves it.
	Show(ctx context.Context, tid ipel.ThreadID) (ACL, error)
	// Grant gives a peer a role (options.Grant.Admin: also the admin
	// right). Admins only.
	Grant(ctx context.Context, tid ipel.ThreadID, who peer.ID, role Role, opts ...options.GrantOption) error
	// Revoke takes a peer's role and admin right (options.Revoke.AdminOnly:
	// only the admin right). Admins only.
	Revoke(ctx context.Context, tid ipel.ThreadID, who peer.ID, opts ...options.RevokeOption) error
	// SetDefault sets the role of peers the ACL does not name. Admins only.
	SetDefault(ctx context.Context, tid ipel.ThreadID, role Role) error
	// GrantDoc gives a peer a role on one document.
	GrantDoc(ctx context.Context, tid ipel.ThreadID, coll, id string, who peer.ID, role Role) error
	// DocRoles lists the peers with a role on one document.
	DocRoles(ctx context.Context, tid ipel.ThreadID, coll, id string) ([]ACLEntry, error)
}

// SnapshotsAPI shows and takes snapshots of a thread's views, and compacts
// its logs.
type SnapshotsAPI interface {
	// Latest describes the thread's latest snapshot (ErrNotFound: none).
	Latest(ctx context.Context, tid ipel.ThreadID) (Snapshot, error)
	// Create takes a snapshot now, at the events the views have applied.
	Create(ctx context.Context, tid ipel.ThreadID) (Snapshot, error)
	// Compact drops the events the latest snapshot covers (raw threads).
	Compact(ctx context.Context, tid ipel.ThreadID) ([]CompactedLog, error)
}
