package plugin

import (
	"errors"
	"strings"
	"testing"
	"time"

	kuboplugin "github.com/ipfs/kubo/plugin"

	"github.com/kubo-threads/kubo-threads/commands"
)

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig(nil)
	if err != nil || cfg.MaxBodySize != 1<<20 || cfg.antiEntropy != 30*time.Second {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	cfg, err = parseConfig(map[string]any{"MaxBodySize": 100.0, "AntiEntropyInterval": "2s", "AcceptFollowInvites": true})
	if err != nil || cfg.MaxBodySize != 100 || cfg.antiEntropy != 2*time.Second || !cfg.engine().AcceptFollowInvites {
		t.Fatalf("set: %+v %v", cfg, err)
	}
	for name, raw := range map[string]map[string]any{
		"unknown field":    {"Nope": 1.0},
		"wrong case":       {"MaxBodysize": 10.0},
		"zero body":        {"MaxBodySize": 0.0},
		"body over block":  {"MaxBodySize": float64(MaxBodySizeLimit + 1)},
		"bad duration":     {"AntiEntropyInterval": "soon"},
		"too short":        {"AntiEntropyInterval": "1ms"},
		"ttl under minute": {"AddrTTL": "5s"},
		"wrong type":       {"MaxBodySize": "big"},
	} {
		if _, err := parseConfig(raw); err == nil || !strings.Contains(err.Error(), "threads plugin config") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBadConfigFailsOnlyTheDaemon(t *testing.T) {
	p := &threadsPlugin{}
	if err := p.Init(&kuboplugin.Environment{Config: map[string]any{"MaxBodySize": 0.0}}); err != nil {
		t.Fatalf("Init failed, which breaks every ipfs command: %v", err)
	}
	if err := p.Start(nil); err == nil || !strings.Contains(err.Error(), "MaxBodySize") {
		t.Fatalf("Start accepted a bad config: %v", err)
	}
}

// TestBackendReasons: without a running engine the provider says why from
// the plugin's own state: never loaded (Kubo skips a disabled plugin),
// loaded but not started (an ipfs process that is not the daemon), closed
// (the daemon is shutting down).
func TestBackendReasons(t *testing.T) {
	p := &threadsPlugin{}
	if b, err := p.backend(); b != nil || !errors.Is(err, commands.ErrDisabled) {
		t.Fatalf("not loaded: %v, %v; want ErrDisabled", b, err)
	}
	if err := p.Init(&kuboplugin.Environment{}); err != nil {
		t.Fatal(err)
	}
	if b, err := p.backend(); b != nil || !errors.Is(err, commands.ErrNoDaemon) {
		t.Fatalf("loaded, not started: %v, %v; want ErrNoDaemon", b, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := p.backend(); b != nil || !errors.Is(err, commands.ErrStopped) {
		t.Fatalf("closed: %v, %v; want ErrStopped", b, err)
	}
}
