package client

import (
	"context"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type kvAPI Client

func (api *kvAPI) core() *Client { return (*Client)(api) }

func (api *kvAPI) Put(ctx context.Context, tid ipel.ThreadID, key string, value []byte) (string, error) {
	var out commands.KVEntry
	if err := exec(ctx, api.core().request("kv/put", tid.String(), key, string(value)), &out); err != nil {
		return "", err
	}
	return out.Key, nil
}

func (api *kvAPI) Get(ctx context.Context, tid ipel.ThreadID, key string) ([]byte, error) {
	var out commands.KVValue
	if err := exec(ctx, api.core().request("kv/get", tid.String(), key), &out); err != nil {
		return nil, err
	}
	if out.Value == nil {
		out.Value = []byte{}
	}
	return out.Value, nil
}

func (api *kvAPI) Delete(ctx context.Context, tid ipel.ThreadID, key string) (string, error) {
	var out commands.KVEntry
	if err := exec(ctx, api.core().request("kv/del", tid.String(), key), &out); err != nil {
		return "", err
	}
	return out.Key, nil
}

func (api *kvAPI) List(ctx context.Context, tid ipel.ThreadID, opts ...options.KVListOption) ([]iface.KVEntry, error) {
	s, err := options.KVListOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	rb := api.core().request("kv/ls", tid.String()).Option("keys", s.KeysOnly)
	if s.Prefix != "" {
		rb.Option("prefix", s.Prefix)
	}
	entries := []iface.KVEntry{}
	err = each(ctx, rb, func(e commands.KVEntry) error {
		entries = append(entries, iface.KVEntry{Key: e.Key, Value: e.Value})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}
