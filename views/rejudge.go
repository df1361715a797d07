package views

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Re-judging. When an ACL change judges events already applied
// differently (a revocation arriving after the events it revokes, a grant
// after the events it allows), the runner applies again what changed, and
// only that:
//
//   - the affected events are, per log, those from the lowest seq at which a
//     role the log's writer holds (its thread role, or its role on a document
//     whose role changed) differs between the old and the new ACL; other logs
//     are not read;
//   - an operation of an affected event whose verdict did not change is left
//     alone; one the new ACL allows is applied (the later version wins, as
//     ever); one it refuses changes nothing unless it is what its key holds,
//     and then the key is cleared and rebuilt from the operations on it that
//     count, which takes one reading of the thread's events (applying only
//     those on such keys), since a key keeps only its winner.
//
// The pass runs right after the batch that changed the ACL, under the
// runner's lock; a mark written with that batch makes a crash in between
// end in a full replay at the next start.

// affectedLogs returns, for each log whose applied events (up to applied)
// the new ACL judges differently from the old, the lowest such seq. Roles
// are piecewise constant in seq, changing only where a role change applies
// from, so the first difference is at one of those points or at 1.
func affectedLogs(creator string, old, next *ACL, applied map[ipel.LogID]uint64) map[ipel.LogID]uint64 {
	rolesChanged := changedKeys(old.roles, next.roles)
	docChanged := map[string][]string{} // peer -> document-role keys whose changes differ
	for k := range changedKeys(old.docRoles, next.docRoles) {
		_, _, p := splitDocRoleKey(k)
		docChanged[p] = append(docChanged[p], k)
	}
	dfltChanged := old.dflt != next.dflt
	out := map[ipel.LogID]uint64{}
	for logID, upto := range applied {
		p := logID.String()
		threadRole := rolesChanged[p] || (dfltChanged && p != creator)
		if !threadRole && len(docChanged[p]) == 0 {
			continue
		}
		points := []uint64{1}
		for _, a := range []*ACL{old, next} {
			for _, c := range a.roles[p] {
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

// judgedAlike says whether two ACLs give a peer the same roles at seq, on
// the thread and on the given documents.
func judgedAlike(old, next *ACL, peer string, seq uint64, docKeys []string) bool {
	if old.Role(peer, seq) != next.Role(peer, seq) {
		return false
	}
	for _, k := range docKeys {
		coll, id, _ := splitDocRoleKey(k)
		if old.DocRole(coll, id, peer, seq) != next.DocRole(coll, id, peer, seq) {
			return false
		}
	}
	return true
}

// changedKeys returns the keys whose lists of changes differ.
func changedKeys(a, b map[string][]roleChange) map[string]bool {
	out := map[string]bool{}
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
		if a[i].from != b[i].from || a[i].role != b[i].role || a[i].admin != b[i].admin || a[i].version.Compare(b[i].version) != 0 {
			return false
		}
	}
	return true
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

// eventRef names an event by log and seq.
type eventRef struct {
	log ipel.LogID
	seq uint64
}

// contentOps decodes an event's view operations as the reducer would see
// them; ok is false for events that change no view.
func contentOps(rec threads.Record) (Ops, bool) {
	ops, ok := DecodeOps(rec.Body)
	if !ok || rec.To != "" || costOf(ops).overBudget() != "" {
		return Ops{}, false
	}
	return ops, true
}

// opKeys returns the view keys an event's content operations write (in
// the order of their versions' index), "" for an operation that writes none.
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
			case DocIndex:
				k = indexDefKey(tid, op.Coll, op.Field)
			}
		}
		keys = append(keys, k)
	}
	return keys
}

// verdicts lists which content operations of an event an ACL allows, in
// the order of opKeys.
func verdicts(acl *ACL, rec threads.Record, ops Ops) []bool {
	allowed := acl.allowed(rec.Log.String(), rec.Seq, ops)
	out := make([]bool, 0, len(ops.KV)+len(ops.Docs))
	for _, op := range allowed.KV {
		out = append(out, op.Key != "")
	}
	for _, op := range allowed.Docs {
		out = append(out, op.Kind != 0)
	}
	return out
}

