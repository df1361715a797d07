package plugin

import (
	"fmt"
	"os"
	"strconv"

	"github.com/kubo-threads/kubo-threads/threads"
)

// Environment variables of the fault-injection knob. They are for tests
// only: a daemon started with them drops and reorders its own sync
// messages on purpose.
const (
	// EnvFaultDrop is the probability (0 to 1, exclusive) that an outgoing
	// push or pubsub publication is dropped, e.g. "0.3".
	EnvFaultDrop = "IPFS_THREADS_FAULT_DROP"
	// EnvFaultReorder, when "1" (or another true value of strconv.ParseBool),
	// sends pushes one event run at a time in a random order.
	EnvFaultReorder = "IPFS_THREADS_FAULT_REORDER"
	// EnvFaultSeed seeds the random choices (an unsigned integer), so a run
	// can be repeated.
	EnvFaultSeed = "IPFS_THREADS_FAULT_SEED"
)

// faultsFromEnv reads the fault-injection knob from the process environment.
func faultsFromEnv() (threads.Faults, error) {
	var f threads.Faults
	if v := os.Getenv(EnvFaultDrop); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p >= 1 {
			return f, fmt.Errorf("%s=%q: want a probability in [0, 1)", EnvFaultDrop, v)
		}
		f.Drop = p
	}
	if v := os.Getenv(EnvFaultReorder); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, fmt.Errorf("%s=%q: want 1 or 0: %w", EnvFaultReorder, v, err)
		}
		f.Reorder = b
	}
	if v := os.Getenv(EnvFaultSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return f, fmt.Errorf("%s=%q: want an unsigned integer: %w", EnvFaultSeed, v, err)
		}
		f.Seed = s
	}
	return f, nil
}
