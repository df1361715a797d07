#!/usr/bin/env bash
test_description='two daemons: ipfs threads invite, invites, join and addrs'
. "$(dirname "$0")/lib.sh"

# Nodes A and B, each with its own repo and daemon, connected over loopback.
# A creates a thread with three events and invites B (role write); the
# invite reaches B's node; B joins, pulls A's events, writes one of its own,
# and A gets it.

CFG='{"AntiEntropyInterval": "1s"}'

# check_help SUB TAGLINE USAGE: `ipfs threads SUB --help` and -h describe it.
check_help() {
	test_expect_success "ipfs threads $1 --help and -h describe the command" '
		ipfs threads '"$1"' --help >help.out 2>help.err &&
		test_must_be_empty help.err &&
		grep -q "^  ipfs threads '"$1"'.* - " help.out &&
		test_grep_i help.out "'"$2"'" &&
		test_grep_i help.out "'"$3"'" &&
		grep -q "^DESCRIPTION\$" help.out &&
		ipfs threads '"$1"' -h >h.out &&
		test_grep_i h.out "'"$2"'"
	'
}
check_help invite "Invite a peer to a thread" "--role"
check_help invites "List invites delivered to this node" "ipfs threads invites"
check_help join "Join a thread with an invite" "<invite>"
check_help addrs "Show where a thread's logs are" "<thread>"
check_help follower "Manage a thread's followers" "add  *Add a follower to a thread"
check_help "follower add" "Add a follower to a thread" "/p2p/<peer-id>"

test_expect_success 'ipfs threads --help and ipfs commands list the sharing commands' '
	ipfs threads --help >help &&
	ipfs commands >commands &&
	for sub in invite invites join addrs follower; do
		grep -Eq "^ +$sub +[A-Z]" help ||
		{ echo "threads --help lacks $sub"; return 1; }
		grep -q "^ipfs threads $sub\$" commands ||
		{ echo "ipfs commands lacks threads $sub"; return 1; }
	done &&
	grep -q "^ipfs threads follower add\$" commands
'

test_expect_success 'init nodes A and B (pubsub, anti-entropy 1s)' '
	node_init A "$CFG" &&
	node_init B "$CFG" &&
	AID=$(node_id A) && BID=$(node_id B) &&
	test -n "$AID" && test -n "$BID" && test "$AID" != "$BID"
'

test_expect_success 'start both daemons' '
	node_start A &&
	node_start B &&
	test "$NODE_PID_A" != "$NODE_PID_B"
'

test_expect_success 'connect A to B' '
	node_connect A B
'

test_expect_success 'A creates a thread with three events' '
	T=$(ipfsn A threads create) &&
	ALOG=$(ipfsn A threads info "$T" --enc=json | jq -r .Keys.Log) &&
	test -n "$ALOG" && test "$ALOG" != null &&
	for i in 1 2 3; do
		printf "event %s from A\n" $i >body.$i &&
		ipfsn A threads add -q "$T" body.$i >>a.cids || return 1
	done &&
	test_line_count_is a.cids 3
'

test_expect_success 'before any invite, B has no invites and no thread' '
	ipfsn B threads invites >invites.none &&
	test_must_be_empty invites.none &&
	ipfsn B threads invites --enc=json | jq -e ".Invites == []" &&
	test_must_fail ipfsn B threads info "$T" 2>err &&
	test_grep_i err "thread not found"
'

test_expect_success 'invite (text) prints one line: the invite' '
	ipfsn A threads invite "$T" "$BID" >invite.txt 2>err &&
	test_line_count_is invite.txt 1 &&
	grep -Eq "^b[a-z2-7]{100,}\$" invite.txt
'

test_expect_success 'invite --enc=json: Delivered true, Role write, Thread, Peer' '
	ipfsn A threads invite "$T" "$BID" --enc=json >invite.json &&
	jq -e ".Delivered == true" invite.json &&
	jq -e ".Role == \"write\"" invite.json &&
	jq -e --arg t "$T" ".Thread == \$t" invite.json &&
	jq -e --arg p "$BID" ".Peer == \$p" invite.json &&
	INV=$(jq -r .Invite invite.json) &&
	grep -Eq "^b[a-z2-7]{100,}\$" <<<"$INV"
'

