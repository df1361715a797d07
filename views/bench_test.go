package views

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// fill appends n key/value events to a thread from 64 concurrent writers
// (group-committed) without waiting for the views.
func fill(b testing.TB, s *threads.Service, tid ipel.ThreadID, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body, _ := EncodeOps(Ops{KV: []KVOp{{Key: fmt.Sprintf("/k/%d", i%5000), Value: fmt.Appendf(nil, "value %d", i)}}})
				if _, err := s.Append(ctx, tid, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkRebuild measures a view rebuild: drop the views and replay a
// 20,000-event log (5,000 keys), in events/s.
func BenchmarkRebuild(b *testing.B) {
	const events = 20000
	ctx := context.Background()
	n := newNode(b)
	tid := n.thread(b)
	fill(b, n.s, tid, events)
	if err := n.m.CatchUp(ctx, tid); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := n.m.Rebuild(ctx, tid); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkJoin100k measures a reader joining a thread of 100,000 events
// (5,000 keys) until its views hold them all: from the inviter's snapshot,
// and by full replay.
func BenchmarkJoin100k(b *testing.B) {
	const events = 100000
	ctx := context.Background()
	a := newNetNode(b, 0)
	tid := a.thread(b)
	fill(b, a.s, tid, events)
	if _, err := a.m.Snapshot(ctx, tid); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		full bool
	}{{"snapshot", false}, {"full-replay", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				c := newNetNode(b, 0)
				start := time.Now()
				c.join(b, a, tid, codec.RoleWrite, threads.JoinOptions{FullReplay: mode.full})
				waitSame(b, tid, a, c)
				total += time.Since(start)
				b.StopTimer()
				_ = c.m.Close()
				_ = c.s.Close()
				_ = c.host.Close()
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/join")
		})
	}
}
