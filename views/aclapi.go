package views

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

var (
	// ErrNotAccessControlled is returned for ACL commands on a raw thread.
	ErrNotAccessControlled = errors.New("not an access-controlled thread (create one with --variant acl)")
	// ErrForbidden is wrapped by errors about writes the ACL does not allow.
	ErrForbidden = errors.New("the thread's ACL does not allow it")
	// ErrNoCompaction is returned when compacting an access-controlled
	// thread: judging events again under a changed ACL needs every event.
	ErrNoCompaction = errors.New("access-controlled threads are not compacted: an ACL change can reach back to any event")
)

// runnerACL returns the resolved ACL of an access-controlled thread.
func (m *Manager) runnerACL(tid ipel.ThreadID) (*ACL, error) {
	if tid.Variant() != ipel.VariantAccessControlled {
		return nil, fmt.Errorf("%s: %w", tid, ErrNotAccessControlled)
	}
	for {
		if err := m.Ensure(tid); err != nil {
			return nil, err
		}
		m.mu.Lock()
		r := m.runners[tid]
		m.mu.Unlock()
		if r == nil {
			continue
		}
		r.applyMu.Lock()
		defer r.applyMu.Unlock()
		return r.acl, nil
	}
}

// ACL returns the thread's ACL as this node has resolved it, after its
// views include every event the node holds.
func (m *Manager) ACL(ctx context.Context, tid ipel.ThreadID) (*ACL, error) {
	if tid.Variant() != ipel.VariantAccessControlled {
		return nil, fmt.Errorf("%s: %w", tid, ErrNotAccessControlled)
	}
	if err := m.CatchUp(ctx, tid); err != nil {
		return nil, err
	}
	return m.runnerACL(tid)
}

// nextSeqs returns the seq this node's next event gets, and the head seq of
// every log, by log ID.
func (m *Manager) nextSeqs(tid ipel.ThreadID) (next uint64, heads map[string]uint64, err error) {
	ti, err := m.s.Info(tid)
	if err != nil {
		return 0, nil, err
	}
	heads = map[string]uint64{}
	for _, l := range ti.Logs {
		heads[l.ID.String()] = l.Seq
		if l.Own {
			next = l.Seq + 1
		}
	}
	return next, heads, nil
}

// ownStanding returns an access-controlled thread's ACL, this node's peer
// ID and the seq its next event gets.
func (m *Manager) ownStanding(tid ipel.ThreadID) (*ACL, string, uint64, error) {
	acl, err := m.runnerACL(tid)
	if err != nil {
		return nil, "", 0, err
	}
	next, _, err := m.nextSeqs(tid)
	if err != nil {
		return nil, "", 0, err
	}
	return acl, m.s.Self().String(), next, nil
}

func forbidden(what string, got, need Role) error {
	return fmt.Errorf("%w: this node's role%s is %s, %s is needed", ErrForbidden, what, got, need)
}

// CheckWrite says whether this node may write operations that need the
// given role to a thread: always in a raw thread, by the ACL otherwise.
func (m *Manager) CheckWrite(tid ipel.ThreadID, need Role) error {
	if tid.Variant() != ipel.VariantAccessControlled {
		return nil
	}
	acl, self, next, err := m.ownStanding(tid)
	if err != nil {
		return err
	}
	if got := acl.Role(self, next); got < need {
		return forbidden("", got, need)
	}
	return nil
}

// checkOps checks content operations against the ACL before they are
// written, so a node learns at once what every replica would ignore.
func (m *Manager) checkOps(tid ipel.ThreadID, ops Ops) error {
	if tid.Variant() != ipel.VariantAccessControlled || (len(ops.KV) == 0 && len(ops.Docs) == 0) {
		return nil
	}
	acl, self, next, err := m.ownStanding(tid)
	if err != nil {
		return err
	}
	for _, op := range ops.KV {
		if got, need := acl.Role(self, next), kvNeeds(op); got < need {
			return forbidden("", got, need)
		}
	}
	for _, op := range ops.Docs {
		if got, need := acl.judgeDoc(self, next, op); got < need {
			if _, onDoc := docNeeds(op); onDoc {
				return forbidden(" on "+op.Coll+"/"+op.ID, got, need)
			}
			return forbidden("", got, need)
		}
	}
	return nil
}

// changeACL writes ACL operations, which need the admin role (document
// roles: the admin role or the delete role on the document).
func (m *Manager) changeACL(ctx context.Context, tid ipel.ThreadID, ops ...ACLOp) error {
	acl, err := m.ACL(ctx, tid)
	if err != nil {
		return err
	}
	next, _, err := m.nextSeqs(tid)
	if err != nil {
		return err
	}
	if next == 0 {
		return fmt.Errorf("%w: this node has no log in the thread", ErrForbidden)
	}
	self := m.s.Self().String()
	for _, op := range ops {
		if err := acl.checkChange(&aclRecord{Op: op, Author: self, Seq: next}); err != nil {
			return err
		}
	}
	_, err = m.Write(ctx, tid, Ops{ACL: ops})
	return err
}

