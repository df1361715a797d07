package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
)

// Config is the plugin's section of the Kubo config,
// Plugins.Plugins.threads.Config. Every field is optional.
//
//	"Plugins": {"Plugins": {"threads": {
//	    "Disabled": false,
//	    "Config": {"MaxBodySize": 1048576, "InlineBodySize": 32768}
//	}}}
//
// Disabled is Kubo's own switch: a disabled plugin is not loaded, and the
// threads commands say so.
type Config struct {
	// MaxBodySize is the largest event body accepted, in bytes (default 1 MiB,
	// at most MaxBodySizeLimit, just under 2 MiB).
	MaxBodySize int `json:",omitempty"`
	// InlineBodySize is the largest sealed body kept inside its event block;
	// larger bodies are stored as a block of their own (default 32 KiB).
	InlineBodySize int `json:",omitempty"`
	// AntiEntropyInterval is how often every thread is synced with every
	// peer known for it, as a Go duration ("30s", the default).
	AntiEntropyInterval string `json:",omitempty"`
	// AddrTTL is how long an announced log address stays valid ("24h").
	AddrTTL string `json:",omitempty"`
	// AcceptFollowInvites makes this node follow (replicate and serve,
	// without reading) threads whose follow invites are delivered to it.
	AcceptFollowInvites bool `json:",omitempty"`
	// SnapshotInterval: the views take a snapshot whenever the events they
	// applied reach a multiple of it (default 1000; 0: only on demand).
	SnapshotInterval *uint64 `json:",omitempty"`
	// AutoCompact compacts a thread's logs after every automatic snapshot.
	AutoCompact bool `json:",omitempty"`

	antiEntropy, addrTTL time.Duration
}

// MaxBodySizeLimit is the largest MaxBodySize: a sealed body is one block of
// at most codec.MaxBlockSize bytes.
const MaxBodySizeLimit = codec.MaxBlockSize - 64

// parseConfig reads the plugin config Kubo hands over (decoded JSON, or nil).
func parseConfig(raw any) (Config, error) {
	def := threads.DefaultConfig()
	cfg := Config{MaxBodySize: def.MaxBodySize, InlineBodySize: def.InlineBodySize,
		antiEntropy: def.AntiEntropyInterval, addrTTL: def.AddrTTL}
	if raw == nil {
		return cfg, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return cfg, fmt.Errorf("threads plugin config: %w", err)
	}
	// encoding/json matches field names without regard to case; a config
	// must spell them exactly.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return cfg, fmt.Errorf("threads plugin config (Plugins.Plugins.threads.Config): %w", err)
	}
	known := reflect.TypeOf(cfg)
	for name := range fields {
		if f, ok := known.FieldByName(name); !ok || !f.IsExported() {
			return cfg, fmt.Errorf("threads plugin config (Plugins.Plugins.threads.Config): unknown field %q", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("threads plugin config (Plugins.Plugins.threads.Config): %w", err)
	}
	if cfg.SnapshotInterval != nil && *cfg.SnapshotInterval > 0 && *cfg.SnapshotInterval < 100 {
		return cfg, fmt.Errorf("threads plugin config: SnapshotInterval %d out of range (0 for off, or at least 100 events)", *cfg.SnapshotInterval)
	}
	if cfg.MaxBodySize <= 0 || cfg.MaxBodySize > MaxBodySizeLimit {
		return cfg, fmt.Errorf("threads plugin config: MaxBodySize %d out of range (1 to %d bytes: a sealed body must fit one block)", cfg.MaxBodySize, MaxBodySizeLimit)
	}
	if cfg.InlineBodySize <= 0 || cfg.InlineBodySize > 512<<10 {
		return cfg, fmt.Errorf("threads plugin config: InlineBodySize %d out of range (1 to 512 KiB)", cfg.InlineBodySize)
	}
	for _, d := range []struct {
		name, text string
		out        *time.Duration
		min        time.Duration
	}{
		{"AntiEntropyInterval", cfg.AntiEntropyInterval, &cfg.antiEntropy, 100 * time.Millisecond},
		{"AddrTTL", cfg.AddrTTL, &cfg.addrTTL, time.Minute},
	} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil || v < d.min {
			return cfg, fmt.Errorf("threads plugin config: %s %q: want a duration of at least %s", d.name, d.text, d.min)
		}
		*d.out = v
	}
	return cfg, nil
}

func (c Config) engine() threads.Config {
	return threads.Config{
		MaxBodySize: c.MaxBodySize, InlineBodySize: c.InlineBodySize,
		AntiEntropyInterval: c.antiEntropy, AddrTTL: c.addrTTL,
		AcceptFollowInvites: c.AcceptFollowInvites,
	}
}

// DefaultSnapshotInterval is SnapshotInterval when the config leaves it out.
const DefaultSnapshotInterval = 1000

func (c Config) snapshotInterval() uint64 {
	if c.SnapshotInterval == nil {
		return DefaultSnapshotInterval
	}
	return *c.SnapshotInterval
}
