package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

var log = logging.Logger("threads/views")

// Manager keeps the views of every thread it is asked to up to date, one
// runner per thread following the thread's events.
type Manager struct {
	s        *threads.Service
	store    ds.Batching
	apply    prometheus.Histogram
	skipped  *prometheus.CounterVec
	rejudged prometheus.Counter
	schemas  *schemaCache

	// SnapshotInterval: the runner takes a snapshot whenever the events
	// applied (the sum of the cursor's seqs) reach a multiple of it; 0: off.
	// Set it before the first Ensure.
	SnapshotInterval uint64
	// AutoCompact compacts the logs after every automatic snapshot.
	AutoCompact bool

	// recheckChunk is how many bytes a re-check commits at a time.
	recheckChunk int
	// beforeApply, when set (by tests), is called before each event is
	// applied.
	beforeApply func(threads.Record)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	runners    map[ipel.ThreadID]*runner
	rebuilding map[ipel.ThreadID]chan struct{} // closed when the rebuild has a runner
}

// runner applies one thread's events.
type runner struct {
	tid    ipel.ThreadID
	cancel context.CancelFunc
	done   chan struct{}

	feed *feedWriter

	// Access-controlled threads: the ACL's operations and their resolution
	// (under applyMu), and the read-key rotations already taken up.
	acl       *ACL
	creator   string
	hides     *hideTracker          // where puts that would hide did not count
	installed map[string]*codec.Key // rotated keys by sealed form; nil: refused
	badKeys   int                   // rotated keys refused: did not open, or broke their commitment

	// applyMu is held while a batch is applied and while a snapshot is
	// taken or loaded, so a snapshot sees state and cursors together.
	applyMu sync.Mutex

	mu      sync.Mutex
	applied map[ipel.LogID]uint64
	moved   chan struct{} // closed and replaced when applied moves
	err     error         // why the runner stopped, if it did
}

// NewManager makes a manager keeping views in store (a namespace of their
// own); reg, when set, receives its metrics. Close stops it.
func NewManager(s *threads.Service, store ds.Batching, reg prometheus.Registerer) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	h := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "threads", Name: "view_apply_seconds", Help: "Time to apply one event to a thread's views.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16),
	}))
	skipped := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "threads", Name: "view_skipped_total", Help: "Events skipped and operations refused by the views, by reason.",
	}, []string{"reason"}))
	rejudged := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "threads", Name: "view_rejudged_events_total", Help: "Events read again because an ACL or schema change judged them differently.",
	}))
	return &Manager{s: s, store: store, apply: h, skipped: skipped, rejudged: rejudged, schemas: newSchemaCache(), recheckChunk: recheckChunk, ctx: ctx, cancel: cancel,
		runners: map[ipel.ThreadID]*runner{}, rebuilding: map[ipel.ThreadID]chan struct{}{}}
}

// register registers a collector, or returns the one already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// Close stops every runner.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

