package views

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Re-judging. When an ACL change judges events already applied
// differently (a revocation arriving after the events it revokes, a grant
// after the events it allows, an admin right given or taken from a point
// of a log), the runner applies again what changed, and only that:
//
//   - the affected events are, per log, those from the lowest seq at which a
//     role the log's writer holds (its thread role, its admin right, or its
//     role on a document whose role changed) differs between the old and the
//     new ACL; other logs are not read;
//   - a content operation counts when the ACL allows it (ACL.allowed) and,
//     for a put that would hide its document, when its writer may hide it
//     (docReducer.counts, by the schema the collection holds). One of an
//     affected event whose verdict did not change is left alone; one that
//     counts now and did not is applied (the later version wins, as ever);
//     one that no longer counts changes nothing unless it is what its key
//     holds, and then the key is cleared and rebuilt from the operations on
//     it that count, which takes one reading of the thread's events
//     (applying only those on such keys), since a key keeps only its
//     winner;
//   - an ACL operation of an affected event is kept or not as keepACLOp
//     would judge it now; those whose verdict changed are stored or
//     deleted, which changes the ACL again, and the pass repeats until the
//     ACL settles.
//
// A schema change in an access-controlled thread judges the collection's
// puts again (recheck.go): a document whose put no longer counts is cleared
// and rebuilt the same way, and when puts to the collection may not have
// counted under the old schema (hideTracker), the events from the first
// of them are read again and the puts applied that count now.
//
// The passes run right after the batch that asked for them, under the
// runner's lock; a mark written with that batch makes a crash in between
// end in a full replay at the next start (see Manager.replay).

// affectedLogs returns, for each log whose applied events (up to applied)
// the new ACL judges differently from the old, the lowest such seq. Roles
// are piecewise constant in seq, changing only where a role change applies
// from, so the first difference is at one of those points or at 1. (The
// default role does not apply to the creator, whose thread role and admin
// right never change; its roles on documents may.)
func affectedLogs(creator string, old, next *ACL, applied map[ipel.LogID]uint64) map[ipel.LogID]uint64 {
	rolesChanged := changedKeys(old.roles, next.roles)
	adminsChanged := changedKeys(old.admins, next.admins)
	docChanged := map[string][]docRoleID{} // by peer: the document roles whose changes differ
	for k := range changedKeys(old.docRoles, next.docRoles) {
		docChanged[k.peer] = append(docChanged[k.peer], k)
	}
	dfltChanged := old.dflt != next.dflt
	out := map[ipel.LogID]uint64{}
	for logID, upto := range applied {
		p := logID.String()
		thread := rolesChanged[p] || adminsChanged[p] || (dfltChanged && p != creator)
		if !thread && len(docChanged[p]) == 0 {
			continue
		}
		points := []uint64{1}
		for _, a := range []*ACL{old, next} {
			for _, c := range a.roles[p] {
				points = append(points, c.from)
			}
			for _, c := range a.admins[p] {
				points = append(points, c.from)
			}
			for _, k := range docChanged[p] {
				for _, c := range a.docRoles[k] {
					points = append(points, c.from)
				}
			}
		}
		sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
		for _, pt := range points {
			if pt > upto {
				break
			}
			if judgedAlike(old, next, p, pt, docChanged[p]) {
				continue
			}
			out[logID] = max(pt, 1)
			break
		}
	}
	return out
}

// judgedAlike says whether two ACLs give a peer the same standing at seq:
// its thread role, its admin right and its roles on the given documents.
func judgedAlike(old, next *ACL, peer string, seq uint64, docs []docRoleID) bool {
	if old.Role(peer, seq) != next.Role(peer, seq) || old.Admin(peer, seq) != next.Admin(peer, seq) {
		return false
	}
	for _, k := range docs {
		if old.DocRole(k.coll, k.id, peer, seq) != next.DocRole(k.coll, k.id, peer, seq) {
			return false
		}
	}
	return true
}

