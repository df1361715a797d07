package threads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

var (
	// ErrEquivocation is returned for an event that conflicts with one already
	// held at the same (log, seq): the log's writer signed two histories. The
	// first event is kept; the second is kept aside as evidence.
	ErrEquivocation = errors.New("equivocation: a different event exists at this log position")
	// ErrGap is returned for events that do not continue the log's head: the
	// missing range must be pulled first.
	ErrGap = errors.New("events do not continue the log (gap)")
	// ErrMissingBody is returned for an event whose separate body block was
	// not supplied and is not in the blockstore.
	ErrMissingBody = errors.New("event body block missing")
)

// IngestResult counts what Ingest did with a batch.
type IngestResult struct {
	Stored     int // new events stored
	Duplicates int // events already held
}

// Ingest verifies events of one log received from elsewhere and stores those
// that extend the log. Bodies maps a body block's CID to the block, for
// events whose body is stored separately. Events are verified in parallel;
// they must be in seq order. It stops at the first event that fails: the
// events before it are stored.
func (s *Service) Ingest(ctx context.Context, tid ipel.ThreadID, eventBlocks []blocks.Block, bodies map[cid.Cid]blocks.Block) (IngestResult, error) {
	var res IngestResult
	th, err := s.thread(tid)
	if err != nil {
		return res, err
	}
	events, verr := s.verifyAll(ctx, th, eventBlocks)
	th.ingestMu.Lock()
	defer th.ingestMu.Unlock()
	var (
		batch []*codec.Event
		blks  []blocks.Block
		st    *logState
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.storeEvents(ctx, th, st, batch, blks)
		if err == nil {
			res.Stored += len(batch)
		}
		batch, blks = nil, nil
		return err
	}
	for _, ev := range events {
		if ev == nil {
			if err := flush(); err != nil {
				return res, err
			}
			return res, verr
		}
		logID, _ := ev.LogID() // checked by verifyAll
		th.mu.Lock()
		cur := th.logs[logID]
		own := cur != nil && cur == th.own
		th.mu.Unlock()
		if cur == nil {
			if err := flush(); err != nil {
				return res, err
			}
			return res, fmt.Errorf("ingest into %s: %w: %s", tid, ErrLogNotFound, logID)
		}
		if st != nil && st != cur {
			if err := flush(); err != nil {
				return res, err
			}
		}
		st = cur
		headSeq, head := st.seq, st.head
		if n := len(batch); n > 0 {
			headSeq, head = batch[n-1].Seq, batch[n-1].Cid()
		}
		switch {
		case ev.Seq <= st.base:
			res.Duplicates++ // compacted: covered by the snapshot
			continue
		case ev.Seq <= headSeq:
			held, err := s.heldAt(ctx, tid, logID, ev.Seq, batch)
			if err != nil {
				return res, err
			}
			if held.Equals(ev.Cid()) {
				res.Duplicates++
				continue
			}
			if err := flush(); err != nil {
				return res, err
			}
			return res, s.recordEquivocation(ctx, tid, logID, ev, held)
		case ev.Seq > headSeq+1:
			if err := flush(); err != nil {
				return res, err
			}
			return res, fmt.Errorf("ingest into %s: log %s: %w: have %d, got %d", tid, logID, ErrGap, headSeq, ev.Seq)
		case own:
			// Only this node writes its log: an unknown next event signed with
			// its key means the key was used elsewhere.
			if err := flush(); err != nil {
				return res, err
			}
			return res, s.recordEquivocation(ctx, tid, logID, ev, cid.Undef)
		case !ev.Prev.Equals(head):
			// A different history before this event.
			if err := flush(); err != nil {
				return res, err
			}
			return res, s.recordEquivocation(ctx, tid, logID, ev, head)
		}
		var bodyData []byte
		if ev.BodyLink.Defined() {
			bb, ok := bodies[ev.BodyLink.Cid]
			if ok {
				bodyData = bb.RawData()
			}
			if !ok {
				has, err := s.deps.Blockstore.Has(ctx, ev.BodyLink.Cid)
				if err != nil || !has {
					if err := flush(); err != nil {
						return res, err
					}
					return res, fmt.Errorf("ingest into %s: event %s: %w: %s", tid, ev.Cid(), ErrMissingBody, ev.BodyLink.Cid)
				}
			} else {
				if sum, err := bb.Cid().Prefix().Sum(bb.RawData()); err != nil || !sum.Equals(ev.BodyLink.Cid) {
					if err := flush(); err != nil {
						return res, err
					}
					return res, fmt.Errorf("ingest into %s: event %s: %w: body block does not match its CID", tid, ev.Cid(), codec.ErrMalformed)
				}
				blks = append(blks, bb)
			}
		}
		if err := s.readable(th, ev, bodyData); err != nil {
			if err := flush(); err != nil {
				return res, err
			}
			return res, fmt.Errorf("ingest into %s: event %s: %w", tid, ev.Cid(), err)
		}
		s.clock.Observe(ev.Clock)
		batch = append(batch, ev)
		blks = append(blks, ev.Block)
	}
	return res, flush()
}

