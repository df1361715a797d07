#!/usr/bin/env bash
test_description='two daemons: bad input to invite, invites, join, addrs and follower add fails cleanly'
. "$(dirname "$0")/lib.sh"

# Nodes A and B run, connected; node C has a repo (an identity) and no
# daemon. Each bad command must exit non-zero, print nothing on stdout and an
# error matching a pattern on stderr, and change nothing: A's thread keeps
# its events, B joins nothing, and a good invite still works at the end.

CFG='{"AntiEntropyInterval": "1s"}'

# bad PATTERN CMD...: CMD fails, prints nothing on stdout, and its stderr
# matches PATTERN (case-insensitive extended regexp).
bad() {
	_pat=$1
	shift
	test_must_fail "$@" >out 2>err &&
	test_must_be_empty out &&
	test -s err &&
	test_grep_i err "$_pat"
}

test_expect_success 'init A, B and C; start A and B; connect them' '
	node_init A "$CFG" &&
	node_init B "$CFG" &&
	node_init C &&
	AID=$(node_id A) && BID=$(node_id B) && CID=$(node_id C) &&
	node_start A &&
	node_start B &&
	node_connect A B
'

test_expect_success 'A creates thread T with three events; U is a removed thread' '
	T=$(ipfsn A threads create) &&
	for i in 1 2 3; do
		echo "event $i" | ipfsn A threads add -q "$T" >>cids || return 1
	done &&
	ipfsn A threads log "$T" --enc=json >log.before &&
	U=$(ipfsn A threads create) &&
	ipfsn A threads rm "$U" >/dev/null &&
	test_must_fail ipfsn A threads info "$U" 2>err &&
	test_grep_i err "thread not found"
'

# intact: A's thread T has exactly its three events, bodies included, in one
# log at seq 3; B holds no thread.
intact() {
	ipfsn A threads log "$T" --enc=json >log.now &&
		test_cmp log.before log.now &&
		ipfsn A threads info "$T" --enc=json >info.now &&
		jq -e "(.Logs | length) == 1 and .Logs[0].Seq == 3" info.now >/dev/null &&
		ipfsn B threads ls --enc=json >b.ls &&
		jq -e ".Threads == []" b.ls >/dev/null
}

test_expect_success 'intact to begin with' '
	intact
'

test_expect_success 'join garbage fails: invalid invite' '
	bad "invalid invite" ipfsn B threads join garbage &&
	bad "invalid invite" ipfsn B threads join "bafkqaaa" &&
	bad "invalid invite" ipfsn B threads join "" &&
	intact
'

test_expect_success 'join without an invite fails' '
	bad "argument" ipfsn B threads join &&
	intact
'

test_expect_success 'an invite for C (not running): made, not delivered' '
	ipfsn A threads invite "$T" "$CID" --enc=json >cinv.json &&
	jq -e --arg c "$CID" ".Delivered == false and .Peer == \$c and .Role == \"write\"" cinv.json &&
	CINV=$(jq -r .Invite cinv.json) &&
	test -n "$CINV"
'

test_expect_success 'B cannot join the invite for C: not sealed to this node' '
	bad "not sealed to this node" ipfsn B threads join "$CINV" &&
	ipfsn B threads invites --enc=json | jq -e ".Invites == []" &&
	intact
'

test_expect_success 'A cannot join its own invite for C either' '
	bad "not sealed to this node" ipfsn A threads join "$CINV" &&
	intact
'

test_expect_success 'an altered or truncated invite for B does not join' '
	GOOD=$(ipfsn A threads invite "$T" "$BID") &&
	c=${GOOD:60:1} &&
	if test "$c" = a; then r=b; else r=a; fi &&
	ALTERED="${GOOD:0:60}$r${GOOD:61}" &&
	test "$ALTERED" != "$GOOD" &&
	bad "not sealed to this node, or it was altered" ipfsn B threads join "$ALTERED" &&
	bad "invalid invite" ipfsn B threads join "${GOOD:0:100}" &&
	intact
'

test_expect_success 'invite to a malformed peer ID fails' '
	bad "invalid peer ID" ipfsn A threads invite "$T" not-a-peer &&
	intact
'

test_expect_success 'invite to a peer ID without an embedded key (RSA, Qm...) fails' '
	bad "does not embed its public key" ipfsn A threads invite "$T" QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG &&
	intact
'

test_expect_success 'invite --role admin fails, naming the roles' '
	bad "unknown role.*write, read or follow" ipfsn A threads invite "$T" "$BID" --role admin &&
	bad "unknown role" ipfsn A threads invite "$T" "$BID" --role "" &&
	intact
'

test_expect_success 'invite to an unknown thread fails: thread not found' '
	bad "thread not found" ipfsn A threads invite "$U" "$BID" &&
	intact
'

test_expect_success 'invite with a malformed thread ID fails' '
	bad "invalid thread ID" ipfsn A threads invite garbage "$BID" &&
	intact
'

test_expect_success 'the failed invites delivered nothing to B' '
	ipfsn B threads invites --enc=json >b.invites.json &&
	jq -e "(.Invites | length) == 1" b.invites.json &&
	jq -e --arg g "$GOOD" ".Invites[0].Invite == \$g" b.invites.json
'

test_expect_success 'follower add with an address without /p2p fails' '
	bad "p2p" ipfsn A threads follower add "$T" /ip4/127.0.0.1/tcp/1 &&
	intact
'

test_expect_success 'follower add with a malformed address fails' '
	bad "invalid address" ipfsn A threads follower add "$T" not-a-multiaddr &&
	intact
'

test_expect_success 'follower add with A own address fails' '
	bad "cannot follow its own thread" ipfsn A threads follower add "$T" "$(node_addr A)" &&
	intact
'

test_expect_success 'follower add to an unreachable address fails' '
	bad "connect to follower" ipfsn A threads follower add "$T" "/ip4/127.0.0.1/tcp/1/p2p/$CID" &&
	intact
'

test_expect_success 'follower add on an unknown thread fails' '
	bad "thread not found" ipfsn A threads follower add "$U" "$(node_addr B)" &&
	ipfsn B threads invites --enc=json | jq -e "(.Invites | length) == 1" &&
	intact
'

test_expect_success 'addrs garbage fails, addrs of an unknown thread fails' '
	bad "invalid thread ID" ipfsn A threads addrs garbage &&
	bad "thread not found" ipfsn A threads addrs "$U" &&
	bad "thread not found" ipfsn B threads addrs "$T" &&
	intact
'

test_expect_success 'invites with an argument fails' '
	bad "expected 0 argument" ipfsn B threads invites extra &&
	intact
'

test_expect_success 'both daemons are still running' '
	pid_alive "$NODE_PID_A" &&
	pid_alive "$NODE_PID_B"
'

# b_has_events N: B's log of T has N events.
b_has_events() {
	test "$(ipfsn B threads log "$T" --enc=json 2>/dev/null | jq -s length)" = "$1"
}

test_expect_success 'after all that, the good invite still joins and B reads the three events' '
	ipfsn B threads join "$GOOD" >join.out &&
	echo "$T" >join.want &&
	test_cmp join.want join.out &&
	wait_until "$WAIT_TIMEOUT" "B to have 3 events" b_has_events 3 &&
	ipfsn B threads log "$T" --enc=json >b.log &&
	jq -r .Cid b.log >b.cids &&
	test_cmp cids b.cids
'

test_expect_success 'A thread T is still as it was' '
	ipfsn A threads log "$T" --enc=json >log.now &&
	test_cmp log.before log.now
'

test_expect_success 'stop both daemons' '
	node_stop B &&
	node_stop A
'

test_done