// changedKeys returns the keys whose lists of changes differ.
func changedKeys[K comparable](a, b map[K][]roleChange) map[K]bool {
	out := map[K]bool{}
	for k, ca := range a {
		if !sameChanges(ca, b[k]) {
			out[k] = true
		}
	}
	for k, cb := range b {
		if _, ok := a[k]; !ok && len(cb) > 0 {
			out[k] = true
		}
	}
	return out
}

func sameChanges(a, b []roleChange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.from != y.from || x.role != y.role || x.admin != y.admin || x.byAdmin != y.byAdmin || x.version.Compare(y.version) != 0 {
			return false
		}
	}
	return true
}

// rejudger applies again what a change judges differently among the events
// a thread's views applied, and goes over the collections marked to
// re-check (recheck.go), after the batch that made the change. The runner
// makes one for the work after a batch; tests drive one over events of
// their own.
type rejudger struct {
	tid     ipel.ThreadID
	store   ds.Batching
	schemas *schemaCache
	creator string
	hides   *hideTracker
	// chunk is how many bytes a pass commits at a time.
	chunk int
	// read calls fn with the events of one log from seq from to seq to, in
	// order.
	read func(ctx context.Context, logID ipel.LogID, from, to uint64, fn func(threads.Record) error) error
	// commit writes a pass's overlay with the visible changes it made,
	// which the event by asked for.
	commit recheckCommit
	// reread counts the events read again.
	reread int
}

// settle brings the views in line with what a batch changed, once the
// batch is in: the ACL from old to next (nil when the batch kept or
// dropped no ACL operation) among the events up to upto, whose last is by,
// and the collections marked to re-check (rechecks: the batch marked
// some). It returns the ACL that holds after.
func (rj *rejudger) settle(ctx context.Context, old, next *ACL, upto map[ipel.LogID]uint64, by threads.Record, rechecks bool) (*ACL, error) {
	acl := old
	if next != nil {
		var marked bool
		var err error
		if acl, marked, err = rj.rejudgeACL(ctx, old, next, upto, by); err != nil {
			return nil, fmt.Errorf("re-judge under the new ACL: %w", err)
		}
		rechecks = rechecks || marked
	}
	if !rechecks {
		return acl, nil
	}
	res, err := drainRechecks(ctx, rj.store, rj.schemas, acl, rj.tid, rj.chunk, rj.commit)
	if err != nil {
		return nil, err
	}
	if err := rj.rejudgeSchemas(ctx, acl, res, upto); err != nil {
		return nil, fmt.Errorf("re-judge under the new schemas: %w", err)
	}
	return acl, nil
}

// rejudgeACL applies again, under next, what the change from old to next
// judges differently among the events up to upto, and again as long as
// that changes which ACL operations are kept. It returns the ACL that
// holds after, and whether a collection was marked to re-check.
func (rj *rejudger) rejudgeACL(ctx context.Context, old, next *ACL, upto map[ipel.LogID]uint64, by threads.Record) (*ACL, bool, error) {
	marked := false
	for {
		affected := affectedLogs(rj.creator, old, next, upto)
		if len(affected) == 0 {
			return next, marked, nil
		}
		j, err := rj.classify(ctx, old, next, affected, upto)
		if err != nil {
			return nil, false, err
		}
		m, err := rj.reapply(ctx, old, next, j, affected, upto, by)
		if err != nil {
			return nil, false, err
		}
		marked = marked || m
		if len(j.added) == 0 && len(j.removed) == 0 {
			return next, marked, nil
		}
		old, next = next, next.withRecords(j.added, j.removed)
	}
}

// eventRef names an event by log and seq.
type eventRef struct {
	log ipel.LogID
	seq uint64
}

// rejudgement is what re-judging found in the affected events.
type rejudgement struct {
	changed map[eventRef]bool // events with an operation that counts now and did not
	lost    map[ds.Key]bool   // keys whose winner no longer counts
	// added and removed are the ACL operations kept now and no longer;
	// docRoles the new counts of kept document-role changes of
	// non-admins, by author (see keepACLOp).
	added, removed []aclRecord
	docRoles       map[string]uint64
}

