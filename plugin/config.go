package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"

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
	// MaxBodySize is the largest event body accepted, in bytes (default 1 MiB).
	MaxBodySize int `json:",omitempty"`
	// InlineBodySize is the largest sealed body kept inside its event block;
	// larger bodies are stored as a block of their own (default 32 KiB).
	InlineBodySize int `json:",omitempty"`
}

// parseConfig reads the plugin config Kubo hands over (decoded JSON, or nil).
func parseConfig(raw any) (Config, error) {
	def := threads.DefaultConfig()
	cfg := Config{MaxBodySize: def.MaxBodySize, InlineBodySize: def.InlineBodySize}
	if raw == nil {
		return cfg, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return cfg, fmt.Errorf("threads plugin config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("threads plugin config (Plugins.Plugins.threads.Config): %w", err)
	}
	if cfg.MaxBodySize <= 0 || cfg.MaxBodySize > 16<<20 {
		return cfg, fmt.Errorf("threads plugin config: MaxBodySize %d out of range (1 to 16 MiB)", cfg.MaxBodySize)
	}
	if cfg.InlineBodySize <= 0 || cfg.InlineBodySize > 512<<10 {
		return cfg, fmt.Errorf("threads plugin config: InlineBodySize %d out of range (1 to 512 KiB)", cfg.InlineBodySize)
	}
	return cfg, nil
}

func (c Config) engine() threads.Config {
	return threads.Config{MaxBodySize: c.MaxBodySize, InlineBodySize: c.InlineBodySize}
}
