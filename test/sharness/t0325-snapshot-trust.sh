#!/usr/bin/env bash
test_description="snapshot trust: a join with --snapshot=false gets the whole history or a clear error, never a truncated log; a reader's forged snapshot is never loaded"
# sharness moves HOME into the trash directory: keep the Go build and
# module caches where they are, so that building the attacker is a link.
if command -v go >/dev/null; then
	GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE)
	export GOCACHE GOMODCACHE
fi
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s"}'

command -v go >/dev/null && test_set_prereq GO

# log_of NODE THREAD LOG: the log's entry of `threads info --enc=json`.
log_of() {
	ipfsn "$1" threads info "$2" --enc=json | jq -c --arg l "$3" '.Logs[] | select(.ID == $l)'
}

# thread_count_events_on NODE THREAD: events `threads log` lists.
thread_count_events_on() {
	ipfsn "$1" threads log "$2" --enc=json | jq -s length
}

test_expect_success 'init and start nodes A, B and C; B connected to A' '
	node_init A "$CFG" && node_init B "$CFG" && node_init C "$CFG" &&
	node_start A && node_start B && node_start C &&
	node_connect B A
'

test_expect_success 'A writes 1,103 events; its views snapshot at 1000' '
	T=$(ipfsn A threads create) &&
	ALOG=$(ipfsn A threads info "$T" --enc=json | jq -r .Keys.Log) &&
	API=http://$(IPFS_PATH=$(node_path A) api_hostport)/api/v0 &&
	seq 1 1103 | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "$API/threads/kv/put?arg=$T&arg=k{}&arg=v{}" &&
	a_snapshot_at_1000() {
		ipfsn A threads snapshot "$T" --enc=json 2>/dev/null | jq -e ".Events == 1000" >/dev/null
	} &&
	wait_until "$WAIT_TIMEOUT" "A to snapshot at 1000 events" a_snapshot_at_1000
'

test_expect_success 'B joins from the snapshot: its log of A starts at 1000' '
	ipfsn B threads join "$(ipfsn A threads invite "$T" "$(node_id B)" --role write)" &&
	b_from_snapshot() {
		log_of B "$T" "$ALOG" | jq -e ".Seq == 1103 and .Base == 1000" >/dev/null
	} &&
	wait_until "$WAIT_TIMEOUT" "B to hold the log of A from 1000" b_from_snapshot
'

test_expect_success 'A down, C joins through B with --snapshot=false: blocked, nothing truncated' '
	node_connect C B &&
	INV=$(ipfsn B threads invite "$T" "$(node_id C)" --role write) &&
	node_stop A &&
	ipfsn C threads join --snapshot=false "$INV" &&
	c_blocked() {
		log_of C "$T" "$ALOG" | jq -e ".CatchUp != null" >/dev/null
	} &&
	wait_until "$WAIT_TIMEOUT" "C to report the blocked catch-up" c_blocked &&
	log_of C "$T" "$ALOG" >c.log.json &&
	jq -e --arg b "$(node_id B)" ".Seq == 0 and .Base == 0 and .CatchUp.Peers == [{\"Peer\": \$b, \"Base\": 1000}]" c.log.json &&
	jq -r .CatchUp.Error c.log.json >c.error &&
	grep -q "up to seq 1000" c.error &&
	grep -q "ipfs threads rm $T" c.error &&
	grep -q "join it again with a snapshot" c.error
'

test_expect_success 'the blocked catch-up shows in info, stats and the daemon log' '
	ipfsn C threads info "$T" >c.info &&
	grep -q "blocked: .*$(node_id B) up to seq 1000" c.info &&
	ipfsn C threads stats "$T" --enc=json | jq -e ".BlockedLogs == 1" &&
	ipfsn C threads stats "$T" | grep -q "^Blocked logs: *1" &&
	grep -q "cannot catch up" "$NODE_OUT_C" &&
	test_must_fail ipfsn C threads snapshot "$T" 2>c.snap.err &&
	test_grep_i c.snap.err "no snapshot"