// classify reads the affected events and sorts out what changed.
func (rj *rejudger) classify(ctx context.Context, old, next *ACL, affected, upto map[ipel.LogID]uint64) (*rejudgement, error) {
	j := &rejudgement{changed: map[eventRef]bool{}, lost: map[ds.Key]bool{}, docRoles: map[string]uint64{}}
	dr := &docReducer{env: &applyEnv{schemas: rj.schemas}, tid: rj.tid, ov: newOverlay(rj.store)}
	for _, logID := range sortedLogs(affected) {
		docRoles := &docRoleCount{acl: next, author: logID.String(), from: affected[logID]}
		err := rj.read(ctx, logID, affected[logID], upto[logID], func(rec threads.Record) error {
			rj.reread++
			ops, ok := viewOps(rec)
			if !ok {
				return nil
			}
			j.judgeACLOps(next, rec, ops, docRoles)
			return j.judgeContent(ctx, dr, old, next, rec, ops, rj.hides)
		})
		if err != nil {
			return nil, err
		}
		if docRoles.started {
			stored, err := getCount(ctx, dr.ov, docRoleCountKey(rj.tid, docRoles.author))
			if err != nil {
				return nil, err
			}
			if stored != docRoles.n {
				j.docRoles[docRoles.author] = docRoles.n
			}
		}
	}
	return j, nil
}

// judgeACLOps notes the ACL operations of an event whose verdict (kept or
// not, see keepACLOp) differs under acl from what is stored.
func (j *rejudgement) judgeACLOps(acl *ACL, rec threads.Record, ops Ops, docRoles *docRoleCount) {
	base := len(ops.KV) + len(ops.Docs)
	for i, op := range ops.ACL {
		r := newACLRecord(rec, op, base+i)
		reason := docRoles.judge(&r)
		switch held := acl.holds(&r); {
		case reason == "" && !held:
			j.added = append(j.added, r)
		case reason != "" && held:
			j.removed = append(j.removed, r)
		}
	}
}

// judgeContent notes the content operations of an event whose verdict
// differs between the two ACLs: one that counts now, and a key whose
// winner no longer counts. Puts that do not count under next as they would
// hide their document go to the tracker.
func (j *rejudgement) judgeContent(ctx context.Context, dr *docReducer, old, next *ACL, rec threads.Record, ops Ops, tracker *hideTracker) error {
	hides, err := dr.putsThatHide(ctx, rec, ops)
	if err != nil {
		return err
	}
	before, after := verdicts(old, rec, ops, hides), verdicts(next, rec, ops, hides)
	noteHides(tracker, next, rec, ops, hides, after, nil)
	keys := opKeys(rec.Thread, ops)
	for i := range before {
		switch {
		case before[i] == after[i] || keys[i] == (ds.Key{}):
		case after[i]:
			j.changed[eventRef{rec.Log, rec.Seq}] = true
		default:
			won, err := holds(ctx, rec.Thread, dr.ov, keys[i], opVersion(rec, i))
			if err != nil {
				return err
			}
			if won {
				j.lost[keys[i]] = true
			}
		}
	}
	return nil
}

// docRoleCount counts, while one log's ACL operations are judged again in
// order from seq from, the document-role changes of its author kept as a
// non-admin (see MaxDocRolesPerAuthor).
type docRoleCount struct {
	acl     *ACL
	author  string
	from    uint64
	started bool
	n       uint64
}

// judge says why an ACL operation of the author is not kept, or "".
func (c *docRoleCount) judge(r *aclRecord) string {
	if r.Op.Kind == ACLSetDocRole && !c.started {
		// Those kept before from: their verdicts did not change.
		c.started = true
		for _, h := range c.acl.records() {
			if h.Author == c.author && h.Seq < c.from && h.Op.Kind == ACLSetDocRole && !c.acl.Admin(h.Author, h.Seq) {
				c.n++
			}
		}
	}
	reason, counted := judgeACLRecord(c.acl, r, c.n)
	if counted {
		c.n++
	}
	return reason
}

