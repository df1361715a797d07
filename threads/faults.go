package threads

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Faults makes the network lossy and disordered on purpose, for tests of
// real daemons (the plugin reads it from the environment; see the README).
// The zero value injects nothing.
type Faults struct {
	// Drop is the probability (0 to 1) that an outgoing push or pubsub
	// publication is silently dropped.
	Drop float64
	// Reorder sends each push run as a message of its own, in a random
	// order, instead of merged and in order.
	Reorder bool
	// Seed seeds the random choices; 0 picks a random seed.
	Seed uint64
}

// Enabled reports whether f injects any fault.
func (f Faults) Enabled() bool { return f.Drop > 0 || f.Reorder }

// validate checks the drop probability.
func (f Faults) validate() error {
	if f.Drop < 0 || f.Drop >= 1 {
		return fmt.Errorf("threads: fault drop probability %v out of range [0, 1)", f.Drop)
	}
	return nil
}

// install sets the network's test hooks from f.
func (f Faults) install(n *network) {
	if !f.Enabled() {
		return
	}
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if f.Drop > 0 {
		n.dropPush = func() bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64() < f.Drop
		}
	}
	if f.Reorder {
		n.reorder = func(msgs []threadMsg) {
			mu.Lock()
			defer mu.Unlock()
			rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		}
	}
	log.Warnw("fault injection on: this node drops and reorders its own messages (testing only)", "drop", f.Drop, "reorder", f.Reorder)
}
