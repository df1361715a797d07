package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cmds "github.com/ipfs/go-ipfs-cmds"
	oldcmds "github.com/ipfs/kubo/commands"
	"github.com/ipfs/kubo/core"
	"github.com/ipfs/kubo/repo/fsrepo"

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

func TestUserErrorsAreClientErrors(t *testing.T) {
	for _, err := range []error{threads.ErrThreadNotFound, threads.ErrEventNotFound, threads.ErrEmptyBody,
		threads.ErrBodyTooLarge, threads.ErrNoReadKey, threads.ErrNotWriter, threads.ErrLogNotFound} {
		var ce cmds.Error
		if !errors.As(userError(fmt.Errorf("wrapped: %w", err)), &ce) || ce.Code != cmds.ErrClient {
			t.Errorf("%v is not a client error", err)
		}
	}
	other := errors.New("disk on fire")
	if got := userError(other); got != other {
		t.Errorf("an internal error became %v", got)
	}
}

func TestParseKey(t *testing.T) {
	k, err := parseKey("a/b")
	if err != nil || k.String() != "/a/b" {
		t.Fatalf("%v %v", k, err)
	}
	for _, bad := range []string{"", "/", "//"} {
		if _, err := parseKey(bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

func TestBackendWithoutDaemon(t *testing.T) {
	_, err := backend(func() (*Backend, error) { return nil, ErrNoDaemon }, nil)
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
		_, err := backend(func() (*Backend, error) { return nil, reason }, env)
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
		if _, err := backend(func() (*Backend, error) { return nil, reason }, env); !errors.Is(err, want) {
			t.Errorf("repo, provider says %v: got %v, want %v", reason, err, want)
		}
	}
	running := &Backend{}
	if b, err := backend(func() (*Backend, error) { return running, nil }, env); b != running || err != nil {
		t.Errorf("running backend: got %v, %v", b, err)
	}
}
