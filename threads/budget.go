package threads

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// peerBudget bounds the bytes held for each peer: acquire waits while the
// peer's share is taken. Only peers holding bytes have an entry.
type peerBudget struct {
	limit int

	mu    sync.Mutex
	used  map[peer.ID]int
	freed chan struct{} // closed and replaced whenever bytes are released
}

func newPeerBudget(limit int) *peerBudget {
	return &peerBudget{limit: limit, used: map[peer.ID]int{}, freed: make(chan struct{})}
}

// acquire takes n bytes of p's share, waiting until they are free or ctx
// ends.
func (b *peerBudget) acquire(ctx context.Context, p peer.ID, n int) error {
	if n > b.limit {
		return fmt.Errorf("%d bytes exceed a peer's share of %d", n, b.limit)
	}
	for {
		b.mu.Lock()
		if b.used[p]+n <= b.limit {
			b.used[p] += n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives back n bytes of p's share.
func (b *peerBudget) release(p peer.ID, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used[p] -= n; b.used[p] <= 0 {
		delete(b.used, p)
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// held is the bytes held for p.
func (b *peerBudget) held(p peer.ID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used[p]
}
