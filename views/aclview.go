package views

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// The ACL's operations are kept, as they arrive, under the thread's view
// prefix (so snapshots carry them), and a view rebuild keeps them: the ACL
// must be whole before content is judged against it.

func aclPrefix(tid ipel.ThreadID) string { return threadPrefix(tid) + "/acl" }

func aclRecordKey(tid ipel.ThreadID, v Version) ds.Key {
	return ds.RawKey(fmt.Sprintf("%s/%016x%08x%s%016x%08x", aclPrefix(tid), uint64(v.Clock.Wall), v.Clock.Counter, hex.EncodeToString(v.Log), v.Seq, v.Index))
}

// enforce stores an event's ACL operations that may count and blanks the
// content operations its writer may not make at its seq, by the table of
// rights.go.
func (env *applyEnv) enforce(ctx context.Context, ov *overlay, w ds.Write, rec threads.Record, ops Ops, dr *docReducer) (Ops, error) {
	author := rec.Log.String()
	base := len(ops.KV) + len(ops.Docs)
	for i, op := range ops.ACL {
		r := aclRecord{Op: op, Author: author, Seq: rec.Seq, Version: Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: base + i}}
		if err := env.keepACLOp(ctx, ov, w, rec.Thread, &r); err != nil {
			return ops, err
		}
	}
	role := env.acl.Role(author, rec.Seq)
	kv := append([]KVOp(nil), ops.KV...)
	for i, op := range kv {
		if role < kvNeeds(op) {
			kv[i] = KVOp{}
		}
	}
	docs := append([]DocOp(nil), ops.Docs...)
	for i, op := range docs {
		if got, need := env.acl.judgeDoc(author, rec.Seq, op); got < need {
			docs[i] = DocOp{}
		}
	}
	ops.KV, ops.Docs = kv, docs
	return ops, nil
}

// MaxDocRolesPerAuthor is how many document-role changes of a peer that is
// not an admin are kept: the first ones of its log that may count.
const MaxDocRolesPerAuthor = 1024

// Reasons for skipping ACL operations.
const (
	// SkipACLNotAllowed counts ACL operations whose author may not make
	// them (at that point, by the ACL as it stands), or malformed ones.
	SkipACLNotAllowed = "acl-not-allowed"
	// SkipACLOverCap counts document-role changes of a non-admin past
	// MaxDocRolesPerAuthor.
	SkipACLOverCap = "acl-over-cap"
)

// docRoleCountKey counts the document-role changes of a non-admin author
// that are kept (8 bytes, big endian); a replay counts again.
func docRoleCountKey(tid ipel.ThreadID, author string) ds.Key {
	return ds.RawKey(threadPrefix(tid) + "/acldocroles/" + author)
}

// keepACLOp stores an ACL operation that may count, or says why not
// (Stats) and deletes the one a replay stored before. What the author may
// not make at its seq, by the ACL as it stands, cannot count unless the ACL
// changes so as to judge the author's events differently, and such a change
// applies the thread's events again (aclAffects); so only what may count is
// kept, and a batch's resolution folds in only that. A non-admin's
// document-role changes are kept up to MaxDocRolesPerAuthor.
func (env *applyEnv) keepACLOp(ctx context.Context, ov *overlay, w ds.Write, tid ipel.ThreadID, r *aclRecord) error {
	reason, err := env.judgeACLOp(ctx, ov, w, tid, r)
	if err != nil {
		return err
	}
	k := aclRecordKey(tid, r.Version)
	if reason != "" {
		if env.acl.holds(r) {
			env.removed = append(env.removed, *r)
			if err := ov.del(ctx, w, k); err != nil {
				return err
			}
		}
		return countSkipped(ctx, ov, w, tid, reason)
	}
	b, err := codec.Marshal(r)
	if err != nil {
		return err
	}
	env.added = append(env.added, *r)
	return ov.put(ctx, w, k, b)
}

