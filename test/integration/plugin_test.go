//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/kubo/config"
	"github.com/ipfs/kubo/test/cli/harness"
)

// noDaemonErr is what a threads command prints, alone, without a daemon.
const noDaemonErr = "Error: threads runs inside the IPFS daemon, and no daemon is running for this repo: start it with 'ipfs daemon' and try again\n"

// repoState lists every file and directory of the repo with its size and
// modification time. A command that opens the repo changes it: the
// datastore rotates its journal and manifest even when nothing is written.
func repoState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %d %d\n", path, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatalf("list repo %s: %s", dir, err)
	}
	return b.String()
}

// TestNoDaemon: without a daemon the threads commands fail at once, print
// the message alone (it tells the user to start one) and leave the repo
// untouched: never opened, never locked. Without a repo they say to run
// 'ipfs init', as Kubo's own commands do.
func TestNoDaemon(t *testing.T) {
	n := newNode(t, nil)
	before := repoState(t, n.Dir)
	for _, args := range [][]string{
		{"threads", "ls"},
		{"threads", "create"},
		{"threads", "add", "bafkqaaa"},
		{"threads", "log", "bafkqaaa"},
		{"threads", "kv", "ls", "bafkqaaa"},
	} {
		res := n.run(args...)
		if !failed(res) {
			t.Fatalf("%v without a daemon succeeded: %s", args, describe(res))
		}
		if got := res.Stderr.String(); got != noDaemonErr {
			t.Errorf("%v without a daemon: stderr %q, want the no-daemon message alone %q", args, got, noDaemonErr)
		}
	}
	if after := repoState(t, n.Dir); after != before {
		t.Errorf("the failed commands touched the repo:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	missing := filepath.Join(t.TempDir(), "no-repo")
	res := n.Runner.Run(harness.RunRequest{
		Path: n.IPFSBin, Args: []string{"threads", "ls"},
		CmdOpts: []harness.CmdOpt{harness.RunWithEnv(map[string]string{"IPFS_PATH": missing})},
	})
	errOut := res.Stderr.String()
	if !failed(res) || !strings.Contains(errOut, "no IPFS repo found") || !strings.Contains(errOut, "ipfs init") || strings.Contains(errOut, "ipfs daemon") {
		t.Errorf("threads ls without a repo: want Kubo's advice to run 'ipfs init': %s", describe(res))
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("threads ls without a repo made %s (%v)", missing, err)
	}
}

// addLoop is an operator's writer script: `ipfs threads add` over and
// over, whether a daemon runs or not.
type addLoop struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu     sync.Mutex
	ok     int
	failed int
	errs   []string // the stderr of every failed add
}

// startAddLoop starts the loop; it stops when halted, or with the test.
func startAddLoop(t *testing.T, n *node, tid string) *addLoop {
	l := &addLoop{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		l.stopOnce.Do(func() { close(l.stop) })
		<-l.done
	})
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			res := n.runStdin([]byte("written by the loop"), "threads", "add", "-q", tid)
			l.mu.Lock()
			if failed(res) {
				l.failed++
				l.errs = append(l.errs, res.Stderr.String())
			} else {
				l.ok++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *addLoop) counts() (ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.failed
}

// halt stops the loop and waits for its last add.
func (l *addLoop) halt(t *testing.T) {
	t.Helper()
	l.stopOnce.Do(func() { close(l.stop) })
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the add loop did not stop within 30s")
	}
}

