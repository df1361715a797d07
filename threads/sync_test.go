package threads

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// TestAntiEntropyRepairsFromTheChangedSideAndIdlesQuietly: every push from
// A is lost and there is no pubsub; B's heads do not move, so B has no
// reason of its own to sync, yet A's anti-entropy tells B its heads and B
// pulls. Once both are level, neither starts a sync for quietRounds rounds.
func TestAntiEntropyRepairsFromTheChangedSideAndIdlesQuietly(t *testing.T) {
	ctx := context.Background()
	const interval = 100 * time.Millisecond
	a := newTestNode(t, nodeOpts{noPubsub: true, interval: interval})
	b := newTestNode(t, nodeOpts{noPubsub: true, interval: interval})
	connect(t, a, b)
	ti, _ := a.CreateThread(ctx, ipel.VariantRaw)
	invite(t, a, b, ti.ID, codec.RoleWrite)
	a.net.dropPush = func() bool { return true }
	for i := 0; i < 5; i++ {
		if _, err := a.Append(ctx, ti.ID, fmt.Appendf(nil, "lost push %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "B pulls what A's pushes lost", func() (bool, string) {
		return converged([]*testNode{a, b}, ti.ID, 5)
	})

	// Idle: over 20 rounds, each node syncs the thread with the other only
	// when quietRounds have passed (2 each), not every round (20 each).
	start := a.net.stats.syncs.Load() + b.net.stats.syncs.Load()
	time.Sleep(20 * interval)
	if n := a.net.stats.syncs.Load() + b.net.stats.syncs.Load() - start; n > 6 {
		t.Fatalf("%d syncs started in 20 idle rounds by two nodes sharing one thread, want at most 6", n)
	}
}
