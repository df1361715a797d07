#!/usr/bin/env bash
test_description='ipfs threads without a running daemon says to start one'
. "$(dirname "$0")/lib.sh"

NO_DAEMON_ERR="Error: threads runs inside the IPFS daemon, and no daemon is running for this repo: start it with 'ipfs daemon' and try again"

# no_daemon_err FILE: FILE (a command's stderr) is the no-daemon message
# alone: no Kubo log line (e.g. from opening the repo) beside it.
no_daemon_err() {
	test_grep_i "$1" "ipfs daemon" &&
		test_cmp_str "$NO_DAEMON_ERR" "$(cat "$1")"
}

# repo_state: every file and directory of the repo with its size and mtime.
# A command that opens the repo changes it (the datastore rotates its
# journal and manifest even when nothing is written).
repo_state() {
	find "$IPFS_PATH" -printf '%P %y %s %T@\n' | sort
}

test_init_ipfs

test_expect_success 'no daemon is running' '
	test ! -e "$IPFS_PATH/api" &&
	repo_state >repo.before
'

# Every command needs the daemon; none of them may succeed without it, and
# each must say what to do, without opening the repo.
test_expect_success 'ipfs threads ls fails and says to start ipfs daemon' '
	test_must_fail ipfs threads ls >out 2>err &&
	test_must_be_empty out &&
	no_daemon_err err
'

test_expect_success 'ipfs threads create fails and says to start ipfs daemon' '
	test_must_fail ipfs threads create >out 2>err &&
	test_must_be_empty out &&
	no_daemon_err err
'

test_expect_success 'ipfs threads create --variant acl fails and says to start ipfs daemon' '
	test_must_fail ipfs threads create --variant acl 2>err &&
	no_daemon_err err
'

test_expect_success 'ipfs threads add (file) fails and says to start ipfs daemon' '
	echo hello >body &&
	test_must_fail ipfs threads add bafkqaaa body >out 2>err &&
	test_must_be_empty out &&
	no_daemon_err err
'

test_expect_success 'ipfs threads add (stdin) fails and says to start ipfs daemon' '
	echo hello | test_must_fail ipfs threads add bafkqaaa >out 2>err &&
	test_must_be_empty out &&
	no_daemon_err err
'

for cmd in "info x" "rm x" "log x" "cat x y" "listen x"; do
	test_expect_success "ipfs threads $cmd fails and says to start ipfs daemon" '
		test_must_fail ipfs threads '"$cmd"' >out 2>err &&
		test_must_be_empty out &&
		no_daemon_err err
	'
done

for cmd in "invites" "kv ls x" "docs collection ls x" "acl show x" "stats x" "snapshot x"; do
	test_expect_success "ipfs threads $cmd fails and says to start ipfs daemon" '
		test_must_fail ipfs threads '"$cmd"' >out 2>err &&
		test_must_be_empty out &&
		no_daemon_err err
	'
done

test_expect_success 'the failed commands left the repo untouched (never opened it)' '
	repo_state >repo.after &&
	test_cmp repo.before repo.after
'

test_expect_success 'without a repo, ipfs threads says to run ipfs init' '
	test_must_fail env IPFS_PATH="$(pwd)/no-repo" ipfs threads ls >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "no IPFS repo found" &&
	test_grep_i err "ipfs init" &&
	! grep -qi "ipfs daemon" err &&
	test ! -e no-repo
'

# The same commands work once the daemon runs: the failures above were the
# missing daemon, nothing else.
test_launch_daemon

test_expect_success 'with the daemon, ipfs threads ls and create succeed' '
	ipfs threads ls >out 2>err &&
	test_must_be_empty err &&
	tid=$(ipfs threads create) &&
	ipfs threads ls >out &&
	grep -q "^$tid	" out
'

test_kill_daemon

test_expect_success 'after shutdown, ipfs threads ls fails again with the hint' '
	repo_state >repo.before &&
	test_must_fail ipfs threads ls 2>err &&
	no_daemon_err err &&
	echo hello | test_must_fail ipfs threads add "$tid" 2>err &&
	no_daemon_err err &&
	repo_state >repo.after &&
	test_cmp repo.before repo.after
'

# A daemon killed with -9 leaves its api file behind: the CLI tries the API,
# is refused, and runs the command itself. Still no repo opened.
test_launch_daemon

test_expect_success 'kill -9 the daemon: its api file stays' '
	kill -9 "$IPFS_DAEMON_PID" &&
	wait_until 10 "daemon $IPFS_DAEMON_PID to die" pid_dead "$IPFS_DAEMON_PID" &&
	{ wait "$IPFS_DAEMON_PID" 2>/dev/null || true; } &&
	lib_untrack_pid "$IPFS_DAEMON_PID" &&
	IPFS_DAEMON_PID= &&
	test -s "$IPFS_PATH/api"
'

test_expect_success 'with a stale api file, ipfs threads fails with the hint alone' '
	repo_state >repo.before &&
	test_must_fail ipfs threads ls >out 2>err &&
	test_must_be_empty out &&
	no_daemon_err err &&
	repo_state >repo.after &&
	test_cmp repo.before repo.after
'

test_launch_daemon
test_kill_daemon

test_done
