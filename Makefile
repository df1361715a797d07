# The two commands of the README:
#   make daemon   build bin/ipfs and run a daemon with threads ready
#   make test     run every test: vet, unit, integration, sharness
#   make bench        run the benchmark workloads on real daemons (README, Performance)
#   make bench-quick  the same at small sizes, one run (CI runs it)
.PHONY: build daemon test bench bench-quick

build:
	./build.sh

daemon: build
	./test/daemon.sh

test:
	./test/run-all.sh

bench: build
	cd test/bench && go run . -out ../../docs/bench/bench.json -md ../../docs/bench/table.md -charts ../../docs/bench

bench-quick: build
	cd test/bench && go run . -quick -out /dev/null
