#!/usr/bin/env bash
test_description='concurrent adds, with listeners and repo gc running: nothing lost, seqs unique'
. "$(dirname "$0")/lib.sh"

N=300

test_init_ipfs
test_launch_daemon

test_expect_success "make $N distinct bodies (every 10th one 40 KB, not inline)" '
	mkdir bodies &&
	for i in $(test_seq 1 $N); do
		printf "body-%d\n" "$i" >bodies/$i &&
		if test $((i % 10)) = 0; then
			head -c 40000 /dev/urandom >>bodies/$i
		else
			head -c $((i % 97 + 1)) /dev/urandom >>bodies/$i
		fi || return 1
	done &&
	ls bodies | wc -l | grep -q "^ *$N\$"
'

test_expect_success 'create a thread and start a listener on it' '
	T=$(ipfs threads create) &&
	HP=$(api_hostport) &&
	start_listener live.json "$T" --enc=json &&
	LP=$LISTEN_PID
'

test_expect_success "$N adds, 8 at a time over RPC, with repo gc looping alongside" '
	(
		i=0
		while test $i -lt 15; do
			ipfs repo gc >/dev/null 2>>gc.err || echo "gc failed" >>gc.err
			i=$((i + 1))
		done
	) </dev/null 3>&- 4>&- 5>&- 6>&- &
	GP=$! &&
	lib_track_pid "$GP" &&
	test_seq 1 $N |
	xargs -P 8 -I{} curl -s -f -X POST -F "file=@bodies/{}" \
		"http://$HP/api/v0/threads/add?arg=$T" >adds.json &&
	wait_until 120 "the gc loop to end" pid_dead "$GP" &&
	wait "$GP" &&
	lib_untrack_pid "$GP" &&
	test_must_be_empty gc.err
'

test_expect_success "every add answered, with distinct seqs 1..$N and distinct CIDs" '
	jq -s -e "length == $N" adds.json &&
	jq -s -e "[.[].Seq] | sort == [range(1; $N + 1)]" adds.json &&
	jq -r .Cid adds.json | sort -u | wc -l | grep -q "^ *$N\$"
'

test_expect_success 'a final gc, then log returns every event in seq order' '
	ipfs repo gc >/dev/null &&
	timeout 60 ipfs threads log "$T" --enc=json >log.json &&
	jq -s -e "[.[].Seq] == [range(1; $N + 1)]" log.json
'

test_expect_success 'log and the add answers agree on which CID has which seq' '
	jq -s -c "sort_by(.Seq) | [.[] | [.Seq, .Cid]]" adds.json >a.pairs &&
	jq -s -c "[.[] | [.Seq, .Cid]]" log.json >l.pairs &&
	test_cmp a.pairs l.pairs
'

test_expect_success 'every body in the log equals one of the files, each file once' '
	jq -r .Body log.json >bodies.b64 &&
	mkdir got &&
	n=0 &&
	while read -r b; do
		n=$((n + 1))
		printf "%s" "$b" | base64 -d >got/$n || return 1
		name=$(head -n1 got/$n | sed -n "s/^body-\([0-9]*\)\$/\1/p")
		test -n "$name" || { echo "event $n: unexpected body"; return 1; }
		cmp bodies/$name got/$n || return 1
		echo "$name"
	done <bodies.b64 >names &&
	sort -n -u names >names.u &&
	test_seq 1 $N >names.want &&
	test_cmp names.want names.u
'

test_expect_success 'every event block is still in the blockstore after the gcs' '
	jq -r .Cid log.json >cids &&
	ipfs cid format --mc raw -b base32 $(cat cids) | sort >want.raw &&
	ipfs refs local | sort >local &&
	comm -23 want.raw local >missing &&
	test_must_be_empty missing
'

test_expect_success 'the large bodies (own blocks) survived the gcs: cat every 10th' '
	for i in $(test_seq 1 $((N / 10))); do
		s=$((i * 10)) &&
		c=$(jq -r "select(.Seq == $s) | .Cid" log.json) &&
		ipfs threads cat "$T" "$c" >cat.out &&
		name=$(head -n1 cat.out | sed -n "s/^body-\([0-9]*\)\$/\1/p") &&
		cmp bodies/$name cat.out || return 1
	done
'

test_expect_success "the live listener got all $N events, in order, none twice" '
	wait_lines live.json $N &&
	stop_listener "$LP" live.json &&
	jq -s -e "[.[].Seq] == [range(1; $N + 1)]" live.json &&
	jq -r .Cid live.json >live.cids &&
	test_cmp cids live.cids
'

test_expect_success 'a listener started now replays all of them (more than one page)' '
	start_listener replay.json "$T" --enc=json &&
	wait_lines replay.json $N &&
	stop_listener "$LISTEN_PID" replay.json &&
	test_cmp log.json replay.json
'

test_expect_success 'ls and info count them all' '
	ipfs threads ls --enc=json | jq -e --arg t "$T" ".Threads[] | select(.ID == \$t) | .Events == $N" &&
	ipfs threads info "$T" --enc=json | jq -e ".Logs[0].Seq == $N"
'

test_expect_success 'concurrent adds to several threads keep each thread apart' '
	T1=$(ipfs threads create) && T2=$(ipfs threads create) && T3=$(ipfs threads create) &&
	for t in "$T1" "$T2" "$T3"; do
		for i in $(test_seq 1 20); do echo "$t $i"; done
	done |
	xargs -P 6 -L 1 sh -c "printf \"%s %s\\n\" \"\$0\" \"\$1\" | curl -s -f -X POST -F file=@- \"http://$HP/api/v0/threads/add?arg=\$0\"" >multi.json &&
	jq -s -e "length == 60" multi.json &&
	for t in "$T1" "$T2" "$T3"; do
		ipfs threads log "$t" --enc=json >m.json &&
		jq -s -e "[.[].Seq] == [range(1; 21)]" m.json &&
		jq -r .Body m.json | while read -r b; do printf "%s" "$b" | base64 -d; done >m.bodies &&
		cut -d" " -f1 m.bodies | sort -u >m.tids &&
		echo "$t" >m.want &&
		test_cmp m.want m.tids || return 1
	done
'

test_kill_daemon

test_done
