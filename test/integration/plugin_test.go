//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/kubo/config"
	"github.com/ipfs/kubo/test/cli/harness"
)

// TestNoDaemon: without a daemon the threads commands fail and tell the
// user to start one.
func TestNoDaemon(t *testing.T) {
	n := newNode(t, nil)
	for _, args := range [][]string{
		{"threads", "ls"},
		{"threads", "create"},
	} {
		errOut := n.mustFail(args...)
		if !strings.Contains(errOut, "ipfs daemon") {
			t.Errorf("%v without a daemon: stderr %q does not mention 'ipfs daemon'", args, errOut)
		}
	}
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
