package views

import (
	"context"
	"sort"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// overlay stages the writes of one datastore batch, event by event. Reads
// see the current event's writes, then those of the events before it in the
// batch, then the store. An event's writes join the batch when it ends well
// and are dropped when it is skipped, so a skipped event leaves nothing but
// its cursor. Pending keys are indexed by parent, so that listing a key's
// children costs what is under it, not everything the batch wrote.
type overlay struct {
	r     ds.Read
	batch pendingSet
	event pendingSet
}

// pendingSet is a set of staged writes.
type pendingSet struct {
	vals map[ds.Key][]byte              // nil: deleted
	kids map[string]map[ds.Key]struct{} // keys by parent
	size int                            // bytes of keys and values, overwrites included
}

func newPendingSet() pendingSet {
	return pendingSet{vals: map[ds.Key][]byte{}, kids: map[string]map[ds.Key]struct{}{}}
}

func (p *pendingSet) set(k ds.Key, v []byte) {
	if _, ok := p.vals[k]; !ok {
		parent := k.Parent().String()
		kids := p.kids[parent]
		if kids == nil {
			kids = map[ds.Key]struct{}{}
			p.kids[parent] = kids
		}
		kids[k] = struct{}{}
	}
	p.vals[k] = v
	p.size += len(k.String()) + len(v)
}

func newOverlay(r ds.Read) *overlay {
	return &overlay{r: r, batch: newPendingSet(), event: newPendingSet()}
}

var _ ds.Write = (*overlay)(nil)

// pending returns a staged write of k, if there is one (nil: deleted).
func (o *overlay) pending(k ds.Key) ([]byte, bool) {
	if v, ok := o.event.vals[k]; ok {
		return v, true
	}
	v, ok := o.batch.vals[k]
	return v, ok
}

func (o *overlay) get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := o.pending(k); ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return v, nil
	}
	return o.r.Get(ctx, k)
}

// Put stages a write in the current event.
func (o *overlay) Put(_ context.Context, k ds.Key, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	o.event.set(k, v)
	return nil
}

// Delete stages a deletion in the current event.
func (o *overlay) Delete(_ context.Context, k ds.Key) error {
	o.event.set(k, nil)
	return nil
}

// endEvent ends the current event: its writes join the batch when keep is
// set, and are dropped otherwise.
func (o *overlay) endEvent(keep bool) {
	if keep {
		for k, v := range o.event.vals {
			o.batch.set(k, v)
		}
	}
	o.event = newPendingSet()
}

// size is the number of bytes staged, by the batch and the current event.
func (o *overlay) size() int { return o.batch.size + o.event.size }

// flush writes the batch's staged writes to w.
func (o *overlay) flush(ctx context.Context, w ds.Write) error {
	for k, v := range o.batch.vals {
		var err error
		if v == nil {
			err = w.Delete(ctx, k)
		} else {
			err = w.Put(ctx, k, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pendingChildren lists, sorted, the staged keys whose parent is parent.
func (o *overlay) pendingChildren(parent string) []string {
	var out []string
	for _, p := range []*pendingSet{&o.batch, &o.event} {
		for k := range p.kids[parent] {
			out = append(out, k.String())
		}
	}
	sort.Strings(out)
	// A key staged by the batch and by the event is listed once.
	uniq := out[:0]
	for i, k := range out {
		if i == 0 || k != out[i-1] {
			uniq = append(uniq, k)
		}
	}
	return uniq
}

// children calls fn, in key order, with each entry whose key is a child of
// parent (one more path segment), as the batch sees it, until fn returns
// false or an error. Store entries are read as a stream, never all at once.
func (o *overlay) children(ctx context.Context, parent string, fn func(key string, value []byte) (bool, error)) error {
	pend := o.pendingChildren(parent)
	res, err := o.r.Query(ctx, dsq.Query{Prefix: parent, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return err
	}
	defer res.Close()
	next := func() (dsq.Entry, bool, error) {
		for {
			e, ok := res.NextSync()
			if !ok {
				return dsq.Entry{}, false, nil
			}
			if e.Error != nil {
				return dsq.Entry{}, false, e.Error
			}
			if ds.RawKey(e.Key).Parent().String() == parent {
				return e.Entry, true, nil
			}
		}
	}
	se, sok, err := next()
	for err == nil && (sok || len(pend) > 0) {
		var key string
		var value []byte
		fromStore := sok && (len(pend) == 0 || se.Key <= pend[0])
		if fromStore && (len(pend) == 0 || se.Key < pend[0]) {
			key, value = se.Key, se.Value
		} else {
			key, pend = pend[0], pend[1:]
			value, _ = o.pending(ds.RawKey(key))
		}
		if fromStore {
			se, sok, err = next()
		}
		if value == nil {
			continue // deleted in the batch
		}
		more, ferr := fn(key, value)
		if ferr != nil || !more {
			return ferr
		}
	}
	return err
}

// scan lists the children of parent (see children), for short lists.
func (o *overlay) scan(ctx context.Context, parent string) ([]dsq.Entry, error) {
	var out []dsq.Entry
	err := o.children(ctx, parent, func(k string, v []byte) (bool, error) {
		out = append(out, dsq.Entry{Key: k, Value: v})
		return true, nil
	})
	return out, err
}

// first lists the first n children of parent (see children), in key order,
// reading no further in the store.
func (o *overlay) first(ctx context.Context, parent string, n int) ([]dsq.Entry, error) {
	var out []dsq.Entry
	err := o.children(ctx, parent, func(k string, v []byte) (bool, error) {
		out = append(out, dsq.Entry{Key: k, Value: v})
		return len(out) < n, nil
	})
	return out, err
}
