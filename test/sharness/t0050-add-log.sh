#!/usr/bin/env bash
test_description='ipfs threads add and ipfs threads log'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'create a thread' '
	T=$(ipfs threads create) &&
	LOG=$(ipfs threads info "$T" --enc=json | jq -r .Keys.Log) &&
	test -n "$LOG"
'

test_expect_success 'add from a file prints "CID 1"' '
	printf "first event\n" >body1 &&
	ipfs threads add "$T" body1 >add1 &&
	test_line_count_is add1 1 &&
	grep -Eq "^[a-z0-9]+ 1\$" add1 &&
	C1=$(cut -d" " -f1 add1)
'

test_expect_success 'add from stdin prints "CID 2"' '
	printf "second event\n" >body2 &&
	ipfs threads add "$T" <body2 >add2 &&
	grep -Eq "^[a-z0-9]+ 2\$" add2 &&
	C2=$(cut -d" " -f1 add2)
'

test_expect_success 'add --quiet prints only the CID (seq 3)' '
	printf "third event" >body3 &&
	ipfs threads add --quiet "$T" body3 >add3 &&
	test_line_count_is add3 1 &&
	grep -Eq "^[a-z0-9]+\$" add3 &&
	C3=$(cat add3)
'

test_expect_success 'add -q from stdin prints only the CID (seq 4)' '
	printf "fourth event\n" | ipfs threads add -q "$T" >add4 &&
	grep -Eq "^[a-z0-9]+\$" add4 &&
	C4=$(cat add4)
'

test_expect_success 'add --enc=json prints Cid, Seq and Log (seq 5)' '
	printf "{\"fifth\": true}" >body5 &&
	ipfs threads add --enc=json "$T" body5 >add5.json &&
	jq -e ".Seq == 5" add5.json &&
	jq -e --arg log "$LOG" ".Log == \$log" add5.json &&
	C5=$(jq -r .Cid add5.json) &&
	test -n "$C5" && test "$C5" != null
'

test_expect_success 'every CID is distinct' '
	printf "%s\n" "$C1" "$C2" "$C3" "$C4" "$C5" | sort -u >cids &&
	test_line_count_is cids 5
'

test_expect_success 'the same body twice makes two events (seq 6 and 7)' '
	ipfs threads add "$T" body1 >add6 &&
	ipfs threads add "$T" body1 >add7 &&
	grep -q " 6\$" add6 &&
	grep -q " 7\$" add7 &&
	C6=$(cut -d" " -f1 add6) &&
	C7=$(cut -d" " -f1 add7) &&
	test "$C6" != "$C7" &&
	test "$C6" != "$C1"
'

test_expect_success 'info shows seq 7 and the last CID as head' '
	ipfs threads info "$T" --enc=json >info.json &&
	jq -e ".Logs[0].Seq == 7" info.json &&
	jq -e --arg h "$C7" ".Logs[0].Head == \$h" info.json
'

test_expect_success 'log (text): one line per event in seq order' '
	ipfs threads log "$T" >log.txt &&
	test_line_count_is log.txt 7 &&
	cut -f2 log.txt >seqs &&
	test_seq 1 7 >seqs.want &&
	test_cmp seqs.want seqs &&
	cut -f1 log.txt | sort -u >logs &&
	echo "$LOG" >logs.want &&
	test_cmp logs.want logs &&
	cut -f3 log.txt >cids.log &&
	printf "%s\n" "$C1" "$C2" "$C3" "$C4" "$C5" "$C6" "$C7" >cids.want &&
	test_cmp cids.want cids.log
'

test_expect_success 'log (text): time is RFC 3339, printable bodies as is, others quoted' '
	cut -f4 log.txt | grep -Ev "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\$" >badtimes;
	test_must_be_empty badtimes &&
	test "$(sed -n 3p log.txt | cut -f5)" = "third event" &&
	test "$(sed -n 5p log.txt | cut -f5)" = "{\"fifth\": true}" &&
	test "$(sed -n 1p log.txt | cut -f5)" = "\"first event\\n\""
'

test_expect_success 'log --enc=json: one object per event with Log, Seq, Cid, Time, Body' '
	ipfs threads log "$T" --enc=json >log.json &&
	jq -s -e "length == 7" log.json &&
	jq -s -e "[.[].Seq] == [1,2,3,4,5,6,7]" log.json &&
	jq -s -e --arg log "$LOG" "all(.[]; .Log == \$log)" log.json &&
	jq -s -e "all(.[]; (.Time | type) == \"string\" and (.Body | type) == \"string\")" log.json &&
	jq -r .Cid log.json >cids.json &&
	test_cmp cids.want cids.json