test_expect_success 'B: invites --enc=json lists the invite, with the thread and A as sender' '
	ipfsn B threads invites --enc=json >invites.json &&
	jq -e "(.Invites | length) == 1" invites.json &&
	jq -e --arg t "$T" ".Invites[0].Thread == \$t" invites.json &&
	jq -e --arg a "$AID" ".Invites[0].From == \$a" invites.json &&
	jq -e ".Invites[0].Role == \"write\"" invites.json &&
	jq -e ".Invites[0].Received | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T\")" invites.json &&
	RINV=$(jq -r ".Invites[0].Invite" invites.json) &&
	test_cmp_str "$INV" "$RINV"
'

test_expect_success 'B: invites (text): thread, role and sender, then the invite' '
	ipfsn B threads invites >invites.txt &&
	test_line_count_is invites.txt 2 &&
	printf "%s\twrite\tfrom %s\n%s\n" "$T" "$AID" "$RINV" >invites.want &&
	test_cmp invites.want invites.txt
'

test_expect_success 'B joins with the delivered invite: prints the thread ID' '
	ipfsn B threads join "$RINV" >join.out &&
	echo "$T" >join.want &&
	test_cmp join.want join.out
'

test_expect_success 'B: the joined thread is no longer among the invites' '
	ipfsn B threads invites --enc=json | jq -e ".Invites == []"
'

test_expect_success 'B: info shows the keys of a writer and a log of its own' '
	ipfsn B threads info "$T" --enc=json >b.info &&
	jq -e ".Keys.Follow == true and .Keys.Read == true" b.info &&
	BLOG=$(jq -r .Keys.Log b.info) &&
	test -n "$BLOG" && test "$BLOG" != null && test "$BLOG" != "$ALOG" &&
	jq -e --arg l "$BLOG" "[.Logs[] | select(.ID == \$l and .Own)] | length == 1" b.info
'

# b_has_a_events: B's log holds A's three events, CIDs in order.
b_has_a_events() {
	ipfsn B threads log "$T" --log "$ALOG" --enc=json >b.alog 2>/dev/null &&
		jq -r .Cid b.alog >b.acids &&
		cmp -s a.cids b.acids
}

test_expect_success 'B: log eventually shows the three events of A' '
	wait_until "$WAIT_TIMEOUT" "B to have A events" b_has_a_events
'

test_expect_success 'B: the three bodies decrypt to what A added' '
	for i in 1 2 3; do
		jq -r "select(.Seq == $i) | .Body" b.alog | base64 -d >b.body.$i &&
		cmp body.$i b.body.$i || return 1
	done &&
	ipfsn B threads log "$T" >b.log.txt &&
	test_line_count_is b.log.txt 3 &&
	cut -f5 b.log.txt >b.bodies &&
	printf "\"event %s from A\\\\n\"\n" 1 2 3 >b.bodies.want &&
	test_cmp b.bodies.want b.bodies
'

test_expect_success 'B adds an event to its own log (seq 1)' '
	echo "event from B" >body.b &&
	ipfsn B threads add --enc=json "$T" body.b >b.add &&
	jq -e --arg l "$BLOG" ".Seq == 1 and .Log == \$l" b.add &&
	BCID=$(jq -r .Cid b.add)
'

# a_has_b_event: A's log holds B's event.
a_has_b_event() {
	ipfsn A threads log "$T" --log "$BLOG" --enc=json >a.blog 2>/dev/null &&
		test "$(jq -r .Cid a.blog)" = "$BCID"
}

test_expect_success 'A: log eventually shows B event' '
	wait_until "$WAIT_TIMEOUT" "A to have B event" a_has_b_event &&
	jq -r .Body a.blog | base64 -d >a.body.b &&
	cmp body.b a.body.b
'

test_expect_success 'A: info shows two logs, A own at seq 3, B at seq 1' '
	ipfsn A threads info "$T" --enc=json >a.info &&
	jq -e "(.Logs | length) == 2" a.info &&
	jq -e --arg l "$ALOG" "[.Logs[] | select(.ID == \$l and .Own and .Seq == 3)] | length == 1" a.info &&
	jq -e --arg l "$BLOG" "[.Logs[] | select(.ID == \$l and (.Own | not) and .Seq == 1)] | length == 1" a.info &&
	ipfsn A threads log "$T" >a.log.txt &&
	test_line_count_is a.log.txt 4
