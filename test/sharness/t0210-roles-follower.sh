#!/usr/bin/env bash
test_description='three daemons: the read role (access-controlled threads only), and followers (follower add, AcceptFollowInvites)'
. "$(dirname "$0")/lib.sh"

# Nodes A, B and F. A cannot invite B to a raw thread as a reader (raw
# threads have no read role); it invites B to an access-controlled thread
# as a reader: B cannot write. A adds F as a follower of thread T: F
# (AcceptFollowInvites) follows
# on its own, replicates every log and reads none. B, without
# AcceptFollowInvites, follows thread V only once it joins the follow invite.

CFG='{"AntiEntropyInterval": "1s"}'
FCFG='{"AntiEntropyInterval": "1s", "AcceptFollowInvites": true}'

test_expect_success 'init A, B (anti-entropy 1s) and F (also AcceptFollowInvites)' '
	node_init A "$CFG" &&
	node_init B "$CFG" &&
	node_init F "$FCFG" &&
	ipfsn F config Plugins.Plugins.threads.Config.AcceptFollowInvites >f.cfg &&
	echo true >f.cfg.want &&
	test_cmp f.cfg.want f.cfg &&
	AID=$(node_id A) && BID=$(node_id B) && FID=$(node_id F)
'

test_expect_success 'start the three daemons, connect A to B' '
	node_start A &&
	node_start B &&
	node_start F &&
	node_connect A B
'

# seq_of NODE THREAD LOG: the seq NODE holds of LOG in THREAD.
seq_of() {
	ipfsn "$1" threads info "$2" --enc=json 2>/dev/null |
		jq -r --arg l "$3" ".Logs[] | select(.ID == \$l) | .Seq"
}

# has_seq NODE THREAD LOG SEQ: NODE holds LOG of THREAD up to SEQ.
has_seq() {
	test "$(seq_of "$1" "$2" "$3")" = "$4"
}

# --- role read: access-controlled threads only ---

test_expect_success 'A creates a raw thread R with two events' '
	R=$(ipfsn A threads create) &&
	RLOG=$(ipfsn A threads info "$R" --enc=json | jq -r .Keys.Log) &&
	echo "r one" | ipfsn A threads add -q "$R" >r.cids &&
	echo "r two" | ipfsn A threads add -q "$R" >>r.cids
'

test_expect_success 'invite --role read to a raw thread fails, pointing to --variant acl' '
	test_must_fail ipfsn A threads invite "$R" "$BID" --role read >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "no read role" &&
	test_grep_i err "--variant acl" &&
	ipfsn B threads invites --enc=json | jq -e ".Invites == []"
'

test_expect_success 'invite --help says raw threads have no read role' '
	ipfsn A threads invite --help >invite.help &&
	test_grep_i invite.help "no read role"
'

test_expect_success 'an access-controlled thread invites B as a reader: delivered' '
	RA=$(ipfsn A threads create --variant acl) &&
	ipfsn A threads invite "$RA" "$BID" --role read --enc=json >rinv.json &&
	jq -e ".Role == \"read\" and .Delivered == true" rinv.json &&
	ipfsn B threads invites --enc=json >b.invites &&
	jq -e --arg t "$RA" --arg a "$AID" \
		"[.Invites[] | select(.Thread == \$t and .Role == \"read\" and .From == \$a)] | length == 1" b.invites
'

test_expect_success 'B joins it: keys follow and read, no log of its own; add fails' '
	ipfsn B threads join "$(jq -r .Invite rinv.json)" >join.r &&
	echo "$RA" >join.r.want &&
	test_cmp join.r.want join.r &&
	ipfsn B threads info "$RA" --enc=json >b.rinfo &&
	jq -e ".Keys.Follow == true and .Keys.Read == true and .Keys.Log == \"\"" b.rinfo &&
	jq -e "all(.Logs[]; .Own | not)" b.rinfo &&
	echo "not allowed" >nope &&
	test_must_fail ipfsn B threads add "$RA" nope >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "ACL does not allow|no log in the thread|not a writer|follower or reader"
'

# --- follower with AcceptFollowInvites ---

test_expect_success 'A creates thread T with three events' '
	T=$(ipfsn A threads create) &&
	TLOG=$(ipfsn A threads info "$T" --enc=json | jq -r .Keys.Log) &&
	for i in 1 2 3; do
		echo "t $i" | ipfsn A threads add -q "$T" >>t.cids || return 1
	done
'

test_expect_success 'F does not hold T yet' '
	test_must_fail ipfsn F threads info "$T" 2>err &&
	test_grep_i err "thread not found"
'

test_expect_success 'follower add T <F addr>/p2p/<F id>: delivered, prints the invite' '
	FADDR=$(node_addr F) &&
	case "$FADDR" in */p2p/"$FID") ;; *) false ;; esac &&
	ipfsn A threads follower add "$T" "$FADDR" >fadd.out &&
	test_line_count_is fadd.out 2 &&
	echo "follower $FID added to $T (invite delivered)" >fadd.want &&
	head -n 1 fadd.out >fadd.line1 &&
	test_cmp fadd.want fadd.line1 &&
	sed -n 2p fadd.out | grep -Eq "^b[a-z2-7]{100,}\$"
'

test_expect_success 'F: info eventually shows A log at the seq and head A has' '
	wait_until "$WAIT_TIMEOUT" "F to hold T log of A at seq 3" has_seq F "$T" "$TLOG" 3 &&
	ipfsn A threads info "$T" --enc=json | jq -r --arg l "$TLOG" ".Logs[] | select(.ID == \$l) | .Head" >a.thead &&
	ipfsn F threads info "$T" --enc=json >f.tinfo &&
	jq -r --arg l "$TLOG" ".Logs[] | select(.ID == \$l) | .Head" f.tinfo >f.thead &&
	test_cmp a.thead f.thead
