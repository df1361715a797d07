package threads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// MaxClockSkew is how far ahead of this node's clock an event's hybrid
// clock may be when it is received: an event further ahead is not stored
// yet (ErrClockAhead); anti-entropy pulls it again, and it is stored once
// this node's clock has caught up. Observing an event never moves this
// node's clock further ahead than this either. So no event is stored with
// a clock more than MaxClockSkew ahead of its receiver's, and a writer
// cannot make its writes win every later conflict by claiming a time far
// ahead.
const MaxClockSkew = 5 * time.Minute

// Bounds of the equivocation evidence kept per log: the first
// maxEvidencePerLog conflicting events, each as its signed node when that
// is at most maxEvidenceNode bytes (larger ones by digest and size).
const (
	maxEvidencePerLog = 4
	maxEvidenceNode   = 64 << 10
)

var (
	// ErrEquivocation is returned for an event that conflicts with one
	// already held at the same (log, seq): the log's writer signed two
	// different events there. The first is kept; the second is kept aside
	// as evidence (bounded: see maxEvidencePerLog).
	ErrEquivocation = errors.New("equivocation: a different event exists at this log position")
	// ErrGap is returned for events that do not continue the log's head: the
	// missing range must be pulled first.
	ErrGap = errors.New("events do not continue the log (gap)")
	// ErrMissingBody is returned for an event whose separate body block was
	// not supplied and is not in the blockstore.
	ErrMissingBody = errors.New("event body block missing")
	// ErrClockAhead is returned for an event whose clock is more than
	// MaxClockSkew ahead of this node's: it is not stored now.
	ErrClockAhead = errors.New("event clock too far ahead of this node's clock")
	// ErrClockBackwards is returned for an event whose hybrid clock is not
	// later than the previous event's in its log: a log's clocks never go
	// backwards.
	ErrClockBackwards = errors.New("event clock not later than the previous event of its log")
)

// otherCopyError says that an event continues another copy of its log's
// head than the one held: the same signed node sealed again under another
// CID (possible for envelope versions before 3), or another event there.
// Which one the node cannot tell without the block the event names, so the
// log is pulled again from the head's seq. It is a gap.
type otherCopyError struct {
	log ipel.LogID
	seq uint64 // the head's seq, where to pull from
	cid cid.Cid
}

func (e *otherCopyError) Error() string {
	return fmt.Sprintf("log %s: the next event names %s at seq %d, another block than the one held", e.log, e.cid, e.seq)
}

func (e *otherCopyError) Unwrap() error { return ErrGap }

// IngestResult counts what Ingest did with a batch.
type IngestResult struct {
	Stored     int // new events stored
	Duplicates int // events already held (or copies of them)
}

// Ingest verifies events of one log received from elsewhere and stores those
// that extend the log. It is the one way in for events from other nodes
// (pushes, pubsub, pulls, events held back until a gap fills): it refuses
// envelope versions that are only read from storage (version 1), events
// that another event already holds the place of (an equivocation, kept as
// evidence), events whose clock is not later than their predecessor's, and
// events whose clock is too far ahead of this node's (MaxClockSkew). An
// event that is the same signed node as the one held at its place, under
// another CID (a version 2 node sealed again by a holder of the follow
// key), is a duplicate; when the log's next event names that other CID, the
// held copy gives way to it.
//
// Bodies maps a body block's CID to the block, for events whose body is
// stored separately. Events are verified in parallel; they must be in seq
// order. It stops at the first event that fails: the events before it are
// stored.
func (s *Service) Ingest(ctx context.Context, tid ipel.ThreadID, eventBlocks []blocks.Block, bodies map[cid.Cid]blocks.Block) (IngestResult, error) {
	th, err := s.thread(tid)
	if err != nil {
		return IngestResult{}, err
	}
	events, verr := s.verifyAll(ctx, th, eventBlocks)
	th.ingestMu.Lock()
	defer th.ingestMu.Unlock()
	in := &ingestion{s: s, th: th, bodies: bodies, copies: map[cid.Cid]*codec.Event{}}
	for _, ev := range events {
		if ev == nil {
			return in.stop(ctx, verr)
		}
		if err := in.add(ctx, ev); err != nil {
			return in.stop(ctx, err)
		}
	}
	return in.stop(ctx, nil)
}

