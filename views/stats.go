package views

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// This node's counts of the events its views skipped and the operations
// they refused, by reason (see budget.go), are node-local data of the
// thread's views (/<thread>/local/skipped): a snapshot leaves them out, and
// a rebuild, a replay, a snapshot load or a layout upgrade keeps them, so
// an event is counted once, when first applied.

func skipsKey(tid ipel.ThreadID) ds.Key { return ds.RawKey(threadPrefix(tid) + localPart + "skipped") }

// keptLocal says which of a thread's node-local view entries outlive the
// views: the skip counts.
func keptLocal(tid ipel.ThreadID) func(key string) bool {
	skips := skipsKey(tid).String()
	return func(key string) bool { return key == skips }
}

// ViewStats is what the views of a thread have ignored, as this node
// counted it: events skipped whole and operations refused, by reason.
type ViewStats struct {
	Skipped map[string]uint64
}

// Stats returns the views' statistics of a thread.
func (m *Manager) Stats(ctx context.Context, tid ipel.ThreadID) (ViewStats, error) {
	if err := m.Ensure(tid); err != nil {
		return ViewStats{}, err
	}
	counts, err := loadSkips(ctx, newOverlay(m.store), tid)
	if err != nil {
		return ViewStats{}, fmt.Errorf("views of %s: %w", tid, err)
	}
	return ViewStats{Skipped: counts}, nil
}

func loadSkips(ctx context.Context, ov *overlay, tid ipel.ThreadID) (map[string]uint64, error) {
	counts := map[string]uint64{}
	b, err := ov.get(ctx, skipsKey(tid))
	if errors.Is(err, ds.ErrNotFound) {
		return counts, nil
	}
	if err != nil {
		return nil, err
	}
	if err := codec.Unmarshal(b, &counts); err != nil {
		return nil, fmt.Errorf("skip counts: %w", err)
	}
	return counts, nil
}

// countSkips adds what an event skipped or refused to the thread's counts,
// in the event's batch, and logs it.
func (m *Manager) countSkips(ctx context.Context, ov *overlay, rec threads.Record, rep *applyReport) error {
	counts, err := loadSkips(ctx, ov, rec.Thread)
	if err != nil {
		return err
	}
	if rep.skipped != "" {
		counts[rep.skipped]++
		m.skipped.WithLabelValues(rep.skipped).Inc()
	}
	for reason, n := range rep.refused {
		counts[reason] += uint64(n)
		m.skipped.WithLabelValues(reason).Add(float64(n))
	}
	b, err := codec.Marshal(counts)
	if err != nil {
		return err
	}
	log.Warnf("views of %s: event %s (log %s, seq %d): %s", rec.Thread, rec.Cid, rec.Log, rec.Seq, rep)
	return ov.Put(ctx, skipsKey(rec.Thread), b)
}
