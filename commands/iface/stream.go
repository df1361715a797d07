package iface

import (
	"errors"
	"io"
	"iter"
)

// Stream is what a Listen call returns: items in order, as the node reads
// them, until the stream is closed, its context ends, or the node ends it.
type Stream[T any] interface {
	// Next waits for the next item. It returns io.EOF once the stream is
	// closed, the context's error once the context given to Listen ends,
	// and the node's error when the node ends the stream (the thread was
	// removed: ErrNotFound; the node is stopping). After an error, Next
	// returns it again.
	Next() (T, error)
	// Close stops the stream and releases what it holds. It may be called
	// more than once, and while Next waits (which then returns io.EOF).
	Close() error
}

// All ranges over a stream: each item with a nil error, then the error that
// ended it, unless the stream was closed (io.EOF). Breaking out of the loop
// leaves the stream open: close it.
func All[T any](s Stream[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := s.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}
