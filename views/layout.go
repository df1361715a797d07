package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// viewsLayout is the version of what a thread's views hold and of the rules
// they were applied by; the views of a thread applied by an older version
// are dropped and applied again from the logs when their runner starts
// (views are rebuildable; the change feed is not fed again). Kept apart
// from the views, at /layout/<thread>.
//
//	1  no version stored: the first layout
//	2  ACL operations kept only when they may count, creator's standing
//	   fixed, document roles of non-admins only lower, hiding puts and
//	   indexes need the delete role, at most MaxIndexes indexes, rotations
//	   commit to their key, skipped counts (/<thread>/skipped/<reason>)
//	3  the limits of one event (budget.go) and the schema cost rule,
//	   index entries hold at most maxIndexedString bytes of a string, skip
//	   counts node-local (/<thread>/local/skipped; those of layout 2 are
//	   carried over), re-check marks
const viewsLayout = 3

func layoutKey(tid ipel.ThreadID) ds.Key { return ds.RawKey("/layout/" + tid.String()) }

// upgradeLayout drops a thread's views when an older version applied them
// (but this node's skip counts), returning their cursors (the events whose
// changes were fed, and skips counted, already), and records the current
// version.
func (m *Manager) upgradeLayout(ctx context.Context, tid ipel.ThreadID) (map[ipel.LogID]uint64, error) {
	b, err := m.store.Get(ctx, layoutKey(tid))
	switch {
	case err == nil:
		if v, perr := strconv.Atoi(string(b)); perr == nil && v == viewsLayout {
			return nil, nil
		}
	case !errors.Is(err, ds.ErrNotFound):
		return nil, err
	}
	applied, err := m.loadCursors(tid)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		log.Infof("views of %s: applied by an older version (layout %q): applying them again", tid, b)
		if err := m.keepLayout2Skips(ctx, tid); err != nil {
			return nil, fmt.Errorf("skip counts of an older layout: %w", err)
		}
		if err := m.deleteUnder(ctx, threadPrefix(tid), keptLocal(tid)); err != nil {
			return nil, fmt.Errorf("drop views of an older layout: %w", err)
		}
	}
	if err := m.store.Put(ctx, layoutKey(tid), []byte(strconv.Itoa(viewsLayout))); err != nil {
		return nil, err
	}
	return applied, nil
}

// keepLayout2Skips carries the skip counts of layout 2, kept in the views
// by reason (/<thread>/skipped/<reason>, 8 bytes), over to this node's
// counts, which that layout did not have: done again after a crash, it
// gives the same counts.
func (m *Manager) keepLayout2Skips(ctx context.Context, tid ipel.ThreadID) error {
	prefix := threadPrefix(tid) + "/skipped/"
	res, err := m.store.Query(ctx, dsq.Query{Prefix: prefix})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil || len(entries) == 0 {
		return err
	}
	ov := newOverlay(m.store)
	counts, err := loadSkips(ctx, ov, tid)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if len(e.Value) == 8 {
			counts[strings.TrimPrefix(e.Key, prefix)] = binary.BigEndian.Uint64(e.Value)
		}
	}
	b, err := codec.Marshal(counts)
	if err != nil {
		return err
	}
	return m.store.Put(ctx, skipsKey(tid), b)
}