// rejudgement is what re-judging found in the affected events.
type rejudgement struct {
	changed map[eventRef]bool // events with an operation the new ACL allows and the old did not
	lost    map[ds.Key]bool   // keys whose winner the new ACL refuses
	read    int               // events read
}

// classify reads the affected events and sorts out what changed.
func (m *Manager) classify(ctx context.Context, tid ipel.ThreadID, old, next *ACL, affected, upto map[ipel.LogID]uint64) (*rejudgement, error) {
	rj := &rejudgement{changed: map[eventRef]bool{}, lost: map[ds.Key]bool{}}
	ov := newOverlay(m.store)
	for _, logID := range sortedLogs(affected) {
		err := m.readEvents(ctx, tid, logID, affected[logID], upto[logID], func(rec threads.Record) error {
			rj.read++
			ops, ok := contentOps(rec)
			if !ok {
				return nil
			}
			before, after := verdicts(old, rec, ops), verdicts(next, rec, ops)
			keys := opKeys(tid, ops)
			for i := range before {
				switch {
				case before[i] == after[i] || keys[i] == (ds.Key{}):
				case after[i]:
					rj.changed[eventRef{rec.Log, rec.Seq}] = true
				default:
					v := Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: i}
					won, err := holds(ctx, tid, ov, keys[i], v)
					if err != nil {
						return err
					}
					if won {
						rj.lost[keys[i]] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return rj, nil
}

// holds says whether a view key holds the write of version v.
func holds(ctx context.Context, tid ipel.ThreadID, ov *overlay, k ds.Key, v Version) (bool, error) {
	var held *Version
	var err error
	switch kind := k.Parent().String(); {
	case strings.HasPrefix(k.String(), kvPrefix(tid)+"/"):
		var e *KVEntry
		if e, err = getEntry[KVEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case kind == threadPrefix(tid)+"/docs/c":
		var e *CollEntry
		if e, err = getEntry[CollEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case k.Parent().Parent().String() == threadPrefix(tid)+"/docs/d":
		var e *DocEntry
		if e, err = getEntry[DocEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	case k.Parent().Parent().String() == threadPrefix(tid)+"/docs/x":
		var e *IndexEntry
		if e, err = getEntry[IndexEntry](ctx, ov, k); e != nil {
			held = &e.Version
		}
	}
	if err != nil || held == nil {
		return false, err
	}
	return held.Compare(v) == 0, nil
}

// rejudge applies again, under next, what the change from old to next
// judges differently among the events up to upto, and feeds the visible
// changes as made by the event by. The caller holds the runner's applyMu.
func (m *Manager) rejudge(ctx context.Context, r *runner, old, next *ACL, affected, upto map[ipel.LogID]uint64, by threads.Record) error {
	rj, err := m.classify(ctx, r.tid, old, next, affected, upto)
	if err != nil {
		return err
	}
	ov := newOverlay(m.store)
	dr := &docReducer{env: &applyEnv{schemas: m.schemas, acl: next}, tid: r.tid, ov: ov, by: by.EventRef}
	flush := func() error {
		saved := r.feed.last
		if err := r.feed.write(ctx, dr.ov, by, netChanges(dr.changes)); err != nil {
			r.feed.last = saved
			return err
		}
		dr.ov.endEvent(true)
		if err := commitOverlay(ctx, m.store, dr.ov); err != nil {
			r.feed.last = saved
			return err
		}
		dr.ov, dr.changes = newOverlay(m.store), nil
		dr.env.colls = nil
		return nil
	}
	lost := make([]ds.Key, 0, len(rj.lost))
	for k := range rj.lost {
		lost = append(lost, k)
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].String() < lost[j].String() })
	for _, k := range lost {
		if err := dr.clear(ctx, k); err != nil {
			return err
		}
	}
	// Without lost keys, only the affected events can have anything to
	// apply; with some, every event may hold what they go back to.
	from := affected
	if len(rj.lost) > 0 {
		from = map[ipel.LogID]uint64{}
		for l := range upto {
			from[l] = 1
		}
	}
	apply := func(rec threads.Record) error {
		rj.read++
		ops, ok := contentOps(rec)
		if !ok || (len(rj.lost) == 0 && !rj.changed[eventRef{rec.Log, rec.Seq}]) {
			return nil
		}
		if err := dr.applyChanged(ctx, rec, ops, old, next, rj); err != nil {
			return err
		}
		if dr.ov.size() >= maxBatchBytes {
			return flush()
		}
		return nil
	}
	for _, logID := range sortedLogs(from) {
		if err := m.readEvents(ctx, r.tid, logID, from[logID], upto[logID], apply); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	m.rejudged.Add(float64(rj.read))
	if dr.env.rechecks {
		return m.drainRechecks(ctx, r)
	}
	return nil
}

// applyChanged applies an event's operations that re-judging concerns: those
// on lost keys that the new ACL allows, and those the new ACL allows and the
// old did not.
func (r *docReducer) applyChanged(ctx context.Context, rec threads.Record, ops Ops, old, next *ACL, rj *rejudgement) error {
	r.by = rec.EventRef
	after := verdicts(next, rec, ops)
	var before []bool
	if rj.changed[eventRef{rec.Log, rec.Seq}] {
		before = verdicts(old, rec, ops)
	}
	keys := opKeys(r.tid, ops)
	for i, ok := range after {
		if !ok || !(rj.lost[keys[i]] || (before != nil && !before[i])) {
			continue
		}
		var err error
		if i < len(ops.KV) {
			err = applyKV(ctx, r.ov, r.env, rec, ops.KV[i], i)
		} else {
			err = r.apply(ctx, ops.Docs[i-len(ops.KV)], Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: i})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// clear empties a view key whose winner no longer counts, with what depends
// on it: a document's index entries (and a delete for the change feed when
// it was visible), an index's entries; a collection's documents are decided
// again once its operations are applied again.
func (r *docReducer) clear(ctx context.Context, k ds.Key) error {
	ks := k.String()
	switch {
	case k.Parent().Parent().String() == threadPrefix(r.tid)+"/docs/d":
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
	case k.Parent().String() == threadPrefix(r.tid)+"/docs/c":
		coll := k.BaseNamespace()
		delete(r.env.colls, coll)
		if err := r.markRecheck(ctx, coll, recheck{Schema: true}); err != nil {
			return err
		}
	case k.Parent().Parent().String() == threadPrefix(r.tid)+"/docs/x":
		coll := k.Parent().BaseNamespace()
		delete(r.env.colls, coll)
		prefix := docsPrefix(r.tid, "i", coll) + "/" + k.BaseNamespace()
		if err := r.deleteUnder(ctx, prefix); err != nil {
			return err
		}
	case strings.HasPrefix(ks, kvPrefix(r.tid)+"/"):
	default:
		return nil
	}
	return r.ov.Delete(ctx, k)
}

// deleteUnder deletes every stored entry under prefix, in the overlay.
func (r *docReducer) deleteUnder(ctx context.Context, prefix string) error {
	res, err := r.ov.r.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		if err := r.ov.Delete(ctx, ds.RawKey(e.Key)); err != nil {
			return err
		}
	}
	return nil
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

// hexID returns the document ID of a document key.
func hexID(k ds.Key) (string, error) {
	id, err := hex.DecodeString(k.BaseNamespace())
	if err != nil {
		return "", fmt.Errorf("view entry %s: %w", k, err)
	}
	return string(id), nil
}

// splitDocRoleKey splits a document-role key (see docRoleKey) into its
// parts; the peer, which holds no NUL, is the last.
func splitDocRoleKey(k string) (coll, id, peer string) {
	first, last := strings.IndexByte(k, 0), strings.LastIndexByte(k, 0)
	if first < 0 || first == last {
		return "", "", k
	}
	return k[:first], k[first+1 : last], k[last+1:]
}
