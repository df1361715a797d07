package views

import (
	"crypto/sha256"
	"fmt"
	"maps"
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
// thread ID (ipel.NewACLThreadID), is an admin with the delete role for
// good: no operation changes its role or its admin right, so no admin can
// depose it, and it can always undo what another admin did (revoking that
// admin from its first event drops all its ACL operations). Everyone else
// starts with the default role, none unless changed.
//
// A role change for a peer carries From, the first seq of the peer's log it
// applies to: the head of that log as the author saw it, plus one. A peer's
// event at seq s is judged by the change for it, among those with From <= s,
// that comes last in version order (hybrid clock, log, seq, index). Clocks
// are the writers' word, but seqs are not: a revoked writer cannot backdate
// its way past its revocation, because every later event of its log has a
// higher seq.
//
// A role on one document is set by an admin, or by a peer with the delete
// role on the document; the latter only lowers: its change never takes a
// peer above what admins grant it (the thread-level role, or an admin's
// role on the document), and never touches admins or the creator.

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
	// Commit is a rotation's commitment to its key (KeyCommitment): every
	// member checks the key it opens against it, so an admin cannot seal
	// different keys to different members.
	Commit []byte `cbor:"h,omitempty"`
}

// KeyCommitment is what a rotation commits to its read key with: a hash of
// the key under a label of its own.
func KeyCommitment(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte("kubo-threads read key commitment\x00"))
	h.Write(key)
	return h.Sum(nil)
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
	byAdmin bool // document roles: set by an admin (otherwise it only lowers)
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

	// What it was resolved from: the operations in version order, whether
	// each was applied and, if so, whether its author was an admin then;
	// the operations excluded for good (ResolveACL); their authors.
	recs      []*aclRecord
	ok, admin []bool
	excluded  map[int]bool
	authors   map[string]bool
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
	if peer == a.creator {
		return RoleDelete
	}
	if c, ok := latest(a.roles[peer], seq); ok {
		return c.role
	}
	return a.dflt
}

// Admin reports whether a peer's event at seq may change the ACL.
func (a *ACL) Admin(peer string, seq uint64) bool {
	if peer == a.creator {
		return true
	}
	c, ok := latest(a.admins[peer], seq)
	return ok && c.admin
}

// DocRole is a peer's role on one document at seq: the last document-level
// change for the peer that applies at seq, otherwise the thread-level role.
// A change made by a non-admin only lowers: it gives at most what the peer
// holds without it, and none applies to admins or the creator.
func (a *ACL) DocRole(coll, id, peer string, seq uint64) Role {
	changes := a.docRoles[docRoleID{coll, id, peer}]
	shielded := peer == a.creator || a.Admin(peer, seq)
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		switch {
		case c.from > seq:
		case c.byAdmin:
			return c.role
		case !shielded:
			return min(c.role, a.grantedDocRole(changes[:i], peer, seq))
		}
	}
	return a.Role(peer, seq)
}