'

test_expect_success 'A back: C holds all 1,103 events from seq 1, the same views' '
	node_start A && node_connect C A &&
	c_whole() {
		log_of C "$T" "$ALOG" | jq -e ".Seq == 1103 and .Base == 0 and .CatchUp == null" >/dev/null
	} &&
	wait_until 90 "C to hold the whole log of A" c_whole &&
	test "$(thread_count_events_on C "$T")" = 1103 &&
	same_views() {
		ipfsn A threads kv ls "$T" >a.view && ipfsn C threads kv ls "$T" >c.view &&
		test_cmp a.view c.view >/dev/null 2>&1
	} &&
	wait_until "$WAIT_TIMEOUT" "C to hold the views of A" same_views
'

test_expect_success GO 'build the attacker' '
	(cd "$THREADS_REPO_ROOT" && go build -o "$SHARNESS_TRASH_DIRECTORY/attacker" ./test/attacker) &&
	ATTACKER=$SHARNESS_TRASH_DIRECTORY/attacker &&
	M=$("$ATTACKER" id -key attacker.key) && test -n "$M"
'

test_expect_success GO 'an access-controlled thread: B reads it, the attacker is invited as a reader' '
	T2=$(ipfsn A threads create --variant acl) &&
	A2LOG=$(ipfsn A threads info "$T2" --enc=json | jq -r .Keys.Log) &&
	for i in 0 1 2 3 4; do
		ipfsn A threads kv put "$T2" "k$i" "v$i" || return 1
	done &&
	node_connect B A &&
	ipfsn B threads join "$(ipfsn A threads invite "$T2" "$(node_id B)" --role write)" &&
	INV2=$(ipfsn A threads invite "$T2" "$M" --role write) &&
	A2SEQ=$(log_of A "$T2" "$A2LOG" | jq .Seq) &&
	b_caught_up() {
		log_of B "$T2" "$A2LOG" | jq -e ".Seq == $A2SEQ" >/dev/null
	} &&
	wait_until "$WAIT_TIMEOUT" "B to hold the log of A" b_caught_up &&
	{ ipfsn B threads kv ls "$T2" && ipfsn B threads acl show "$T2"; } >b.before
'

test_expect_success GO 'the attacker claims A'"'"'s log ahead, answers "compacted", serves a forged admin grant' '
	"$ATTACKER" forge-snapshot -key attacker.key -invite "$INV2" -target "$(node_addr B)" \
		-kv k1=forged -admin -for 2m >attacker.out 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- &
	ATTACKER_PID=$! && lib_track_pid "$ATTACKER_PID" &&
	b_blocked_by_m() {
		log_of B "$T2" "$A2LOG" | jq -e --arg m "$M" "[.CatchUp.Peers[]?.Peer] | index(\$m) != null" >/dev/null
	} &&
	wait_until "$WAIT_TIMEOUT" "B to report the attacker" b_blocked_by_m &&
	grep -q "^answered compacted" attacker.out
'

test_expect_success GO 'B never asked for the snapshot; its views, ACL and logs are unchanged' '
	! grep -q "asked snapshot\|asked blocks" attacker.out &&
	{ ipfsn B threads kv ls "$T2" && ipfsn B threads acl show "$T2"; } >b.after &&
	test_cmp b.before b.after &&
	test "$(ipfsn B threads kv get "$T2" k1)" = v1 &&
	ipfsn B threads acl show "$T2" | grep "$M" | grep -qv "\*" &&
	log_of B "$T2" "$A2LOG" | jq -e ".Seq == $A2SEQ and .Base == 0" &&
	test_must_fail ipfsn B threads snapshot "$T2" &&
	grep -q "cannot catch up" "$NODE_OUT_B"
'

test_expect_success GO 'stop the attacker' '
	kill "$ATTACKER_PID" && wait "$ATTACKER_PID" 2>/dev/null; lib_untrack_pid "$ATTACKER_PID"
'

test_done