'

test_expect_success 'log --enc=json: base64 bodies decode to exactly what was added' '
	n=1 &&
	for f in body1 body2 body3 - body5 body1 body1; do
		jq -r "select(.Seq == $n) | .Body" log.json | base64 -d >got.$n || return 1
		if test "$f" = -; then
			printf "fourth event\n" >want.$n
		else
			cp "$f" want.$n
		fi
		cmp want.$n got.$n || return 1
		n=$((n + 1))
	done
'

test_expect_success 'log --since 4: only events after seq 4' '
	ipfs threads log "$T" --since 4 --enc=json | jq -s -c "[.[].Seq]" >since4 &&
	echo "[5,6,7]" >since4.want &&
	test_cmp since4.want since4 &&
	ipfs threads log "$T" --since 4 | cut -f2 >since4.txt &&
	printf "5\n6\n7\n" >since4.txt.want &&
	test_cmp since4.txt.want since4.txt
'

test_expect_success 'log --since 0 is everything, --since 7 and beyond is nothing' '
	ipfs threads log "$T" --since 0 --enc=json | jq -s -e "length == 7" &&
	ipfs threads log "$T" --since 7 >since7 &&
	test_must_be_empty since7 &&
	ipfs threads log "$T" --since 100 >since100 &&
	test_must_be_empty since100
'

test_expect_success 'log --limit 3: the first three events' '
	ipfs threads log "$T" --limit 3 --enc=json | jq -s -c "[.[].Seq]" >limit3 &&
	echo "[1,2,3]" >limit3.want &&
	test_cmp limit3.want limit3
'

test_expect_success 'log --limit 0 is all, --limit 100 is all' '
	ipfs threads log "$T" --limit 0 | wc -l | grep -q "^ *7\$" &&
	ipfs threads log "$T" --limit 100 | wc -l | grep -q "^ *7\$"
'

test_expect_success 'log --since 2 --limit 2: seq 3 and 4' '
	ipfs threads log "$T" --since 2 --limit 2 --enc=json | jq -s -c "[.[].Seq]" >sl &&
	echo "[3,4]" >sl.want &&
	test_cmp sl.want sl
'

test_expect_success 'log --limit -1 fails' '
	test_must_fail ipfs threads log "$T" --limit=-1 >out 2>err &&
	test_must_be_empty out &&
	test -s err
'

test_expect_success 'log --log with our own log ID: every event' '
	ipfs threads log "$T" --log "$LOG" >own.txt &&
	test_cmp log.txt own.txt
'

test_expect_success 'log --log with a malformed log ID fails' '
	test_must_fail ipfs threads log "$T" --log not-a-log-id >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "log ID"
'

test_expect_success 'log --log with a well-formed log ID not in the thread fails' '
	PEER=$(ipfs id -f="<id>") &&
	test "$PEER" != "$LOG" &&
	test_must_fail ipfs threads log "$T" --log "$PEER" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "not found"
'

test_expect_success 'another thread has its own seqs, starting at 1' '
	U=$(ipfs threads create) &&
	echo other | ipfs threads add "$U" >u1 &&
	grep -q " 1\$" u1 &&
	ipfs threads log "$U" >ulog &&
	test_line_count_is ulog 1 &&
	ipfs threads log "$T" | wc -l | grep -q "^ *7\$"
'

test_expect_success 'log of a thread without events is empty' '
	V=$(ipfs threads create) &&
	ipfs threads log "$V" >vlog &&
	test_must_be_empty vlog &&
	ipfs threads log "$V" --enc=json >vlog.json &&
	test_must_be_empty vlog.json
'

test_expect_success 'a multi-line, tab and unicode body round-trips through log --enc=json' '
	printf "line one\n\tline two \342\234\223\n" >body.ml &&
	ipfs threads add -q "$V" body.ml >cml &&
	ipfs threads log "$V" --enc=json | jq -r .Body | base64 -d >got.ml &&
	cmp body.ml got.ml &&
	ipfs threads log "$V" >vlog.txt &&
	test_line_count_is vlog.txt 1
'

test_kill_daemon

test_done