// reapply applies again, under next, what classify found: it stores and
// deletes the ACL operations whose verdict changed, clears the lost keys
// and applies the operations that count now and did not, or that are on a
// lost key. It reports whether a collection was marked to re-check.
func (rj *rejudger) reapply(ctx context.Context, old, next *ACL, j *rejudgement, affected, upto map[ipel.LogID]uint64, by threads.Record) (bool, error) {
	p := rj.newPass(next, by)
	for i := range j.added {
		if err := p.dr.putEntry(ctx, aclRecordKey(rj.tid, j.added[i].Version), &j.added[i]); err != nil {
			return false, err
		}
	}
	for _, r := range j.removed {
		if err := p.dr.ov.Delete(ctx, aclRecordKey(rj.tid, r.Version)); err != nil {
			return false, err
		}
	}
	for _, author := range sortedKeys(j.docRoles) {
		k, n := docRoleCountKey(rj.tid, author), j.docRoles[author]
		var err error
		if n == 0 {
			err = p.dr.ov.Delete(ctx, k) // as a replay leaves it
		} else {
			err = putCount(ctx, p.dr.ov, k, n)
		}
		if err != nil {
			return false, err
		}
	}
	if err := p.clear(ctx, j.lost); err != nil {
		return false, err
	}
	// Without lost keys, only the affected events can have anything to
	// apply; with some, every event may hold what they go back to.
	from := affected
	if len(j.lost) > 0 {
		from = fromStart(upto)
	}
	err := p.apply(ctx, from, upto, func(rec threads.Record, ops Ops) error {
		if len(j.lost) == 0 && !j.changed[eventRef{rec.Log, rec.Seq}] {
			return nil
		}
		return p.dr.applyChanged(ctx, rec, ops, old, next, j)
	})
	if err != nil {
		return false, err
	}
	return p.dr.env.rechecks, p.flush()
}

