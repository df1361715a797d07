package views

import (
	"fmt"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Access control for threads of the access-controlled variant (paper
// §3.2.2, §3.4.2). The ACL is itself a view, folded from ACL operations in
// the thread's events. In such a thread a log's ID is its writer's peer ID,
// so the ACL speaks of peers and every event names the peer that signed it.
//
// Roles are ordered: none < follow < read < write < delete. Beside roles,
// the ACL has its own ACL: admins may change it. The creator, bound to the
// thread ID (ipel.NewACLThreadID), starts as admin with the delete role;
// everyone else starts with the default role, none unless changed.
//
// A role change for a peer carries From, the first seq of the peer's log it
// applies to: the head of that log as the author saw it, plus one. A peer's
// event at seq s is judged by the change for it, among those with From <= s,
// that comes last in version order (hybrid clock, log, seq, index). Clocks
// are the writers' word, but seqs are not: a revoked writer cannot backdate
// its way past its revocation, because every later event of its log has a
// higher seq.

// Role is what a peer may do in an access-controlled thread.
type Role uint8

// Roles, each including the ones before it.
const (
	RoleNone   Role = 0 // no access
	RoleFollow Role = 1 // replicate and serve, read nothing
	RoleRead   Role = 2 // read
	RoleWrite  Role = 3 // write (puts)
	RoleDelete Role = 4 // write and delete
)

var roleNames = []string{"none", "follow", "read", "write", "delete"}

// String names the role as the CLI spells it.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "none", "no-access":
		return RoleNone, nil
	}
	for i, n := range roleNames {
		if strings.EqualFold(s, n) {
			return Role(i), nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want none, follow, read, write or delete)", s)
}

// ACLOpKind says what an ACLOp changes.
type ACLOpKind uint8

// ACL operations.
const (
	ACLSetRole    ACLOpKind = 1 // a peer's thread-level role
	ACLSetDefault ACLOpKind = 2 // the role of peers with none of their own
	ACLSetAdmin   ACLOpKind = 3 // whether a peer may change the ACL
	ACLSetDocRole ACLOpKind = 4 // a peer's role on one document
	ACLRotate     ACLOpKind = 5 // a new read key, sealed to each reader
)

// ACLOp is one change of the ACL.
type ACLOp struct {
	Kind  ACLOpKind `cbor:"t"`
	Peer  string    `cbor:"p,omitempty"`
	Role  Role      `cbor:"r,omitempty"`
	Admin bool      `cbor:"a,omitempty"`
	// From is the first seq of the peer's log the change applies to.
	From uint64 `cbor:"f,omitempty"`
	// Coll and ID name the document of a document-level role.
	Coll string `cbor:"c,omitempty"`
	ID   string `cbor:"i,omitempty"`
	// Epoch and Keys carry a rotated read key: its number, and the key
	// sealed to each remaining reader's public key, by peer ID.
	Epoch uint64            `cbor:"e,omitempty"`
	Keys  map[string][]byte `cbor:"k,omitempty"`
}

// aclRecord is an ACL operation with the event that carried it.
type aclRecord struct {
	Op      ACLOp   `cbor:"o"`
	Author  string  `cbor:"a"` // the peer (log) that wrote it
	Seq     uint64  `cbor:"s"`
	Version Version `cbor:"w"`
}

// roleChange is one valid change of a peer's role (or admin right).
type roleChange struct {
	from    uint64
	role    Role
	admin   bool
	version Version
}

// ACL is a resolved access-control list.
type ACL struct {
	creator  string
	dflt     Role
	dfltVer  *Version
	roles    map[string][]roleChange // by peer, in version order
	admins   map[string][]roleChange
	docRoles map[docRoleID][]roleChange
	// Rotations are the valid read-key rotations, in version order.
	Rotations []ACLOp
	// Rejected counts ACL operations that were not valid.
	Rejected int
}

// docRoleID names a peer's role on one document. Its fields stay apart: no
// document ID or peer can pass for another, whatever bytes it holds.
type docRoleID struct{ coll, id, peer string }

// latest returns the last change (in version order) with from <= seq.
func latest(changes []roleChange, seq uint64) (roleChange, bool) {
	for i := len(changes) - 1; i >= 0; i-- {
		if changes[i].from <= seq {
			return changes[i], true
		}
	}
	return roleChange{}, false
}

// Role is the thread-level role of a peer's event at seq.
func (a *ACL) Role(peer string, seq uint64) Role {
	if c, ok := latest(a.roles[peer], seq); ok {
		return c.role
	}
	if peer == a.creator {
		return RoleDelete
	}
	return a.dflt
}

// Admin reports whether a peer's event at seq may change the ACL.
func (a *ACL) Admin(peer string, seq uint64) bool {
	if c, ok := latest(a.admins[peer], seq); ok {
		return c.admin
	}
	return peer == a.creator
}

// DocRole is a peer's role on one document at seq: the document-level role
// when one was set for the peer, otherwise the thread-level role.
func (a *ACL) DocRole(coll, id, peer string, seq uint64) Role {
	if c, ok := latest(a.docRoles[docRoleID{coll, id, peer}], seq); ok {
		return c.role
	}
	return a.Role(peer, seq)
}

// Default is the role of peers without one of their own.
func (a *ACL) Default() Role { return a.dflt }

// Entry is a peer's current standing, as `acl show` lists it.
type Entry struct {
	Peer  string
	Role  Role
	Admin bool
}

// Entries lists every peer the ACL names (and the creator), with the role
// and admin right its next event would get.
func (a *ACL) Entries() []Entry {
	peers := map[string]bool{a.creator: true}
	for p := range a.roles {
		peers[p] = true
	}
	for p := range a.admins {
		peers[p] = true
	}
	out := make([]Entry, 0, len(peers))
	for _, p := range sortedKeys(peers) {
		if p == "" {
			continue
		}
		const next = ^uint64(0)
		out = append(out, Entry{Peer: p, Role: a.Role(p, next), Admin: a.Admin(p, next)})
	}
	return out
}

// validPeer says whether s is a peer ID in its canonical spelling, so that
// one peer has one name in the ACL.
func validPeer(s string) bool {
	id, err := peer.Decode(s)
	return err == nil && id.String() == s
}

// valid says whether an ACL operation may be applied under acl.
func (a *ACL) valid(r *aclRecord) bool {
	switch r.Op.Kind {
	case ACLSetRole, ACLSetAdmin, ACLSetDefault, ACLRotate:
		if r.Op.Kind != ACLSetDefault && r.Op.Kind != ACLRotate && !validPeer(r.Op.Peer) {
			return false
		}
		if r.Op.Role > RoleDelete {
			return false
		}
		return a.Admin(r.Author, r.Seq)
	case ACLSetDocRole:
		if !validPeer(r.Op.Peer) || validCollection(r.Op.Coll) != nil || r.Op.ID == "" || r.Op.Role > RoleDelete {
			return false
		}
		// The ACL's admins, or whoever may delete the document.
		return a.Admin(r.Author, r.Seq) || a.DocRole(r.Op.Coll, r.Op.ID, r.Author, r.Seq) >= RoleDelete
	}
	return false
}

func (a *ACL) apply(r *aclRecord) {
	c := roleChange{from: r.Op.From, role: r.Op.Role, admin: r.Op.Admin, version: r.Version}
	switch r.Op.Kind {
	case ACLSetRole:
		a.roles[r.Op.Peer] = append(a.roles[r.Op.Peer], c)
	case ACLSetAdmin:
		a.admins[r.Op.Peer] = append(a.admins[r.Op.Peer], c)
	case ACLSetDocRole:
		k := docRoleID{r.Op.Coll, r.Op.ID, r.Op.Peer}
		a.docRoles[k] = append(a.docRoles[k], c)
	case ACLSetDefault:
		a.dflt, a.dfltVer = r.Op.Role, &r.Version
	case ACLRotate:
		a.Rotations = append(a.Rotations, r.Op)
	}
}

// fold applies the records in version order, skipping the excluded ones and
// those their author may not make at that point.
func fold(creator string, recs []*aclRecord, excluded map[int]bool) (*ACL, []bool) {
	a := &ACL{creator: creator, roles: map[string][]roleChange{}, admins: map[string][]roleChange{}, docRoles: map[docRoleID][]roleChange{}}
	ok := make([]bool, len(recs))
	for i, r := range recs {
		if excluded[i] || !a.valid(r) {
			a.Rejected++
			continue
		}
		ok[i] = true
		a.apply(r)
	}
	return a, ok
}

// ResolveACL computes the ACL from every ACL operation of a thread, in any
// order, with duplicates: a pure function of the set. Operations are folded
// in version order; an operation whose author turns out to have lost the
// right to make it (by a change, later in version order, that applies from
// a seq at or below the operation's) is excluded for good and the fold runs
// again, until nothing more is excluded; so a writer's clock cannot put its
// operations before its revocation.
func ResolveACL(creator string, records []aclRecord) *ACL {
	recs := dedupe(records)
	excluded := map[int]bool{}
	var acl *ACL
	for range len(recs) + 1 {
		var ok []bool
		acl, ok = fold(creator, recs, excluded)
		grew := false
		for i, r := range recs {
			if ok[i] && !acl.validAfterAll(r) {
				excluded[i], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	return acl
}

// validAfterAll re-checks an applied operation against the final ACL: its
// author must still hold the right at its seq.
func (a *ACL) validAfterAll(r *aclRecord) bool {
	if r.Op.Kind == ACLSetDocRole {
		return a.Admin(r.Author, r.Seq) || a.DocRole(r.Op.Coll, r.Op.ID, r.Author, r.Seq) >= RoleDelete
	}
	return a.Admin(r.Author, r.Seq)
}

// dedupe sorts records by version and drops duplicates (the same event
// applied twice).
func dedupe(records []aclRecord) []*aclRecord {
	recs := make([]*aclRecord, 0, len(records))
	for i := range records {
		recs = append(recs, &records[i])
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Version.Compare(recs[j].Version) < 0 })
	out := recs[:0]
	for i, r := range recs {
		if i > 0 && r.Version.Compare(recs[i-1].Version) == 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}
