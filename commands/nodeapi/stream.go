package nodeapi

import (
	"context"
	"io"
	"sync"

	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// stream is an iface.Stream over a listener that calls a function for each
// item: the listener runs in a goroutine of its own, handing each item
// over when Next asks for it, until Close or the context stops it.
type stream[T any] struct {
	parent context.Context
	cancel context.CancelFunc
	items  chan T
	done   chan struct{} // closed when the listener has returned
	err    error         // the listener's error, set before done closes

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

// startStream runs listen until ctx ends, the stream is closed, or listen
// returns; listen calls emit for each item (emit fails once the stream
// stops).
func startStream[T any](ctx context.Context, listen func(ctx context.Context, emit func(T) error) error) *stream[T] {
	lctx, cancel := context.WithCancel(ctx)
	s := &stream[T]{parent: ctx, cancel: cancel, items: make(chan T), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = listen(lctx, func(v T) error {
			select {
			case s.items <- v:
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
	}()
	return s
}

func (s *stream[T]) Next() (T, error) {
	var zero T
	select {
	case v := <-s.items:
		return v, nil
	case <-s.done:
		return zero, s.endErr()
	}
}

// endErr says why the stream ended: closed, its context ended, or the
// listener's error.
func (s *stream[T]) endErr() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return io.EOF
	case s.parent.Err() != nil:
		return s.parent.Err()
	case s.err == nil:
		return io.EOF
	}
	return iface.Classify(s.err)
}

func (s *stream[T]) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		<-s.done
	})
	return nil
}
