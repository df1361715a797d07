#!/usr/bin/env bash
# Runs every test: formatting, vet, unit tests, the build, integration tests
# against real daemons, and the sharness CLI tests. Installs what it needs
# (Debian packages) when it is missing and it can.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need=()
[ -f /usr/share/sharness/sharness.sh ] || need+=(sharness)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "== installing ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "missing ${need[*]}: install them (apt-get install ${need[*]})" >&2
		exit 1
	fi
fi

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_build/*'))
if [ -n "$bad" ]; then
	echo "gofmt needed on: $bad" >&2
	exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags integration ./test/...
(cd test/bench && go vet ./...) # a module of its own (its plotting library stays out of the root go.mod)

echo "== unit tests"
go test -count=1 ./...

echo "== fuzzing the decoders briefly (longer: -fuzztime 10m, see README)"
for target in FuzzOpenEvent FuzzDecodeMessage FuzzReadFrame FuzzOpenInvite FuzzOpenSnapshot; do
	go test -run '^$' -fuzz "^$target\$" -fuzztime 5s ./codec/
done

echo "== go-datastore conformance of the key/value view (full suite)"
THREADS_FULL_CONFORMANCE=1 go test -count=1 -timeout 30m -run TestKVDatastoreConformance ./views/

echo "== build"
./build.sh

echo "== integration tests (real daemons)"
IPFS_THREADS_BIN="$root/bin/ipfs" go test -count=1 -tags integration -timeout 20m ./test/integration/...

echo "== bench, quick mode (real daemons; the full run is make bench)"
benchtmp=$(mktemp -d)
(cd test/bench && go run . -quick -bin "$root/bin/ipfs" -out "$benchtmp/bench.json" -charts "$benchtmp/charts")
rm -rf "$benchtmp"

echo "== sharness"
./test/sharness/run.sh
