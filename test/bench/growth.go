package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// procSample is a daemon's CPU time, memory and repo size at one moment.
type procSample struct {
	cpu  time.Duration
	rss  int64
	repo int64
}

func sample(d *daemon, withRepo bool) (procSample, error) {
	var s procSample
	var err error
	if s.cpu, err = cpuTime(d.pid()); err != nil {
		return s, fmt.Errorf("%s: %w", d.name, err)
	}
	if s.rss, err = rss(d.pid()); err != nil {
		return s, fmt.Errorf("%s: %w", d.name, err)
	}
	if withRepo {
		if s.repo, err = diskUsage(d.repo); err != nil {
			return s, fmt.Errorf("%s: repo size: %w", d.name, err)
		}
	}
	return s, nil
}

// series collects a curve's points: x, then one value per run.
type series map[string][]Point

func (s series) add(name string, x float64, r Result) {
	if r.Available {
		s[name] = append(s[name], Point{X: x, Y: r.Median, Min: r.Min, Max: r.Max})
	}
}

// w6 measures how append and sync cost per event change as the thread
// grows: at each size, runs samples of W6Sample events appended on A (RPC)
// and replicated to B.
func (b *bench) w6(ctx context.Context) error {
	ds, err := b.newCluster(ctx, 2, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a, bn := ds[0], ds[1]
	tid, logA, err := a.api.create(ctx)
	if err != nil {
		return err
	}
	if err := share(ctx, a, bn, tid); err != nil {
		return err
	}
	baseA, err := sample(a, true)
	if err != nil {
		return err
	}
	baseB, err := sample(bn, true)
	if err != nil {
		return err
	}
	held := 0
	s := b.sz.W6Sample
	cur := series{}
	for _, size := range b.sz.W6Sizes {
		if size > held {
			t0 := time.Now()
			if _, err := b.appendMany(ctx, a, tid, "w6fill", size-held); err != nil {
				return err
			}
			held = size
			if err := waitSeq(ctx, bn, tid, logA, uint64(held), 30*time.Minute); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "  W6 thread grown to %d events (%s)\n", held, time.Since(t0).Round(time.Millisecond))
		}
		var appendUs, cpuAUs, cpuBUs, lagMs []float64
		for range b.runs {
			a0, err := sample(a, false)
			if err != nil {
				return err
			}
			b0, err := sample(bn, false)
			if err != nil {
				return err
			}
			took, err := b.appendMany(ctx, a, tid, "w6", s)
			if err != nil {
				return err
			}
			acked := time.Now()
			held += s
			if err := waitSeq(ctx, bn, tid, logA, uint64(held), 10*time.Minute); err != nil {
				return err
			}
			lag := time.Since(acked)
			a1, err := sample(a, false)
			if err != nil {
				return err
			}
			b1, err := sample(bn, false)
			if err != nil {
				return err
			}
			appendUs = append(appendUs, float64(took.Microseconds())/float64(s))
			cpuAUs = append(cpuAUs, float64((a1.cpu-a0.cpu).Microseconds())/float64(s))
			cpuBUs = append(cpuBUs, float64((b1.cpu-b0.cpu).Microseconds())/float64(s))
			lagMs = append(lagMs, float64(lag.Microseconds())/1000)
		}
		endA, err := sample(a, true)
		if err != nil {
			return err
		}
		endB, err := sample(bn, true)
		if err != nil {
			return err
		}
		at := fmt.Sprintf("at %s events", count(size))
		note := fmt.Sprintf("%d samples of %d events appended on A (RPC, %d clients) and replicated to B", b.runs, s, b.sz.Clients)
		x := float64(size)
		rs := []Result{
			ofCost(newResult("W6", at+": append, wall time per event", "µs", appendUs, note), floorEngine(b.sz.SyncProfile), costUs(b.floorValue(floorEngine(b.sz.SyncProfile)))),
			ofCost(newResult("W6", at+": append, A's CPU per event", "µs", cpuAUs, "A appends, signs, pushes"), floorSignCore, b.signCostUs()),
			ofCost(newResult("W6", at+": sync, B's CPU per event", "µs", cpuBUs, "B receives, verifies, stores"), floorVerifyCore, b.verifyCostUs()),
			newResult("W6", at+": sync lag after the last ack", "ms", lagMs, ""),
			newResult("W6", at+": RSS of A", "MiB", []float64{mib(endA.rss)}, "after the samples"),
			newResult("W6", at+": RSS of B", "MiB", []float64{mib(endB.rss)}, ""),
			newResult("W6", at+": repo growth per event, A", "B/event", []float64{float64(endA.repo-baseA.repo) / float64(held)}, "repo disk usage since the thread was created"),
			newResult("W6", at+": repo growth per event, B", "B/event", []float64{float64(endB.repo-baseB.repo) / float64(held)}, ""),
		}
		b.rep.add(rs...)
		cur.add("append wall µs/event", x, rs[0])
		cur.add("A CPU µs/event (append)", x, rs[1])
		cur.add("B CPU µs/event (sync)", x, rs[2])
		cur.add("sync lag ms", x, rs[3])
		cur.add("RSS MiB, A", x, rs[4])
		cur.add("RSS MiB, B", x, rs[5])
		cur.add("repo bytes/event, A", x, rs[6])
		cur.add("repo bytes/event, B", x, rs[7])
	}
	for k, v := range cur {
		b.rep.Curves["W6 "+k] = v
	}
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// bwTotals is the answer of stats/bw.
type bwTotals struct{ TotalIn, TotalOut int64 }

// pubsubProtocols are the gossipsub protocol IDs Kubo's pubsub speaks.
var pubsubProtocols = []string{"/meshsub/1.3.0", "/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0"}

// traffic is the bytes in and out of the sync protocol, of pubsub, and of
// all libp2p protocols together.
func traffic(ctx context.Context, d *daemon) (syncBytes, pubsubBytes, allBytes int64, err error) {
	bw := func(opts ...string) (int64, error) {
		var t bwTotals
		if err := d.api.json(ctx, "stats/bw", nil, &t, opts...); err != nil {
			return 0, err
		}
		return t.TotalIn + t.TotalOut, nil
	}
	if syncBytes, err = bw("proto=/kubo-threads/sync/2.0.0"); err != nil {
		return 0, 0, 0, err
	}
	for _, p := range pubsubProtocols {
		n, err := bw("proto=" + p)
		if err != nil {
			return 0, 0, 0, err
		}
		pubsubBytes += n
	}
	if allBytes, err = bw(); err != nil {
		return 0, 0, 0, err
	}
	return syncBytes, pubsubBytes, allBytes, nil
}

// w7 measures what idle threads cost: a node A with 1, 100, ... threads,
// each shared with W7Members other daemons holding one event.
func (b *bench) w7(ctx context.Context) error {
	ds, err := b.newCluster(ctx, 1+b.sz.W7Members, b.sz.SyncProfile, nil)
	if err != nil {
		return err
	}
	defer stopAll(ds)
	a, members := ds[0], ds[1:]
	held := 0
	cur := series{}
	for _, target := range b.sz.W7Threads {
		t0 := time.Now()
		var mu sync.Mutex
		if _, err := b.concurrently(ctx, target-held, func(int) error {
			tid, _, err := a.api.create(ctx)
			if err != nil {
				return err
			}
			if _, err := a.api.add(ctx, tid, body100("w7", 0)); err != nil {
				return err
			}
			for _, m := range members {
				if err := share(ctx, a, m, tid); err != nil {
					return err
				}
			}
			mu.Lock()
			held++
			mu.Unlock()
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  W7 %d threads with %d members each, set up in %s\n", held, len(members), time.Since(t0).Round(time.Millisecond))
		// Let joins' pulls and announcements settle, and every daemon run
		// its first anti-entropy round over the new threads (30 s by
		// default), before measuring idling.
		settle := min(35*time.Second, b.sz.W7Window+5*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
		var cpuPct, syncKB, pubsubKB, allKB, rssMiB, startS []float64
		for range b.runs {
			s0, err := sample(a, false)
			if err != nil {
				return err
			}
			sy0, ps0, al0, err := traffic(ctx, a)
			if err != nil {
				return err
			}
			t := time.Now()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(b.sz.W7Window):
			}
			el := time.Since(t)
			s1, err := sample(a, false)
			if err != nil {
				return err
			}
			sy1, ps1, al1, err := traffic(ctx, a)
			if err != nil {
				return err
			}
			perMin := time.Minute.Seconds() / el.Seconds()
			cpuPct = append(cpuPct, 100*(s1.cpu-s0.cpu).Seconds()/el.Seconds())
			syncKB = append(syncKB, float64(sy1-sy0)/1024*perMin)
			pubsubKB = append(pubsubKB, float64(ps1-ps0)/1024*perMin)
			allKB = append(allKB, float64(al1-al0)/1024*perMin)
			rssMiB = append(rssMiB, mib(s1.rss))
		}
		for range b.runs {
			a.stop()
			took, err := a.start(ctx)
			if err != nil {
				return err
			}
			startS = append(startS, took.Seconds())
			for _, m := range members {
				if err := a.connect(ctx, m); err != nil {
					return err
				}
			}
		}
		at := fmt.Sprintf("%d threads x %d members:", target, len(members))
		win := fmt.Sprintf("%d windows of %s on A, anti-entropy every 30s (default)", b.runs, b.sz.W7Window)
		rs := []Result{
			newResult("W7", at+" idle CPU of A", "% of a core", cpuPct, win),
			newResult("W7", at+" RSS of A", "MiB", rssMiB, ""),
			newResult("W7", at+" restart of A until threads ls answers", "s", startS, ""),
			newResult("W7", at+" sync protocol traffic of A (in+out)", "KiB/min", syncKB, "ipfs stats bw --proto /kubo-threads/sync/2.0.0"),
			newResult("W7", at+" pubsub traffic of A (in+out)", "KiB/min", pubsubKB, "ipfs stats bw --proto /meshsub/*"),
			newResult("W7", at+" all libp2p traffic of A (in+out)", "KiB/min", allKB, "ipfs stats bw"),
		}
		b.rep.add(rs...)
		x := float64(target)
		cur.add("idle CPU % of a core", x, rs[0])
		cur.add("RSS MiB", x, rs[1])
		cur.add("restart s", x, rs[2])
		cur.add("sync KiB/min", x, rs[3])
		cur.add("pubsub KiB/min", x, rs[4])
		cur.add("all libp2p KiB/min", x, rs[5])
	}
	for k, v := range cur {
		b.rep.Curves["W7 "+k] = v
	}
	return nil
}
