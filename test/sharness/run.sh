#!/usr/bin/env bash
# Runs every sharness test of `ipfs threads` (test/sharness/t*.sh) against
# bin/ipfs of this repository, or $IPFS_THREADS_BIN. Works from any cwd.
#
#	test/sharness/run.sh              # all tests
#	test/sharness/run.sh t0050        # tests whose file name starts so
#	test/sharness/run.sh -v -i t0050  # options go to every test (sharness's
#	                                  # -v verbose, -i stop at first failure,
#	                                  # -d keep the trash directory)
#
# Trash directories and test-results/ land in test/sharness/ (git-ignored).
# The last line is a summary: "sharness: N passed, M failed" (N and M count
# test cases; a test script that aborts counts as one failure more).
# Exits non-zero if anything failed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${IPFS_THREADS_BIN:-$root/bin/ipfs}
case "$bin" in
/*) ;;
*) bin="$(pwd)/$bin" ;;
esac
if ! [ -x "$bin" ]; then
	echo "run.sh: no ipfs binary at $bin: run ./build.sh first (or set IPFS_THREADS_BIN)" >&2
	echo "sharness: 0 passed, 1 failed"
	exit 1
fi
export IPFS_THREADS_BIN=$bin
if ! [ -f "${SHARNESS_LIB:-/usr/share/sharness/sharness.sh}" ]; then
	echo "run.sh: sharness is missing: apt-get install sharness" >&2
	echo "sharness: 0 passed, 1 failed"
	exit 1
fi

opts=()
filters=()
for a in "$@"; do
	case "$a" in
	-*) opts+=("$a") ;;
	*) filters+=("$a") ;;
	esac
done

tests=()
for t in "$here"/t[0-9]*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	if [ ${#filters[@]} -gt 0 ]; then
		keep=
		for f in "${filters[@]}"; do
			case "$name" in "$f"*) keep=1 ;; esac
		done
		[ -n "$keep" ] || continue
	fi
	tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
	echo "run.sh: no tests match" >&2
	echo "sharness: 0 passed, 1 failed"
	exit 1
fi

results="$here/test-results"
rm -rf "$results"
mkdir -p "$results"

start=$(date +%s)
passed=0
failed=0
failed_scripts=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	echo "*** $name ***"
	# Run from the test directory; sharness makes its trash directory here.
	(cd "$here" && bash "$t" "${opts[@]}")
	rc=$?
	counts=$(ls "$results/$name".*.counts 2>/dev/null | head -n 1)
	p=0
	f=0
	if [ -n "$counts" ]; then
		p=$(awk '$1 == "success" {print $2}' "$counts")
		f=$(awk '$1 == "failed" {print $2}' "$counts")
		b=$(awk '$1 == "broken" {print $2}' "$counts")
		# Known breakages are failures too: nothing is silently skipped.
		f=$((f + b))
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "run.sh: $name exited with $rc before reporting a failure" >&2
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failed_scripts+=("$name")
	fi
done
end=$(date +%s)

echo
echo "ran ${#tests[@]} test scripts in $((end - start))s"
if [ ${#failed_scripts[@]} -gt 0 ]; then
	echo "failed scripts: ${failed_scripts[*]} (trash directories kept in $here)"
fi
echo "sharness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
