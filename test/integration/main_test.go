//go:build integration

// Package integration drives real daemons of the built binary (bin/ipfs:
// Kubo with the threads plugin preloaded) through Kubo's own test harness.
//
// Run with:
//
//	IPFS_THREADS_BIN=$PWD/bin/ipfs go test -count=1 -tags integration ./test/integration/...
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/kubo/config"
	"github.com/ipfs/kubo/test/cli/harness"
)

// ipfsBin is the binary under test, from IPFS_THREADS_BIN.
var ipfsBin string

func TestMain(m *testing.M) {
	bin := os.Getenv("IPFS_THREADS_BIN")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "IPFS_THREADS_BIN is not set: these tests drive real daemons of the built binary.\n"+
			"Build it with ./build.sh and run:\n"+
			"  IPFS_THREADS_BIN=$PWD/bin/ipfs go test -count=1 -tags integration ./test/integration/...")
		os.Exit(2)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "IPFS_THREADS_BIN=%q: %s\n", bin, err)
		os.Exit(2)
	}
	st, err := os.Stat(abs)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(os.Stderr, "IPFS_THREADS_BIN=%q is not an executable file (%v)\n", abs, err)
		os.Exit(2)
	}
	// The binary must carry the plugin: `ipfs threads --help` exists only then.
	out, err := exec.Command(abs, "threads", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ipfs threads create") {
		fmt.Fprintf(os.Stderr, "IPFS_THREADS_BIN=%q has no 'ipfs threads' command (%v):\n%s\n", abs, err, out)
		os.Exit(2)
	}
	ipfsBin = abs
	os.Exit(m.Run())
}

// node is a harness node bound to a test, with helpers that fail the test
// (instead of panicking) when a command fails.
type node struct {
	*harness.Node
	t *testing.T
	h *harness.Harness
}

// newNode makes a harness for the test and one initialised node (test
// profile: loopback addresses, no bootstrap, no autoconf), then applies cfg
// to its config. Init rewrites Plugins, so plugin config goes in cfg.
func newNode(t *testing.T, cfg func(*config.Config)) *node {
	t.Helper()
	h := harness.NewT(t, func(h *harness.Harness) { h.IPFSBin = ipfsBin })
	n := &node{Node: h.NewNode().Init("--profile=test"), t: t, h: h}
	n.UpdateConfig(func(c *config.Config) {
		c.Bootstrap = []string{}
		c.Discovery.MDNS.Enabled = false
		if cfg != nil {
			cfg(c)
		}
	})
	// On failure, show what the daemon said.
	t.Cleanup(func() {
		if t.Failed() && n.Daemon != nil {
			t.Logf("daemon stderr:\n%s", tail(n.Daemon.Stderr.String(), 8000))
		}
	})
	return n
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// start starts the daemon and waits for its API.
func (n *node) start() {
	n.t.Helper()
	t0 := time.Now()
	n.StartDaemon()
	n.t.Logf("daemon up in %s (pid %d)", time.Since(t0).Round(time.Millisecond), n.Daemon.Cmd.Process.Pid)
}

// waitExit waits for the daemon process to exit, at most d.
func (n *node) waitExit(d time.Duration) (*os.ProcessState, error) {
	done := make(chan error, 1)
	cmd := n.Daemon.Cmd
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return cmd.ProcessState, err
		}
		return cmd.ProcessState, nil
	case <-time.After(d):
		return nil, fmt.Errorf("daemon (pid %d) still running after %s", cmd.Process.Pid, d)
	}
}

// kill9 SIGKILLs the daemon and reaps it.
func (n *node) kill9() {
	n.t.Helper()
	if err := n.Daemon.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatalf("SIGKILL daemon: %s", err)
	}
	st, err := n.waitExit(10 * time.Second)
	if err != nil {
		n.t.Fatalf("reap killed daemon: %s", err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		n.t.Fatalf("daemon was not killed by SIGKILL: %s", st)
	}
}