// readable checks, on a node that holds the read key, that an event's header
// and body open: signed events that members cannot read (a follower holds
// the follow key and a log key of its own, not the read key) are refused,
// so that nothing unreadable is stored where it would break reads and views.
// bodyData is the separate body block, or nil when inline or not at hand.
// A private event's body is checked only by its recipient: the others
// cannot open it, and store it as members see it (it exists).
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
	_, err = codec.OpenBodyAs(h, sealed, s.deps.Identity)
	return err
}

// heldAt returns the CID held at (log, seq), looking at a pending batch first.
func (s *Service) heldAt(ctx context.Context, tid ipel.ThreadID, logID ipel.LogID, seq uint64, pending []*codec.Event) (cid.Cid, error) {
	for _, ev := range pending {
		if ev.Seq == seq {
			return ev.Cid(), nil
		}
	}
	b, err := s.deps.Datastore.Get(ctx, eventKey(tid, logID, seq))
	if err != nil {
		return cid.Undef, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
	}
	return cid.Cast(b)
}

// recordEquivocation keeps the conflicting event's block as evidence and
// returns ErrEquivocation.
func (s *Service) recordEquivocation(ctx context.Context, tid ipel.ThreadID, logID ipel.LogID, ev *codec.Event, held cid.Cid) error {
	if err := s.deps.Datastore.Put(ctx, evidenceKey(tid, logID, ev.Seq, ev.Cid()), ev.Block.RawData()); err != nil {
		return fmt.Errorf("record equivocation: %w", err)
	}
	log.Warnf("thread %s: log %s: equivocation at seq %d: holding %s, rejected %s", tid, logID, ev.Seq, held, ev.Cid())
	return fmt.Errorf("thread %s: log %s seq %d: %w (holding %s, rejected %s)", tid, logID, ev.Seq, ErrEquivocation, held, ev.Cid())
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

// openOrVerify opens an event, and verifies it unless it is already held.
func (s *Service) openOrVerify(ctx context.Context, th *thread, blk blocks.Block) (*codec.Event, error) {
	ev, err := codec.Open(blk, th.follow)
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	logID, err := ev.LogID()
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: event %s: %w", th.id, blk.Cid(), err)
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

func verifyOne(th *thread, blk blocks.Block) (*codec.Event, error) {
	ev, err := codec.Open(blk, th.follow)
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	logID, err := ev.LogID()
	if err != nil {
		return nil, fmt.Errorf("ingest into %s: event %s: %w", th.id, blk.Cid(), err)
	}
	if err := ev.Verify(th.id, logID); err != nil {
		return nil, fmt.Errorf("ingest into %s: %w", th.id, err)
	}
	return ev, nil
}

// Equivocation is a conflicting event kept as evidence.
type Equivocation struct {
	Log ipel.LogID
	Seq uint64
	Cid cid.Cid
}

// Equivocations lists the conflicting events seen in a thread.
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
