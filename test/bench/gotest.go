package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchLine is one result line of `go test -bench`: the benchmark's name,
// without its -GOMAXPROCS suffix, and its metrics by unit.
type benchLine struct {
	name    string
	metrics map[string]float64
}

// goBench runs benchmarks of a package of the repository (the root module)
// with the Go toolchain, b.runs times each, and returns their result lines
// and the command, for the notes. args go to the test binary (after -args).
// When go test fails, the lines of the benchmarks that passed come with the
// error.
func (b *bench) goBench(ctx context.Context, pkg, pattern, benchtime string, args []string) ([]benchLine, string, error) {
	goArgs := []string{"test", pkg, "-run", "^$", "-bench", pattern, "-benchtime", benchtime,
		"-count", strconv.Itoa(b.runs), "-timeout", b.sz.GoTestTimeout.String()}
	if len(args) > 0 {
		goArgs = append(append(goArgs, "-args"), args...)
	}
	shown := "go " + strings.Join(goArgs, " ")
	cmd := exec.CommandContext(ctx, "go", goArgs...)
	cmd.Dir = b.root
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(os.Stderr, "  (%s: %s)\n", shown, time.Since(t0).Round(time.Second))
	lines := parseBenchLines(string(out))
	switch {
	case err != nil:
		return lines, shown, fmt.Errorf("%s: %w: %s", shown, err, tail(failures(string(out)), 600))
	case len(lines) == 0:
		return nil, shown, fmt.Errorf("%s: no benchmark results: %s", shown, tail(string(out), 600))
	}
	return lines, shown, nil
}

// failures keeps the lines of go test output that say why it failed (the
// --- FAIL lines and the log lines under them), or all of it.
func failures(out string) string {
	var keep []string
	failing := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "--- FAIL"):
			failing = true
		case failing && strings.HasPrefix(l, "    "):
		default:
			failing = false
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	if len(keep) == 0 {
		return out
	}
	return strings.Join(keep, "; ")
}

// procsSuffix is the -GOMAXPROCS suffix go test appends to names.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBenchLines reads the result lines of go test -bench output:
// "BenchmarkX/sub-2  1  123 ns/op  4.5 unit ...".
func parseBenchLines(out string) []benchLine {
	var lines []benchLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line (a log line naming a benchmark)
		}
		l := benchLine{name: procsSuffix.ReplaceAllString(f[0], ""), metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				l.metrics[f[i+1]] = v
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// metric is one metric of a benchmark over the runs, in order.
func metric(lines []benchLine, name, unit string) []float64 {
	var out []float64
	for _, l := range lines {
		if l.name != name {
			continue
		}
		if v, ok := l.metrics[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}