// ingestion is one call of Ingest: the run of verified events that
// continue a log, not yet stored.
type ingestion struct {
	s      *Service
	th     *thread
	bodies map[cid.Cid]blocks.Block
	res    IngestResult
	st     *logState                // the log of the run
	run    []runEvent               // events to store; run[0] may replace the log's head
	copies map[cid.Cid]*codec.Event // copies of held events seen in this call, by CID
}

type runEvent struct {
	ev       *codec.Event
	blocks   []blocks.Block
	replaces bool // the same signed node as the log's stored head, under the CID the chain names
}

// stop stores the run and returns err (or the store's error).
func (in *ingestion) stop(ctx context.Context, err error) (IngestResult, error) {
	if ferr := in.flush(ctx); ferr != nil {
		return in.res, ferr
	}
	return in.res, err
}

func (in *ingestion) flush(ctx context.Context) error {
	if len(in.run) == 0 {
		return nil
	}
	evs := make([]*codec.Event, 0, len(in.run))
	var blks []blocks.Block
	stored := 0
	for _, r := range in.run {
		evs = append(evs, r.ev)
		blks = append(blks, r.blocks...)
		if !r.replaces {
			stored++
		}
	}
	in.run = nil
	if err := in.s.storeEvents(ctx, in.th, in.st, evs, blks); err != nil {
		return err
	}
	in.res.Stored += stored
	return nil
}

// head is the log's head as the run leaves it: seq, CID and clock.
func (in *ingestion) head() (uint64, cid.Cid, codec.Clock) {
	if n := len(in.run); n > 0 {
		last := in.run[n-1].ev
		return last.Seq, last.Cid(), last.Clock
	}
	in.th.mu.Lock()
	defer in.th.mu.Unlock()
	return in.st.seq, in.st.head, in.st.headClock
}

// add takes one verified event: a duplicate, the next event of its log, or
// an error that stops the ingestion.
func (in *ingestion) add(ctx context.Context, ev *codec.Event) error {
	s, th := in.s, in.th
	logID, _ := ev.LogID() // checked by verifyAll
	th.mu.Lock()
	cur := th.logs[logID]
	own := cur != nil && cur == th.own
	th.mu.Unlock()
	if cur == nil {
		return fmt.Errorf("ingest into %s: %w: %s", th.id, ErrLogNotFound, logID)
	}
	if in.st != nil && in.st != cur {
		if err := in.flush(ctx); err != nil {
			return err
		}
	}
	in.st = cur
	headSeq, head, headClock := in.head()
	switch {
	case ev.Seq <= cur.base:
		in.res.Duplicates++ // compacted: covered by the snapshot
		return nil
	case ev.Seq <= headSeq:
		return in.held(ctx, ev)
	case ev.Seq > headSeq+1:
		return fmt.Errorf("ingest into %s: log %s: %w: have %d, got %d", th.id, logID, ErrGap, headSeq, ev.Seq)
	case own:
		// Only this node writes its log: an unknown next event signed with
		// its key means the key was used elsewhere.
		return s.recordEquivocation(ctx, th.id, logID, ev, cid.Undef)
	case !ev.Prev.Equals(head):
		if err := in.followCopy(ctx, ev); err != nil {
			return err
		}
	}
	if headSeq > 0 && ev.Clock.Compare(headClock) <= 0 {
		return fmt.Errorf("ingest into %s: event %s: %w (%d.%d after %d.%d)", th.id, ev.Cid(), ErrClockBackwards,
			ev.Clock.Wall, ev.Clock.Counter, headClock.Wall, headClock.Counter)
	}
	if now := s.deps.Now(); ev.Clock.Wall > now.Add(MaxClockSkew).UnixNano() {
		return fmt.Errorf("ingest into %s: event %s: %w: %s ahead (at most %s)", th.id, ev.Cid(), ErrClockAhead,
			time.Unix(0, ev.Clock.Wall).Sub(now).Round(time.Second), MaxClockSkew)
	}
	blks, bodyData, err := in.eventBlocks(ctx, ev)
	if err != nil {
		return err
	}
	if err := s.readable(th, ev, bodyData); err != nil {
		return fmt.Errorf("ingest into %s: event %s: %w", th.id, ev.Cid(), err)
	}
	s.clock.Observe(ev.Clock)
	in.run = append(in.run, runEvent{ev: ev, blocks: blks})
	return nil
}

