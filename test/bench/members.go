package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// w8 measures members at scale in process: the threads package's
// BenchmarkMembers (see threads/members_bench_test.go), one thread of 10, 50
// and 100 members of which 10 write 10 events/s each.
func (b *bench) w8(ctx context.Context) error {
	sizes := make([]string, len(b.sz.W8Members))
	for i, n := range b.sz.W8Members {
		sizes[i] = strconv.Itoa(n)
	}
	const writers, rate = 10, 10
	lines, cmd, err := b.goBench(ctx, "./threads/", "^BenchmarkMembers$", "1x", []string{
		"-w8.members=" + strings.Join(sizes, ","), fmt.Sprintf("-w8.writers=%d", writers),
		fmt.Sprintf("-w8.rate=%d", rate), "-w8.duration=" + b.sz.W8Duration.String(),
	})
	if err != nil {
		return err
	}
	verifyUs := b.verifyCostUs()
	for _, n := range b.sz.W8Members {
		bench := fmt.Sprintf("BenchmarkMembers/members=%d", n)
		m := func(unit string) []float64 { return metric(lines, bench, unit) }
		eventB := newResult("W8", "", "B", m("event-B"), "")
		at := fmt.Sprintf("%d members, %d writers x %d events/s for %s", n, min(writers, n), rate, b.sz.W8Duration)
		goal := func(g string) string { // the issue sets goals at 100 members
			if n != 100 {
				return ""
			}
			return "; goal at 100 members: " + g
		}
		b.rep.add(
			newResult("W8", at+": every member has an event, p50", "ms", m("p50-ms"), "from the start of its Append to the last other member's listener; "+cmd),
			newResult("W8", "  p99", "ms", m("p99-ms"), strings.TrimPrefix(goal("< 1 s"), "; ")),
			ofCost(newResult("W8", "  bytes sent per member per event", "x event size", m("x-event"),
				fmt.Sprintf("sync protocol and pubsub, all members, divided by members and events; an event is %s B%s", num(eventB.Median), goal("< 3x"))),
				floorCopy, 1),
			newResult("W8", "    of which sync protocol", "B", m("sync-B/member/event"), "per member per event"),
			newResult("W8", "    of which pubsub", "B", m("pubsub-B/member/event"), "per member per event"),
			newResult("W8", "  CPU per member", "% of a core", m("cpu-%core/member"), "this process's CPU over the window / members"),
			ofCost(newResult("W8", "  CPU per member per event", "µs", m("cpu-us/member/event"), "floor: one verification per event and member"),
				floorVerifyCore, verifyUs),
			newResult("W8", "  events pulled (gap repairs) per event", "events", m("pulled/event"), ""),
			newResult("W8", "  writers' Append, p99", "ms", m("append-p99-ms"), "a writer whose appends outlast its period falls behind"),
			newResult("W8", "  events appended", "events", m("events"), fmt.Sprintf("%.0f expected", float64(min(writers, n)*rate)*b.sz.W8Duration.Seconds())),
			newResult("W8", "  not delivered to every member within 30 s", "events", m("undelivered"), "must be 0"),
		)
	}
	return nil
}