// checkChange says why an ACL change would not count, as every replica
// judges it (valid), or would count for less than it asks.
func (a *ACL) checkChange(r *aclRecord) error {
	op := &r.Op
	admin := a.Admin(r.Author, r.Seq)
	switch {
	case (op.Kind == ACLSetRole || op.Kind == ACLSetAdmin) && op.Peer == a.creator:
		return fmt.Errorf("%w: the creator's role and admin right do not change", ErrForbidden)
	case op.Kind == ACLSetDocRole && !admin:
		if a.DocRole(op.Coll, op.ID, r.Author, r.Seq) < RoleDelete {
			return fmt.Errorf("%w: changing a document's roles needs the admin role, or the delete role on the document", ErrForbidden)
		}
		if op.Peer == a.creator || a.Admin(op.Peer, ^uint64(0)) {
			return fmt.Errorf("%w: only admins change the document roles of admins and the creator", ErrForbidden)
		}
		changes := a.docRoles[docRoleID{op.Coll, op.ID, op.Peer}]
		if granted := a.grantedDocRole(changes, op.Peer, ^uint64(0)); op.Role > granted {
			return fmt.Errorf("%w: a non-admin only lowers document roles, and %s holds %s on %s/%s", ErrForbidden, op.Peer, granted, op.Coll, op.ID)
		}
	case !admin:
		return fmt.Errorf("%w: changing the ACL needs its admin role", ErrForbidden)
	}
	if !a.valid(r) {
		return fmt.Errorf("%w: a malformed ACL change", ErrForbidden)
	}
	return nil
}

// SetRole gives a peer a thread-level role, from the next event of its log
// this node has not seen. Taking the read role away from a peer that had it
// rotates the read key: the new key goes, sealed to each, to every peer the
// ACL lets read, and this node seals its next events with it.
func (m *Manager) SetRole(ctx context.Context, tid ipel.ThreadID, p peer.ID, role Role) error {
	acl, err := m.ACL(ctx, tid)
	if err != nil {
		return err
	}
	_, heads, err := m.nextSeqs(tid)
	if err != nil {
		return err
	}
	ops := []ACLOp{{Kind: ACLSetRole, Peer: p.String(), Role: role, From: heads[p.String()] + 1}}
	var newKey *codec.Key
	if acl.Role(p.String(), ^uint64(0)) >= RoleRead && role < RoleRead {
		if newKey, err = codec.NewKey(); err != nil {
			return err
		}
		keys := map[string][]byte{}
		readers := map[string]bool{m.s.Self().String(): true}
		for _, e := range acl.Entries() {
			if e.Role >= RoleRead {
				readers[e.Peer] = true
			}
		}
		for id := range heads {
			if acl.Role(id, ^uint64(0)) >= RoleRead {
				readers[id] = true
			}
		}
		delete(readers, p.String())
		// The rotation must fit one event; refuse it before anything is
		// sealed with the new key.
		if len(readers) > MaxRotationReaders {
			return fmt.Errorf("rotate the read key: %w: %d readers, at most %d", ErrTooManyOps, len(readers), MaxRotationReaders)
		}
		for r := range readers {
			id, err := peer.Decode(r)
			if err != nil {
				continue
			}
			sealed, err := threads.SealToPeer(id, newKey.Bytes())
			if err != nil {
				return fmt.Errorf("rotate the read key: %w", err)
			}
			keys[r] = sealed
		}
		ops = append(ops, ACLOp{Kind: ACLRotate, Epoch: uint64(len(acl.Rotations) + 1), Keys: keys, Commit: KeyCommitment(newKey.Bytes())})
	}
	if err := m.changeACL(ctx, tid, ops...); err != nil {
		return err
	}
	if newKey != nil {
		return m.s.SetCurrentReadKey(ctx, tid, newKey)
	}
	return nil
}

// SetAdmin gives or takes a peer's right to change the ACL.
func (m *Manager) SetAdmin(ctx context.Context, tid ipel.ThreadID, p peer.ID, admin bool) error {
	_, heads, err := m.nextSeqs(tid)
	if err != nil {
		return err
	}
	return m.changeACL(ctx, tid, ACLOp{Kind: ACLSetAdmin, Peer: p.String(), Admin: admin, From: heads[p.String()] + 1})
}

// SetDefault sets the role of peers the ACL does not name.
func (m *Manager) SetDefault(ctx context.Context, tid ipel.ThreadID, role Role) error {
	return m.changeACL(ctx, tid, ACLOp{Kind: ACLSetDefault, Role: role})
}

// SetDocRole gives a peer a role on one document, which overrides its
// thread-level role for writes and deletes of that document.
func (m *Manager) SetDocRole(ctx context.Context, tid ipel.ThreadID, coll, id string, p peer.ID, role Role) error {
	if err := validCollection(coll); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: empty document ID", ErrBadDocument)
	}
	_, heads, err := m.nextSeqs(tid)
	if err != nil {
		return err
	}
	return m.changeACL(ctx, tid, ACLOp{Kind: ACLSetDocRole, Coll: coll, ID: id, Peer: p.String(), Role: role, From: heads[p.String()] + 1})
}

// DocEntries lists the document-level roles of one document, by peer.
func (a *ACL) DocEntries(coll, id string) []Entry {
	var out []Entry
	for k := range a.docRoles {
		if k.coll == coll && k.id == id {
			out = append(out, Entry{Peer: k.peer, Role: a.DocRole(coll, id, k.peer, ^uint64(0))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// RefusedKeys counts the rotated read keys sealed to this node that it did
// not take up: they did not open, or were not the key their rotation
// commits to.
func (m *Manager) RefusedKeys(tid ipel.ThreadID) (int, error) {
	r, err := m.runnerOf(tid)
	if err != nil {
		return 0, err
	}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	return r.badKeys, nil
}

// Creator is the thread's creator.
func (a *ACL) Creator() string { return a.creator }
