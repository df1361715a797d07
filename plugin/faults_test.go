package plugin

import (
	"testing"

	"github.com/kubo-threads/kubo-threads/threads"
)

func TestFaultsFromEnv(t *testing.T) {
	t.Setenv(EnvFaultDrop, "")
	t.Setenv(EnvFaultReorder, "")
	t.Setenv(EnvFaultSeed, "")
	if f, err := faultsFromEnv(); err != nil || f.Enabled() {
		t.Fatalf("no variables: got %+v, %v; want no faults", f, err)
	}
	t.Setenv(EnvFaultDrop, "0.3")
	t.Setenv(EnvFaultReorder, "1")
	t.Setenv(EnvFaultSeed, "7")
	f, err := faultsFromEnv()
	if err != nil || f != (threads.Faults{Drop: 0.3, Reorder: true, Seed: 7}) {
		t.Fatalf("got %+v, %v; want drop 0.3, reorder, seed 7", f, err)
	}
	for _, bad := range []struct{ name, value string }{
		{EnvFaultDrop, "1"}, {EnvFaultDrop, "-0.1"}, {EnvFaultDrop, "lots"},
		{EnvFaultReorder, "maybe"}, {EnvFaultSeed, "-1"},
	} {
		t.Run(bad.name+"="+bad.value, func(t *testing.T) {
			t.Setenv(bad.name, bad.value)
			if _, err := faultsFromEnv(); err == nil {
				t.Fatalf("%s=%s accepted", bad.name, bad.value)
			}
		})
	}
}
