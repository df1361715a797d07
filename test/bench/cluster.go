package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one real `ipfs daemon` of the binary under test, on a fresh
// repo of its own (test profile: loopback, random ports, no bootstrap).
type daemon struct {
	name    string
	bin     string
	repo    string
	profile string
	env     []string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stderr *lockedBuffer
	api    *apiClient
	peerID string
	swarm  string // a loopback TCP address ending in /p2p/<id>
}

// lockedBuffer keeps the tail of a daemon's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 64<<10 {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-32<<10:]...)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// newDaemon initialises a repo under dir with the test profile plus
// profile (e.g. "pebbleds"; "" for Kubo's default flatfs + leveldb), turns
// pubsub on and applies the plugin config. The daemon is not started.
func newDaemon(ctx context.Context, bin, dir, name, profile string, pluginCfg map[string]any) (*daemon, error) {
	repo := filepath.Join(dir, name)
	d := &daemon{name: name, bin: bin, repo: repo, profile: profile}
	prof := "test"
	if profile != "" {
		prof += "," + profile
	}
	if out, err := d.command(ctx, "init", "--profile="+prof, "--empty-repo").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: ipfs init --profile=%s: %w: %s", name, prof, err, out)
	}
	if err := d.editConfig(func(c map[string]any) {
		c["Bootstrap"] = []any{}
		section(c, "Discovery", "MDNS")["Enabled"] = false
		section(c, "Pubsub")["Enabled"] = true
		plugins := section(c, "Plugins", "Plugins")
		plugins["threads"] = map[string]any{"Config": pluginCfg}
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// section returns the nested config object at path, creating it.
func section(c map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, ok := c[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			c[p] = next
		}
		c = next
	}
	return c
}

func (d *daemon) editConfig(edit func(map[string]any)) error {
	path := filepath.Join(d.repo, "config")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("parse config: %w", err)
	}
	edit(c)
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func (d *daemon) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(append(os.Environ(), "IPFS_PATH="+d.repo, "GOLOG_LOG_LEVEL=error"), d.env...)
	return cmd
}

// start runs the daemon and waits until its RPC API answers; it returns
// how long that took.
func (d *daemon) start(ctx context.Context) (time.Duration, error) {
	_ = os.Remove(filepath.Join(d.repo, "api"))
	t0 := time.Now()
	// Not bound to ctx: stop ends the daemon with SIGINT, then SIGKILL.
	cmd := d.command(context.WithoutCancel(ctx), "daemon")
	d.stderr = &lockedBuffer{}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: start daemon: %w", d.name, err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	ready := make(chan struct{})
	go func() { // ends when the daemon closes its stdout (it exits)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			d.stderr.Write(append(sc.Bytes(), '\n'))
			if !signalled && strings.Contains(sc.Text(), "Daemon is ready") {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(d.done)
	}()
	select {
	case <-ready:
	case <-d.done:
		return 0, fmt.Errorf("%s: daemon exited at start:\n%s", d.name, tail(d.stderr.String(), 3000))
	case <-time.After(60 * time.Second):
		d.kill()
		return 0, fmt.Errorf("%s: daemon not ready after 60s:\n%s", d.name, tail(d.stderr.String(), 3000))
	case <-ctx.Done():
		d.kill()
		return 0, ctx.Err()
	}
	apiAddr, err := os.ReadFile(filepath.Join(d.repo, "api"))
	if err != nil {
		d.kill()
		return 0, fmt.Errorf("%s: read api file: %w", d.name, err)
	}
	d.api, err = newAPIClient(strings.TrimSpace(string(apiAddr)))
	if err != nil {
		d.kill()
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	// Ready means the threads commands answer too.
	if _, err := d.api.call(ctx, "threads/ls", nil); err != nil {
		d.kill()
		return 0, fmt.Errorf("%s: threads ls: %w", d.name, err)
	}
	took := time.Since(t0)
	var id struct {
		ID        string
		Addresses []string
	}
	if err := d.api.json(ctx, "id", nil, &id); err != nil {
		d.kill()
		return 0, fmt.Errorf("%s: id: %w", d.name, err)
	}
	d.peerID = id.ID
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			d.swarm = a
			break
		}
	}
	if d.swarm == "" {
		d.kill()
		return 0, fmt.Errorf("%s: no loopback TCP address in %v", d.name, id.Addresses)
	}
	return took, nil
}

// stop interrupts the daemon and waits for it to exit (killing it after 30 s).
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.kill()
	}
	d.cmd = nil
}

func (d *daemon) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// connect connects d to o and waits until d lists o among its peers.
func (d *daemon) connect(ctx context.Context, o *daemon) error {
	if _, err := d.api.call(ctx, "swarm/connect", []string{o.swarm}); err != nil {
		return fmt.Errorf("%s connect to %s: %w", d.name, o.name, err)
	}
	return waitUntil(ctx, 10*time.Second, func() (bool, error) {
		var out struct{ Peers []struct{ Peer string } }
		if err := d.api.json(ctx, "swarm/peers", nil, &out); err != nil {
			return false, err
		}
		for _, p := range out.Peers {
			if p.Peer == o.peerID {
				return true, nil
			}
		}
		return false, nil
	})
}

// cpuTime is the CPU time (user + system) the process has used, from
// /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	// The command name, field 2, may hold spaces: fields count from the ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed utime/stime")
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// rss is the resident set size of the process, from /proc/<pid>/status.
func rss(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// diskUsage is the space the directory tree takes on disk.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a file compacted away while walking
			}
			return err
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// waitUntil polls cond every 20 ms until it is true, an error, or d passes.
func waitUntil(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("not done after %s: %w", d, last)
			}
			return fmt.Errorf("not done after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