// grantedDocRole is what admins grant a peer on a document at seq: their
// last change among changes that applies, or the thread-level role.
func (a *ACL) grantedDocRole(changes []roleChange, peer string, seq uint64) Role {
	for i := len(changes) - 1; i >= 0; i-- {
		if c := changes[i]; c.byAdmin && c.from <= seq {
			return c.role
		}
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
	return a.wellFormed(&r.Op) && a.mayMake(r)
}

// wellFormed says whether an ACL operation is one that can count: a known
// kind, names in their canonical form, a role that exists, a rotation with
// its commitment, and nothing that changes the creator's standing.
func (a *ACL) wellFormed(op *ACLOp) bool {
	switch op.Kind {
	case ACLSetRole, ACLSetAdmin:
		return validPeer(op.Peer) && op.Role <= RoleDelete && op.Peer != a.creator
	case ACLSetDefault:
		return op.Role <= RoleDelete
	case ACLRotate:
		return len(op.Commit) == sha256.Size // members could not check the key
	case ACLSetDocRole:
		return validPeer(op.Peer) && validCollection(op.Coll) == nil && op.ID != "" && op.Role <= RoleDelete
	}
	return false
}

// mayMake says whether the author of a well-formed ACL operation may make
// it at its seq: an admin, or for document roles mayChangeDocRole.
func (a *ACL) mayMake(r *aclRecord) bool {
	if r.Op.Kind == ACLSetDocRole {
		return a.mayChangeDocRole(r)
	}
	return a.Admin(r.Author, r.Seq)
}

// mayChangeDocRole says whether the author of a document-role change may
// make it: an admin, or a peer with the delete role on the document
// changing another peer than the creator.
func (a *ACL) mayChangeDocRole(r *aclRecord) bool {
	if a.Admin(r.Author, r.Seq) {
		return true
	}
	return r.Op.Peer != a.creator && a.DocRole(r.Op.Coll, r.Op.ID, r.Author, r.Seq) >= RoleDelete
}

func (a *ACL) apply(r *aclRecord) {
	c := roleChange{from: r.Op.From, role: r.Op.Role, admin: r.Op.Admin, version: r.Version}
	switch r.Op.Kind {
	case ACLSetRole:
		a.roles[r.Op.Peer] = append(a.roles[r.Op.Peer], c)
	case ACLSetAdmin:
		a.admins[r.Op.Peer] = append(a.admins[r.Op.Peer], c)
	case ACLSetDocRole:
		c.byAdmin = a.Admin(r.Author, r.Seq)
		k := docRoleID{r.Op.Coll, r.Op.ID, r.Op.Peer}
		a.docRoles[k] = append(a.docRoles[k], c)
	case ACLSetDefault:
		a.dflt, a.dfltVer = r.Op.Role, &r.Version
	case ACLRotate:
		a.Rotations = append(a.Rotations, r.Op)
	}
}

// newACL is the ACL of no operations.
func newACL(creator string) *ACL {
	return &ACL{creator: creator, roles: map[string][]roleChange{}, admins: map[string][]roleChange{},
		docRoles: map[docRoleID][]roleChange{}, authors: map[string]bool{}}
}

// fold applies the records in version order, skipping the excluded ones and
// those their author may not make at that point.
func fold(creator string, recs []*aclRecord, excluded map[int]bool) *ACL {
	a := newACL(creator)
	a.recs, a.excluded = recs, excluded
	a.ok, a.admin = make([]bool, 0, len(recs)), make([]bool, 0, len(recs))
	for _, r := range recs {
		a.foldOne(r, excluded[len(a.ok)])
	}
	return a
}

// foldOne applies the next record in version order, unless it is excluded
// or its author may not make it.
func (a *ACL) foldOne(r *aclRecord, excluded bool) {
	a.authors[r.Author] = true
	ok := !excluded && a.valid(r)
	a.ok, a.admin = append(a.ok, ok), append(a.admin, ok && a.Admin(r.Author, r.Seq))
	if !ok {
		a.Rejected++
		return
	}
	a.apply(r)
}

// ResolveACL computes the ACL from every ACL operation of a thread, in any
// order, with duplicates: a pure function of the set. Operations are folded
// in version order; an operation whose author turns out to have lost the
// right to make it (by a change, later in version order, that applies from
// a seq at or below the operation's) is excluded for good and the fold runs
// again, until nothing more is excluded; so a writer's clock cannot put its
// operations before its revocation.
func ResolveACL(creator string, records []aclRecord) *ACL {
	return resolve(creator, dedupe(records))
}

func resolve(creator string, recs []*aclRecord) *ACL {
	excluded := map[int]bool{}
	var acl *ACL
	for range len(recs) + 1 {
		acl = fold(creator, recs, excluded)
		grew := false
		for i, r := range recs {
			if acl.ok[i] && !acl.validAfterAll(r, acl.admin[i]) {
				excluded[i], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	return acl
}

// records returns the operations the ACL was resolved from.
func (a *ACL) records() []*aclRecord { return a.recs }

// holds says whether the ACL was resolved from an operation (by version).
func (a *ACL) holds(r *aclRecord) bool {
	i := sort.Search(len(a.recs), func(i int) bool { return a.recs[i].Version.Compare(r.Version) >= 0 })
	return i < len(a.recs) && a.recs[i].Version.Compare(r.Version) == 0
}

// withRecords returns the ACL resolved from its operations, without those
// removed and with those added; a itself does not change. When the added
// ones all come after the operations it holds, in version order, and change
// nothing for their authors, they are folded in on top (what ResolveACL
// over all of them gives, for a fraction of the work); otherwise
// everything is resolved again.
func (a *ACL) withRecords(added, removed []aclRecord) *ACL {
	var fresh []*aclRecord
	for _, r := range dedupe(added) {
		if !a.holds(r) {
			fresh = append(fresh, r)
		}
	}
	if len(removed) == 0 && len(fresh) == 0 {
		return a
	}
	if len(removed) == 0 {
		if b := a.extend(fresh); b != nil {
			return b
		}
	}
	gone := map[string]bool{}
	for _, r := range removed {
		gone[versionKey(r.Version)] = true
	}
	all := make([]aclRecord, 0, len(a.recs)+len(fresh))
	for _, r := range a.recs {
		if !gone[versionKey(r.Version)] {
			all = append(all, *r)
		}
	}
	for _, r := range fresh {
		all = append(all, *r)
	}
	return ResolveACL(a.creator, all)
}

func versionKey(v Version) string {
	return fmt.Sprintf("%x/%d/%d/%d/%d", v.Log, v.Seq, v.Index, v.Clock.Wall, v.Clock.Counter)
}

// extend folds fresh operations (sorted, none held) in on top of the ACL,
// or returns nil when that could give another ACL than resolving
// everything again: an operation comes before one held, sets the default
// role, or changes the standing of a peer that wrote one held (which can
// change which held operations count; not the creator, whose operations
// always count).
func (a *ACL) extend(fresh []*aclRecord) *ACL {
	if n := len(a.recs); n > 0 && fresh[0].Version.Compare(a.recs[n-1].Version) <= 0 {
		return nil
	}
	for _, r := range fresh {
		if r.Op.Kind == ACLSetDefault || (r.Op.Peer != "" && r.Op.Peer != a.creator && a.authors[r.Op.Peer]) {
			return nil
		}
	}
	b := a.clone()
	start := len(b.recs)
	b.recs = append(b.recs, fresh...)
	for _, r := range fresh {
		b.foldOne(r, false)
	}
	for i := start; i < len(b.recs); i++ {
		if b.ok[i] && !b.validAfterAll(b.recs[i], b.admin[i]) {
			return nil
		}
	}
	return b
}

// clone copies the ACL for extend: the maps are copied, the slices are
// shared up to their length (extend only appends, and of an ACL and its
// extension one is dropped).
func (a *ACL) clone() *ACL {
	b := *a
	b.roles, b.admins, b.docRoles, b.authors = maps.Clone(a.roles), maps.Clone(a.admins), maps.Clone(a.docRoles), maps.Clone(a.authors)
	return &b
}

// validAfterAll re-checks an applied operation against the final ACL: its
// author must still hold the right at its seq, and still be an admin if it
// made the change as one.
func (a *ACL) validAfterAll(r *aclRecord, byAdmin bool) bool {
	admin := a.Admin(r.Author, r.Seq)
	if r.Op.Kind == ACLSetDocRole {
		return (admin || !byAdmin) && a.mayChangeDocRole(r)
	}
	return admin
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
