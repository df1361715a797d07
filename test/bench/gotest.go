package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// goBench runs benchmarks of a package of the repository (the root module),
// b.runs times each, and returns their result lines and the equivalent go
// test command, for the notes. args go to the test binary (go test's
// -args). When the run fails, the lines of the benchmarks that passed come
// with the error. The package's test binary is built once per bench run
// (go test -c): go test's own start, which checks the whole module, takes
// seconds on a loaded machine.
func (b *bench) goBench(ctx context.Context, pkg, pattern, benchtime string, args []string) ([]benchLine, string, error) {
	flags := []string{"-run", "^$", "-bench", pattern, "-benchtime", benchtime,
		"-count", strconv.Itoa(b.runs), "-timeout", b.sz.GoTestTimeout.String()}
	shown := "go test " + pkg + " " + strings.Join(flags, " ")
	if len(args) > 0 {
		shown += " -args " + strings.Join(args, " ")
	}
	bin, err := b.testBinary(ctx, pkg)
	if err != nil {
		return nil, shown, err
	}
	var binArgs []string
	for i := 0; i+1 < len(flags); i += 2 {
		binArgs = append(binArgs, "-test."+strings.TrimPrefix(flags[i], "-"), flags[i+1])
	}
	cmd := exec.CommandContext(ctx, bin, append(binArgs, args...)...)
	cmd.Dir = filepath.Join(b.root, pkg) // where go test runs a package's tests
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

// testBinary builds the tests of a package of the repository once per
// bench run and returns the binary.
func (b *bench) testBinary(ctx context.Context, pkg string) (string, error) {
	if bin, ok := b.testBins[pkg]; ok {
		return bin, nil
	}
	bin := filepath.Join(b.dir, strings.Trim(strings.ReplaceAll(pkg, "/", "_"), "._")+".test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, pkg)
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c %s: %w: %s", pkg, err, tail(string(out), 600))
	}
	if b.testBins == nil {
		b.testBins = map[string]string{}
	}
	b.testBins[pkg] = bin
	return bin, nil
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
