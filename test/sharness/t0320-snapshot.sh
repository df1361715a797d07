#!/usr/bin/env bash
test_description="ipfs threads snapshot, compact and info: snapshots agree across nodes (the same pages; each node signs its root), a joiner starts from its inviter's, compaction survives repo gc"
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s", "SnapshotInterval": 100}'
UNKNOWN=bafku2afr5utflszh7unixsgd3o2xzjq7neovs5ycub5diwbktygzvxy

test_expect_success 'snapshot and compact help' '
	for sub in snapshot compact; do
		ipfs threads $sub --help >help.out || return 1
		grep -q "^USAGE" help.out || return 1
	done &&
	ipfs threads join --help | grep -q -- "--snapshot"
'

test_expect_success 'init and start nodes A and B, connected' '
	node_init A "$CFG" && node_init B "$CFG" &&
	node_start A && node_start B &&
	node_connect A B
'

test_expect_success 'bad input: bad thread ID, unknown thread, no snapshot yet' '
	test_must_fail ipfsn A threads snapshot garbage 2>err1 &&
	test_grep_i err1 "thread" &&
	test_must_fail ipfsn A threads snapshot $UNKNOWN 2>err2 &&
	test_grep_i err2 "not found" &&
	test_must_fail ipfsn A threads compact $UNKNOWN 2>err3 &&
	test_grep_i err3 "not found" &&
	T=$(ipfsn A threads create) &&
	test_must_fail ipfsn A threads snapshot "$T" 2>err4 &&
	test_grep_i err4 "no snapshot" &&
	test_must_fail ipfsn A threads compact "$T" 2>err5 &&
	test_grep_i err5 "no snapshot"
'

test_expect_success 'B joins as a writer; A writes 150 events' '
	INV=$(ipfsn A threads invite "$T" "$(node_id B)" --role write) &&
	ipfsn B threads join "$INV" &&
	for i in $(seq 1 150); do
		ipfsn A threads kv put "$T" "k$((i % 20))" "v$i" >/dev/null || return 1
	done
'

snap_root() {
	ipfsn "$1" threads snapshot "$T" --enc=json 2>/dev/null | jq -r .Root
}
# snap_pages NODE ROOT: the page links of a snapshot root, one line.
snap_pages() {
	ipfsn "$1" dag get "$2" | jq -c "[.l[][]]"
}
# Each node signs its own root (the root names its maker); the pages of
# the same state are the same.
same_auto_snapshot() {
	ra=$(snap_root A) && rb=$(snap_root B) &&
	test -n "$ra" && test "$ra" != "$rb" &&
	test "$(snap_pages A "$ra")" = "$(snap_pages B "$rb")" &&
	ipfsn A threads snapshot "$T" --enc=json | jq -e ".Events == 100" >/dev/null
}

test_expect_success 'A and B took snapshots of the same pages at 100 events' '
	wait_until "$WAIT_TIMEOUT" "the same snapshot pages on A and B" same_auto_snapshot
'

test_expect_success 'snapshot --create takes one at every event: same pages on both, same root again' '
	same_view() {
		ipfsn A threads kv ls "$T" >a.view && ipfsn B threads kv ls "$T" >b.view &&
		test_cmp a.view b.view >/dev/null 2>&1 && grep -q "v150" a.view
	} &&
	wait_until "$WAIT_TIMEOUT" "B to hold every event" same_view &&
	ipfsn A threads snapshot "$T" --create --enc=json >sa.json &&
	ipfsn B threads snapshot "$T" --create --enc=json >sb.json &&
	jq -e ".Events == 150 and .Entries == 20" sa.json &&
	test "$(jq -r .Maker sa.json)" = "$(node_id A)" &&
	test "$(jq -r .Maker sb.json)" = "$(node_id B)" &&
	test "$(snap_pages A "$(jq -r .Root sa.json)")" = "$(snap_pages B "$(jq -r .Root sb.json)")" &&
	ipfsn A threads snapshot "$T" --create --enc=json >sa2.json &&
	test "$(jq -r .Root sa.json)" = "$(jq -r .Root sa2.json)" &&
	ipfsn A threads snapshot "$T" >snap.txt &&
	grep -q "^Root: *$(jq -r .Root sa.json)" snap.txt &&
	grep -q "^Maker: *$(node_id A)" snap.txt
'

test_expect_success 'compact drops what the snapshot covers; info shows it; views the same' '
	ipfsn A threads kv ls "$T" >before &&
	ipfsn A threads compact "$T" --enc=json >compact.json &&
	jq -e "[.Logs[] | select(.Events > 0)] | length == 1 and .[0].Base == 150 and .[0].Events == 150 and .[0].Bytes > 0" compact.json &&
	ipfsn A threads info "$T" --enc=json | jq -e "[.Logs[] | select(.Own)] | .[0].Base == 150 and .[0].CompactedEvents == 150" &&
	ipfsn A threads info "$T" | grep -q "base: 150" &&
	ipfsn A threads kv ls "$T" >after &&
	test_cmp before after &&
	ipfsn A threads compact "$T" >again &&
	test_grep_i again "nothing to compact"
'

test_expect_success 'repo gc works after compaction and the views stay the same' '
	ipfsn A repo gc >gc.out &&
	ipfsn A threads view rebuild "$T" &&
	ipfsn A threads kv ls "$T" >after.gc &&
	test_cmp before after.gc &&
	ipfsn A threads kv put "$T" more yes &&
	test "$(ipfsn A threads kv get "$T" more)" = "yes"
'

test_expect_success 'a third node joins from the snapshot and sees the same view' '
	node_init C "$CFG" && node_start C && node_connect C A &&
	INV=$(ipfsn A threads invite "$T" "$(node_id C)" --role write) &&
	ipfsn C threads join "$INV" &&
	same_c() {
		ipfsn A threads kv ls "$T" >a.view && ipfsn C threads kv ls "$T" >c.view &&
		test_cmp a.view c.view >/dev/null 2>&1
	} &&
	wait_until "$WAIT_TIMEOUT" "C to hold the same view" same_c &&
	ipfsn C threads info "$T" --enc=json | jq -e "[.Logs[] | select(.Seq > 0)] | .[0].Base == 150"
'

test_done