// judgeACLOp says why an ACL operation is not kept, or "".
func (env *applyEnv) judgeACLOp(ctx context.Context, ov *overlay, w ds.Write, tid ipel.ThreadID, r *aclRecord) (string, error) {
	acl := env.acl
	if !acl.valid(r) {
		return SkipACLNotAllowed, nil
	}
	if r.Op.Kind != ACLSetDocRole || acl.Admin(r.Author, r.Seq) {
		return "", nil
	}
	k := docRoleCountKey(tid, r.Author)
	n, err := getCount(ctx, ov, k)
	if err != nil {
		return "", err
	}
	if n >= MaxDocRolesPerAuthor {
		return SkipACLOverCap, nil
	}
	return "", putCount(ctx, ov, w, k, n+1)
}

// loadACLRecords reads a thread's stored ACL operations.
func (m *Manager) loadACLRecords(ctx context.Context, tid ipel.ThreadID) ([]aclRecord, error) {
	res, err := m.store.Query(ctx, dsq.Query{Prefix: aclPrefix(tid)})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := make([]aclRecord, 0, len(entries))
	for _, e := range entries {
		var r aclRecord
		if err := codec.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("ACL entry %s: %w", e.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// aclAffects reports whether two ACLs judge any event up to applied
// differently (its content by roles, its ACL operations by the admin right
// and roles: keepACLOp): roles are piecewise constant in seq, so comparing
// them at every seq where either changes is enough.
func aclAffects(old, next *ACL, applied map[ipel.LogID]uint64) bool {
	for logID, upto := range applied {
		p := logID.String()
		points := map[uint64]bool{1: true}
		var docs []docRoleID
		for _, a := range []*ACL{old, next} {
			for _, c := range a.roles[p] {
				points[c.from] = true
			}
			for _, c := range a.admins[p] {
				points[c.from] = true
			}
			for k, cs := range a.docRoles {
				if k.peer == p {
					docs = append(docs, k)
					for _, c := range cs {
						points[c.from] = true
					}
				}
			}
		}
		for pt := range points {
			if pt > upto {
				continue
			}
			if old.Role(p, pt) != next.Role(p, pt) || old.Admin(p, pt) != next.Admin(p, pt) {
				return true
			}
			for _, k := range docs {
				if old.DocRole(k.coll, k.id, p, pt) != next.DocRole(k.coll, k.id, p, pt) {
					return true
				}
			}
		}
	}
	return false
}

// errACLChanged stops a runner whose ACL changed in a way that judges
// events it already applied differently.
var errACLChanged = errors.New("the ACL changed for events already applied")

// loadRunnerACL resolves an access-controlled thread's ACL from its stored
// operations; raw threads have none.
func (m *Manager) loadRunnerACL(ctx context.Context, r *runner) error {
	if r.tid.Variant() != ipel.VariantAccessControlled {
		return nil
	}
	ti, err := m.s.Info(r.tid)
	if err != nil {
		return err
	}
	recs, err := m.loadACLRecords(ctx, r.tid)
	if err != nil {
		return err
	}
	r.creator, r.installed, r.badKeys = ti.Creator.String(), map[string]*codec.Key{}, 0
	r.acl = ResolveACL(r.creator, recs)
	m.installKeys(ctx, r)
	return nil
}

// replayKey marks a thread whose views must be applied again under a
// changed ACL; the replay deletes it with the views.
func replayKey(tid ipel.ThreadID) ds.Key { return ds.RawKey(threadPrefix(tid) + "/replay") }

// installKeys hands the engine every rotated read key sealed to this node,
// and makes the key of the last valid rotation (in version order) the one
// new events are sealed with, whatever order the rotations arrived in. A
// key that does not open, or is not the one its rotation commits to, is
// reported and not taken up.
func (m *Manager) installKeys(ctx context.Context, r *runner) {
	self := m.s.Self().String()
	var last *codec.Key
	for _, rot := range r.acl.Rotations {
		sealed, ok := rot.Keys[self]
		if !ok {
			continue
		}
		id := hex.EncodeToString(sealed)
		key, known := r.installed[id]
		if !known {
			key = m.openRotatedKey(r, rot, sealed)
			r.installed[id] = key // nil: refused, do not try again
		}
		if key == nil {
			continue
		}
		if err := m.s.SetCurrentReadKey(ctx, r.tid, key); err != nil {
			log.Warnf("views of %s: rotated read key %d: %s", r.tid, rot.Epoch, err)
			continue
		}
		last = key
	}
	if last != nil {
		if err := m.s.SetCurrentReadKey(ctx, r.tid, last); err != nil {
			log.Warnf("views of %s: current read key: %s", r.tid, err)
		}
	}
}

// openRotatedKey opens a rotation's key sealed to this node and checks it
// against the rotation's commitment; nil when it does not open or match.
func (m *Manager) openRotatedKey(r *runner, rot ACLOp, sealed []byte) *codec.Key {
	raw, err := m.s.OpenSealed(sealed)
	if err != nil {
		log.Warnf("views of %s: rotated read key %d: %s", r.tid, rot.Epoch, err)
		r.badKeys++
		return nil
	}
	if !hmac.Equal(KeyCommitment(raw), rot.Commit) {
		log.Errorf("views of %s: rotated read key %d sealed to this node is not the key the rotation commits to: not taken up", r.tid, rot.Epoch)
		r.badKeys++
		return nil
	}
	key, err := codec.KeyFromBytes(raw)
	if err != nil {
		log.Warnf("views of %s: rotated read key %d: %s", r.tid, rot.Epoch, err)
		r.badKeys++
		return nil
	}
	return key
}

// hideTracker remembers the collections where a put that would have
// hidden a document did not count (docReducer.counts), since the views
// were last applied from the start; before that (after a start or a
// snapshot) it does not know, and any collection may have some.
type hideTracker struct {
	known bool
	colls map[string]bool
}

func (h *hideTracker) skipped(coll string) {
	if h != nil && h.known {
		h.colls[coll] = true
	}
}

func (h *hideTracker) mayHaveSkipped(coll string) bool {
	return h == nil || !h.known || h.colls[coll]
}

// replayKeeps returns what a replay keeps of the views: the ACL's
// operations, and each collection's entry whose writer still holds the
// role a declaration needs, so that every put is judged against the last
// schema (see docReducer.counts).
func replayKeeps(ctx context.Context, store ds.Read, tid ipel.ThreadID, acl *ACL) (func(key string) bool, error) {
	keepACL := aclPrefix(tid) + "/"
	res, err := store.Query(ctx, dsq.Query{Prefix: threadPrefix(tid) + "/docs/c"})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	colls := map[string]bool{}
	need, _ := docNeeds(DocOp{Kind: DocCollection})
	for _, e := range entries {
		var ce CollEntry
		if err := codec.Unmarshal(e.Value, &ce); err != nil {
			return nil, fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if acl == nil || acl.Role(peer.ID(ce.Version.Log).String(), ce.Version.Seq) >= need {
			colls[e.Key] = true
		}
	}
	return func(k string) bool { return strings.HasPrefix(k, keepACL) || colls[k] }, nil
}

// replay drops a thread's views (not its ACL operations, nor the
// collections' schemas: replayKeeps) and starts applying its events again
// from the start, without feeding changes already fed.
func (m *Manager) replay(ctx context.Context, r *runner) (map[ipel.LogID]uint64, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	keep, err := replayKeeps(ctx, m.store, r.tid, r.acl)
	if err != nil {
		return nil, err
	}
	if err := m.deleteUnder(ctx, threadPrefix(r.tid), keep); err != nil {
		return nil, err
	}
	r.hides = &hideTracker{known: true, colls: map[string]bool{}}
	r.mu.Lock()
	quiet := copyCursors(r.feed.quiet)
	for l, s := range r.applied {
		quiet[l] = max(quiet[l], s)
	}
	r.feed.quiet = quiet
	r.applied = map[ipel.LogID]uint64{}
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
	return map[ipel.LogID]uint64{}, nil
}
