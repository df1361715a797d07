package threads

import (
	"context"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// maxPendingPerLog bounds the events held back per log while waiting for a
// gap to fill.
const maxPendingPerLog = 4096

type pendingKey struct {
	thread ipel.ThreadID
	log    ipel.LogID
}

type pendingEvent struct {
	event blocks.Block
	body  blocks.Block // nil when inline
}

// holdBack keeps verified events that arrived ahead of their log's head
// (pubsub does not keep order), to be stored once the gap is filled.
func (n *network) holdBack(th *thread, evBlocks []blocks.Block, bodies map[cid.Cid]blocks.Block) {
	for _, blk := range evBlocks {
		ev, err := openReceived(th, blk)
		if err != nil {
			return
		}
		logID, _ := ev.LogID()
		th.mu.Lock()
		st := th.logs[logID]
		ahead := st != nil && ev.Seq > st.seq && ev.Seq <= st.seq+maxPendingPerLog
		th.mu.Unlock()
		if !ahead {
			continue // only known logs, and not too far ahead
		}
		k := pendingKey{th.id, logID}
		pe := pendingEvent{event: blk}
		if ev.BodyLink.Defined() {
			pe.body = bodies[ev.BodyLink.Cid]
		}
		n.mu.Lock()
		m := n.pending[k]
		if m == nil {
			m = map[uint64]pendingEvent{}
			n.pending[k] = m
		}
		if len(m) < maxPendingPerLog {
			m[ev.Seq] = pe
		}
		n.mu.Unlock()
	}
}

// dropPending forgets the held-back events of a thread.
func (n *network) dropPending(tid ipel.ThreadID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.pending {
		if k.thread == tid {
			delete(n.pending, k)
		}
	}
}

// release stores held-back events that now continue their logs' heads.
func (n *network) release(ctx context.Context, th *thread) {
	for {
		progressed := false
		th.mu.Lock()
		heads := make(map[ipel.LogID]uint64, len(th.logs))
		for id, st := range th.logs {
			heads[id] = st.seq
		}
		th.mu.Unlock()
		for id, seq := range heads {
			k := pendingKey{th.id, id}
			n.mu.Lock()
			m := n.pending[k]
			var run []pendingEvent
			for s := seq + 1; ; s++ {
				pe, ok := m[s]
				if !ok {
					break
				}
				run = append(run, pe)
			}
			for s := range m {
				if s <= seq+uint64(len(run)) {
					delete(m, s)
				}
			}
			if len(m) == 0 {
				delete(n.pending, k)
			}
			n.mu.Unlock()
			if len(run) == 0 {
				continue
			}
			evs := make([]blocks.Block, 0, len(run))
			bodies := map[cid.Cid]blocks.Block{}
			for _, pe := range run {
				evs = append(evs, pe.event)
				if pe.body != nil {
					bodies[pe.body.Cid()] = pe.body
				}
			}
			res, err := n.s.Ingest(ctx, th.id, evs, bodies)
			n.stats.stored(res.Stored)
			if err != nil {
				log.Debugf("thread %s: held-back events of %s: %s", th.id, id, err)
			}
			if res.Stored > 0 {
				progressed = true
			}
		}
		if !progressed {
			return
		}
	}
}
