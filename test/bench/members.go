package main

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// W8's load: writers among the members, and the events per second each
// appends (issue #13).
const (
	w8Writers = 10
	w8Rate    = 10
)

// w8 measures members at scale in process: the threads package's
// BenchmarkMembers (threads/members_bench_test.go), one thread of 10, 50
// and 100 members of which 10 write 10 events/s each. Each size runs in a
// go test of its own (a fresh process: 100 members are 100 libp2p hosts).
func (b *bench) w8(ctx context.Context) error {
	for _, n := range b.sz.W8Members {
		lines, cmd, err := b.goBench(ctx, "./threads/", "^BenchmarkMembers$", "1x", []string{
			fmt.Sprintf("-w8.members=%d", n), fmt.Sprintf("-w8.writers=%d", w8Writers),
			fmt.Sprintf("-w8.rate=%d", w8Rate), "-w8.duration=" + b.sz.W8Duration.String(),
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "  W8 at %d members: %s\n", n, err)
		}
		b.membersResults(n, lines, cmd, err)
	}
	return nil
}

// membersResults adds W8's rows at n members from BenchmarkMembers' lines
// (one per run); a run that failed leaves a row that says why.
func (b *bench) membersResults(n int, lines []benchLine, cmd string, runErr error) {
	bench := fmt.Sprintf("BenchmarkMembers/members=%d", n)
	m := func(unit string) []float64 { return metric(lines, bench, unit) }
	writers := min(w8Writers, n)
	at := fmt.Sprintf("%d members, %d writers x %d events/s for %s", n, writers, w8Rate, b.sz.W8Duration)
	if len(m("p50-ms")) == 0 {
		why := "no result"
		if runErr != nil {
			why = "failed: " + runErr.Error()
		}
		b.rep.add(unavailable("W8", at, why))
		return
	}
	eventB := newResult("W8", "", "B", m("event-B"), "")
	goal := func(g string) string { // the issue sets goals at 100 members
		if n != 100 {
			return ""
		}
		return "goal at 100 members: " + g
	}
	// The CPU this machine has for each delivery of an event to a member:
	// every member runs in this process, on its cores.
	budget := 0.0
	if cores := b.floorValue(floorCores); cores > 0 {
		budget = cores * 1e6 / float64(n*writers*w8Rate)
	}
	b.rep.add(
		newResult("W8", at+": every member has an event, p50", "ms", m("p50-ms"), "from the start of its Append to the last other member's listener; "+cmd),
		newResult("W8", "  p99", "ms", m("p99-ms"), goal("< 1 s")),
		ofCost(newResult("W8", "  bytes sent per member per event", "x event size", m("x-event"),
			strings.Join(nonEmpty(fmt.Sprintf("sync protocol and pubsub, all members, divided by members and events; an event is %s B", num(eventB.Median)), goal("< 3x")), "; ")),
			floorCopy, 1),
		newResult("W8", "    of which sync protocol", "B", m("sync-B/member/event"), "per member per event"),
		newResult("W8", "    of which pubsub", "B", m("pubsub-B/member/event"), "per member per event"),
		newResult("W8", "  CPU per member", "% of a core", m("cpu-%core/member"), "this process's CPU over the window / members"),
		ofCost(newResult("W8", "  CPU per member per event", "µs", m("cpu-us/member/event"),
			fmt.Sprintf("the machine has %s µs per member per event (cores / deliveries per second): above it, the process is CPU-bound and the latencies measure the overload", num(budget))),
			floorVerifyCore, b.verifyCostUs()),
		newResult("W8", "  events pulled (gap repairs) per event", "events", m("pulled/event"), ""),
		newResult("W8", "  writers' Append, p99", "ms", m("append-p99-ms"), "a writer whose appends outlast its period falls behind"),
		newResult("W8", "  events appended", "events", m("events"), fmt.Sprintf("%.0f expected", float64(writers*w8Rate)*b.sz.W8Duration.Seconds())),
		newResult("W8", "  not delivered to every member within 30 s", "events", m("undelivered"), "must be 0"),
	)
}

// nonEmpty drops the empty strings.
func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
