package threads

import (
	"math"
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

// maxClockSkew is how far ahead of the local wall clock a remote reading may
// be and still move this clock: a writer cannot drag every replica's clock
// into the future (and so win every later conflict) by claiming a time far
// ahead.
const maxClockSkew = time.Minute

// Observe moves the clock past a reading seen on another replica, unless the
// reading is more than maxClockSkew ahead of the local wall clock.
func (c *hybridClock) Observe(remote codec.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote.Wall > c.now().Add(maxClockSkew).UnixNano() {
		return
	}
	if remote.Compare(c.last) > 0 {
		c.last = remote
	}
}