// eventBlocks returns the blocks to store for an event (its own, and its
// body block when supplied) and the body block's data when at hand.
func (in *ingestion) eventBlocks(ctx context.Context, ev *codec.Event) ([]blocks.Block, []byte, error) {
	blks := []blocks.Block{ev.Block}
	if !ev.BodyLink.Defined() {
		return blks, nil, nil
	}
	bb, ok := in.bodies[ev.BodyLink.Cid]
	if !ok {
		has, err := in.s.deps.Blockstore.Has(ctx, ev.BodyLink.Cid)
		if err != nil || !has {
			return nil, nil, fmt.Errorf("ingest into %s: event %s: %w: %s", in.th.id, ev.Cid(), ErrMissingBody, ev.BodyLink.Cid)
		}
		return blks, nil, nil
	}
	if sum, err := bb.Cid().Prefix().Sum(bb.RawData()); err != nil || !sum.Equals(ev.BodyLink.Cid) {
		return nil, nil, fmt.Errorf("ingest into %s: event %s: %w: body block does not match its CID", in.th.id, ev.Cid(), codec.ErrMalformed)
	}
	return append(blks, bb), bb.RawData(), nil
}

// held judges an event at a seq the log already holds: the same block or
// the same signed node is a duplicate, anything else an equivocation.
func (in *ingestion) held(ctx context.Context, ev *codec.Event) error {
	logID, _ := ev.LogID()
	c, err := in.cidAt(ctx, logID, ev.Seq)
	if err != nil {
		return err
	}
	if c.Equals(ev.Cid()) {
		in.res.Duplicates++
		return nil
	}
	held, err := in.eventAt(ctx, logID, ev.Seq)
	if err != nil {
		return err
	}
	if !held.SameSigned(ev) {
		return in.s.recordEquivocation(ctx, in.th.id, logID, ev, held.Cid())
	}
	in.res.Duplicates++
	in.copies[ev.Cid()] = ev // the log's next event may name this copy
	return nil
}

// followCopy is called for the next event of a log when its previous link
// is not the held head. When the block it names is the same signed node as
// the head (a copy, under another CID, of an event sealed before envelope
// version 3), the head gives way to it, so that the log goes on along the
// chain its writer signed; when it is another signed node, the writer
// equivocated. A version 3 head has no copies: the event contradicts it.
func (in *ingestion) followCopy(ctx context.Context, ev *codec.Event) error {
	logID, _ := ev.LogID()
	prevSeq := ev.Seq - 1
	in.th.mu.Lock()
	base, baseCid := in.st.base, in.st.baseCid
	in.th.mu.Unlock()
	if prevSeq <= base {
		// The head is a compacted log's base: no event to compare the
		// named one with.
		return in.s.recordEquivocation(ctx, in.th.id, logID, ev, baseCid)
	}
	head, err := in.eventAt(ctx, logID, prevSeq)
	if err != nil {
		return err
	}
	named := in.copies[ev.Prev.Cid]
	if named == nil {
		named = in.stray(ctx, logID, prevSeq, ev.Prev.Cid)
	}
	switch {
	case named != nil && !named.SameSigned(head):
		return in.s.recordEquivocation(ctx, in.th.id, logID, named, head.Cid())
	case named != nil:
		in.replaceHead(named)
		return nil
	case head.Version >= codec.EnvelopeVersion:
		return in.s.recordEquivocation(ctx, in.th.id, logID, ev, head.Cid())
	}
	return fmt.Errorf("ingest into %s: %w", in.th.id, &otherCopyError{log: logID, seq: prevSeq, cid: ev.Prev.Cid})
}

// stray opens a block of the blockstore that an event names as the event
// at (log, seq), if it is there and is one.
func (in *ingestion) stray(ctx context.Context, logID ipel.LogID, seq uint64, c cid.Cid) *codec.Event {
	blk, err := in.s.deps.Blockstore.Get(ctx, c)
	if err != nil {
		return nil
	}
	ev, err := openReceived(in.th, blk)
	if err != nil || ev.Seq != seq || string(ev.Log) != string(logID) {
		return nil
	}
	return ev
}

