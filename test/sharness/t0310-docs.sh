#!/usr/bin/env bash
test_description='ipfs threads docs: collections, schemas, indexes, queries, change streams, across two nodes'
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s"}'
SCHEMA='{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}'

test_expect_success 'docs help' '
	for sub in docs "docs collection" "docs collection add" "docs collection ls" "docs index" \
		"docs index add" "docs index rm" "docs put" "docs get" "docs del" "docs query" "docs listen"; do
		ipfs threads $sub --help >help.out || return 1
		grep -q "^USAGE" help.out || return 1
	done &&
	ipfs threads docs query --help | grep -q "\$gt"
'

test_expect_success 'init and start nodes A and B, connected' '
	node_init A "$CFG" && node_init B "$CFG" &&
	node_start A && node_start B &&
	node_connect A B
'

test_expect_success 'A declares a collection with a schema and one without' '
	T=$(ipfsn A threads create) &&
	ipfsn A threads docs collection add "$T" people --schema "$SCHEMA" >add.out &&
	test_grep_i add.out "declared collection people" &&
	ipfsn A threads docs collection add "$T" notes &&
	ipfsn A threads docs collection ls "$T" >ls.out &&
	printf "notes\t-\tno schema\npeople\t-\tschema\n" >ls.exp &&
	test_cmp ls.exp ls.out &&
	ipfsn A threads docs collection ls "$T" --enc=json | jq -e "select(.Name == \"people\") | .Schema.required == [\"name\"]"
'

test_expect_success 'put prints IDs: given, made up, several at once, from stdin' '
	ipfsn A threads docs put "$T" people "{\"_id\":\"ann\",\"name\":\"Ann\",\"age\":31,\"addr\":{\"city\":\"Oslo\"}}" >put.out &&
	test "$(cat put.out)" = "ann" &&
	ipfsn A threads docs put "$T" people "{\"name\":\"Nobody\"}" >gen.out &&
	test "$(wc -c <gen.out)" -gt 30 &&
	ipfsn A threads docs put "$T" people "[{\"_id\":\"bob\",\"name\":\"Bob\",\"age\":25,\"addr\":{\"city\":\"Rome\"}},{\"_id\":\"cid\",\"name\":\"Cid\",\"age\":35,\"addr\":{\"city\":\"Oslo\"}}]" >arr.out &&
	printf "bob\ncid\n" >arr.exp && test_cmp arr.exp arr.out &&
	echo "{\"_id\":\"n1\",\"text\":\"from stdin\"}" | ipfsn A threads docs put "$T" notes >stdin.out &&
	test "$(cat stdin.out)" = "n1"
'

test_expect_success 'get prints the document with sorted keys' '
	ipfsn A threads docs get "$T" people ann >get.out &&
	echo "{\"_id\":\"ann\",\"addr\":{\"city\":\"Oslo\"},\"age\":31,\"name\":\"Ann\"}" >get.exp &&
	test_cmp get.exp get.out &&
	ipfsn A threads docs get "$T" people ann --enc=json | jq -e ".age == 31"
'

test_expect_success 'query: equality, range, $in, nested, $or, sort, limit, skip' '
	ids() { jq -r ._id | tr "\n" " "; } &&
	test "$(ipfsn A threads docs query "$T" people "{\"age\":{\"\$gt\":26}}" | ids)" = "ann cid " &&
	test "$(ipfsn A threads docs query "$T" people "{\"addr.city\":\"Oslo\"}" | ids)" = "ann cid " &&
	test "$(ipfsn A threads docs query "$T" people "{\"age\":{\"\$in\":[25,35]}}" | ids)" = "bob cid " &&
	test "$(ipfsn A threads docs query "$T" people "{\"\$or\":[{\"age\":25},{\"name\":\"Ann\"}]}" | ids)" = "ann bob " &&
	test "$(ipfsn A threads docs query "$T" people "{\"age\":{\"\$ge\":0}}" --sort=-age | ids)" = "cid ann bob " &&
	test "$(ipfsn A threads docs query "$T" people "{\"age\":{\"\$ge\":0}}" --sort=age --skip=1 --limit=1 | ids)" = "ann " &&
	ipfsn A threads docs query "$T" people --enc=json | jq -e ".Docs | length == 4"
