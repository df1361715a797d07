package threads

import (
	"sync"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
)

// hybridClock issues hybrid logical clock readings: wall time when it moves
// forward, otherwise the last wall time with a higher counter. Readings never
// go backwards, and observing a remote reading moves the clock past it.
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
	if wall > c.last.Wall {
		c.last = codec.Clock{Wall: wall}
	} else {
		c.last.Counter++
	}
	return c.last
}

// Observe moves the clock past a reading seen on another replica.
func (c *hybridClock) Observe(remote codec.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote.Compare(c.last) > 0 {
		c.last = remote
	}
}
