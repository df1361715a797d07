package threads

import (
	"context"
	"sync"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
)

// pinInterval is how long a log's pin may lag its head. Moving a pin costs
// several synced writes in the pinner, so pins move at most this often, not
// once per append.
const pinInterval = 50 * time.Millisecond

// pinKeeper moves log pins to their heads in the background. While any pin
// lags its head it holds the blockstore's pin lock, so garbage collection
// waits (at most about pinInterval) instead of collecting events that are
// stored but not yet pinned. A crash with pins lagging is repaired at start.
type pinKeeper struct {
	s      *Service
	locker bstore.GCLocker // nil: no GC to keep out

	// writers is held shared by every store of events, from the first block
	// written to the head committed, and exclusively by a flush.
	writers sync.RWMutex

	mu     sync.Mutex
	held   bstore.Unlocker // the pin lock, while pins lag or stores run
	active int             // stores between begin and end
	dirty  map[*logState]*thread
	timer  *time.Timer
}

func newPinKeeper(s *Service, locker bstore.GCLocker) *pinKeeper {
	return &pinKeeper{s: s, locker: locker, dirty: map[*logState]*thread{}}
}

// begin is called before events' blocks are written: it keeps GC out until
// their log's pin covers them. end must follow.
func (k *pinKeeper) begin(ctx context.Context) {
	k.writers.RLock()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active++
	if k.held == nil && k.locker != nil {
		k.held = k.locker.PinLock(ctx)
	}
}

// end is called once the events are committed (or failed). A log whose head
// moved is passed in to have its pin moved.
func (k *pinKeeper) end(th *thread, st *logState) {
	defer k.writers.RUnlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active--
	if st != nil {
		k.dirty[st] = th
	}
	if k.active == 0 && len(k.dirty) == 0 && k.held != nil && k.timer == nil {
		// Nothing lags and nothing is being stored: release GC at once.
		k.held.Unlock(context.Background())
		k.held = nil
		return
	}
	if k.timer == nil && len(k.dirty) > 0 {
		k.timer = time.AfterFunc(pinInterval, func() { k.flush(context.Background()) })
	}
}

// flush moves every lagging pin to its log's head and releases the pin lock.
func (k *pinKeeper) flush(ctx context.Context) {
	k.writers.Lock()
	defer k.writers.Unlock()
	k.mu.Lock()
	dirty, held := k.dirty, k.held
	k.dirty, k.held = map[*logState]*thread{}, nil
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.mu.Unlock()
	failed := map[*logState]*thread{}
	for st, th := range dirty {
		th.mu.Lock()
		head, deleted := st.head, th.deleted
		th.mu.Unlock()
		if deleted || !head.Defined() {
			continue
		}
		if err := k.s.repin(ctx, th, st); err != nil {
			log.Warnf("thread %s: log %s: pin head %s: %s", th.id, st.id, head, err)
			failed[st] = th
		}
	}
	if len(failed) > 0 {
		// Keep GC out and try again later.
		k.mu.Lock()
		for st, th := range failed {
			k.dirty[st] = th
		}
		if k.held == nil {
			k.held = held
		} else if held != nil {
			held.Unlock(ctx)
		}
		if k.timer == nil {
			k.timer = time.AfterFunc(pinInterval, func() { k.flush(context.Background()) })
		}
		k.mu.Unlock()
		return
	}
	if held != nil {
		held.Unlock(ctx)
	}
}