'

test_expect_success 'an index is backfilled and used; --explain says so' '
	ipfsn A threads docs query "$T" people "{\"age\":31}" --explain >plan0.out &&
	test_grep_i plan0.out "plan: full scan \\(1 documents\\)" &&
	ipfsn A threads docs index add "$T" people age >idx.out &&
	test_grep_i idx.out "indexed people on age" &&
	ipfsn A threads docs query "$T" people "{\"age\":31}" --explain >plan1.out &&
	test_grep_i plan1.out "plan: index age [$]eq \\(1 documents\\)" &&
	grep -q "\"_id\":\"ann\"" plan1.out &&
	ipfsn A threads docs query "$T" people "{\"age\":{\"\$lt\":33}}" --enc=json | jq -e ".Plan == \"index age range\" and (.Docs | length == 2)" &&
	ipfsn A threads docs collection ls "$T" | grep -q "^people	age	schema\$"
'

test_expect_success 'a document breaking the schema is refused with the validation error' '
	test_must_fail ipfsn A threads docs put "$T" people "{\"_id\":\"x\",\"name\":\"X\",\"age\":-3}" 2>schema.err &&
	test_grep_i schema.err "schema" &&
	test_grep_i schema.err "minimum" &&
	test_must_fail ipfsn A threads docs put "$T" people "{\"_id\":\"y\"}" 2>req.err &&
	test_grep_i req.err "name" &&
	test_must_fail ipfsn A threads docs get "$T" people x
'

test_expect_success 'bad input fails with a clear message' '
	test_must_fail ipfsn A threads docs put "$T" people "{\"name\":" 2>e1 && test_grep_i e1 "malformed JSON" &&
	test_must_fail ipfsn A threads docs put "$T" people "[1,2" 2>e2 && test_grep_i e2 "malformed" &&
	test_must_fail ipfsn A threads docs put "$T" people "\"str\"" 2>e3 && test_grep_i e3 "JSON object" &&
	test_must_fail ipfsn A threads docs put "$T" people "{\"_id\":7,\"name\":\"n\"}" 2>e4 && test_grep_i e4 "_id" &&
	test_must_fail ipfsn A threads docs put "$T" nosuch "{}" 2>e5 && test_grep_i e5 "unknown collection" &&
	test_must_fail ipfsn A threads docs get "$T" nosuch ann 2>e6 && test_grep_i e6 "unknown collection" &&
	test_must_fail ipfsn A threads docs query "$T" nosuch 2>e7 && test_grep_i e7 "unknown collection" &&
	test_must_fail ipfsn A threads docs query "$T" people "{\"age\":{\"\$regex\":1}}" 2>e8 && test_grep_i e8 "unknown operator" &&
	test_must_fail ipfsn A threads docs query "$T" people "{nope" 2>e9 && test_grep_i e9 "bad query" &&
	test_must_fail ipfsn A threads docs query "$T" people --limit=-1 2>e10 && test_grep_i e10 "bad query" &&
	test_must_fail ipfsn A threads docs collection add "$T" "bad name" 2>e11 && test_grep_i e11 "collection names" &&
	test_must_fail ipfsn A threads docs collection add "$T" c2 --schema "{\"type\":3}" 2>e12 && test_grep_i e12 "schema" &&
	test_must_fail ipfsn A threads docs collection add "$T" c3 --schema "{\"\$ref\":\"http://example.com/s\"}" 2>e13 && test_grep_i e13 "not allowed" &&
	test_must_fail ipfsn A threads docs index add "$T" people "a..b" 2>e14 && test_grep_i e14 "field path" &&
	test_must_fail ipfsn A threads docs index add "$T" nosuch age 2>e15 && test_grep_i e15 "unknown collection" &&
	test_must_fail ipfsn A threads docs del "$T" people nothere 2>e16 && test_grep_i e16 "not found" &&
	test_must_fail ipfsn A threads docs get garbage people ann 2>e17 &&
	test_must_fail ipfsn A threads docs listen "$T" nosuch 2>e18 && test_grep_i e18 "unknown collection"
