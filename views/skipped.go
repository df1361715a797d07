package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// What the views skip is counted in the views themselves, by reason:
//
//	/<thread>/skipped/<reason>   count (8 bytes, big endian)
//
// The counts are a function of the events applied, like the rest of the
// views: every replica holds the same, a replay or a rebuild counts again,
// and snapshots carry them.

// Reasons for skipping, as Stats reports them.
const (
	// SkipMalformed counts events that carry the view operations' marker
	// but do not decode (too many operations, unknown fields...).
	SkipMalformed = "malformed"
)

func skippedPrefix(tid ipel.ThreadID) string { return threadPrefix(tid) + "/skipped" }

func skippedKey(tid ipel.ThreadID, reason string) ds.Key {
	return ds.RawKey(skippedPrefix(tid) + "/" + reason)
}

// countSkipped adds one to a reason's count.
func countSkipped(ctx context.Context, ov *overlay, w ds.Write, tid ipel.ThreadID, reason string) error {
	k := skippedKey(tid, reason)
	n, err := getCount(ctx, ov, k)
	if err != nil {
		return err
	}
	return putCount(ctx, ov, w, k, n+1)
}

// getCount reads a count of the views (8 bytes, big endian; 0 when absent).
func getCount(ctx context.Context, ov *overlay, k ds.Key) (uint64, error) {
	b, err := ov.get(ctx, k)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("view entry %s: corrupt count", k)
	}
	return binary.BigEndian.Uint64(b), nil
}

func putCount(ctx context.Context, ov *overlay, w ds.Write, k ds.Key, n uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return ov.put(ctx, w, k, b[:])
}

// ViewStats is what a thread's views skipped.
type ViewStats struct {
	// Skipped counts skipped events (or operations), by reason.
	Skipped map[string]uint64
}

// Stats returns what a thread's views skipped, as of the events applied.
func (m *Manager) Stats(ctx context.Context, tid ipel.ThreadID) (ViewStats, error) {
	if err := m.Ensure(tid); err != nil {
		return ViewStats{}, err
	}
	res, err := m.store.Query(ctx, dsq.Query{Prefix: skippedPrefix(tid) + "/"})
	if err != nil {
		return ViewStats{}, err
	}
	entries, err := res.Rest()
	if err != nil {
		return ViewStats{}, err
	}
	st := ViewStats{Skipped: map[string]uint64{}}
	for _, e := range entries {
		if len(e.Value) != 8 {
			return ViewStats{}, fmt.Errorf("view entry %s: corrupt count", e.Key)
		}
		st.Skipped[strings.TrimPrefix(e.Key, skippedPrefix(tid)+"/")] = binary.BigEndian.Uint64(e.Value)
	}
	return st, nil
}
