#!/usr/bin/env bash
test_description='a writer loop of ipfs threads add never blocks a daemon start'
. "$(dirname "$0")/lib.sh"

# An operator's script keeps calling `ipfs threads add` while the daemon
# restarts. Without a daemon each call must fail with the message alone,
# without opening the repo: opened, the repo is locked (and a daemon starting
# then fails with "someone else has the lock") and Kubo runs its repo checks
# (e.g. the pin index repair, which logs an ERROR line).

NO_DAEMON_ERR="Error: threads runs inside the IPFS daemon, and no daemon is running for this repo: start it with 'ipfs daemon' and try again"
# Start/stop cycles, each with the loop running while the daemon starts.
: "${RACE_CYCLES:=5}"

test_init_ipfs
test_launch_daemon

test_expect_success 'create a thread for the writer loop' '
	tid=$(ipfs threads create) &&
	test -n "$tid"
'

test_kill_daemon

# add_loop TID OUT: calls `ipfs threads add TID` until OUT.stop exists; every
# call appends its stderr to OUT.err and "ok" or "fail" to OUT.rc.
add_loop() {
	while ! test -e "$2.stop"; do
		if echo "written by the loop" | ipfs threads add -q "$1" >>"$2.out" 2>>"$2.err"; then
			echo ok >>"$2.rc"
		else
			echo fail >>"$2.rc"
		fi
	done
}

# start_add_loop TID OUT: add_loop in the background. Sets ADD_LOOP_PID.
start_add_loop() {
	rm -f "$2.stop" "$2.out" "$2.err" "$2.rc" &&
		: >"$2.rc" &&
		{ add_loop "$1" "$2" </dev/null 3>&- 4>&- 5>&- 6>&- & } &&
		ADD_LOOP_PID=$! &&
		lib_track_pid "$ADD_LOOP_PID"
}

# stop_add_loop OUT: asks the loop to stop and waits until it has (the loop
# stays tracked, and is killed when the test exits, if it has not).
stop_add_loop() {
	touch "$1.stop" &&
		wait_until "$WAIT_TIMEOUT" "the add loop to stop" pid_dead "$ADD_LOOP_PID" || return 1
	wait "$ADD_LOOP_PID" 2>/dev/null
	lib_untrack_pid "$ADD_LOOP_PID"
}

# rc_count OUT WORD N: OUT.rc has at least N lines WORD.
rc_count() {
	test "$(grep -cx "$2" "$1.rc")" -ge "$3"
}

# only_no_daemon_errors FILE: every line of FILE is the no-daemon message.
only_no_daemon_errors() {
	if grep -vxF -e "$NO_DAEMON_ERR" "$1" >"$1.other"; then
		echo "'$1' holds more than the no-daemon message:" >&2
		cat "$1.other" >&2
		return 1
	fi
}

cycle=1
while test "$cycle" -le "$RACE_CYCLES"; do
	test_expect_success "cycle $cycle: the add loop runs against the stopped repo" '
		test ! -e "$IPFS_PATH/api" &&
		start_add_loop "$tid" loop$cycle &&
		wait_until "$WAIT_TIMEOUT" "3 failed adds" rc_count loop$cycle fail 3 &&
		! rc_count loop$cycle ok 1
	'

	test_expect_success "cycle $cycle: the daemon starts on the first try meanwhile" '
		ipfs_start_daemon &&
		wait_until "$WAIT_TIMEOUT" "an add to reach the daemon" rc_count loop$cycle ok 1
	'

	# Whatever happened above: the next cycle starts without this loop.
	test_expect_success "cycle $cycle: stop the add loop" '
		stop_add_loop loop$cycle
	'

	test_expect_success "cycle $cycle: the failed adds printed the message alone" '
		test_line_count_is loop$cycle.err "$(grep -cx fail loop$cycle.rc)" &&
		only_no_daemon_errors loop$cycle.err
	'

	test_expect_success "cycle $cycle: the daemon met no lock and repaired nothing" '
		! grep -Ei "someone else has the lock|invalid indexes" "$IPFS_DAEMON_OUT"
	'

	test_kill_daemon
	cycle=$((cycle + 1))
done

test_launch_daemon

test_expect_success 'every add that succeeded is in the thread' '
	n=$(cat loop*.rc | grep -cx ok) &&
	test "$(thread_count_events "$tid")" = "$n"
'

test_kill_daemon

test_done