// replaceHead puts a copy of the log's head, under the CID the chain
// names, in the head's place: in the run, or as a replacement of the
// stored head.
func (in *ingestion) replaceHead(c *codec.Event) {
	if n := len(in.run); n > 0 {
		in.run[n-1].ev = c
		in.run[n-1].blocks = []blocks.Block{c.Block}
		return
	}
	in.run = append(in.run, runEvent{ev: c, blocks: []blocks.Block{c.Block}, replaces: true})
}

// cidAt returns the CID the log holds at seq, from the run or the index.
func (in *ingestion) cidAt(ctx context.Context, logID ipel.LogID, seq uint64) (cid.Cid, error) {
	for _, r := range in.run {
		if r.ev.Seq == seq {
			return r.ev.Cid(), nil
		}
	}
	b, err := in.s.deps.Datastore.Get(ctx, eventKey(in.th.id, logID, seq))
	if err != nil {
		return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
	}
	return c, nil
}

// eventAt returns the event the log holds at seq, from the run or the
// store.
func (in *ingestion) eventAt(ctx context.Context, logID ipel.LogID, seq uint64) (*codec.Event, error) {
	for _, r := range in.run {
		if r.ev.Seq == seq {
			return r.ev, nil
		}
	}
	c, err := in.cidAt(ctx, logID, seq)
	if err != nil {
		return nil, err
	}
	blk, err := in.s.deps.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("log %s: event %d: %w", logID, seq, err)
	}
	return codec.OpenStored(blk, in.th.follow)
}

// readable checks, on a node that holds the read key, that an event's header
// and body open: signed events that members cannot read (a follower holds
// the follow key and a log key of its own, not the read key) are refused,
// so that nothing unreadable is stored where it would break reads and views.
// bodyData is the separate body block, or nil when inline or not at hand.
// A private event's body is checked only by its recipient: the others
// cannot open it, and store it as members see it (it exists). A private
// event whose sealed key was made for another event is stored (it is its
// writer's signed event, and the log goes on past it) and read as not
// authentic.
func (s *Service) readable(th *thread, ev *codec.Event, bodyData []byte) error {
	if th.read.Load() == nil {
		return nil
	}
	h, err := th.openHeader(ev)
	if err != nil {
		return err
	}
	sealed := ev.Body
	if ev.BodyLink.Defined() {
		sealed = bodyData
	}
	if sealed == nil || (h.Private() && !s.isSelf(h.Recipient())) {
		return nil
	}
	if _, err = ev.OpenBodyAs(h, sealed, s.deps.Identity); errors.Is(err, codec.ErrNotAuthentic) {
		log.Infof("thread %s: %s", th.id, err)
		return nil
	}
	return err
}

// evidence is what is kept of a conflicting event: the CID it was received
// under, the event held at its place, and what its writer signed (when
// small enough; its digest and size always).
type evidence struct {
	Held   []byte `cbor:"h,omitempty"`
	Signed []byte `cbor:"n,omitempty"` // codec.Event.Signed, up to maxEvidenceNode bytes
	Digest []byte `cbor:"d"`           // SHA-256 of the signed node
	Size   int    `cbor:"z"`
}

// recordEquivocation keeps evidence of a conflicting event, within the
// per-log bound, and returns ErrEquivocation.
func (s *Service) recordEquivocation(ctx context.Context, tid ipel.ThreadID, logID ipel.LogID, ev *codec.Event, held cid.Cid) error {
	err := fmt.Errorf("thread %s: log %s seq %d: %w (holding %s, rejected %s)", tid, logID, ev.Seq, ErrEquivocation, held, ev.Cid())
	prefix := "/eq/" + tid.String() + "/" + logID.String() + "/"
	res, qerr := s.deps.Datastore.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true, Limit: maxEvidencePerLog})
	if qerr != nil {
		return fmt.Errorf("record equivocation: %w", qerr)
	}
	kept, qerr := res.Rest()
	if qerr != nil {
		return fmt.Errorf("record equivocation: %w", qerr)
	}
	key := evidenceKey(tid, logID, ev.Seq, ev.Cid())
	for _, e := range kept {
		if e.Key == key.String() {
			return err // already kept
		}
	}
	if len(kept) >= maxEvidencePerLog {
		log.Debugf("thread %s: log %s: equivocation at seq %d (%s); evidence of %d already kept", tid, logID, ev.Seq, ev.Cid(), len(kept))
		return err
	}
	signed, serr := ev.Signed()
	if serr != nil {
		return serr
	}
	sum := sha256.Sum256(signed)
	rec := evidence{Digest: sum[:], Size: len(signed)}
	if held.Defined() {
		rec.Held = held.Bytes()
	}
	if len(signed) <= maxEvidenceNode {
		rec.Signed = signed
	}
	if perr := putCBOR(ctx, s.deps.Datastore, key, &rec); perr != nil {
		return fmt.Errorf("record equivocation: %w", perr)
	}
	log.Warnf("thread %s: log %s: equivocation at seq %d: holding %s, rejected %s", tid, logID, ev.Seq, held, ev.Cid())
	return err
}