// rejudgeSchemas judges again, under acl, the puts of the collections
// whose schema changed (see recheckResult): the lost documents are cleared
// and rebuilt from the operations on them that count, and the puts that
// may not have counted under the old schema are applied if they count now.
func (rj *rejudger) rejudgeSchemas(ctx context.Context, acl *ACL, res recheckResult, upto map[ipel.LogID]uint64) error {
	var colls []string
	for _, c := range res.colls {
		if rj.hides.mayHaveSkipped(c) {
			colls = append(colls, c)
		}
	}
	if len(res.lost) == 0 && len(colls) == 0 {
		return nil
	}
	lost := make(map[ds.Key]bool, len(res.lost))
	for _, k := range res.lost {
		lost[k] = true
	}
	from := rj.hides.since(colls, upto)
	if len(lost) > 0 {
		from = fromStart(upto)
	}
	p := rj.newPass(acl, res.by)
	if err := p.clear(ctx, lost); err != nil {
		return err
	}
	err := p.apply(ctx, from, upto, func(rec threads.Record, ops Ops) error {
		allowed := acl.allowed(rec.Log.String(), rec.Seq, ops)
		for i, op := range allowed.Docs {
			if op.Kind != DocPut && op.Kind != DocDelete {
				continue // not a document's, or refused by the ACL
			}
			if !lost[docKey(rj.tid, op.Coll, op.ID)] && (op.Kind != DocPut || !slices.Contains(colls, op.Coll)) {
				continue
			}
			p.dr.by = rec.EventRef
			if err := p.dr.apply(ctx, op, opVersion(rec, len(ops.KV)+i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return p.flush()
}

// pass is one re-applying of events by a rejudger, under one ACL, whose
// changes the event by asked for.
type pass struct {
	rj *rejudger
	dr *docReducer
	by threads.Record
}

func (rj *rejudger) newPass(acl *ACL, by threads.Record) *pass {
	env := &applyEnv{schemas: rj.schemas, acl: acl, hides: rj.hides}
	return &pass{rj: rj, by: by, dr: &docReducer{env: env, tid: rj.tid, ov: newOverlay(rj.store), by: by.EventRef}}
}

// flush commits what the pass wrote so far, with one change per document.
func (p *pass) flush() error {
	if err := p.rj.commit(p.dr.ov, p.by, netChanges(p.dr.changes)); err != nil {
		return err
	}
	p.dr.ov, p.dr.changes, p.dr.env.colls = newOverlay(p.rj.store), nil, nil
	return nil
}

// clear clears keys, in key order.
func (p *pass) clear(ctx context.Context, keys map[ds.Key]bool) error {
	sorted := make([]ds.Key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, k := range sorted {
		if err := p.dr.clear(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// apply calls fn with the view operations of the events of each log from
// from up to upto, committing every chunk bytes.
func (p *pass) apply(ctx context.Context, from, upto map[ipel.LogID]uint64, fn func(threads.Record, Ops) error) error {
	for _, logID := range sortedLogs(from) {
		err := p.rj.read(ctx, logID, from[logID], upto[logID], func(rec threads.Record) error {
			p.rj.reread++
			ops, ok := viewOps(rec)
			if !ok {
				return nil
			}
			if err := fn(rec, ops); err != nil {
				return err
			}
			if p.dr.ov.size() >= p.rj.chunk {
				return p.flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fromStart reads every log from its first event.
func fromStart(upto map[ipel.LogID]uint64) map[ipel.LogID]uint64 {
	from := make(map[ipel.LogID]uint64, len(upto))
	for l := range upto {
		from[l] = 1
	}
	return from
}

// errReadDone stops a reading of events.
var errReadDone = errors.New("read done")

// readEvents calls fn with the events of one log from seq from to seq to,
// in order.
func (m *Manager) readEvents(ctx context.Context, tid ipel.ThreadID, logID ipel.LogID, from, to uint64, fn func(threads.Record) error) error {
	if from < 1 {
		from = 1
	}
	if from > to {
		return nil
	}
	cur := threads.Cursor{Since: math.MaxUint64, Logs: map[ipel.LogID]uint64{logID: from - 1}, Strict: true}
	err := m.s.ListenBatches(ctx, tid, cur, applyBatch, func(recs []threads.Record) error {
		for _, rec := range recs {
			if rec.Seq > to {
				return errReadDone
			}
			if err := fn(rec); err != nil {
				return err
			}
			if rec.Seq == to {
				return errReadDone
			}
		}
		return nil
	})
	if errors.Is(err, errReadDone) {
		return nil
	}
	return err
}

// viewOps decodes an event's view operations as the reducer applies them;
// ok is false for events that change no view (raw, private, malformed or
// over the budget).
func viewOps(rec threads.Record) (Ops, bool) {
	if rec.To != "" {
		return Ops{}, false
	}
	ops, err := DecodeOps(rec.Body)
	if err != nil || costOf(ops).overBudget() != "" {
		return Ops{}, false
	}
	return ops, true
}

// opVersion is the version of an event's i-th operation.
func opVersion(rec threads.Record, i int) Version {
	return Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: i}
}

// opKeys returns the view keys an event's content operations write (in
// the order of their versions' index), "" for an operation that writes none.
// An index operation writes its field's definition, declared or dropped,
// named by its declared key.
func opKeys(tid ipel.ThreadID, ops Ops) []ds.Key {
	keys := make([]ds.Key, 0, len(ops.KV)+len(ops.Docs))
	for _, op := range ops.KV {
		keys = append(keys, kvKey(tid, ds.NewKey(op.Key)))
	}
	for _, op := range ops.Docs {
		var k ds.Key
		if validCollection(op.Coll) == nil {
			switch op.Kind {
			case DocPut, DocDelete:
				k = docKey(tid, op.Coll, op.ID)
			case DocCollection:
				k = collKey(tid, op.Coll)
			case DocIndex, DocIndexDrop:
				k = indexDefKey(tid, op.Coll, op.Field)
			}
		}
		keys = append(keys, k)
	}
	return keys
}

// putsThatHide says, for each document operation of an event, whether it
// is a put that would hide its document by the collection's schema as it
// stands (see docReducer.counts).
func (r *docReducer) putsThatHide(ctx context.Context, rec threads.Record, ops Ops) ([]bool, error) {
	out := make([]bool, len(ops.Docs))
	for i, op := range ops.Docs {
		if op.Kind != DocPut || validCollection(op.Coll) != nil {
			continue
		}
		_, parsed, refused := docEntryOf(op, opVersion(rec, len(ops.KV)+i))
		if refused != "" {
			continue // writes nothing either way
		}
		cs, err := r.coll(ctx, op.Coll)
		if err != nil {
			return nil, err
		}
		out[i] = cs.entry != nil && r.hidden(cs, parsed)
	}
	return out, nil
}

// verdicts lists which content operations of an event count under an ACL,
// in the order of opKeys: those the ACL allows, but puts that would hide
// their document (hides) from a writer who may not hide it.
func verdicts(acl *ACL, rec threads.Record, ops Ops, hides []bool) []bool {
	allowed := acl.allowed(rec.Log.String(), rec.Seq, ops)
	out := make([]bool, 0, len(ops.KV)+len(ops.Docs))
	for _, op := range allowed.KV {
		out = append(out, op.Key != "")
	}
	for i, op := range allowed.Docs {
		ok := op.Kind != 0
		if ok && hides[i] {
			ok = acl.mayHide(op.Coll, op.ID, opVersion(rec, len(ops.KV)+i))
		}
		out = append(out, ok)
	}
	return out
}

// noteHides gives the tracker the puts of an event (those concerns selects,
// nil: all) that do not count under acl only as they would hide their
// document.
func noteHides(tracker *hideTracker, acl *ACL, rec threads.Record, ops Ops, hides, verdicts []bool, concerns func(i int) bool) {
	for i, op := range acl.allowed(rec.Log.String(), rec.Seq, ops).Docs {
		k := len(ops.KV) + i
		if op.Kind != 0 && hides[i] && !verdicts[k] && (concerns == nil || concerns(k)) {
			tracker.skipped(op.Coll, opVersion(rec, k))
		}
	}
}

// holds says whether a view key holds the write of version v.
func holds(ctx context.Context, tid ipel.ThreadID, ov *overlay, k ds.Key, v Version) (bool, error) {
	var held *Version
	var err error
	docs := threadPrefix(tid) + "/docs/"
	switch parent := k.Parent().String(); {
	case isKVKey(tid, k):
		var e *KVEntry
		if e, err = getEntry[KVEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case parent == docs+"c":
		var e *CollEntry
		if e, err = getEntry[CollEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case k.Parent().Parent().String() == docs+"d":
		var e *DocEntry
		if e, err = getEntry[DocEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case k.Parent().Parent().String() == docs+"x":
		var e *IndexEntry
		if e, err = getEntry[IndexEntry](ctx, ov, k); e == nil && err == nil {
			e, err = getEntry[IndexEntry](ctx, ov, indexDropKeyOf(tid, k))
		}
		if e != nil {
			held = &e.Version
		}
	}
	if err != nil || held == nil {
		return false, err
	}
	return held.Compare(v) == 0, nil
}

// isKVKey says whether a view key is a key/value entry's (the user key "/"
// is the prefix itself).
func isKVKey(tid ipel.ThreadID, k ds.Key) bool {
	ks, prefix := k.String(), kvPrefix(tid)
	return ks == prefix || strings.HasPrefix(ks, prefix+"/")
}

// indexDropKeyOf returns the dropped definition's key of a declared one.
func indexDropKeyOf(tid ipel.ThreadID, declared ds.Key) ds.Key {
	return ds.RawKey(docsPrefix(tid, "xd", declared.Parent().BaseNamespace()) + "/" + declared.BaseNamespace())
}

// applyChanged applies an event's operations that re-judging concerns:
// those on lost keys that count under the new ACL, and those that count
// under the new ACL and did not under the old.
func (r *docReducer) applyChanged(ctx context.Context, rec threads.Record, ops Ops, old, next *ACL, j *rejudgement) error {
	r.by = rec.EventRef
	hides, err := r.putsThatHide(ctx, rec, ops)
	if err != nil {
		return err
	}
	after := verdicts(next, rec, ops, hides)
	var before []bool
	if j.changed[eventRef{rec.Log, rec.Seq}] {
		before = verdicts(old, rec, ops, hides)
	}
	keys := opKeys(r.tid, ops)
	concerns := func(i int) bool { return j.lost[keys[i]] || (before != nil && !before[i]) }
	noteHides(r.env.hides, next, rec, ops, hides, after, concerns)
	for i, ok := range after {
		if !ok || !concerns(i) {
			continue
		}
		if i < len(ops.KV) {
			err = applyKV(ctx, r.ov, r.env, rec, ops.KV[i], i)
		} else {
			err = r.apply(ctx, ops.Docs[i-len(ops.KV)], opVersion(rec, i))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// clear empties a view key whose winner no longer counts, with what depends
// on it: a document's index entries (and a delete for the change feed when
// it was visible); a collection's documents are decided again, and an
// index definition's collection's indexes, once their operations are
// applied again (see recheck.go).
func (r *docReducer) clear(ctx context.Context, k ds.Key) error {
	docs := threadPrefix(r.tid) + "/docs/"
	switch {
	case k.Parent().Parent().String() == docs+"d":
		coll := k.Parent().BaseNamespace()
		e, err := getEntry[DocEntry](ctx, r.ov, k)
		if err != nil || e == nil {
			return err
		}
		if e.visible() {
			id, err := hexID(k)
			if err != nil {
				return err
			}
			cs, err := r.coll(ctx, coll)
			if err != nil {
				return err
			}
			if err := r.reindex(ctx, cs, coll, id, e, &DocEntry{Deleted: true}); err != nil {
				return err
			}
		}
	case k.Parent().String() == docs+"c":
		coll := k.BaseNamespace()
		delete(r.env.colls, coll)
		if err := r.markRecheck(ctx, coll, recheck{Schema: true}); err != nil {
			return err
		}
	case k.Parent().Parent().String() == docs+"x":
		return r.clearIndexDef(ctx, k)
	case isKVKey(r.tid, k):
	default:
		return nil
	}
	return r.ov.Delete(ctx, k)
}

// clearIndexDef empties a field's index definition, declared or dropped,
// and marks what that changes of the collection's indexes.
func (r *docReducer) clearIndexDef(ctx context.Context, declared ds.Key) error {
	coll := declared.Parent().BaseNamespace()
	cs, err := r.coll(ctx, coll)
	if err != nil {
		return err
	}
	before, err := r.fieldsOf(ctx, cs, coll)
	if err != nil {
		return err
	}
	for _, k := range []ds.Key{declared, indexDropKeyOf(r.tid, declared)} {
		if err := r.ov.Delete(ctx, k); err != nil {
			return err
		}
	}
	cs.hasFields = false
	after, err := r.fieldsOf(ctx, cs, coll)
	if err != nil {
		return err
	}
	return r.markIndexChanges(ctx, coll, before, after)
}

// netChanges reduces a list of document changes to one per document: what
// changed between before the first and after the last.
func netChanges(changes []DocChange) []DocChange {
	type span struct{ first, last int }
	spans := map[[2]string]*span{}
	var order [][2]string
	for i, c := range changes {
		k := [2]string{c.Coll, c.ID}
		if s := spans[k]; s != nil {
			s.last = i
			continue
		}
		spans[k] = &span{i, i}
		order = append(order, k)
	}
	out := make([]DocChange, 0, len(order))
	for _, k := range order {
		s := spans[k]
		first, last := changes[s.first], changes[s.last]
		wasVisible := first.Type != ChangeCreate
		isVisible := last.Type != ChangeDelete
		switch {
		case !wasVisible && isVisible:
			out = append(out, DocChange{Coll: k[0], ID: k[1], Type: ChangeCreate, Doc: last.Doc})
		case wasVisible && isVisible:
			out = append(out, DocChange{Coll: k[0], ID: k[1], Type: ChangeUpdate, Doc: last.Doc})
		case wasVisible && !isVisible:
			out = append(out, DocChange{Coll: k[0], ID: k[1], Type: ChangeDelete})
		}
	}
	return out
}

func sortedLogs(m map[ipel.LogID]uint64) []ipel.LogID {
	out := make([]ipel.LogID, 0, len(m))
	for l := range m {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// hexID returns the document ID (or field) a view key names in hex as its
// last part.
func hexID(k ds.Key) (string, error) {
	id, err := hex.DecodeString(k.BaseNamespace())
	if err != nil {
		return "", fmt.Errorf("view entry %s: %w", k, err)
	}
	return string(id), nil
}
