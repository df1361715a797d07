package client

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/ipfs/kubo/client/rpc"

	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// stream is an iface.Stream over a response that streams JSON values: Next
// decodes the next one. Close closes the response, which ends a Next
// waiting for it; the request's context ends it too.
type stream[T, W any] struct {
	ctx  context.Context
	resp *rpc.Response
	dec  *json.Decoder
	conv func(*W) (T, error)

	mu     sync.Mutex
	closed bool
	err    error // what ended the stream, returned by every later Next
}

// listen sends a listen request: the daemon answers at once (or fails),
// then sends each item as it comes.
func listen[T, W any](ctx context.Context, rb rpc.RequestBuilder, conv func(*W) (T, error)) (iface.Stream[T], error) {
	resp, err := send(ctx, rb)
	if err != nil {
		return nil, err
	}
	return &stream[T, W]{ctx: ctx, resp: resp, dec: json.NewDecoder(resp.Output), conv: conv}, nil
}

func (s *stream[T, W]) Next() (T, error) {
	var zero T
	if err := s.ended(nil); err != nil {
		return zero, err
	}
	var w W
	if err := s.dec.Decode(&w); err != nil {
		return zero, s.ended(err)
	}
	v, err := s.conv(&w)
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		return zero, s.ended(nil)
	}
	return v, nil
}

// ended records what ended the stream, when err is the first error, and
// returns what Next returns from now on: io.EOF once closed, the context's
// error once it ended, otherwise the first error.
func (s *stream[T, W]) ended(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return io.EOF
	case s.err != nil:
	case s.ctx.Err() != nil:
		s.err = s.ctx.Err()
	case err == io.EOF:
		s.err = io.EOF
	case err != nil:
		s.err = readError(s.ctx, err)
	}
	return s.err
}

func (s *stream[T, W]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.resp.Cancel()
}