'

test_expect_success 'B joins; writes on both; the same query results on both' '
	INV=$(ipfsn A threads invite "$T" "$(node_id B)") &&
	ipfsn B threads join "$INV" &&
	caught_up() { ipfsn B threads docs get "$T" people ann >/dev/null 2>&1; } &&
	wait_until "$WAIT_TIMEOUT" "B to have the documents" caught_up &&
	ipfsn B threads docs put "$T" people "{\"_id\":\"dan\",\"name\":\"Dan\",\"age\":50}" &&
	ipfsn A threads docs put "$T" people "{\"_id\":\"eve\",\"name\":\"Eve\",\"age\":20}" &&
	same_results() {
		ipfsn A threads docs query "$T" people "{\"age\":{\"\$ge\":20}}" --sort=-age >a.q &&
		ipfsn B threads docs query "$T" people "{\"age\":{\"\$ge\":20}}" --sort=-age >b.q &&
		test_cmp a.q b.q >/dev/null 2>&1 && test "$(wc -l <a.q)" -eq 5
	} &&
	wait_until "$WAIT_TIMEOUT" "A and B to return the same documents" same_results &&
	ipfsn B threads docs query "$T" people "{\"age\":50}" --explain | grep -q "index age"
'

docs_listen() {
	_node=$1 _out=$2
	shift 2
	IPFS_PATH=$(node_path "$_node") ipfs threads docs listen "$@" >"$_out" 2>"$_out.err" </dev/null 3>&- 4>&- 5>&- 6>&- &
	LISTEN_PID=$!
	lib_track_pid "$LISTEN_PID"
}

test_expect_success 'docs listen on B streams creates, updates and deletes, from both writers' '
	docs_listen B changes.json "$T" people --enc=json &&
	wait_lines changes.json 6 &&
	ipfsn A threads docs put "$T" people "{\"_id\":\"ann\",\"name\":\"Ann\",\"age\":32}" &&
	ipfsn B threads docs del "$T" people bob &&
	wait_lines changes.json 8 &&
	jq -r "\"\(.Type) \(._id // .ID)\"" changes.json | tail -n 2 >tail.out &&
	printf "update ann\ndelete bob\n" >tail.exp &&
	test_cmp tail.exp tail.out &&
	# Changes are numbered per thread: 5 is the note, in another collection.
	jq -s -e "map(.Seq) == [1,2,3,4,6,7,8,9]" changes.json &&
	stop_listener "$LISTEN_PID" changes.json
'

test_expect_success 'docs listen --since resumes after a change number' '
	docs_listen B since.out "$T" people --since 7 &&
	wait_lines since.out 2 &&
	stop_listener "$LISTEN_PID" since.out &&
	cut -f1,2,3 since.out >since.got &&
	printf "8\tupdate\tann\n9\tdelete\tbob\n" >since.exp &&
	test_cmp since.exp since.got
'

test_expect_success 'view rebuild and restart keep the same documents' '
	ipfsn A threads docs query "$T" people --sort=name >before &&
	ipfsn A threads view rebuild "$T" &&
	ipfsn A threads docs query "$T" people --sort=name >after &&
	test_cmp before after &&
	node_stop A && node_start A &&
	ipfsn A threads docs query "$T" people --sort=name >after.restart &&
	test_cmp before after.restart &&
	ipfsn A threads docs query "$T" people "{\"age\":32}" --explain | grep -q "index age"
'

test_done
