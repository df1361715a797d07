package nodeapi

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

type kvAPI API

// parseKey reads a key: "a/b" is "/a/b"; the root names nothing.
func parseKey(s string) (ds.Key, error) {
	if s == "" || ds.NewKey(s).String() == "/" {
		return ds.Key{}, iface.BadInput("invalid key %q: keys must name something", s)
	}
	return ds.NewKey(s), nil
}

// view returns the thread's key/value view and the key.
func (api *kvAPI) view(tid ipel.ThreadID, key string) (*views.KV, ds.Key, error) {
	kv, err := api.views.KV(tid)
	if err != nil {
		return nil, ds.Key{}, iface.Classify(err)
	}
	k, err := parseKey(key)
	if err != nil {
		return nil, ds.Key{}, err
	}
	return kv, k, nil
}

// notFound is the error for a key that is not set.
func notFound(k ds.Key) error {
	return fmt.Errorf("key %s %w", k, iface.ErrNotFound)
}

func (api *kvAPI) Put(ctx context.Context, tid ipel.ThreadID, key string, value []byte) (string, error) {
	kv, k, err := api.view(tid, key)
	if err != nil {
		return "", err
	}
	if err := kv.Put(ctx, k, value); err != nil {
		return "", iface.Classify(err)
	}
	return k.String(), nil
}

func (api *kvAPI) Get(ctx context.Context, tid ipel.ThreadID, key string) ([]byte, error) {
	kv, k, err := api.view(tid, key)
	if err != nil {
		return nil, err
	}
	v, err := kv.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, notFound(k)
	}
	if err != nil {
		return nil, iface.Classify(err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (api *kvAPI) Delete(ctx context.Context, tid ipel.ThreadID, key string) (string, error) {
	kv, k, err := api.view(tid, key)
	if err != nil {
		return "", err
	}
	has, err := kv.Has(ctx, k)
	if err != nil {
		return "", iface.Classify(err)
	}
	if !has {
		return "", notFound(k)
	}
	if err := kv.Delete(ctx, k); err != nil {
		return "", iface.Classify(err)
	}
	return k.String(), nil
}

func (api *kvAPI) List(ctx context.Context, tid ipel.ThreadID, opts ...options.KVListOption) ([]iface.KVEntry, error) {
	s, err := options.KVListOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	kv, err := api.views.KV(tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	r, err := kv.Query(ctx, dsq.Query{Prefix: s.Prefix, KeysOnly: s.KeysOnly, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return nil, iface.Classify(err)
	}
	entries, err := r.Rest()
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.KVEntry, len(entries))
	for i, e := range entries {
		out[i] = iface.KVEntry{Key: e.Key, Value: e.Value}
	}
	return out, nil
}