// stop stops the daemon cleanly (SIGTERM, as Ctrl-C) and checks it exits 0.
func (n *node) stop() {
	n.t.Helper()
	if err := n.Daemon.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatalf("SIGTERM daemon: %s", err)
	}
	st, err := n.waitExit(30 * time.Second)
	if err != nil {
		_ = n.Daemon.Cmd.Process.Kill()
		n.t.Fatalf("clean stop: %s", err)
	}
	if !st.Success() {
		n.t.Fatalf("daemon exited with %s after SIGTERM", st)
	}
}

// run runs an ipfs command and returns its result, whatever the exit code.
func (n *node) run(args ...string) *harness.RunResult {
	return n.Runner.Run(harness.RunRequest{Path: n.IPFSBin, Args: args})
}

// runStdin runs an ipfs command with stdin.
func (n *node) runStdin(stdin []byte, args ...string) *harness.RunResult {
	return n.Runner.Run(harness.RunRequest{
		Path: n.IPFSBin, Args: args,
		CmdOpts: []harness.CmdOpt{harness.RunWithStdin(bytes.NewReader(stdin))},
	})
}

func failed(res *harness.RunResult) bool {
	return res.Err != nil || res.Cmd.ProcessState == nil || !res.Cmd.ProcessState.Success()
}

func describe(res *harness.RunResult) string {
	return fmt.Sprintf("%q: err=%v\nstdout: %s\nstderr: %s", res.Cmd.Args, res.Err, tail(res.Stdout.String(), 2000), tail(res.Stderr.String(), 2000))
}

// must runs an ipfs command, fails the test if it fails, and returns stdout.
func (n *node) must(args ...string) string {
	n.t.Helper()
	res := n.run(args...)
	if failed(res) {
		n.t.Fatalf("command failed: %s", describe(res))
	}
	return res.Stdout.String()
}

// mustStdin is must with stdin.
func (n *node) mustStdin(stdin []byte, args ...string) string {
	n.t.Helper()
	res := n.runStdin(stdin, args...)
	if failed(res) {
		n.t.Fatalf("command failed: %s", describe(res))
	}
	return res.Stdout.String()
}

// mustFail runs an ipfs command that must fail and returns its stderr.
func (n *node) mustFail(args ...string) string {
	n.t.Helper()
	res := n.run(args...)
	if res.Err == nil && res.Cmd.ProcessState != nil && res.Cmd.ProcessState.Success() {
		n.t.Fatalf("command succeeded, want failure: %s", describe(res))
	}
	return res.Stderr.String()
}

