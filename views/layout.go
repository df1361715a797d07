package views

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"

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
//	   commit to their key, skipped counts
const viewsLayout = 2

func layoutKey(tid ipel.ThreadID) ds.Key { return ds.RawKey("/layout/" + tid.String()) }

// upgradeLayout drops a thread's views when an older version applied them,
// returning their cursors (the events whose changes were fed already), and
// records the current version.
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
		if err := m.dropPrefix(ctx, threadPrefix(tid)); err != nil {
			return nil, fmt.Errorf("drop views of an older layout: %w", err)
		}
	}
	if err := m.store.Put(ctx, layoutKey(tid), []byte(strconv.Itoa(viewsLayout))); err != nil {
		return nil, err
	}
	return applied, nil
}
