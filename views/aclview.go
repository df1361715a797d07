package views

import (
	"context"
	"crypto/hmac"
	"encoding/binary"
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

// enforce stores an event's ACL operations that may count and returns its
// content operations with those its writer may not make at its seq blanked
// (ACL.allowed).
func (env *applyEnv) enforce(ctx context.Context, ov *overlay, rec threads.Record, ops Ops) (Ops, error) {
	base := len(ops.KV) + len(ops.Docs)
	for i, op := range ops.ACL {
		r := newACLRecord(rec, op, base+i)
		if err := env.keepACLOp(ctx, ov, rec.Thread, &r); err != nil {
			return ops, err
		}
	}
	return env.acl.allowed(rec.Log.String(), rec.Seq, ops), nil
}

// newACLRecord is the record of an event's ACL operation, the index-th of
// its operations.
func newACLRecord(rec threads.Record, op ACLOp, index int) aclRecord {
	return aclRecord{Op: op, Author: rec.Log.String(), Seq: rec.Seq, Version: opVersion(rec, index)}
}

// MaxDocRolesPerAuthor is how many document-role changes of a peer that is
// not an admin are kept: the first ones of its log that may count.
const MaxDocRolesPerAuthor = 1024

// docRoleCountKey counts the document-role changes of a non-admin author
// that are kept (8 bytes, big endian; absent: none); a replay or a rebuild
// counts again, and re-judging counts the author's again from where its
// standing changed.
func docRoleCountKey(tid ipel.ThreadID, author string) ds.Key {
	return ds.RawKey(threadPrefix(tid) + "/acldocroles/" + author)
}

// keepACLOp stores an ACL operation that may count, or says why not
// (Stats) and deletes the one a replay stored before. What the author may
// not make at its seq, by the ACL as it stands, cannot count unless the ACL
// changes so as to judge the author's events differently, and such a change
// judges them again (rejudge.go); so only what may count is kept, and a
// batch's resolution folds in only that. A non-admin's document-role
// changes are kept up to MaxDocRolesPerAuthor.
func (env *applyEnv) keepACLOp(ctx context.Context, ov *overlay, tid ipel.ThreadID, r *aclRecord) error {
	k := docRoleCountKey(tid, r.Author)
	var n uint64
	if r.Op.Kind == ACLSetDocRole {
		var err error
		if n, err = getCount(ctx, ov, k); err != nil {
			return err
		}
	}
	reason, counted := judgeACLRecord(env.acl, r, n)
	if counted {
		if err := putCount(ctx, ov, k, n+1); err != nil {
			return err
		}
	}
	if reason != "" {
		env.report.refuse(reason)
		if env.acl.holds(r) {
			env.removed = append(env.removed, *r)
			return ov.Delete(ctx, aclRecordKey(tid, r.Version))
		}
		return nil
	}
	b, err := codec.Marshal(r)
	if err != nil {
		return err
	}
	env.added = append(env.added, *r)
	return ov.Put(ctx, aclRecordKey(tid, r.Version), b)
}

// judgeACLRecord says why an ACL operation is not kept under acl, or "",
// given how many document-role changes of its author as a non-admin are
// kept before it; counted says it is one more of those.
func judgeACLRecord(acl *ACL, r *aclRecord, kept uint64) (reason string, counted bool) {
	switch {
	case !acl.valid(r):
		return SkipACLNotAllowed, false
	case r.Op.Kind != ACLSetDocRole || acl.Admin(r.Author, r.Seq):
		return "", false
	case kept >= MaxDocRolesPerAuthor:
		return SkipACLOverCap, false
	}
	return "", true
}

// getCount reads a count of the views (8 bytes, big endian; 0 when absent).
func getCount(ctx context.Context, ov *overlay, k ds.Key) (uint64, error) {
	b, err := ov.get(ctx, k)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("view entry %s: corrupt count", k)
	}
	return binary.BigEndian.Uint64(b), nil
}

func putCount(ctx context.Context, ov *overlay, k ds.Key, n uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return ov.Put(ctx, k, b[:])
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

// replayKey marks a thread whose views are being judged again after a
// batch (rejudge.go); found at start, it was cut short by a crash, and the
// views are applied again from the start (replay).
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

// hideTracker remembers, by collection and log, the first put that did
// not count because it would have hidden a document (docReducer.counts),
// since the views were last applied from the start: when the collection's
// schema changes, the puts from there on are judged again (rejudge.go).
// Before that (after a start or a snapshot) it does not know, and any
// collection may have some, from any point. It holds at most an entry per
// declared collection and log.
type hideTracker struct {
	known bool
	from  map[string]map[ipel.LogID]uint64
}

// newHideTracker returns a tracker that knows (the views are applied from
// the start) or not.
func newHideTracker(known bool) *hideTracker {
	return &hideTracker{known: known, from: map[string]map[ipel.LogID]uint64{}}
}

func (h *hideTracker) skipped(coll string, v Version) {
	if h == nil || !h.known {
		return
	}
	logs := h.from[coll]
	if logs == nil {
		logs = map[ipel.LogID]uint64{}
		h.from[coll] = logs
	}
	l := ipel.LogID(v.Log)
	if s, ok := logs[l]; !ok || v.Seq < s {
		logs[l] = v.Seq
	}
}

func (h *hideTracker) mayHaveSkipped(coll string) bool {
	return h == nil || !h.known || len(h.from[coll]) > 0
}

// since returns where to read the logs up to upto from for the puts of the
// given collections that did not count.
func (h *hideTracker) since(colls []string, upto map[ipel.LogID]uint64) map[ipel.LogID]uint64 {
	if h == nil || !h.known {
		return fromStart(upto)
	}
	out := map[ipel.LogID]uint64{}
	for _, c := range colls {
		for l, s := range h.from[c] {
			if _, ok := upto[l]; ok && (out[l] == 0 || s < out[l]) {
				out[l] = s
			}
		}
	}
	return out
}

// replayKeeps returns what a replay or a rebuild keeps of the views: the
// ACL's operations (the ACL must be whole before content is judged against
// it), in an access-controlled thread each collection's entry whose writer
// still holds the role a declaration needs under acl, so that every put is
// judged against the last schema (see docReducer.counts), and this node's
// skip counts (keptLocal).
func replayKeeps(ctx context.Context, store ds.Read, tid ipel.ThreadID, acl *ACL) (func(key string) bool, error) {
	keepACL, local := aclPrefix(tid)+"/", keptLocal(tid)
	if acl == nil {
		return func(k string) bool { return strings.HasPrefix(k, keepACL) || local(k) }, nil
	}
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
		if acl.Role(peer.ID(ce.Version.Log).String(), ce.Version.Seq) >= need {
			colls[e.Key] = true
		}
	}
	return func(k string) bool { return strings.HasPrefix(k, keepACL) || colls[k] || local(k) }, nil
}

// replay drops a thread's views (but what replayKeeps keeps) and starts
// applying its events again from the start, without feeding changes
// already fed or counting again what they skip. The runner does it at
// start when re-judging after a batch was cut short (replayKey).
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
	r.hides = newHideTracker(true)
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
