package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

type docsAPI Client

func (api *docsAPI) core() *Client { return (*Client)(api) }

func (api *docsAPI) AddCollection(ctx context.Context, tid ipel.ThreadID, name string, opts ...options.CollectionOption) (iface.Collection, error) {
	s, err := options.CollectionOptions(opts...)
	if err != nil {
		return iface.Collection{}, iface.MarkBadInput(err)
	}
	rb := api.core().request("docs/collection/add", tid.String(), name)
	if len(s.Schema) > 0 {
		rb.Option("schema", string(s.Schema))
	}
	var out commands.CollectionOutput
	if err := exec(ctx, rb, &out); err != nil {
		return iface.Collection{}, err
	}
	return iface.Collection{Name: out.Name, Schema: out.Schema, Indexes: out.Indexes}, nil
}

func (api *docsAPI) Collections(ctx context.Context, tid ipel.ThreadID) ([]iface.Collection, error) {
	colls := []iface.Collection{}
	err := each(ctx, api.core().request("docs/collection/ls", tid.String()), func(c commands.CollectionOutput) error {
		colls = append(colls, iface.Collection{Name: c.Name, Schema: c.Schema, Indexes: c.Indexes})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return colls, nil
}

func (api *docsAPI) AddIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error {
	return exec(ctx, api.core().request("docs/index/add", tid.String(), coll, field), nil)
}

func (api *docsAPI) DropIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error {
	return exec(ctx, api.core().request("docs/index/rm", tid.String(), coll, field), nil)
}

func (api *docsAPI) Put(ctx context.Context, tid ipel.ThreadID, coll string, docs ...json.RawMessage) ([]string, error) {
	var arg []byte
	switch len(docs) {
	case 0:
		return nil, iface.Classify(fmt.Errorf("%w: no document", views.ErrBadDocument))
	case 1:
		arg = docs[0]
	default:
		// The command reads an array as several documents.
		var err error
		if arg, err = json.Marshal(docs); err != nil {
			return nil, iface.Classify(fmt.Errorf("%w: %v", views.ErrBadDocument, err))
		}
	}
	var out commands.DocIDs
	if err := exec(ctx, api.core().request("docs/put", tid.String(), coll, string(arg)), &out); err != nil {
		return nil, err
	}
	return out.IDs, nil
}

func (api *docsAPI) Get(ctx context.Context, tid ipel.ThreadID, coll, id string) (json.RawMessage, error) {
	var out json.RawMessage
	if err := exec(ctx, api.core().request("docs/get", tid.String(), coll, id), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (api *docsAPI) Delete(ctx context.Context, tid ipel.ThreadID, coll, id string) error {
	return exec(ctx, api.core().request("docs/del", tid.String(), coll, id), nil)
}

func (api *docsAPI) Query(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.QueryOption) (iface.QueryResult, error) {
	s, err := options.QueryOptions(opts...)
	if err != nil {
		return iface.QueryResult{}, iface.MarkBadInput(err)
	}
	args := []string{tid.String(), coll}
	if len(s.Filter) > 0 {
		args = append(args, string(s.Filter))
	}
	rb := api.core().request("docs/query", args...).Option("limit", s.Limit).Option("skip", s.Skip)
	if len(s.Sort) > 0 {
		// Kubo's client sends an option once: the keys go in one value,
		// which the command splits (see commands.sortKeys).
		rb.Option("sort", strings.Join(s.Sort, "\x00"))
	}
	var out commands.QueryOutput
	if err := exec(ctx, rb, &out); err != nil {
		return iface.QueryResult{}, err
	}
	if out.Docs == nil {
		out.Docs = []json.RawMessage{}
	}
	return iface.QueryResult{Docs: out.Docs, Plan: out.Plan}, nil
}

func (api *docsAPI) Listen(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.ChangesOption) (iface.Stream[iface.DocChange], error) {
	s, err := options.ChangesOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	return listen(ctx, api.core().request("docs/listen", tid.String(), coll).Option("since", s.Since), docChange)
}