'

test_expect_success 'B: info shows the same two logs at the same seqs' '
	ipfsn B threads info "$T" --enc=json >b.info2 &&
	jq -S "[.Logs[] | {ID, Seq, Head}] | sort_by(.ID)" a.info >a.heads &&
	jq -S "[.Logs[] | {ID, Seq, Head}] | sort_by(.ID)" b.info2 >b.heads &&
	test_cmp a.heads b.heads
'

test_expect_success 'joining again fails: B already holds the thread' '
	test_must_fail ipfsn B threads join "$INV" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "already holds the thread"
'

# addrs_lists NODE LOG PEER: NODE's address book for T says PEER serves LOG.
addrs_lists() {
	ipfsn "$1" threads addrs "$T" --enc=json >addrs.$1.json &&
		jq -e --arg l "$2" --arg p "$3" \
			"[.Addrs[] | select(.Log == \$l and .Peer == \$p)] | length >= 1" \
			addrs.$1.json >/dev/null
}

test_expect_success 'A: addrs --enc=json eventually says B serves its log' '
	wait_until "$WAIT_TIMEOUT" "A addrs to list B log at B" addrs_lists A "$BLOG" "$BID"
'

test_expect_success 'A: addrs entries have Log, Peer, Addrs (B loopback) and a future Expires' '
	jq -e "(.Addrs | length) >= 1" addrs.A.json &&
	jq -e "all(.Addrs[]; (.Log | type) == \"string\" and (.Peer | type) == \"string\" and (.Addrs | type) == \"array\" and (.Expires | type) == \"string\")" addrs.A.json &&
	jq -e --arg a "$AID" "all(.Addrs[]; .Peer != \$a)" addrs.A.json &&
	BADDR=$(node_addr B) &&
	jq -e --arg l "$BLOG" --arg p "$BID" --arg ma "${BADDR%/p2p/*}" \
		"[.Addrs[] | select(.Log == \$l and .Peer == \$p) | .Addrs[] | select(. == \$ma)] | length >= 1" addrs.A.json &&
	now=$(date -u +%Y-%m-%dT%H:%M:%S) &&
	jq -e --arg now "$now" "all(.Addrs[]; .Expires > \$now)" addrs.A.json
'

test_expect_success 'B: addrs --enc=json says A serves its log, at A address' '
	wait_until "$WAIT_TIMEOUT" "B addrs to list A log at A" addrs_lists B "$ALOG" "$AID" &&
	AADDR=$(node_addr A) &&
	jq -e --arg l "$ALOG" --arg p "$AID" --arg ma "${AADDR%/p2p/*}" \
		"[.Addrs[] | select(.Log == \$l and .Peer == \$p) | .Addrs[] | select(. == \$ma)] | length >= 1" addrs.B.json &&
	jq -e --arg b "$BID" "all(.Addrs[]; .Peer != \$b)" addrs.B.json
'

test_expect_success 'addrs (text): "LOG<tab>PEER<tab>expires TIME" then indented addresses' '
	for n in A B; do
		ipfsn $n threads addrs "$T" >addrs.$n.txt &&
		ipfsn $n threads addrs "$T" --enc=json >addrs.$n.json &&
		jq -r ".Addrs[] | \"\(.Log)\t\(.Peer)\texpires \(.Expires | sub(\"\\\\.[0-9]+\"; \"\"))\", (.Addrs[] | \"  \" + .)" addrs.$n.json >addrs.$n.want &&
		test_cmp addrs.$n.want addrs.$n.txt &&
		grep -Eq "^[^[:space:]]+[[:space:]][^[:space:]]+[[:space:]]expires [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\$" addrs.$n.txt &&
		grep -Eq "^  /ip4/127\.0\.0\.1/tcp/[0-9]+\$" addrs.$n.txt || return 1
	done
'

test_expect_success 'addrs of a thread without peers is empty' '
	U=$(ipfsn A threads create) &&
	ipfsn A threads addrs "$U" >u.addrs &&
	test_must_be_empty u.addrs &&
	ipfsn A threads addrs "$U" --enc=json | jq -e ".Addrs == []"
'

test_expect_success 'stop both daemons' '
	node_stop B &&
	node_stop A
'

test_done