'

test_expect_success 'F: keys follow only (Read false, no log)' '
	jq -e ".Keys.Follow == true and .Keys.Read == false and .Keys.Log == \"\"" f.tinfo &&
	jq -e "all(.Logs[]; .Own | not)" f.tinfo
'

test_expect_success 'F: log fails, naming the read key' '
	test_must_fail ipfsn F threads log "$T" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "read key"
'

test_expect_success 'F: cat of an event fails, naming the read key' '
	test_must_fail ipfsn F threads cat "$T" "$(head -n 1 t.cids)" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "read key"
'

test_expect_success 'F: add fails, not a writer' '
	test_must_fail ipfsn F threads add "$T" nope >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "no log in the thread|not a writer|follower or reader"
'

test_expect_success 'F (follower) cannot invite a reader or a writer: no read key' '
	bad_invite() {
		test_must_fail ipfsn F threads invite "$T" "$BID" --role "$1" >out 2>err &&
		test_must_be_empty out &&
		test_grep_i err "read key"
	} &&
	bad_invite read &&
	bad_invite write
'

test_expect_success 'F: the follow invite is not left pending' '
	ipfsn F threads invites --enc=json | jq -e ".Invites == []"
'

test_expect_success 'A: addrs lists F as serving A log of T' '
	ipfsn A threads addrs "$T" --enc=json >a.taddrs &&
	jq -e --arg l "$TLOG" --arg p "$FID" \
		"[.Addrs[] | select(.Log == \$l and .Peer == \$p)] | length == 1" a.taddrs
'

test_expect_success 'F gets the next event A adds (seq 4, same head)' '
	echo "t 4" | ipfsn A threads add -q "$T" >>t.cids &&
	wait_until "$WAIT_TIMEOUT" "F to hold T log of A at seq 4" has_seq F "$T" "$TLOG" 4 &&
	ipfsn F threads info "$T" --enc=json |
		jq -r --arg l "$TLOG" ".Logs[] | select(.ID == \$l) | .Head" >f.thead4 &&
	tail -n 1 t.cids >f.thead4.want &&
	test_cmp f.thead4.want f.thead4
'

test_expect_success 'follower add again: --enc=json Delivered true, Role follow, Peer F' '
	ipfsn A threads follower add "$T" "$FADDR" --enc=json >fadd2.json &&
	jq -e --arg t "$T" --arg f "$FID" \
		".Delivered == true and .Role == \"follow\" and .Thread == \$t and .Peer == \$f" fadd2.json &&
	ipfsn F threads info "$T" --enc=json | jq -e ".Keys.Read == false" &&
	has_seq F "$T" "$TLOG" 4
'

test_expect_success 'B joins T as a writer and adds an event' '
	ipfsn A threads invite "$T" "$BID" >b.tinv &&
	ipfsn B threads join "$(cat b.tinv)" >/dev/null &&
	BTLOG=$(ipfsn B threads info "$T" --enc=json | jq -r .Keys.Log) &&
	test -n "$BTLOG" &&
	echo "from B" | ipfsn B threads add -q "$T" >b.tcid
'

test_expect_success 'F eventually holds B log of T too (seq 1), and A log at seq 4' '
	wait_until "$WAIT_TIMEOUT" "F to hold T log of B" has_seq F "$T" "$BTLOG" 1 &&
	ipfsn F threads info "$T" --enc=json >f.tinfo2 &&
	jq -e "(.Logs | length) == 2" f.tinfo2 &&
	has_seq F "$T" "$TLOG" 4 &&
	test_must_fail ipfsn F threads log "$T" --log "$BTLOG" 2>err &&
	test_grep_i err "read key"
'

# --- follow invite without AcceptFollowInvites ---

test_expect_success 'follower add to B (no AcceptFollowInvites): B lists the follow invite' '
	V=$(ipfsn A threads create) &&
	VLOG=$(ipfsn A threads info "$V" --enc=json | jq -r .Keys.Log) &&
	echo "v 1" | ipfsn A threads add -q "$V" >/dev/null &&
	ipfsn A threads follower add "$V" "$(node_addr B)" --enc=json >vadd.json &&
	jq -e ".Delivered == true and .Role == \"follow\"" vadd.json &&
	ipfsn B threads invites --enc=json >b.vinv &&
	jq -e --arg t "$V" --arg a "$AID" \
		"[.Invites[] | select(.Thread == \$t and .Role == \"follow\" and .From == \$a)] | length == 1" b.vinv &&
	test_must_fail ipfsn B threads info "$V" 2>err &&
	test_grep_i err "thread not found"
'

test_expect_success 'B joins the follow invite: follows V, reads nothing' '
	ipfsn B threads join "$(jq -r .Invite vadd.json)" >join.v &&
	echo "$V" >join.v.want &&
	test_cmp join.v.want join.v &&
	wait_until "$WAIT_TIMEOUT" "B to hold V log of A at seq 1" has_seq B "$V" "$VLOG" 1 &&
	ipfsn B threads info "$V" --enc=json | jq -e ".Keys.Read == false and .Keys.Log == \"\"" &&
	test_must_fail ipfsn B threads log "$V" 2>err &&
	test_grep_i err "read key"
'

test_expect_success 'stop the three daemons' '
	node_stop F &&
	node_stop B &&
	node_stop A
'

test_done
