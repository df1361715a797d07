package commands

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"
	oldcmds "github.com/ipfs/kubo/commands"
	"github.com/ipfs/kubo/core"
	"github.com/ipfs/kubo/repo/fsrepo"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/threads"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"hello world":  "hello world",
		"two\nlines":   `"two\nlines"`,
		"\"quoted\"":   `"\"quoted\""`,
		"tab\there":    `"tab\there"`,
		"\xff\xfe":     `"\xff\xfe"`,
		"ünïcödé":      "ünïcödé",
		"":             "",
		"nul\x00byte":  `"nul\x00byte"`,
		"trailing  sp": "trailing  sp",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBodyPreview(t *testing.T) {
	long := strings.Repeat("abcdefgh", 10) // 80 characters
	for _, c := range []struct{ in, want string }{
		{"hello world", "hello world"},
		{"two\nlines", `"two\nlines"`},
		{long[:64], long[:64]},
		{long, `"` + long[:64] + `"... (80 bytes)`},
		{"ü" + long, `"ü` + long[:63] + `"... (82 bytes)`},
		{"\"" + long, `"\"` + long[:62] + `"... (81 bytes)`},
		{string(make([]byte, 20)), `"` + strings.Repeat(`\x00`, 16) + `"... (20 bytes)`},
		{"\xff\xd8\xff\xe0 JFIF" + long, `"\xff\xd8\xff\xe0 JFIF` + long[:43] + `"... (89 bytes)`},
		{string(make([]byte, 16)), `"` + strings.Repeat(`\x00`, 16) + `"`},
	} {
		if got := bodyPreview([]byte(c.in), 64); got != c.want {
			t.Errorf("bodyPreview(%.20q...) = %s, want %s", c.in, got, c.want)
		}
	}
	// A megabyte body: a bounded line, quickly.
	big := bytes.Repeat([]byte("x"), 1<<20)
	if got := bodyPreview(big, 64); got != `"`+strings.Repeat("x", 64)+`"... (1048576 bytes)` {
		t.Errorf("1 MiB body: %s", got)
	}
}

func TestEventTextFull(t *testing.T) {
	body := bytes.Repeat([]byte("y"), 100)
	out := &EventOutput{Log: "L", Seq: 1, Cid: "C", Time: time.Unix(1, 0).UTC(), Body: body}
	for _, full := range []bool{false, true} {
		req := &cmds.Request{Options: cmds.OptMap{fullOption: full}}
		var buf bytes.Buffer
		if err := eventTextEncoder(req)(&buf).Encode(out); err != nil {
			t.Fatal(err)
		}
		want := "L\t1\tC\t1970-01-01T00:00:01Z\t" + bodyPreview(body, previewWidth) + "\n"
		if full {
			want = "L\t1\tC\t1970-01-01T00:00:01Z\t" + string(body) + "\n"
		}
		if buf.String() != want {
			t.Errorf("full=%t: %q, want %q", full, buf.String(), want)
		}
	}
}

func TestUserErrorsAreClientErrors(t *testing.T) {
	for _, err := range []error{threads.ErrThreadNotFound, threads.ErrEventNotFound, threads.ErrEmptyBody,
		threads.ErrBodyTooLarge, threads.ErrNoReadKey, threads.ErrNotWriter, threads.ErrLogNotFound} {
		var ce cmds.Error
		if !errors.As(userError(iface.Classify(fmt.Errorf("wrapped: %w", err))), &ce) || ce.Code != cmds.ErrClient {
			t.Errorf("%v is not a client error", err)
		}
	}
	other := errors.New("disk on fire")
	if got := userError(other); got != other {
		t.Errorf("an internal error became %v", got)
	}
}

func TestBackendWithoutDaemon(t *testing.T) {
	_, err := backend(func() (iface.API, error) { return nil, ErrNoDaemon }, nil)
	if err == nil || !strings.Contains(err.Error(), "ipfs daemon") {
		t.Fatalf("error without a daemon: %v", err)
	}
}

// TestBackendNeverOpensTheRepo: without a backend, the error comes from the
// provider and the repo's config file alone; the node (which opens and
// locks the repo) is never built.
func TestBackendNeverOpensTheRepo(t *testing.T) {
	repo := t.TempDir()
	env := &oldcmds.Context{
		ConfigRoot: repo,
		ConstructNode: func() (*core.IpfsNode, error) {
			t.Fatal("backend built a node: it opened the repo")
			return nil, nil
		},
	}
	for _, reason := range []error{ErrNoDaemon, ErrDisabled, ErrStopped} {
		_, err := backend(func() (iface.API, error) { return nil, reason }, env)
		if reason == ErrNoDaemon {
			// No config file: no repo at all.
			var noRepo fsrepo.NoRepoError
			if !errors.As(err, &noRepo) || noRepo.Path != repo || !strings.Contains(err.Error(), "ipfs init") {
				t.Errorf("no repo, no daemon: %v, want Kubo's advice to run 'ipfs init'", err)
			}
			continue
		}
		if !errors.Is(err, reason) {
			t.Errorf("no repo, %v: got %v", reason, err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "config"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, reason := range []error{ErrNoDaemon, nil, ErrDisabled, ErrStopped} {
		want := reason
		if want == nil {
			want = ErrNoDaemon
		}
		if _, err := backend(func() (iface.API, error) { return nil, reason }, env); !errors.Is(err, want) {
			t.Errorf("repo, provider says %v: got %v, want %v", reason, err, want)
		}
	}
	var running iface.API = &stubAPI{}
	if api, err := backend(func() (iface.API, error) { return running, nil }, env); api != running || err != nil {
		t.Errorf("running backend: got %v, %v", api, err)
	}
}

// stubAPI stands for a running node's API.
type stubAPI struct{ iface.API }