// Ensure starts keeping a thread's views if it is not already; threads
// without the read key have no views.
func (m *Manager) Ensure(tid ipel.ThreadID) error {
	ti, err := m.s.Info(tid)
	if err != nil {
		return err
	}
	if !ti.HasReadKey {
		return fmt.Errorf("views of %s: %w", tid, threads.ErrNoReadKey)
	}
	m.mu.Lock()
	// A rebuild in progress starts the runner itself: wait for it.
	for ch := m.rebuilding[tid]; ch != nil; ch = m.rebuilding[tid] {
		m.mu.Unlock()
		select {
		case <-ch:
		case <-m.ctx.Done():
			return threads.ErrClosed
		}
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	if r := m.runners[tid]; r != nil {
		select {
		case <-r.done:
		default:
			return nil
		}
	}
	if m.ctx.Err() != nil {
		return threads.ErrClosed
	}
	r, err := m.startRunner(tid, nil)
	if err != nil {
		return err
	}
	m.runners[tid] = r
	return nil
}

// EnsureAll keeps the views of every thread whose read key this node holds.
func (m *Manager) EnsureAll() error {
	ths, err := m.s.Threads()
	if err != nil {
		return err
	}
	for _, ti := range ths {
		if ti.HasReadKey {
			if err := m.Ensure(ti.ID); err != nil && !errors.Is(err, threads.ErrThreadNotFound) {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) loadCursors(tid ipel.ThreadID) (map[ipel.LogID]uint64, error) {
	res, err := m.store.Query(m.ctx, dsq.Query{Prefix: threadPrefix(tid) + "/cursor/"})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := map[ipel.LogID]uint64{}
	for _, e := range entries {
		id, err := ipel.ParseLogID(ds.NewKey(e.Key).BaseNamespace())
		if err != nil || len(e.Value) != 8 {
			return nil, fmt.Errorf("view cursor %s: corrupt", e.Key)
		}
		out[id] = binary.BigEndian.Uint64(e.Value)
	}
	return out, nil
}

// startRunner starts applying a thread's events after its cursors; the
// changes of events up to quiet (events a rebuild applies again) are not
// fed to change streams again.
func (m *Manager) startRunner(tid ipel.ThreadID, quiet map[ipel.LogID]uint64) (*runner, error) {
	upgraded, err := m.upgradeLayout(m.ctx, tid)
	if err != nil {
		return nil, fmt.Errorf("views of %s: %w", tid, err)
	}
	for l, s := range upgraded {
		if quiet == nil {
			quiet = map[ipel.LogID]uint64{}
		}
		quiet[l] = max(quiet[l], s)
	}
	cursors, err := m.loadCursors(tid)
	if err != nil {
		return nil, fmt.Errorf("views of %s: %w", tid, err)
	}
	feed, err := m.openFeed(m.ctx, tid, quiet)
	if err != nil {
		return nil, fmt.Errorf("views of %s: %w", tid, err)
	}
	ctx, cancel := context.WithCancel(m.ctx)
	// Views applied from the start know where puts did not count.
	r := &runner{tid: tid, cancel: cancel, done: make(chan struct{}), applied: cursors, moved: make(chan struct{}), feed: feed,
		hides: newHideTracker(len(cursors) == 0)}
	if err := m.loadRunnerACL(m.ctx, r); err != nil {
		cancel()
		return nil, fmt.Errorf("views of %s: %w", tid, err)
	}
	for id, seq := range cursors {
		r.applied[id] = seq
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		err := m.run(ctx, r, cursors)
		r.mu.Lock()
		r.err = err
		close(r.moved)
		r.moved = make(chan struct{})
		r.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, threads.ErrClosed) && !errors.Is(err, threads.ErrThreadNotFound) {
			log.Errorf("views of %s stopped: %s", tid, err)
		}
	}()
	return r, nil
}

// run applies the thread's events from the cursors on. When a log is
// compacted past its cursor, the views start over from the snapshot.
func (m *Manager) run(ctx context.Context, r *runner, cursors map[ipel.LogID]uint64) error {
	loaded := false
	if _, err := m.store.Get(ctx, replayKey(r.tid)); err == nil {
		// Re-judging after a batch was cut short by a crash.
		if cursors, err = m.replay(ctx, r); err != nil {
			return err
		}
	}
	// Re-checks cut short by a crash.
	r.applyMu.Lock()
	err := m.drainRechecks(ctx, r, cursors)
	r.applyMu.Unlock()
	if err != nil {
		return err
	}
	for {
		err := m.s.ListenBatches(ctx, r.tid, threads.Cursor{Logs: copyCursors(cursors), Strict: true}, applyBatch, func(recs []threads.Record) error {
			return m.applyBatch(ctx, r, recs)
		})
		if !errors.Is(err, threads.ErrCompacted) || loaded {
			return err
		}
		loaded = true
		if cursors, err = m.loadSnapshot(ctx, r); err != nil {
			return err
		}
	}
}

func copyCursors(c map[ipel.LogID]uint64) map[ipel.LogID]uint64 {
	out := make(map[ipel.LogID]uint64, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// applyBatch is how many events the runner applies in one datastore batch.
const applyBatch = 512

// applyBatch folds events into the views, state and cursors in one batch
// (a crash never splits them). When the events applied reach a multiple of
// SnapshotInterval, the batch is cut there and a snapshot is taken, so that
// every replica snapshots at the same count.
func (m *Manager) applyBatch(ctx context.Context, r *runner, recs []threads.Record) error {
	for len(recs) > 0 {
		n := len(recs)
		snap := false
		if iv := m.SnapshotInterval; iv > 0 {
			r.mu.Lock()
			var sum uint64
			for _, s := range r.applied {
				sum += s
			}
			r.mu.Unlock()
			// Events of one log in a batch are contiguous: each adds one.
			if next := (sum/iv + 1) * iv; next-sum <= uint64(n) {
				n, snap = int(next-sum), true
			}
		}
		if err := m.commitBatch(ctx, r, recs[:n]); err != nil {
			return err
		}
		if snap {
			if err := m.autoSnapshot(ctx, r); err != nil {
				log.Warnf("views of %s: snapshot: %s", r.tid, err)
			}
		}
		recs = recs[n:]
	}
	return nil
}

// maxBatchBytes: the runner commits a datastore batch once its writes reach
// this many bytes, whatever the number of events, so that a batch of large
// events never holds much more than that in memory.
const maxBatchBytes = 32 << 20

// commitBatch applies events, in as many datastore batches as their writes
// need (see maxBatchBytes).
func (m *Manager) commitBatch(ctx context.Context, r *runner, recs []threads.Record) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	for len(recs) > 0 {
		n, err := m.commitSome(ctx, r, recs)
		if err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// commitSome applies events from the first on until the batch's writes
// reach maxBatchBytes, commits them with their cursors, brings the views in
// line with what they changed (rejudger.settle), and returns how many it
// applied.
func (m *Manager) commitSome(ctx context.Context, r *runner, recs []threads.Record) (int, error) {
	start := time.Now()
	ov := newOverlay(m.store)
	saved := r.feed.last
	env := &applyEnv{schemas: m.schemas, acl: r.acl, hides: r.hides}
	n := 0
	for n < len(recs) && (n == 0 || ov.size() < maxBatchBytes) {
		if err := m.applyOne(ctx, r, ov, env, recs[n]); err != nil {
			r.feed.last = saved
			return 0, fmt.Errorf("apply %s: %w", recs[n].Cid, err)
		}
		n++
	}
	recs = recs[:n]
	r.mu.Lock()
	upto := copyCursors(r.applied)
	r.mu.Unlock()
	for _, rec := range recs {
		upto[rec.Log] = rec.Seq
	}
	// An ACL change may judge applied events differently, and a schema
	// change in an access-controlled thread the puts of its collection:
	// those are judged again once the batch is in, and a mark in the batch
	// makes a crash in between end in a full replay.
	var nextACL *ACL
	if len(env.added) > 0 || len(env.removed) > 0 {
		if nextACL = r.acl.withRecords(env.added, env.removed); nextACL == r.acl {
			nextACL = nil // all held already
		}
	}
	rejudge := nextACL != nil || (r.acl != nil && env.schemaMarked)
	if rejudge {
		if err := ov.Put(ctx, replayKey(r.tid), []byte{}); err != nil {
			return 0, err
		}
		ov.endEvent(true)
	}
	if err := commitOverlay(ctx, m.store, ov); err != nil {
		r.feed.last = saved
		return 0, fmt.Errorf("apply %d events: %w", len(recs), err)
	}
	if nextACL != nil || env.rechecks {
		acl, err := m.settle(ctx, r, nextACL, upto, recs[n-1], env.rechecks)
		if err != nil {
			return 0, err
		}
		r.acl = acl
	}
	if rejudge {
		if err := m.store.Delete(ctx, replayKey(r.tid)); err != nil {
			return 0, err
		}
	}
	per := time.Since(start).Seconds() / float64(len(recs))
	for range recs {
		m.apply.Observe(per)
	}
	r.mu.Lock()
	for _, rec := range recs {
		r.applied[rec.Log] = rec.Seq
	}
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
	if nextACL != nil {
		m.installKeys(ctx, r)
	}
	return n, nil
}

// settle brings a runner's views in line with what was applied up to upto
// (whose last event is by): the ACL from r.acl to next (nil: unchanged) and
// the collections marked to re-check (rechecks: some may be). It returns
// the ACL that holds after. The caller holds r.applyMu.
func (m *Manager) settle(ctx context.Context, r *runner, next *ACL, upto map[ipel.LogID]uint64, by threads.Record, rechecks bool) (*ACL, error) {
	rj := &rejudger{tid: r.tid, store: m.store, schemas: m.schemas, creator: r.creator, hides: r.hides, chunk: m.recheckChunk,
		read: func(ctx context.Context, logID ipel.LogID, from, to uint64, fn func(threads.Record) error) error {
			return m.readEvents(ctx, r.tid, logID, from, to, fn)
		},
		commit: func(ov *overlay, by threads.Record, changes []DocChange) error {
			saved := r.feed.last
			if err := r.feed.write(ctx, ov, by, changes); err != nil {
				r.feed.last = saved
				return err
			}
			ov.endEvent(true)
			if err := commitOverlay(ctx, m.store, ov); err != nil {
				r.feed.last = saved
				return err
			}
			return nil
		},
	}
	acl, err := rj.settle(ctx, r.acl, next, upto, by, rechecks)
	m.rejudged.Add(float64(rj.reread))
	if err != nil {
		return nil, fmt.Errorf("views of %s: %w", r.tid, err)
	}
	return acl, nil
}

// drainRechecks goes over the collections of a runner's thread that are
// marked to re-check (left by a crash); the caller holds r.applyMu.
func (m *Manager) drainRechecks(ctx context.Context, r *runner, upto map[ipel.LogID]uint64) error {
	acl, err := m.settle(ctx, r, nil, upto, threads.Record{}, true)
	if err != nil {
		return err
	}
	r.acl = acl
	return nil
}

// applyOne applies one event to the batch, with its change-feed entries and
// the count of what it skipped or refused.
func (m *Manager) applyOne(ctx context.Context, r *runner, ov *overlay, env *applyEnv, rec threads.Record) error {
	changes, err := applyGuarded(ctx, ov, env, rec, m.beforeApply)
	if err != nil {
		return err
	}
	if err := r.feed.write(ctx, ov, rec, changes); err != nil {
		return err
	}
	if !env.report.empty() && rec.Seq > r.feed.quiet[rec.Log] {
		if err := m.countSkips(ctx, ov, rec, &env.report); err != nil {
			return err
		}
	}
	ov.endEvent(true)
	return nil
}

// applyGuarded applies one event; a panic while applying it drops what the
// event wrote and skips it, so that an event that breaks the reducer cannot
// stop its thread (or, as the runner starts every thread, the node) for
// good.
func applyGuarded(ctx context.Context, ov *overlay, env *applyEnv, rec threads.Record, before func(threads.Record)) (changes []DocChange, err error) {
	added, removed := len(env.added), len(env.removed)
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		ov.endEvent(false)
		env.added, env.removed, env.colls = env.added[:added], env.removed[:removed], nil
		env.report = applyReport{skipped: SkipPanic}
		log.Errorf("views of %s: event %s (log %s, seq %d) failed to apply and is skipped: %v\n%s", rec.Thread, rec.Cid, rec.Log, rec.Seq, p, debug.Stack())
		changes, err = nil, putCursor(ctx, ov, rec)
	}()
	if before != nil {
		before(rec)
	}
	return applyRecordOverlay(ctx, ov, env, rec)
}

// WaitApplied waits until the views of a thread include the event at (log,
// seq).
func (m *Manager) WaitApplied(ctx context.Context, tid ipel.ThreadID, logID ipel.LogID, seq uint64) error {
	for {
		if err := m.Ensure(tid); err != nil {
			return err
		}
		m.mu.Lock()
		r := m.runners[tid]
		m.mu.Unlock()
		if r == nil {
			continue // replaced by a rebuild between the two calls
		}
		for {
			r.mu.Lock()
			applied, moved, rerr := r.applied[logID], r.moved, r.err
			r.mu.Unlock()
			if applied >= seq {
				return nil
			}
			if rerr != nil {
				if errors.Is(rerr, context.Canceled) && m.ctx.Err() == nil {
					break // stopped by a rebuild: wait on its successor
				}
				return fmt.Errorf("views of %s: %w", tid, rerr)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-moved:
			}
		}
	}
}

// CatchUp waits until the views of a thread include every event the node
// holds now.
func (m *Manager) CatchUp(ctx context.Context, tid ipel.ThreadID) error {
	ti, err := m.s.Info(tid)
	if err != nil {
		return err
	}
	for _, l := range ti.Logs {
		if err := m.WaitApplied(ctx, tid, l.ID, l.Seq); err != nil {
			return err
		}
	}
	return nil
}

// Rebuild drops a thread's views and recomputes them from its logs.
func (m *Manager) Rebuild(ctx context.Context, tid ipel.ThreadID) error {
	if _, err := m.s.Info(tid); err != nil {
		return err
	}
	m.mu.Lock()
	if m.rebuilding[tid] != nil {
		m.mu.Unlock()
		return fmt.Errorf("views of %s: a rebuild is already running", tid)
	}
	// Until the new runner runs, Ensure waits instead of starting one from
	// the cursors about to be dropped.
	done := make(chan struct{})
	m.rebuilding[tid] = done
	r := m.runners[tid]
	delete(m.runners, tid)
	m.mu.Unlock()
	err := func() error {
		if r != nil {
			r.cancel()
			<-r.done
		}
		quiet, err := m.loadCursors(tid)
		if err != nil {
			return err
		}
		if err := m.dropViews(ctx, tid); err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		nr, err := m.startRunner(tid, quiet)
		if err != nil {
			return err
		}
		m.runners[tid] = nr
		return nil
	}()
	m.mu.Lock()
	delete(m.rebuilding, tid)
	close(done)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.CatchUp(ctx, tid)
}

// dropViews deletes a thread's views for a rebuild, but what a replay keeps
// (replayKeeps): the ACL's operations, which must be whole before content
// is judged against them (events re-applied under a partial ACL would be
// judged again as it fills in), the schemas puts are judged against, and
// this node's skip counts.
func (m *Manager) dropViews(ctx context.Context, tid ipel.ThreadID) error {
	var acl *ACL
	if tid.Variant() == ipel.VariantAccessControlled {
		ti, err := m.s.Info(tid)
		if err != nil {
			return err
		}
		recs, err := m.loadACLRecords(ctx, tid)
		if err != nil {
			return err
		}
		acl = ResolveACL(ti.Creator.String(), recs)
	}
	keep, err := replayKeeps(ctx, m.store, tid, acl)
	if err != nil {
		return err
	}
	return m.deleteUnder(ctx, threadPrefix(tid), keep)
}

// Drop deletes a thread's views and change feed, after the thread is
// removed.
func (m *Manager) Drop(ctx context.Context, tid ipel.ThreadID) error {
	if err := m.dropPrefix(ctx, threadPrefix(tid)); err != nil {
		return err
	}
	if err := m.store.Delete(ctx, layoutKey(tid)); err != nil {
		return err
	}
	return m.dropPrefix(ctx, feedPrefix(tid))
}

// dropPrefix deletes every entry under a prefix, in one batch.
func (m *Manager) dropPrefix(ctx context.Context, prefix string) error {
	return m.deleteUnder(ctx, prefix, nil)
}

// deleteUnder deletes the entries under prefix except those keep holds on
// to, in one batch, so a crash leaves either all of them or none.
func (m *Manager) deleteUnder(ctx context.Context, prefix string, keep func(key string) bool) error {
	prefix += "/"
	res, err := m.store.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	b, err := m.store.Batch(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Key, prefix) || (keep != nil && keep(e.Key)) {
			continue
		}
		if err := b.Delete(ctx, ds.RawKey(e.Key)); err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

// Write appends view operations as one event and waits until this node's
// views include it.
func (m *Manager) Write(ctx context.Context, tid ipel.ThreadID, ops Ops) (threads.EventRef, error) {
	if err := m.Ensure(tid); err != nil {
		return threads.EventRef{}, err
	}
	if err := checkLimits(ops); err != nil {
		return threads.EventRef{}, err
	}
	if err := m.checkOps(tid, ops); err != nil {
		return threads.EventRef{}, err
	}
	body, err := EncodeOps(ops)
	if err != nil {
		return threads.EventRef{}, err
	}
	ref, err := m.s.Append(ctx, tid, body)
	if err != nil {
		return threads.EventRef{}, err
	}
	return ref, m.WaitApplied(ctx, tid, ref.Log, ref.Seq)
}
