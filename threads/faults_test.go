package threads

import "testing"

func TestFaultsInstall(t *testing.T) {
	if err := (Faults{Drop: 1}).validate(); err == nil {
		t.Fatal("drop probability 1 accepted")
	}
	n := &network{}
	Faults{}.install(n)
	if n.dropPush != nil || n.reorder != nil {
		t.Fatal("the zero Faults installed hooks")
	}
	Faults{Drop: 0.3, Reorder: true, Seed: 1}.install(n)
	if n.dropPush == nil || n.reorder == nil {
		t.Fatal("hooks not installed")
	}
	dropped := 0
	for i := 0; i < 10000; i++ {
		if n.dropPush() {
			dropped++
		}
	}
	if dropped < 2500 || dropped > 3500 {
		t.Fatalf("dropped %d of 10000 at probability 0.3", dropped)
	}
}
