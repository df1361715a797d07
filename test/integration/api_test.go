//go:build integration

package integration

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/kubo/client/rpc/auth"
	"github.com/ipfs/kubo/config"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/client"
	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/tests"
)

// daemons makes the conformance suite's nodes: real daemons of the built
// binary, connected, each reached through the Go client at its API
// address.
type daemons struct{}

func (daemons) MakeNodes(t *testing.T, n int) []tests.Node {
	t.Helper()
	h := newCluster(t)
	var sns []*syncNode
	for i := range n {
		sns = append(sns, newSyncNode(t, h, string(rune('A'+i)), syncOpts{antiEntropy: "1s"}))
	}
	startAll(sns...)
	for i, a := range sns {
		for _, b := range sns[i+1:] {
			connect(t, a, b)
		}
	}
	out := make([]tests.Node, len(sns))
	for i, s := range sns {
		api, err := client.NewApi(s.APIAddr())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tests.Node{API: api, ID: s.PeerID(), Addrs: []ma.Multiaddr{ma.StringCast(s.addr())}}
	}
	return out
}

// TestClientConformance runs the API's conformance suite with the Go
// client against real daemons.
func TestClientConformance(t *testing.T) {
	tests.TestAPI(t, daemons{})
}

// TestClientRepoAndAuth: the client finds a daemon from its repo (the api
// file), as Kubo's does, and authenticates as Kubo's does when the API
// requires it (API.Authorizations).
func TestClientRepoAndAuth(t *testing.T) {
	n := newNode(t, func(c *config.Config) {
		c.API.Authorizations = map[string]*config.RPCAuthScope{
			"app": {AuthSecret: "bearer:s3cret", AllowedPaths: []string{"/api/v0"}},
		}
	})
	n.StartDaemonWithAuthorization("Bearer s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	anon, err := client.NewPathApi(n.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Threads().List(ctx); err == nil {
		t.Fatal("a client without the secret was served")
	} else if iface.Kind(err) != nil {
		t.Errorf("refused for want of the secret: %v is of kind %v", err, iface.Kind(err))
	}

	hc := &http.Client{Transport: auth.NewAuthorizedRoundTripper("Bearer s3cret", http.DefaultTransport)}
	api, err := client.NewApiWithClient(n.APIAddr(), hc)
	if err != nil {
		t.Fatal(err)
	}
	th, err := api.Threads().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anon.HttpApi().Headers.Set("Authorization", "Bearer s3cret")
	if _, err := anon.Threads().Info(ctx, th.ID); err != nil {
		t.Errorf("with the header set on Kubo's client: %v", err)
	}
}

// TestClientExample builds and runs the README's Go program against a
// daemon.
func TestClientExample(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./commands/client/example")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IPFS_PATH="+n.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("go run: %v", err)
		}
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	want := []string{`query: [{"_id":"n1","text":"hi"}]`, "event 1: 5 bytes", "event 2: ", "event 3: "}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("the example printed:\n%s\nwant a line with %q", out, w)
		}
	}
	t.Logf("the example printed:\n%s", out)
}
