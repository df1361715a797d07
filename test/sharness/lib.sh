# Shared setup for the sharness tests of `ipfs threads`. Each t*.sh sets
# test_description and then sources this file:
#
#	test_description='...'
#	. "$(dirname "$0")/lib.sh"
#
# It loads Debian's sharness (or $SHARNESS_LIB), puts the ipfs under test
# first in PATH, points IPFS_PATH into the test's trash directory and
# provides helpers to init a repo and to start and stop daemons. Every wait
# is a polled condition with a deadline.

# Where the tests live (trash directories and test-results land here) and
# where the repository is, whatever the cwd.
SHARNESS_TEST_DIRECTORY=$(cd "$(dirname "$0")" && pwd)
export SHARNESS_TEST_DIRECTORY
SHARNESS_TEST_SRCDIR=$SHARNESS_TEST_DIRECTORY
export SHARNESS_TEST_SRCDIR
THREADS_REPO_ROOT=$(cd "$SHARNESS_TEST_DIRECTORY/../.." && pwd)
# Test files are t*.sh: name trash directories after them without ".sh".
SHARNESS_TEST_EXTENSION=sh
export SHARNESS_TEST_EXTENSION

IPFS_BIN=${IPFS_THREADS_BIN:-$THREADS_REPO_ROOT/bin/ipfs}
case "$IPFS_BIN" in
/*) ;;
*) IPFS_BIN="$(pwd)/$IPFS_BIN" ;;
esac
if ! test -x "$IPFS_BIN"; then
	echo "lib.sh: no ipfs binary at $IPFS_BIN: run ./build.sh (or set IPFS_THREADS_BIN)" >&2
	exit 1
fi
export IPFS_BIN

# sharness puts SHARNESS_BUILD_DIRECTORY first in PATH; we add our own below.
SHARNESS_BUILD_DIRECTORY=$THREADS_REPO_ROOT/bin
export SHARNESS_BUILD_DIRECTORY

# Go's caches stay the caller's (sharness moves HOME into the trash
# directory), so that a test building a helper (test/attacker) reuses them.
if command -v go >/dev/null 2>&1; then
	GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
	export GOCACHE GOMODCACHE GOPATH
fi

: "${SHARNESS_LIB:=/usr/share/sharness/sharness.sh}"
if ! test -f "$SHARNESS_LIB"; then
	echo "lib.sh: sharness not found at $SHARNESS_LIB (apt-get install sharness)" >&2
	exit 1
fi
. "$SHARNESS_LIB"

# From here on the cwd is the (empty) trash directory.

# `ipfs` is the binary under test, whatever its name or PATH.
mkdir -p "$SHARNESS_TRASH_DIRECTORY/.bin" &&
	ln -sf "$IPFS_BIN" "$SHARNESS_TRASH_DIRECTORY/.bin/ipfs" || exit 1
PATH="$SHARNESS_TRASH_DIRECTORY/.bin:$PATH"
export PATH

IPFS_PATH="$SHARNESS_TRASH_DIRECTORY/.ipfs"
export IPFS_PATH
# Keep the daemon quiet and self-contained.
IPFS_TELEMETRY=off
export IPFS_TELEMETRY
unset IPFS_LOGGING GOLOG_LOG_LEVEL API_ORIGIN

for tool in jq curl base64 cmp; do
	command -v "$tool" >/dev/null || error "lib.sh: $tool is needed"
done

# Deadlines, in seconds.
: "${DAEMON_START_TIMEOUT:=60}"
: "${DAEMON_STOP_TIMEOUT:=30}"
: "${WAIT_TIMEOUT:=30}"

# Background processes this test started (daemons, listeners): killed when
# the test script exits however it exits.
LIB_PIDS=
lib_track_pid() {
	LIB_PIDS="$LIB_PIDS $1"
}
lib_untrack_pid() {
	_keep=
	for _p in $LIB_PIDS; do
		test "$_p" = "$1" || _keep="$_keep $_p"
	done
	LIB_PIDS=$_keep
}
lib_kill_all() {
	for _p in $LIB_PIDS; do
		kill -9 "$_p" 2>/dev/null
	done
	LIB_PIDS=
}
# Keep sharness's exit status check (die reads $?).
trap '_lib_rc=$?; lib_kill_all; (exit $_lib_rc); die' EXIT
# Interrupted (Ctrl-C, kill): exit, so that the EXIT trap kills our daemons
# (background processes of a script ignore SIGINT and would live on).
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# now_s prints the time in whole seconds.
now_s() {
	date +%s
}

# wait_until TIMEOUT DESCRIPTION COMMAND...: runs COMMAND every 0.1 s until it
# succeeds (returns 0) or TIMEOUT seconds have passed (prints DESCRIPTION and
# returns 1).
wait_until() {
	_timeout=$1
	_what=$2
	shift 2
	_deadline=$(($(now_s) + _timeout))
	while :; do
		if "$@"; then
			return 0
		fi
		if test "$(now_s)" -ge "$_deadline"; then
			echo "timed out after ${_timeout}s waiting for: $_what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	if test -r "/proc/$1/stat"; then
		# Field 3 is the state; Z is a zombie (exited, not yet reaped).
		_state=$(sed -e 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
		test "$_state" != Z
	fi
}

pid_dead() {
	! pid_alive "$1"
}

# test_init_ipfs: inits the repo at $IPFS_PATH with the test profile
# (loopback, random ports, no bootstrap). A sharness test of its own.
test_init_ipfs() {
	test_expect_success "ipfs init --profile=test" '
		ipfs init --profile=test >init.out 2>&1 &&
		test -f "$IPFS_PATH/config"
	'
}

# ipfs_start_daemon [ARGS...]: starts `ipfs daemon ARGS` in the background
# for $IPFS_PATH, its output in $IPFS_PATH.daemon.N.out, and waits until it
# says 'Daemon is ready' and answers through its API. Sets IPFS_DAEMON_PID
# and IPFS_DAEMON_OUT. Nothing touches the repo while the daemon starts (a
# stock Kubo command run without a daemon would take the repo lock; the
# threads commands never open the repo, see t0015).
IPFS_DAEMON_COUNT=0
ipfs_daemon_ready() {
	grep -q 'Daemon is ready' "$IPFS_DAEMON_OUT" 2>/dev/null && return 0
	if pid_dead "$IPFS_DAEMON_PID"; then
		echo "daemon exited before it was ready:" >&2
		cat "$IPFS_DAEMON_OUT" >&2
		return 2
	fi
	return 1
}
ipfs_start_daemon() {
	IPFS_DAEMON_COUNT=$((IPFS_DAEMON_COUNT + 1))
	IPFS_DAEMON_OUT="$IPFS_PATH.daemon.$IPFS_DAEMON_COUNT.out"
	# fds 3-6 are sharness's: the daemon must not hold them open.
	ipfs daemon "$@" >"$IPFS_DAEMON_OUT" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- &
	IPFS_DAEMON_PID=$!
	lib_track_pid "$IPFS_DAEMON_PID"
	_deadline=$(($(now_s) + DAEMON_START_TIMEOUT))
	while :; do
		ipfs_daemon_ready
		case $? in
		0) break ;;
		2) return 1 ;;
		esac
		if test "$(now_s)" -ge "$_deadline"; then
			echo "daemon not ready after ${DAEMON_START_TIMEOUT}s:" >&2
			cat "$IPFS_DAEMON_OUT" >&2
			return 1
		fi
		sleep 0.1
	done
	# Ready: the api file is written and the API answers.
	wait_until 10 "api file $IPFS_PATH/api" test -s "$IPFS_PATH/api" &&
		wait_until 10 "ipfs id through the API" ipfs_api_answers
}
ipfs_api_answers() {
	ipfs --api="$(cat "$IPFS_PATH/api")" id >/dev/null 2>&1
}

# ipfs_stop_daemon: `ipfs shutdown`, then waits for the process to exit;
# kill -9 on the deadline (and then fails).
ipfs_stop_daemon() {
	test -n "$IPFS_DAEMON_PID" || {
		echo "no daemon to stop" >&2
		return 1
	}
	_pid=$IPFS_DAEMON_PID
	_ok=0
	ipfs shutdown || _ok=1
	if ! wait_until "$DAEMON_STOP_TIMEOUT" "daemon $_pid to exit" pid_dead "$_pid"; then
		kill -9 "$_pid" 2>/dev/null
		_ok=1
	fi
	wait "$_pid" 2>/dev/null
	lib_untrack_pid "$_pid"
	IPFS_DAEMON_PID=
	# The repo lock is released with the process; the api file goes too.
	test ! -e "$IPFS_PATH/api" || {
		echo "$IPFS_PATH/api still there after shutdown" >&2
		_ok=1
	}
	return $_ok
}

# test_launch_daemon / test_kill_daemon: the two above as sharness tests.
test_launch_daemon() {
	test_expect_success "start the daemon${*:+ $*}" '
		ipfs_start_daemon '"$*"'
	'
}
test_kill_daemon() {
	test_expect_success "stop the daemon" '
		ipfs_stop_daemon
	'
}

# api_hostport: host:port of the RPC API, from $IPFS_PATH/api
# (/ip4/127.0.0.1/tcp/PORT).
api_hostport() {
	_ma=$(cat "$IPFS_PATH/api") || return 1
	case "$_ma" in
	/ip4/*/tcp/*) echo "$_ma" | awk -F/ '{print $3 ":" $5}' ;;
	/ip6/*/tcp/*) echo "$_ma" | awk -F/ '{print "[" $3 "]:" $5}' ;;
	*)
		echo "unexpected api address: $_ma" >&2
		return 1
		;;
	esac
}

# thread_count_events TID: number of events `ipfs threads log` returns.
thread_count_events() {
	ipfs threads log "$1" --enc=json | jq -s length
}

# test_cmp_str EXPECTED ACTUAL: compares two strings, showing both on failure.
test_cmp_str() {
	if test "x$1" != "x$2"; then
		echo "expected: '$1'" >&2
		echo "actual:   '$2'" >&2
		return 1
	fi
}

# test_grep_i FILE PATTERN: FILE (a command's stderr) contains the
# extended regexp PATTERN, case-insensitively.
test_grep_i() {
	if ! grep -Eiq -e "$2" "$1"; then
		echo "'$1' does not match /$2/, it contains:" >&2
		cat "$1" >&2
		return 1
	fi
}

# test_line_count_is FILE N: FILE has exactly N lines.
test_line_count_is() {
	_n=$(wc -l <"$1" | tr -d ' ')
	if test "$_n" != "$2"; then
		echo "'$1' has $_n lines, want $2:" >&2
		cat "$1" >&2
		return 1
	fi
}

# start_listener OUT ARGS...: runs `ipfs threads listen ARGS` in the
# background, stdout to OUT, stderr to OUT.err. Sets LISTEN_PID.
start_listener() {
	_out=$1
	shift
	ipfs threads listen "$@" >"$_out" 2>"$_out.err" </dev/null 3>&- 4>&- 5>&- 6>&- &
	LISTEN_PID=$!
	lib_track_pid "$LISTEN_PID"
}

# stop_listener PID [OUT]: SIGTERM, wait for it to exit (kill -9 on
# deadline). Interrupted, the ipfs client (any streaming command, e.g. `ipfs
# log tail`) writes one empty line to stdout and "Error: context canceled"
# to stderr: with OUT, that one trailing empty line is removed from OUT.
stop_listener() {
	kill "$1" 2>/dev/null
	if ! wait_until 10 "listener $1 to exit" pid_dead "$1"; then
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	lib_untrack_pid "$1"
	if test -n "$2" && test -f "$2"; then
		sed -i -e '${/^$/d}' "$2"
	fi
	return 0
}

# file_has_lines FILE N: FILE has at least N complete lines.
file_has_lines() {
	test -f "$1" && test "$(wc -l <"$1" | tr -d ' ')" -ge "$2"
}

# wait_lines FILE N [TIMEOUT]: waits until FILE has at least N lines.
wait_lines() {
	wait_until "${3:-$WAIT_TIMEOUT}" "$2 lines in $1" file_has_lines "$1" "$2"
}

# ipfs_daemon_must_fail OUT: starts `ipfs daemon` and expects it to exit
# non-zero before it is ready (within DAEMON_START_TIMEOUT); its output goes
# to OUT. A daemon that does get ready is shut down, and the check fails.
ipfs_daemon_must_fail() {
	ipfs daemon >"$1" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- &
	_pid=$!
	lib_track_pid "$_pid"
	_deadline=$(($(now_s) + DAEMON_START_TIMEOUT))
	while pid_alive "$_pid"; do
		if grep -q 'Daemon is ready' "$1"; then
			echo "the daemon started, but it should have refused to:" >&2
			cat "$1" >&2
			IPFS_DAEMON_PID=$_pid ipfs_stop_daemon
			return 1
		fi
		if test "$(now_s)" -ge "$_deadline"; then
			echo "the daemon neither started nor exited in ${DAEMON_START_TIMEOUT}s" >&2
			kill -9 "$_pid"
			wait "$_pid"
			lib_untrack_pid "$_pid"
			return 1
		fi
		sleep 0.1
	done
	wait "$_pid"
	_rc=$?
	lib_untrack_pid "$_pid"
	if test "$_rc" = 0; then
		echo "the daemon exited with 0" >&2
		return 1
	fi
	return 0
}

# Several nodes in one test. A node NAME (a shell word: letters, digits, _)
# has its own repo, $SHARNESS_TRASH_DIRECTORY/.ipfs-NAME, and its own daemon,
# whose output goes to .ipfs-NAME.daemon.N.out. They leave $IPFS_PATH and
# the daemon of ipfs_start_daemon alone, and their daemons are killed when
# the test exits however it exits, like every tracked process.

# node_path NAME: the repo of node NAME.
node_path() {
	echo "$SHARNESS_TRASH_DIRECTORY/.ipfs-$1"
}

# ipfsn NAME ARGS...: `ipfs ARGS` on node NAME's repo (through its daemon
# when it runs).
ipfsn() {
	IPFS_PATH="$SHARNESS_TRASH_DIRECTORY/.ipfs-$1" ipfs "${@:2}"
}

# node_init NAME [PLUGIN_CONFIG_JSON]: inits node NAME's repo with the test
# profile (loopback, random ports, no bootstrap), pubsub enabled, and the
# threads plugin config if given (Plugins.Plugins.threads.Config).
node_init() {
	ipfsn "$1" init --profile=test >"$(node_path "$1").init.out" 2>&1 &&
		ipfsn "$1" config --json Pubsub.Enabled true &&
		if test -n "$2"; then
			ipfsn "$1" config --json Plugins.Plugins.threads.Config "$2"
		fi
}

# node_start NAME [ARGS...]: starts `ipfs daemon ARGS` for node NAME and
# waits until it is ready (ipfs_start_daemon). Sets NODE_PID_NAME and
# NODE_OUT_NAME.
node_start() {
	_node_name=$1
	shift
	_node_save_path=$IPFS_PATH _node_save_pid=$IPFS_DAEMON_PID _node_save_out=$IPFS_DAEMON_OUT
	IPFS_PATH=$(node_path "$_node_name")
	ipfs_start_daemon "$@"
	_node_rc=$?
	eval "NODE_PID_$_node_name=\$IPFS_DAEMON_PID; NODE_OUT_$_node_name=\$IPFS_DAEMON_OUT"
	IPFS_PATH=$_node_save_path IPFS_DAEMON_PID=$_node_save_pid IPFS_DAEMON_OUT=$_node_save_out
	return $_node_rc
}

# node_stop NAME: stops node NAME's daemon (ipfs_stop_daemon).
node_stop() {
	_node_name=$1
	_node_save_path=$IPFS_PATH _node_save_pid=$IPFS_DAEMON_PID _node_save_out=$IPFS_DAEMON_OUT
	IPFS_PATH=$(node_path "$_node_name")
	eval "IPFS_DAEMON_PID=\$NODE_PID_$_node_name"
	ipfs_stop_daemon
	_node_rc=$?
	eval "NODE_PID_$_node_name="
	IPFS_PATH=$_node_save_path IPFS_DAEMON_PID=$_node_save_pid IPFS_DAEMON_OUT=$_node_save_out
	return $_node_rc
}

# node_id NAME: node NAME's peer ID (from its config: no daemon needed).
node_id() {
	jq -r .Identity.PeerID "$(node_path "$1")/config"
}

# node_addr NAME: node NAME's loopback TCP swarm address, ending in
# /p2p/<peer-id> (its daemon must run).
node_addr() {
	_node_a=$(ipfsn "$1" swarm addrs local | grep -m1 '^/ip4/127\.0\.0\.1/tcp/[0-9]*$') &&
		test -n "$_node_a" &&
		echo "$_node_a/p2p/$(node_id "$1")"
}

# node_has_peer NAME PEER-ID: node NAME is connected to PEER-ID.
node_has_peer() {
	ipfsn "$1" swarm peers 2>/dev/null | grep -q "/p2p/$2\$"
}

# node_connect A B: connects node A to node B and waits until each sees the
# other among its peers.
node_connect() {
	_node_b_addr=$(node_addr "$2") &&
		ipfsn "$1" swarm connect "$_node_b_addr" >/dev/null &&
		wait_until 10 "$1 connected to $2" node_has_peer "$1" "$(node_id "$2")" &&
		wait_until 10 "$2 connected to $1" node_has_peer "$2" "$(node_id "$1")"
}