// mustJSON runs an ipfs command with --enc=json and decodes its one value.
func (n *node) mustJSON(v any, args ...string) {
	n.t.Helper()
	out := n.must(append(args, "--enc=json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.t.Fatalf("%v: decode JSON output: %s\n%s", args, err, out)
	}
}

// JSON output of the threads commands, as a client sees it.

type threadOut struct {
	ID      string
	Variant string
	Created time.Time
	Creator string
	Keys    struct {
		Follow, Read bool
		Log          string
	}
	Logs []struct {
		ID    string
		Head  string
		Seq   uint64
		Own   bool
		Addrs []string
	}
	Equivocations []struct {
		Log string
		Seq uint64
		Cid string
	}
}

type threadList struct {
	Threads []struct {
		ID      string
		Variant string
		Logs    int
		Events  uint64
	}
}

type addOut struct {
	Cid string
	Seq uint64
	Log string
}

type eventOut struct {
	Log  string
	Seq  uint64
	Cid  string
	Time time.Time
	Body []byte
}

// createThread creates a thread and returns its ID and own log ID.
func (n *node) createThread() (tid, logID string) {
	n.t.Helper()
	var out threadOut
	n.mustJSON(&out, "threads", "create")
	if out.ID == "" || out.Keys.Log == "" || !out.Keys.Follow || !out.Keys.Read {
		n.t.Fatalf("threads create: incomplete output %+v", out)
	}
	return out.ID, out.Keys.Log
}

// addEvent appends body through the CLI (stdin) and returns the result.
func (n *node) addEvent(tid string, body []byte) addOut {
	n.t.Helper()
	out := n.mustStdin(body, "threads", "add", "--enc=json", tid)
	var a addOut
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Cid == "" || a.Seq == 0 {
		n.t.Fatalf("threads add: bad output %q (%v)", out, err)
	}
	return a
}

// events lists a thread's events with `ipfs threads log --enc=json`.
func (n *node) events(tid string, extra ...string) []eventOut {
	n.t.Helper()
	out := n.must(append([]string{"threads", "log", "--enc=json", tid}, extra...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	var evs []eventOut
	for {
		var e eventOut
		err := dec.Decode(&e)
		if err == io.EOF {
			return evs
		}
		if err != nil {
			n.t.Fatalf("threads log: decode JSON: %s\n%s", err, tail(out, 2000))
		}
		evs = append(evs, e)
	}
}

func (n *node) info(tid string) threadOut {
	n.t.Helper()
	var out threadOut
	n.mustJSON(&out, "threads", "info", tid)
	return out
}

func (n *node) list() threadList {
	n.t.Helper()
	var out threadList
	n.mustJSON(&out, "threads", "ls")
	return out
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rpcError is the JSON body of a failed RPC call.
type rpcError struct {
	Message string
	Code    int
	Type    string
}

// rpcPost POSTs to /api/v0/<path>, with an optional multipart file, and
// returns the status and body.
func rpcPost(ctx context.Context, client *http.Client, apiURL, path string, file []byte) (int, []byte, error) {
	var body io.Reader
	contentType := ""
	if file != nil {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("file", "body")
		if err != nil {
			return 0, nil, err
		}
		if _, err := fw.Write(file); err != nil {
			return 0, nil, err
		}
		if err := mw.Close(); err != nil {
			return 0, nil, err
		}
		body, contentType = &buf, mw.FormDataContentType()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/api/v0/"+path, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, err
	}
	return resp.StatusCode, b, nil
}

// recursivePins returns `ipfs pin ls --type=recursive --names` as
// name -> CIDs.
func (n *node) recursivePins() map[string][]string {
	n.t.Helper()
	out := n.must("pin", "ls", "--type=recursive", "--names", "--enc=json")
	pins := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v struct {
			Keys map[string]struct{ Type, Name string }
			Cid  string
			Name string
			Type string
		}
		err := dec.Decode(&v)
		if err == io.EOF {
			return pins
		}
		if err != nil {
			n.t.Fatalf("pin ls: decode JSON: %s\n%s", err, tail(out, 2000))
		}
		for c, p := range v.Keys {
			pins[p.Name] = append(pins[p.Name], c)
		}
		if v.Cid != "" {
			pins[v.Name] = append(pins[v.Name], v.Cid)
		}
	}
}

// waitLogPins waits until every log of the thread has exactly one recursive
// pin named threads/<tid>/<log>, on the root of the log's retention DAG
// covering the log's head (its "s"), and no other pin but the thread's
// snapshot has a name under threads/<tid>/.
func (n *node) waitLogPins(tid string) {
	n.t.Helper()
	eventually(n.t, 10*time.Second, "log pins on the heads of "+tid, func() error {
		in := n.info(tid)
		pins := n.recursivePins()
		want := map[string]bool{}
		for _, l := range in.Logs {
			name := "threads/" + tid + "/" + l.ID
			want[name] = true
			if len(pins[name]) != 1 {
				return fmt.Errorf("pin %s: %v, want exactly one (all pins: %v)", name, pins[name], pins)
			}
			var root struct{ S uint64 }
			if err := n.tryJSON(&root, "dag", "get", pins[name][0]); err != nil {
				return err
			}
			if root.S != l.Seq {
				return fmt.Errorf("pin %s: retention root %s covers seq %d, head is at %d", name, pins[name][0], root.S, l.Seq)
			}
		}
		want["threads/"+tid+"/snapshot"] = true
		for name := range pins {
			if strings.HasPrefix(name, "threads/"+tid+"/") && !want[name] {
				return fmt.Errorf("extra pin %s: %v", name, pins[name])
			}
		}
		return nil
	})
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
