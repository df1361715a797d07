package client

import (
	"context"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/kubo-threads/kubo-threads/commands"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
)

type eventsAPI Client

func (api *eventsAPI) core() *Client { return (*Client)(api) }

func (api *eventsAPI) Add(ctx context.Context, tid ipel.ThreadID, body io.Reader, opts ...options.EventAddOption) (iface.EventRef, error) {
	s, err := options.EventAddOptions(opts...)
	if err != nil {
		return iface.EventRef{}, iface.MarkBadInput(err)
	}
	rb := api.core().request("add", tid.String()).FileBody(body)
	if s.To != "" {
		rb.Option("to", s.To.String())
	}
	var out commands.AddOutput
	if err := exec(ctx, rb, &out); err != nil {
		return iface.EventRef{}, err
	}
	var p parser
	ref := iface.EventRef{Log: p.peer(out.Log), Seq: out.Seq, Cid: p.cid(out.Cid)}
	return ref, p.err
}

func (api *eventsAPI) Log(ctx context.Context, tid ipel.ThreadID, opts ...options.LogOption) ([]iface.Event, error) {
	s, err := options.LogOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	rb := api.core().request("log", tid.String()).Option("since", s.Since).Option("limit", s.Limit)
	if s.Log != "" {
		rb.Option("log", s.Log.String())
	}
	evs := []iface.Event{}
	err = each(ctx, rb, func(o commands.EventOutput) error {
		e, err := event(&o)
		evs = append(evs, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evs, nil
}

func (api *eventsAPI) Cat(ctx context.Context, tid ipel.ThreadID, event cid.Cid) ([]byte, error) {
	resp, err := send(ctx, api.core().request("cat", tid.String(), event.String()))
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	body, err := io.ReadAll(resp.Output)
	if err != nil {
		return nil, readError(ctx, err)
	}
	return body, nil
}

func (api *eventsAPI) Listen(ctx context.Context, tid ipel.ThreadID, opts ...options.ListenOption) (iface.Stream[iface.Event], error) {
	s, err := options.ListenOptions(opts...)
	if err != nil {
		return nil, iface.MarkBadInput(err)
	}
	return listen(ctx, api.core().request("listen", tid.String()).Option("since", s.Since), event)
}
