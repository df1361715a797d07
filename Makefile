# The two commands of the README:
#   make daemon   build bin/ipfs and run a daemon with threads ready
#   make test     run every test: vet, unit, integration, sharness
.PHONY: build daemon test

build:
	./build.sh

daemon: build
	./test/daemon.sh

test:
	./test/run-all.sh
