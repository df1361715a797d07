package iface

import (
	"encoding/json"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

// Role is what a peer may do in an access-controlled thread: RoleNone,
// RoleFollow, RoleRead, RoleWrite or RoleDelete, each including the ones
// before it (views.ParseRole reads a role's name).
type Role = views.Role

// Roles.
const (
	RoleNone   = views.RoleNone
	RoleFollow = views.RoleFollow
	RoleRead   = views.RoleRead
	RoleWrite  = views.RoleWrite
	RoleDelete = views.RoleDelete
)

// Thread describes a thread as this node holds it.
type Thread struct {
	ID      ipel.ThreadID
	Variant ipel.Variant
	Created time.Time
	// Creator is an access-controlled thread's creator, its first admin.
	Creator peer.ID
	// Keys says which of the thread's keys this node holds.
	Keys Keys
	Logs []Log
	// Equivocations lists the conflicting events seen and rejected (Info
	// only).
	Equivocations []Equivocation
}

// Keys says which of a thread's keys this node holds (never the keys).
type Keys struct {
	Follow bool
	Read   bool
	// Log is the log this node writes; empty if none.
	Log ipel.LogID
	// ReadKeys counts the read keys held: one, and one per rotation this
	// node took part in.
	ReadKeys int
}

// Log describes a log of a thread.
type Log struct {
	ID   ipel.LogID
	Head cid.Cid // cid.Undef for an empty log
	Seq  uint64
	Own  bool
	// Addrs are where this node serves its own log (/p2p/<peer>/ipel/<log>).
	Addrs []ma.Multiaddr
	// Base is the last compacted seq (0: none); the log holds Base+1..Seq.
	Base            uint64
	CompactedEvents uint64
	CompactedBytes  uint64
	// CatchUp, when set, says that the log cannot catch up.
	CatchUp *CatchUp
}

// CatchUp says that a log cannot catch up: this node holds it up to Have,
// and the peers that serve it compacted the events after that.
type CatchUp struct {
	Have  uint64
	Peers []CompactedPeer
	Since time.Time
	// Error says what happened and how to proceed.
	Error string
}

// CompactedPeer is a peer that compacted a log up to Base.
type CompactedPeer struct {
	Peer peer.ID
	Base uint64
}

// Equivocation names a rejected conflicting event.
type Equivocation struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid
}

// ThreadSummary is a thread in a list.
type ThreadSummary struct {
	ID      ipel.ThreadID
	Variant ipel.Variant
	Logs    int
	Events  uint64
}

// Stats is a quick look at a thread and the node's sync counters.
type Stats struct {
	Thread        ipel.ThreadID
	Logs          int
	Events        uint64
	Equivocations int
	Peers         int
	// Lag is how many events a peer held that this node lacked, at the
	// last sync.
	Lag uint64
	// BlockedLogs counts the logs that cannot catch up.
	BlockedLogs int
	Received    uint64
	Pushed      uint64
	Pulled      uint64
	Rejected    map[string]uint64
	// ViewsSkipped counts what the thread's views skipped, by reason; nil
	// without the read key.
	ViewsSkipped map[string]uint64
}

// EventRef names an appended event.
type EventRef struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid
}

// Event is an event as a reader sees it.
type Event struct {
	Log  ipel.LogID
	Seq  uint64
	Cid  cid.Cid
	Time time.Time
	// Body is nil for a private event this node cannot read.
	Body []byte
	// To is a private event's recipient; empty for an ordinary event.
	To peer.ID
	// Private: sealed to another peer; NotAuthentic: sealed to this node
	// for another event (its writer copied it). Body is nil for both.
	Private      bool
	NotAuthentic bool
}

// Invite is an invite made by this node.
type Invite struct {
	// Invite is the sealed invite, to pass on out of band.
	Invite string
	Thread ipel.ThreadID
	Peer   peer.ID
	Role   codec.Role
	// Delivered says whether the peer's node received it.
	Delivered bool
}

// ReceivedInvite is an invite delivered to this node.
type ReceivedInvite struct {
	Invite   string
	Thread   ipel.ThreadID
	Role     codec.Role
	From     peer.ID
	Received time.Time
}

// AddrEntry says that a peer serves a log, at addresses, until a time.
type AddrEntry struct {
	Log     ipel.LogID
	Peer    peer.ID
	Addrs   []ma.Multiaddr
	Expires time.Time
}

// KVEntry is a key and its value (nil when listed with KeysOnly).
type KVEntry struct {
	Key   string
	Value []byte
}

// Collection describes a declared collection.
type Collection struct {
	Name string
	// Schema is the collection's JSON Schema; nil for none.
	Schema json.RawMessage
	// Indexes are the indexed field paths.
	Indexes []string
}

// QueryResult is what a query found, and how.
type QueryResult struct {
	Docs []json.RawMessage
	// Plan says how the documents were found: "full scan" or the index.
	Plan string
}

// DocChange is one change of a document.
type DocChange struct {
	// Seq numbers the thread's changes in the order this node applied them.
	Seq        uint64
	Type       views.ChangeType
	Collection string
	ID         string
	// Doc is the document after a create or update; nil for a delete.
	Doc json.RawMessage
	// Event is the event that made the change.
	Event cid.Cid
}

// ACL is an access-controlled thread's ACL as this node resolves it.
// Peers are strings: they come from members' events as they wrote them.
type ACL struct {
	Thread  ipel.ThreadID
	Creator string
	Default Role
	Peers   []ACLEntry
	// Rotations is how many times the read key was rotated.
	Rotations int
	// ReadKeys is how many read keys this node holds.
	ReadKeys int
	// Ignored counts ACL changes that were not allowed.
	Ignored int
	// RefusedKeys counts rotated read keys sealed to this node that it did
	// not take up.
	RefusedKeys int
}

// ACLEntry is a peer's standing: its role, and whether it is an admin.
type ACLEntry struct {
	Peer  string
	Role  Role
	Admin bool
}

// Snapshot describes a thread's snapshot.
type Snapshot struct {
	Root cid.Cid
	// Maker is the peer that made and signed it; empty when unsigned.
	Maker  peer.ID
	Cursor []SnapshotCursor
	// Events is the number of events covered, Entries of view entries,
	// Size the bytes of its blocks.
	Events  uint64
	Entries uint64
	Size    uint64
	Pages   int
	Created time.Time
}

// SnapshotCursor is where a snapshot stands in one log.
type SnapshotCursor struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid
}

// CompactedLog is one log's part of a compaction.
type CompactedLog struct {
	Log    ipel.LogID
	Base   uint64
	Events uint64
	Bytes  uint64
}