// verifyAll opens and verifies event blocks in parallel. An event already
// held under the same CID (pubsub and push both deliver it) was verified
// when it was stored and is only opened. The result has a nil at the first
// failure and nothing after it that matters; the error describes that
// failure.
func (s *Service) verifyAll(ctx context.Context, th *thread, blks []blocks.Block) ([]*codec.Event, error) {
	out := make([]*codec.Event, len(blks))
	errs := make([]error, len(blks))
	workers := min(runtime.GOMAXPROCS(0), len(blks))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = s.openOrVerify(ctx, th, blks[i])
			}
		}()
	}
	for i := range blks {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			out[i] = nil
			return out[:i+1], err
		}
	}
	return out, nil
}

// openOrVerify is openReceived, without verifying the signature again of
// an event already held under the same CID.
func (s *Service) openOrVerify(ctx context.Context, th *thread, blk blocks.Block) (*codec.Event, error) {
	ev, logID, err := openReceivable(th, blk)
	if err != nil {
		return nil, err
	}
	if s.isHeld(ctx, th, logID, ev.Seq, blk.Cid()) {
		return ev, nil
	}
	if err := ev.Verify(th.id, logID); err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	return ev, nil
}

// isHeld reports whether the log holds exactly this event at seq.
func (s *Service) isHeld(ctx context.Context, th *thread, logID ipel.LogID, seq uint64, c cid.Cid) bool {
	th.mu.Lock()
	st := th.logs[logID]
	held := st != nil && seq <= st.seq && seq > st.base
	th.mu.Unlock()
	if !held {
		return false
	}
	b, err := s.deps.Datastore.Get(ctx, eventKey(th.id, logID, seq))
	return err == nil && bytes.Equal(b, c.Bytes())
}

// openReceived opens and verifies an event block received from another
// node: an envelope version accepted from the network, the thread's keys,
// its log's signature.
func openReceived(th *thread, blk blocks.Block) (*codec.Event, error) {
	ev, logID, err := openReceivable(th, blk)
	if err != nil {
		return nil, err
	}
	if err := ev.Verify(th.id, logID); err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	return ev, nil
}

func openReceivable(th *thread, blk blocks.Block) (*codec.Event, ipel.LogID, error) {
	ev, err := codec.Open(blk, th.follow)
	if err != nil {
		return nil, "", fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	if err := ev.Receivable(); err != nil {
		return nil, "", fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	logID, err := ev.LogID()
	if err != nil {
		return nil, "", fmt.Errorf("ingest into %s: event %s: %w", th.id, blk.Cid(), err)
	}
	return ev, logID, nil
}

// Equivocation is a conflicting event kept as evidence.
type Equivocation struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid
}

// Equivocations lists the conflicting events seen in a thread (at most
// maxEvidencePerLog per log).
func (s *Service) Equivocations(ctx context.Context, tid ipel.ThreadID) ([]Equivocation, error) {
	if _, err := s.thread(tid); err != nil {
		return nil, err
	}
	res, err := s.deps.Datastore.Query(ctx, dsq.Query{Prefix: "/eq/" + tid.String() + "/", KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list equivocations of %s: %w", tid, err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("list equivocations of %s: %w", tid, err)
	}
	out := make([]Equivocation, 0, len(entries))
	for _, e := range entries {
		parts := ds.NewKey(e.Key).Namespaces() // eq, thread, log, seq, cid
		if len(parts) != 5 {
			continue
		}
		logID, err1 := ipel.ParseLogID(parts[2])
		seq, err2 := strconv.ParseUint(parts[3], 16, 64)
		c, err3 := cid.Decode(parts[4])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("equivocation record %s: %w", e.Key, err)
		}
		out = append(out, Equivocation{Log: logID, Seq: seq, Cid: c})
	}
	return out, nil
}
