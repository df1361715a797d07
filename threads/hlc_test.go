package threads

import (
	"math"
	"testing"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
)

func TestHybridClock(t *testing.T) {
	now := time.Unix(100, 0)
	c := newHybridClock(func() time.Time { return now })
	a := c.Next()
	b := c.Next() // same wall time: the counter moves
	if b.Compare(a) <= 0 || b.Wall != a.Wall {
		t.Fatalf("%v then %v", a, b)
	}
	// A remote reading a little ahead moves the clock past it.
	ahead := codec.Clock{Wall: now.Add(time.Second).UnixNano(), Counter: 5}
	c.Observe(ahead)
	if next := c.Next(); next.Compare(ahead) <= 0 {
		t.Fatalf("%v not after %v", next, ahead)
	}
	// One far in the future moves it no further than MaxClockSkew ahead.
	c.Observe(codec.Clock{Wall: math.MaxInt64, Counter: math.MaxUint32})
	if next := c.Next(); next.Wall > now.Add(MaxClockSkew).UnixNano() || next.Wall < now.Add(MaxClockSkew).UnixNano() {
		t.Fatalf("clock at %v, want %v ahead", time.Unix(0, next.Wall).Sub(now), MaxClockSkew)
	}
	// This node's own readings (its logs' heads at start) are taken up
	// whatever they are.
	own := codec.Clock{Wall: now.Add(time.Hour).UnixNano()}
	c.Advance(own)
	if next := c.Next(); next.Compare(own) <= 0 {
		t.Fatalf("%v not after own %v", next, own)
	}
	// The counter never wraps.
	c.last = codec.Clock{Wall: now.UnixNano(), Counter: math.MaxUint32}
	prev := c.last
	if next := c.Next(); next.Compare(prev) <= 0 {
		t.Fatalf("clock went back: %v after %v", next, prev)
	}
}
