#!/usr/bin/env bash
test_description='an attacker follower seals a writer event again and pushes the copy first: refused, no equivocation, sync goes on'
. "$(dirname "$0")/lib.sh"

# A writes thread T; B is a writer of T too. The attacker (test/attacker
# reseal) is added as a follower of T by A. While B is down, A writes its
# third event; the attacker pulls it, seals it again, and pushes the copy
# to B as soon as B is back, before B has the genuine one. B refuses the
# copy as malformed, stores nothing of it, records no equivocation, and
# goes on syncing A's log. Pubsub is off, so that its gossip does not hand
# B the genuine event first; B's anti-entropy runs every 2 s.

test_expect_success 'build the attacker' '
	(cd "$THREADS_REPO_ROOT" && go build -o "$SHARNESS_TRASH_DIRECTORY/attacker" ./test/attacker) &&
	./attacker 2>usage || true &&
	grep -q "reseal" usage
'

test_expect_success 'init and start A and B (no pubsub), connected' '
	node_init A "{\"AntiEntropyInterval\": \"1h\"}" &&
	node_init B "{\"AntiEntropyInterval\": \"2s\"}" &&
	ipfsn A config --json Pubsub.Enabled false &&
	ipfsn B config --json Pubsub.Enabled false &&
	node_start A && node_start B &&
	node_connect B A
'

# seq_of NODE LOG: the seq NODE holds of LOG in T.
seq_of() {
	ipfsn "$1" threads info "$T" --enc=json 2>/dev/null |
		jq -r --arg l "$2" ".Logs[] | select(.ID == \$l) | .Seq"
}
has_seq() {
	test "$(seq_of "$1" "$2")" = "$3"
}

test_expect_success 'A writes T; B joins as a writer and holds A events' '
	T=$(ipfsn A threads create) &&
	ALOG=$(ipfsn A threads info "$T" --enc=json | jq -r .Keys.Log) &&
	echo "one" | ipfsn A threads add -q "$T" >a.cids &&
	echo "two" | ipfsn A threads add -q "$T" >>a.cids &&
	ipfsn B threads join "$(ipfsn A threads invite "$T" "$(node_id B)")" >/dev/null &&
	wait_until "$WAIT_TIMEOUT" "B to hold A log at seq 2" has_seq B "$ALOG" 2
'

test_expect_success 'A adds the attacker as a follower' '
	./attacker reseal -addr-file att.addr -target-file att.target -log "$ALOG" >att.out 2>att.err </dev/null 3>&- 4>&- 5>&- 6>&- &
	ATT_PID=$! &&
	lib_track_pid "$ATT_PID" &&
	wait_until "$WAIT_TIMEOUT" "the attacker address" test -s att.addr &&
	ipfsn A threads follower add "$T" "$(cat att.addr)" --enc=json >fadd.json &&
	jq -e ".Delivered == true and .Role == \"follow\"" fadd.json
'

test_expect_success 'B goes down; A writes its third event' '
	node_stop B &&
	echo "three" | ipfsn A threads add -q "$T" >>a.cids
'

test_expect_success 'B comes back; the attacker pushes its copy of event 3 first' '
	node_start B &&
	node_addr B >att.target.tmp && mv att.target.tmp att.target &&
	wait_until "$WAIT_TIMEOUT" "the attacker to finish" pid_dead "$ATT_PID" &&
	wait "$ATT_PID" &&
	lib_untrack_pid "$ATT_PID" &&
	grep -qx "genuine $(sed -n 3p a.cids)" att.out &&
	COPY=$(sed -n "s/^copy //p" att.out) &&
	test -n "$COPY" && test "$COPY" != "$(sed -n 3p a.cids)"
'

b_refused() {
	ipfsn B threads stats "$T" --enc=json >b.stats &&
		jq -e ".Rejected[\"malformed event\"] >= 1" b.stats >/dev/null
}

test_expect_success 'B refuses the copy as malformed, stores none of it, records no equivocation' '
	wait_until "$WAIT_TIMEOUT" "B to count the copy as malformed" b_refused &&
	test_must_fail ipfsn B block stat --offline "$COPY" 2>/dev/null &&
	ipfsn B threads info "$T" --enc=json | jq -e "(.Equivocations // []) | length == 0"
'

test_expect_success 'A writes on: B holds the genuine events, still no equivocation' '
	node_connect B A &&
	echo "four" | ipfsn A threads add -q "$T" >>a.cids &&
	wait_until "$WAIT_TIMEOUT" "B to hold A log at seq 4" has_seq B "$ALOG" 4 &&
	ipfsn B threads log "$T" --log "$ALOG" --enc=json | jq -r .Cid >b.cids &&
	test_cmp a.cids b.cids &&
	ipfsn B threads stats "$T" --enc=json | jq -e ".Equivocations == 0"
'

test_expect_success 'stop A and B' '
	node_stop B &&
	node_stop A
'

test_done