// startFirstTry starts the daemon and waits until it is ready, failing the
// test as soon as it exits instead (the harness's StartDaemon would poll its
// API for 20 s, then panic). The returned channel is closed once the daemon
// has exited and been reaped.
func (n *node) startFirstTry(d time.Duration) <-chan struct{} {
	n.t.Helper()
	res := n.Runner.Run(harness.RunRequest{Path: n.IPFSBin, Args: []string{"daemon"}, RunFunc: harness.RunFuncStart})
	if res.Err != nil {
		n.t.Fatalf("start the daemon: %s", res.Err)
	}
	n.Daemon = res
	exited := make(chan struct{})
	go func() {
		_ = res.Cmd.Wait()
		close(exited)
	}()
	deadline := time.After(d)
	for !strings.Contains(res.Stdout.String(), "Daemon is ready") {
		select {
		case <-exited:
			n.t.Fatalf("the daemon exited (%s) before it was ready:\nstderr: %s\nstdout: %s", res.Cmd.ProcessState, tail(res.Stderr.String(), 4000), tail(res.Stdout.String(), 4000))
		case <-deadline:
			n.t.Fatalf("the daemon was not ready after %s:\n%s", d, tail(res.Stdout.String(), 4000))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return exited
}

// TestDaemonStartsDuringAddLoop: a writer loop keeps calling `ipfs threads
// add` while the daemon is stopped and started again. Each start succeeds
// on the first try (no failing add holds the repo lock), each failed add
// prints the no-daemon message alone, and every add that succeeded is in
// the thread.
func TestDaemonStartsDuringAddLoop(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	tid, _ := n.createThread()
	n.stop()

	const cycles = 5
	oks := 0
	for c := 1; c <= cycles; c++ {
		loop := startAddLoop(t, n, tid)
		eventually(t, 30*time.Second, "3 adds to fail against the stopped repo", func() error {
			if ok, failed := loop.counts(); failed < 3 || ok > 0 {
				return errorf("cycle %d: %d adds failed, %d succeeded", c, failed, ok)
			}
			return nil
		})
		exited := n.startFirstTry(30 * time.Second)
		eventually(t, 30*time.Second, "an add to reach the daemon", func() error {
			if ok, _ := loop.counts(); ok == 0 {
				return errorf("cycle %d: no add succeeded yet", c)
			}
			return nil
		})
		loop.halt(t)
		for _, e := range loop.errs {
			if e != noDaemonErr {
				t.Fatalf("cycle %d: a failed add printed %q, want the no-daemon message alone %q", c, e, noDaemonErr)
			}
		}
		if out := n.Daemon.Stdout.String() + n.Daemon.Stderr.String(); strings.Contains(out, "someone else has the lock") || strings.Contains(out, "invalid indexes") {
			t.Fatalf("cycle %d: the daemon met a lock or repaired pins:\n%s", c, tail(out, 4000))
		}
		t.Logf("cycle %d: %d adds failed without the daemon, %d succeeded", c, loop.failed, loop.ok)
		oks += loop.ok

		if err := n.Daemon.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM the daemon: %s", err)
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Fatal("the daemon did not exit within 30s of SIGTERM")
		}
		if st := n.Daemon.Cmd.ProcessState; !st.Success() {
			t.Fatalf("cycle %d: the daemon exited with %s after SIGTERM", c, st)
		}
	}

	n.start()
	if got := len(n.events(tid)); got != oks {
		t.Errorf("the thread has %d events, the loop's adds succeeded %d times", got, oks)
	}
	n.stop()
}

// TestDisabled: with Plugins.Plugins.threads.Disabled the daemon starts, the
// threads commands say the plugin is disabled, and stock commands work.
func TestDisabled(t *testing.T) {
	n := newNode(t, func(c *config.Config) {
		if c.Plugins.Plugins == nil {
			c.Plugins.Plugins = map[string]config.Plugin{}
		}
		c.Plugins.Plugins["threads"] = config.Plugin{Disabled: true}
	})
	n.start()
	for _, args := range [][]string{
		{"threads", "ls"},
		{"threads", "create"},
	} {
		errOut := n.mustFail(args...)
		if !strings.Contains(errOut, "disabled") {
			t.Errorf("%v with the plugin disabled: stderr %q does not say 'disabled'", args, errOut)
		}
	}
	data := "stock kubo with threads disabled\n"
	c := strings.TrimSpace(n.mustStdin([]byte(data), "add", "-q"))
	if got := n.must("cat", c); got != data {
		t.Errorf("cat %s: %q, want %q", c, got, data)
	}
	n.stop()
}

// TestStockKubo: the binary with the plugin is still a working Kubo.
func TestStockKubo(t *testing.T) {
	n := newNode(t, nil)
	if v := n.must("version"); !strings.Contains(v, "ipfs version 0.43.1") {
		t.Errorf("ipfs version: %q, want 0.43.1", v)
	}
	n.start()

	// add + cat, pinned by add.
	data := strings.Repeat("hello from stock kubo\n", 20000) // several chunks
	c := strings.TrimSpace(n.mustStdin([]byte(data), "add", "-q"))
	if got := n.must("cat", c); got != data {
		t.Fatalf("cat %s: %d bytes, want %d", c, len(got), len(data))
	}

	// dag put (not pinned) + dag get.
	d := strings.TrimSpace(n.mustStdin([]byte(`{"hello":"dag","n":42,"link":{"/":"`+c+`"}}`), "dag", "put"))
	var got map[string]any
	if err := json.Unmarshal([]byte(n.must("dag", "get", d)), &got); err != nil {
		t.Fatalf("dag get %s: %s", d, err)
	}
	if got["hello"] != "dag" || got["n"] != float64(42) {
		t.Fatalf("dag get %s: %v", d, got)
	}
	if l, _ := got["link"].(map[string]any); l == nil || l["/"] != c {
		t.Fatalf("dag get %s: link %v, want %s", d, got["link"], c)
	}

	// pin ls lists what add pinned, and not the dag put.
	pins := n.must("pin", "ls", "--type=recursive", "-q")
	if !strings.Contains(pins, c) || strings.Contains(pins, d) {
		t.Fatalf("pin ls: %q; want %s and not %s", pins, c, d)
	}

	// repo gc removes the unpinned dag node and keeps the pinned file.
	n.must("repo", "gc")
	if got := n.must("cat", c); got != data {
		t.Fatalf("cat %s after gc: %d bytes, want %d", c, len(got), len(data))
	}
	if res := n.run("block", "stat", "--offline", d); !failed(res) {
		t.Fatalf("unpinned dag node %s survived repo gc", d)
	}
	n.stop()
}

// TestShutdown: `ipfs shutdown` stops a daemon running the engine, with a
// listener streaming, and the process exits 0 within a deadline.
func TestShutdown(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	tid, _ := n.createThread()
	a := n.addEvent(tid, []byte("before shutdown"))

	// A listener keeps a stream open through the shutdown.
	listen := n.Runner.Run(harness.RunRequest{
		Path: n.IPFSBin, Args: []string{"threads", "listen", tid},
		RunFunc: harness.RunFuncStart,
	})
	if listen.Err != nil {
		t.Fatalf("start listen: %s", listen.Err)
	}
	t.Cleanup(func() { _ = listen.Cmd.Process.Kill() })
	eventually(t, 10*time.Second, "listen to print the existing event", func() error {
		if !strings.Contains(listen.Stdout.String(), a.Cid) {
			return errorf("listen output so far: %q, stderr %q", listen.Stdout.String(), listen.Stderr.String())
		}
		return nil
	})
	b := n.addEvent(tid, []byte("while listening"))
	eventually(t, 10*time.Second, "listen to print the new event", func() error {
		if !strings.Contains(listen.Stdout.String(), b.Cid) {
			return errorf("listen output so far: %q", listen.Stdout.String())
		}
		return nil
	})

	t0 := time.Now()
	n.must("shutdown")
	st, err := n.waitExit(20 * time.Second)
	if err != nil {
		_ = n.Daemon.Cmd.Process.Kill()
		t.Fatalf("after ipfs shutdown: %s", err)
	}
	if !st.Success() {
		t.Fatalf("daemon exited with %s after ipfs shutdown", st)
	}
	t.Logf("daemon exited 0 %s after ipfs shutdown", time.Since(t0).Round(time.Millisecond))

	// The listener ends with the daemon.
	done := make(chan error, 1)
	go func() { done <- listen.Cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("threads listen still running 10s after the daemon exited")
	}

	// Close left the engine consistent: both events and the pin survive.
	n.start()
	if in := n.info(tid); in.Logs[0].Seq != 2 || in.Logs[0].Head != b.Cid {
		t.Fatalf("after restart: seq %d head %s, want 2 %s", in.Logs[0].Seq, in.Logs[0].Head, b.Cid)
	}
	n.waitLogPins(tid)
	n.stop()
}
