package threads

import (
	"math"
	"sync"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
)

// hybridClock issues hybrid logical clock readings: wall time when it moves
// forward, otherwise the last wall time with a higher counter. Readings never
// go backwards, and observing a remote reading moves the clock past it, but
// never more than MaxClockSkew ahead of the wall clock.
type hybridClock struct {
	mu   sync.Mutex
	now  func() time.Time
	last codec.Clock
}

func newHybridClock(now func() time.Time) *hybridClock {
	return &hybridClock{now: now}
}

// Next returns a reading later than every reading issued or observed.
func (c *hybridClock) Next() codec.Clock {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := c.now().UnixNano()
	switch {
	case wall > c.last.Wall:
		c.last = codec.Clock{Wall: wall}
	case c.last.Counter == math.MaxUint32:
		c.last = codec.Clock{Wall: c.last.Wall + 1}
	default:
		c.last.Counter++
	}
	return c.last
}

// Observe moves the clock up to a reading seen on another replica, at most
// to MaxClockSkew ahead of the local wall clock: a writer cannot drag this
// clock (and so every later write of this node) into the future.
func (c *hybridClock) Observe(remote codec.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit := c.now().Add(MaxClockSkew).UnixNano(); remote.Wall > limit {
		remote = codec.Clock{Wall: limit}
	}
	if remote.Compare(c.last) > 0 {
		c.last = remote
	}
}

// Advance moves the clock up to a reading of this node's own (its logs'
// heads at start), however far ahead: its next readings must follow them,
// or its next events would go backwards in their logs.
func (c *hybridClock) Advance(own codec.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if own.Compare(c.last) > 0 {
		c.last = own
	}
}
