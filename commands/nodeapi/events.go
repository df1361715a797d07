package nodeapi

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

type eventsAPI API

func (api *eventsAPI) Add(ctx context.Context, tid ipel.ThreadID, body io.Reader, opts ...options.EventAddOption) (iface.EventRef, error) {
	s, err := options.EventAddOptions(opts...)
	if err != nil {
		return iface.EventRef{}, iface.MarkBadInput(err)
	}
	b, err := readBody(body, api.svc.Config().MaxBodySize)
	if err != nil {
		return iface.EventRef{}, iface.Classify(err)
	}
	if err := api.views.CheckWrite(tid, views.RoleWrite); err != nil {
		return iface.EventRef{}, iface.Classify(err)
	}
	ref, err := api.svc.AppendTo(ctx, tid, s.To, b)
	if err != nil {
		return iface.EventRef{}, iface.Classify(err)
	}
	return iface.EventRef{Log: ref.Log, Seq: ref.Seq, Cid: ref.Cid}, nil
}

// readBody reads an event body, refusing an empty one or one of more than
// limit bytes (reading at most limit+1).
func readBody(r io.Reader, limit int) ([]byte, error) {
	if r == nil {
		return nil, threads.ErrEmptyBody
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read event body: %w", err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes (MaxBodySize)", threads.ErrBodyTooLarge, limit)
	}
	if len(body) == 0 {
		return nil, threads.ErrEmptyBody
	}
	return body, nil
}

func (api *eventsAPI) Log(ctx context.Context, tid ipel.ThreadID, opts ...options.LogOption) ([]iface.Event, error) {
	s, err := options.LogOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	recs, err := api.svc.Events(ctx, tid, threads.Query{Log: s.Log, Since: s.Since, Limit: s.Limit})
	if err != nil {
		return nil, iface.Classify(err)
	}
	out := make([]iface.Event, len(recs))
	for i, r := range recs {
		out[i] = event(r)
	}
	return out, nil
}

func (api *eventsAPI) Cat(ctx context.Context, tid ipel.ThreadID, c cid.Cid) ([]byte, error) {
	rec, err := api.svc.Event(ctx, tid, c)
	if err != nil {
		return nil, iface.Classify(err)
	}
	switch {
	case rec.Private:
		return nil, iface.Classify(fmt.Errorf("event %s is private to %s: %w", c, rec.To, iface.ErrPrivateEvent))
	case rec.NotAuthentic:
		return nil, iface.Classify(fmt.Errorf("event %s is not authentic: %w", c, iface.ErrNotAuthentic))
	}
	return rec.Body, nil
}

func (api *eventsAPI) Listen(ctx context.Context, tid ipel.ThreadID, opts ...options.ListenOption) (iface.Stream[iface.Event], error) {
	s, err := options.ListenOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	ti, err := api.svc.Info(tid)
	if err != nil {
		return nil, iface.Classify(err)
	}
	if !ti.HasReadKey {
		return nil, iface.Classify(fmt.Errorf("listen %s: %w", tid, threads.ErrNoReadKey))
	}
	return startStream(ctx, func(ctx context.Context, emit func(iface.Event) error) error {
		return api.svc.Listen(ctx, tid, s.Since, func(r threads.Record) error { return emit(event(r)) })
	}), nil
}
