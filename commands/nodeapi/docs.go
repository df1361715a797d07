package nodeapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/views"
)

type docsAPI API

func (api *docsAPI) docs(tid ipel.ThreadID) (*views.Docs, error) {
	d, err := api.views.Docs(tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	return d, nil
}

func (api *docsAPI) AddCollection(ctx context.Context, tid ipel.ThreadID, name string, opts ...options.CollectionOption) (iface.Collection, error) {
	s, err := options.CollectionOptions(opts...)
	if err != nil {
		return iface.Collection{}, iface.MarkBadInput(err)
	}
	d, err := api.docs(tid)
	if err != nil {
		return iface.Collection{}, err
	}
	if err := d.AddCollection(ctx, name, s.Schema); err != nil {
		return iface.Collection{}, iface.Classify(err)
	}
	return iface.Collection{Name: name, Schema: rawJSON(s.Schema)}, nil
}

func (api *docsAPI) Collections(ctx context.Context, tid ipel.ThreadID) ([]iface.Collection, error) {
	d, err := api.docs(tid)
	if err != nil {
		return nil, err
	}
	colls, err := d.Collections(ctx)
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.Collection, len(colls))
	for i, c := range colls {
		out[i] = iface.Collection{Name: c.Name, Schema: rawJSON(c.Schema), Indexes: c.Indexes}
	}
	return out, nil
}

func (api *docsAPI) AddIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error {
	d, err := api.docs(tid)
	if err != nil {
		return err
	}
	return iface.Classify(d.AddIndex(ctx, coll, field))
}

func (api *docsAPI) DropIndex(ctx context.Context, tid ipel.ThreadID, coll, field string) error {
	d, err := api.docs(tid)
	if err != nil {
		return err
	}
	return iface.Classify(d.DropIndex(ctx, coll, field))
}

func (api *docsAPI) Put(ctx context.Context, tid ipel.ThreadID, coll string, docs ...json.RawMessage) ([]string, error) {
	d, err := api.docs(tid)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, iface.Classify(fmt.Errorf("%w: no document", views.ErrBadDocument))
	}
	raw := make([][]byte, len(docs))
	for i, doc := range docs {
		raw[i] = doc
	}
	ids, err := d.Put(ctx, coll, raw...)
	if err != nil {
		return nil, iface.Classify(err)
	}
	return ids, nil
}

func (api *docsAPI) Get(ctx context.Context, tid ipel.ThreadID, coll, id string) (json.RawMessage, error) {
	d, err := api.docs(tid)
	if err != nil {
		return nil, err
	}
	doc, err := d.Get(ctx, coll, id)
	if err != nil {
		return nil, iface.Classify(err)
	}
	return json.RawMessage(doc), nil
}

func (api *docsAPI) Delete(ctx context.Context, tid ipel.ThreadID, coll, id string) error {
	d, err := api.docs(tid)
	if err != nil {
		return err
	}
	return iface.Classify(d.Delete(ctx, coll, id))
}

// query reads a query's options.
func query(s *options.QuerySettings) (views.Query, error) {
	q := views.Query{Limit: s.Limit, Skip: s.Skip}
	if len(s.Filter) > 0 {
		f, err := views.ParseFilter(s.Filter)
		if err != nil {
			return views.Query{}, iface.MarkBadInput(err)
		}
		q.Filter = f
	}
	for _, field := range s.Sort {
		k, err := views.ParseSort(field)
		if err != nil {
			return views.Query{}, iface.MarkBadInput(err)
		}
		q.Sort = append(q.Sort, k)
	}
	return q, nil
}

func (api *docsAPI) Query(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.QueryOption) (iface.QueryResult, error) {
	s, err := options.QueryOptions(opts...)
	if err != nil {
		return iface.QueryResult{}, iface.MarkBadInput(err)
	}
	d, err := api.docs(tid)
	if err != nil {
		return iface.QueryResult{}, err
	}
	q, err := query(s)
	if err != nil {
		return iface.QueryResult{}, err
	}
	r, err := d.Query(ctx, coll, q)
	if err != nil {
		return iface.QueryResult{}, iface.Classify(err)
	}
	out := iface.QueryResult{Docs: make([]json.RawMessage, len(r.Docs)), Plan: r.Plan}
	for i, doc := range r.Docs {
		out.Docs[i] = doc
	}
	return out, nil
}

func (api *docsAPI) Listen(ctx context.Context, tid ipel.ThreadID, coll string, opts ...options.ChangesOption) (iface.Stream[iface.DocChange], error) {
	s, err := options.ChangesOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	d, err := api.docs(tid)
	if err != nil {
		return nil, err
	}
	// An unknown collection fails at once.
	if _, err := d.Query(ctx, coll, views.Query{Limit: 1}); err != nil {
		return nil, iface.Classify(err)
	}
	return startStream(ctx, func(ctx context.Context, emit func(iface.DocChange) error) error {
		return api.views.Changes(ctx, tid, coll, s.Since, func(e views.FeedEntry) error { return emit(docChange(e)) })
	}), nil
}
