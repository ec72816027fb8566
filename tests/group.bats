#!/usr/bin/env bats
# A replication group: msghash serve in wait mode with --site and --group,
# nodes on 127.0.0.1 started by tests/group.bash (each behind its own
# systemd-socket-activate, with its own store).  Writes go to the master;
# a replica redirects them (307); an acknowledged write survives the loss
# of the master, which another node replaces within 5 s (the issue's bound:
# the only time this file asserts on); a write no quorum holds is 503.
#
# Read-mostly checks share one group (setup_file); every test that injects
# a failure starts its own.  Expected digests come from sha256sum, the
# messages read back are compared by their sha256sum too (byte for byte).
# Only PIDs this file started are signalled (group.bash keeps them).
#
# The network partition test cuts the master's TCP ports with nftables in
# a private network namespace: the test re-executes itself (bats --filter)
# under `unshare -n`, so the host's network and rules are never touched.
# Not root (make distcheck), it runs in a user namespace of its own (unshare -r).

bats_require_minimum_version 1.5.0

load helper
load serve-helper
# shellcheck source=tests/group.bash
source "$MSGHASH_TEST_SRCDIR/tests/group.bash"

# The issue's failover bound, in milliseconds.
FAILOVER_MS=5000

setup_file() {
	# the partition test's inner run needs no shared group
	[[ -z ${GROUP_NETNS:-} ]] || return 0
	require_test_env
	SHARED=$BATS_FILE_TMPDIR/shared
	mkdir -p "$SHARED"
	group_start 3 "$SHARED" ||
		{ group_stop; echo "the shared group did not start: $(tail -n 5 "$SHARED"/n*.log)" >&3; return 1; }
	group_save "$BATS_FILE_TMPDIR/shared.env"
}

teardown_file() {
	[[ -f $BATS_FILE_TMPDIR/shared.env ]] || return 0
	group_restore "$BATS_FILE_TMPDIR/shared.env"
	group_stop
}

setup() {
	common_setup
	OWN_GROUP=
}

# Only a group this test started is stopped here; the shared one lives on.
teardown() {
	if [[ -n $OWN_GROUP ]]; then
		group_stop
	fi
	common_teardown
}

# own_group N [SERVE-ARG...]: this test's own group of N nodes under
# $BATS_TEST_TMPDIR/g; M is the master's index, R1 and R2 two replicas
# (R2 empty when N < 3).
own_group() {
	local n=$1 i
	shift
	OWN_GROUP=1
	mkdir -p "$BATS_TEST_TMPDIR/g"
	group_start "$n" "$BATS_TEST_TMPDIR/g" "$@" ||
		fail "the group of $n did not start: $(tail -n 3 "$BATS_TEST_TMPDIR"/g/n*.log)"
	pick_roles
}

# shared_group: the group of setup_file (M, R1, R2 as for own_group).
shared_group() {
	[[ -f $BATS_FILE_TMPDIR/shared.env ]] || fail "no shared group (setup_file)"
	group_restore "$BATS_FILE_TMPDIR/shared.env"
	pick_roles
}

pick_roles() {
	local i
	M=$(group_master 15) || fail "no agreed master in the group within 15 s: $(group_health_all)"
	R1= R2=
	for ((i = 1; i <= GROUP_N; i++)); do
		((i == M)) && continue
		if [[ -z $R1 ]]; then R1=$i; elif [[ -z $R2 ]]; then R2=$i; fi
	done
}

# Every node's /healthz, for failure messages.
group_health_all() {
	local i
	for ((i = 1; i <= GROUP_N; i++)); do
		printf 'node %d: %s\n' "$i" "$(curl -s -m 2 "$(group_url "$i")/healthz")"
	done
}

now_ms() {
	local t=$EPOCHREALTIME
	echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# http NODE METHOD PATH [BODY-FILE]: one request (curl, no redirects
# followed) to node NODE; sets CODE, HDRS (file), BODY (file).
HTTP_SEQ=0
http() {
	local node=$1 method=$2 path=$3 data=${4:-}
	HTTP_SEQ=$((HTTP_SEQ + 1))
	HDRS=$BATS_TEST_TMPDIR/h.$HTTP_SEQ
	BODY=$BATS_TEST_TMPDIR/b.$HTTP_SEQ
	local -a a=(-sS -m 20 -X "$method" -D "$HDRS" -o "$BODY" -w '%{http_code}')
	[[ -n $data ]] && a+=(-H 'Content-Type: application/json' --data-binary "@$data")
	CODE=$(curl "${a[@]}" "$(group_url "$node")$path") || CODE=000
}

# header NAME: the value of NAME in $HDRS (the last response's)
header() {
	local line name=${1,,} value=
	while IFS= read -r line; do
		line=${line%$'\r'}
		[[ ${line,,} == "$name":* ]] || continue
		value=${line#*:}
		value=${value#"${value%%[! ]*}"}
	done <"$HDRS"
	printf '%s\n' "$value"
}

# json_body MESSAGE -> a file with {"message": MESSAGE} (jq escapes it)
json_body() {
	local f=$BATS_TEST_TMPDIR/req.$((HTTP_SEQ + 1)).json
	jq -cn --arg m "$1" '{message: $m}' >"$f"
	echo "$f"
}

# post_acked NODE MESSAGE: POST until acknowledged (201, or 200 if already
# stored), at most 6 tries: a 503 says "try again, storing twice is safe".
# Appends the digest (checked against sha256sum) to ACKED.
ACKED=()
post_acked() {
	local node=$1 msg=$2 want f try
	want=$(sha256_of_string "$msg")
	f=$(json_body "$msg")
	for try in {1..6}; do
		http "$node" POST /messages "$f"
		[[ $CODE == 503 ]] || break
		sleep 0.5
	done
	[[ $CODE == 201 || $CODE == 200 ]] ||
		fail "POST of '$msg' on node $node: $CODE, not acknowledged after $try tries: $(cat "$BODY")"
	assert_equal "$(jq -r .digest "$BODY")" "$want"
	ACKED+=("$want")
}

# body_is DIGEST: the last response's body is {"message": M} with
# sha256(M) = DIGEST, M's exact bytes
body_is() {
	local got
	got=$(jq -j .message "$BODY" | sha256sum | cut -c1-64)
	[[ $got == "$1" ]] || fail "the message read back has sha256 $got, not $1: $(cat "$BODY")"
}

# resolves NODE DIGEST [SEC]: GET /messages/DIGEST on node NODE itself
# answers 200 with the message, within SEC (10) s: a replica may still be
# catching up (it redirects what it lacks), a hang detector only.
resolves() {
	local node=$1 d=$2 limit=${3:-10} start=$SECONDS
	while :; do
		http "$node" GET "/messages/$d"
		[[ $CODE == 200 ]] && break
		((SECONDS - start < limit)) ||
			fail "digest $d does not resolve on node $node ($(group_role "$node")) within $limit s: last $CODE $(cat "$BODY")"
		sleep 0.1
	done
	body_is "$d"
}

# master_resolves NODE DIGEST: the (new) master NODE answers 200 with the
# message; while it settles in, a 503 (Retry-After) may come first, but
# never a 404 or a redirect
master_resolves() {
	local node=$1 d=$2 try
	for try in {1..30}; do
		http "$node" GET "/messages/$d"
		[[ $CODE == 503 ]] || break
		sleep 0.1
	done
	assert_equal "$CODE" 200
	body_is "$d"
}

# names_master NODE MASTER: NODE's /healthz names MASTER's URL as its
# master within 10 s (the master publishes it in group.db)
names_master() {
	local try
	for try in {1..100}; do
		[[ $(group_names_master "$1") == "$(group_url "$2")" ]] && return
		sleep 0.1
	done
	assert_equal "$(group_names_master "$1")" "$(group_url "$2")"
}

# all_resolve NODE: every digest in ACKED resolves on NODE
all_resolve() {
	local d
	for d in "${ACKED[@]}"; do
		resolves "$1" "$d"
	done
}

# ------------------------------------------------ the shared group (reads)

@test "a write on the master is readable on both replicas, byte for byte" {
	shared_group
	# UTF-8, a quote, a backslash, a tab and a newline: JSON escapes
	local msg=$'r\xc3\xa9plique "one" \\ tab\there\nline 2 \xe2\x82\xac'
	post_acked "$M" "$msg"
	local d=${ACKED[0]}
	assert_equal "$d" "$(printf %s "$msg" | sha256sum | cut -c1-64)"
	resolves "$M" "$d"
	resolves "$R1" "$d"
	resolves "$R2" "$d"
}

@test "POST on a replica: 307 to the master's URL + /messages; curl -L stores it" {
	shared_group
	local msg="via replica $RANDOM$RANDOM" d f
	d=$(sha256_of_string "$msg")
	f=$(json_body "$msg")
	http "$R1" POST /messages "$f"
	assert_equal "$CODE" 307
	assert_equal "$(header Location)" "$(group_url "$M")/messages"
	jq -e '.err_msg | length > 0' "$BODY" >/dev/null || fail "307 body without err_msg: $(cat "$BODY")"
	# nothing was stored by the redirect itself
	http "$M" GET "/messages/$d"
	assert_equal "$CODE" 404
	# curl -L follows a 307 with the same method and body
	run -0 curl -sS -m 20 -L -H 'Content-Type: application/json' --data-binary "@$f" \
		-w '\n%{http_code} %{num_redirects}' "$(group_url "$R2")/messages"
	assert_equal "${lines[1]}" "201 1"
	assert_equal "$(jq -r .digest <<<"${lines[0]}")" "$d"
	resolves "$M" "$d"
	resolves "$R2" "$d"
}

@test "GET of an unknown digest: 307 to the master on a replica, 404 with err_msg on the master" {
	shared_group
	local d
	d=$(sha256_of_string "never stored $RANDOM$RANDOM$RANDOM")
	http "$R1" GET "/messages/$d"
	assert_equal "$CODE" 307
	assert_equal "$(header Location)" "$(group_url "$M")/messages/$d"
	http "$R2" GET "/messages/$d"
	assert_equal "$CODE" 307
	assert_equal "$(header Location)" "$(group_url "$M")/messages/$d"
	http "$M" GET "/messages/$d"
	assert_equal "$CODE" 404
	grep -qE '^\{"err_msg":"([^"\\]|\\.)+"\}$' "$BODY" || fail "404 body: $(cat "$BODY")"
	# and curl -L from a replica ends at the master's 404
	run -0 curl -s -m 20 -L -o /dev/null -w '%{http_code} %{num_redirects}' "$(group_url "$R1")/messages/$d"
	assert_output "404 1"
}

@test "msghash status: role, site, url, master, lsn, behind and the peers on master and replica" {
	shared_group
	local i peer
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" status
	assert_line --index 0 "role: master"
	assert_line "site: $(group_site "$M")"
	assert_line "url: $(group_url "$M")"
	assert_line "master: $(group_site "$M") $(group_url "$M")"
	assert_line --regexp '^lsn: [0-9]+/[0-9]+$'
	assert_line --regexp '^behind: [0-9]+$'
	for i in "$R1" "$R2"; do
		assert_line "peer: $(group_site "$i") connected"
	done
	refute_line "peer: $(group_site "$M") connected"
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$R1" status
	assert_line --index 0 "role: replica"
	assert_line "site: $(group_site "$R1")"
	assert_line "url: $(group_url "$R1")"
	assert_line --regexp "^master: $(group_site "$M")( $(group_url "$M"))?\$"
	assert_line "peer: $(group_site "$M") connected"
}

@test "CLI on group nodes: lookup, verify, checkpoint on master and replica; hash on a replica exits 4 naming the master's URL" {
	shared_group
	local msg="cli check $RANDOM$RANDOM" d n
	post_acked "$M" "$msg"
	d=${ACKED[0]}
	resolves "$R1" "$d"
	for n in "$M" "$R1"; do
		run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$n" lookup "$d"
		assert_output "$msg"
		run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$n" verify
		assert_line "structure: ok"
		assert_line "mismatched: 0"
		run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$n" checkpoint
	done
	# lookup of what nobody stored: not found (1), on either
	run -1 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$R1" lookup "$(sha256_of_string "absent $RANDOM$RANDOM")"
	# hash on a replica: refused by the group, one line naming the master
	local other="replica hash $RANDOM$RANDOM"
	run -4 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$R1" hash "$other"
	assert_one_line_error "$(group_url "$M")"
	run -1 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" lookup "$(sha256_of_string "$other")"
	# hash on the master works and reaches the replica
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" hash "$other"
	assert_output "$(sha256_of_string "$other")"
	resolves "$R2" "$(sha256_of_string "$other")"
}

@test "per-connection serve on a replica's store: GET of a stored digest 200, POST 307 or 503, never 201" {
	shared_group
	local msg="per-connection $RANDOM$RANDOM" d body codes
	post_acked "$M" "$msg"
	d=${ACKED[0]}
	resolves "$R1" "$d"
	SERVE_GLOBAL=(--db "$GROUP_DIR/n$R1")
	serve_printf "GET /messages/$d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	assert_equal "$SERVE_RC" 0
	run -0 split_responses "$SERVE_OUT"
	assert_output 200
	assert_equal "$(jq -j .message "$SERVE_OUT.1.b" | sha256sum | cut -c1-64)" "$d"
	body='{"message":"per-connection post '$RANDOM$RANDOM'"}'
	serve_printf "POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\nConnection: close\r\n\r\n$body"
	assert_equal "$SERVE_RC" 0
	codes=$(split_responses "$SERVE_OUT") || fail "unparsable: $(cat "$SERVE_OUT")"
	[[ $codes == 307 || $codes == 503 ]] || fail "POST on a replica's store answered $codes: $(cat "$SERVE_OUT")"
	if [[ $codes == 307 ]]; then
		assert_equal "$(resp_header "$SERVE_OUT.1" Location)" "$(group_url "$M")/messages"
	else
		resp_header "$SERVE_OUT.1" Retry-After >/dev/null || fail "503 without Retry-After"
	fi
	http "$M" GET "/messages/$(printf %s "${body:12:-2}" | sha256sum | cut -c1-64)"
	assert_equal "$CODE" 404
}

# ------------------------------------------------- groups of their own

@test "a freshly started group's master acknowledges its first POST (201, not 503)" {
	own_group 3
	local msg="the very first $RANDOM" f
	f=$(json_body "$msg")
	# every node is master or replica (group_start waited for that)
	http "$M" POST /messages "$f"
	[[ $CODE == 201 ]] ||
		fail "the first POST on the master of a healthy group answered $CODE: $(cat "$BODY") ($(group_health_all))"
	resolves "$R1" "$(sha256_of_string "$msg")"
	resolves "$R2" "$(sha256_of_string "$msg")"
}

# failover HOW: the master is lost (kill: SIGKILL to its processes; stop:
# SIGSTOP), another node is master within FAILOVER_MS, nothing
# acknowledged is lost, and the old master rejoins as a replica by itself
# (kill: restarted; stop: SIGCONT).
failover() {
	local how=$1 k t0 ms new other old
	own_group 3
	for k in {1..5}; do post_acked "$M" "before $how $k"; done
	old=$M
	case $how in
	kill) t0=$(now_ms); group_signal "$old" KILL ;;
	stop) t0=$(now_ms); group_signal "$old" STOP ;;
	esac
	new=$(group_new_master "$old" 20) || fail "no new master 20 s after $how of node $old: $(group_health_all)"
	ms=$(($(now_ms) - t0))
	echo "# new master (node $new) $ms ms after losing node $old" >&3
	((ms < FAILOVER_MS)) || fail "new master (node $new) after $ms ms, not within $FAILOVER_MS ms"
	other=$R1
	((other == new)) && other=$R2
	# the other replica follows the new master
	for k in {1..100}; do
		[[ $(group_names_master "$other") == "$(group_url "$new")" ]] && break
		sleep 0.1
	done
	assert_equal "$(group_names_master "$other")" "$(group_url "$new")"
	# nothing acknowledged is lost: on the new master at once, on the other replica
	local d
	for d in "${ACKED[@]}"; do
		master_resolves "$new" "$d"
	done
	all_resolve "$other"
	post_acked "$new" "after $how"
	resolves "$other" "${ACKED[-1]}"
	# the old master comes back and rejoins as a replica by itself
	case $how in
	kill) group_node_stop "$old"; group_node_start "$old" || fail "node $old did not restart" ;;
	stop) group_signal "$old" CONT ;;
	esac
	old_rejoins "$old" "$new" "$how"
}

# rejoined OLD NEW: after OLD came back as a replica, the group agrees on a
# master, and everything acknowledged (before and after the failure)
# resolves on every node.  OLD may come back still saying it is master
# (stopped, cut off): Berkeley DB then holds another election, which any
# node may win; its master must hold all of it.
rejoined() {
	local old=$1 new=$2 final i
	final=$(group_master 10) || fail "no agreed master after node $old rejoined: $(group_health_all)"
	echo "# old master $old, new master $new, after the rejoin: $final" >&3
	for ((i = 1; i <= GROUP_N; i++)); do
		all_resolve "$i"
	done
}

# old_rejoins OLD NEW HOW: the old master OLD, back after HOW (kill, stop,
# cut), rejoins as a replica, and then rejoined.  A continued master
# (stop) may instead win the election its return provokes (Berkeley DB
# holds one when two sites say they are master): then the whole group
# must follow it.
old_rejoins() {
	local old=$1 new=$2 how=$3 k
	for k in {1..200}; do
		[[ $(group_role "$old") == replica ]] && break
		[[ $how == stop && $(group_master 0) == "$old" ]] && break
		sleep 0.1
	done
	[[ $(group_role "$old") == replica ]] ||
		[[ $how == stop && $(group_master 0) == "$old" ]] ||
		fail "node $old did not rejoin: $(group_health_all)"
	rejoined "$old" "$new"
}

@test "failover: SIGKILL of the master's processes, a new master within 5 s, nothing acknowledged lost, the restarted old master rejoins" {
	failover kill
}

@test "failover: SIGSTOP of the master, a new master within 5 s, nothing acknowledged lost, SIGCONT rejoins it as a replica" {
	failover stop
}

# The inner run (GROUP_NETNS=inside): the whole group in this private
# network namespace.  The master is cut off: every TCP port its processes
# use (its replication port, its workers' own connections to the other
# sites), except its HTTP port, which the test watches, dropped both ways.
@test "failover: the master cut off from the network, a new master within 5 s, nothing acknowledged lost, it rejoins when healed" {
	if [[ ${GROUP_NETNS:-} != inside ]]; then
		local bats userns=()
		bats=$(command -v bats) || fail "bats not in PATH for the inner run"
		# Not root (make distcheck): a user namespace of our own, where
		# we may own a network namespace and its nftables rules.
		((EUID == 0)) || userns=(-r)
		run unshare "${userns[@]}" -n -- env GROUP_NETNS=inside "$bats" --tap \
			--filter 'the master cut off from the network' "$BATS_TEST_FILENAME"
		((status == 0)) || fail "the run in a private network namespace failed:"$'\n'"$output"
		grep '^# ' <<<"$output" >&3 || true	# its failover time
		assert_line --index 0 "1..1"
		assert_line --regexp '^ok 1 '
		return 0
	fi
	ip link set lo up || fail "cannot bring lo up in the namespace"
	# inside a fresh namespace: no table of ours yet, and no other rule
	run -0 nft list ruleset
	assert_output ""
	local k t0 ms new other old pids ports
	own_group 3
	for k in {1..5}; do post_acked "$M" "before the cut $k"; done
	old=$M
	pids=$(group_family "$old" | paste -sd'|')
	ports=$({
		echo "${GROUP_REPL[old]}"
		ss -tnpH | grep -E "pid=($pids)," | awk '{print $4}' | sed 's/.*://'
	} | grep -vx "${GROUP_HTTP[old]}" | sort -un | paste -sd,)
	t0=$(now_ms)
	nft -f - <<-EOF || fail "nft failed"
		table inet msghash_test {
			chain cut {
				type filter hook input priority 0; policy accept;
				tcp dport { $ports } drop
				tcp sport { $ports } drop
			}
		}
	EOF
	new=$(group_new_master "$old" 20) || fail "no new master 20 s after cutting node $old (ports $ports): $(group_health_all)"
	ms=$(($(now_ms) - t0))
	echo "# new master (node $new) $ms ms after losing node $old" >&3
	((ms < FAILOVER_MS)) || fail "new master (node $new) after $ms ms, not within $FAILOVER_MS ms"
	other=$R1
	((other == new)) && other=$R2
	local d
	for d in "${ACKED[@]}"; do
		master_resolves "$new" "$d"
	done
	all_resolve "$other"
	post_acked "$new" "during the cut"
	resolves "$other" "${ACKED[-1]}"
	# heal: the old master rejoins as a replica by itself
	nft delete table inet msghash_test
	old_rejoins "$old" "$new" cut
}


@test "a new empty node started later with the group's list joins and catches up by itself" {
	own_group 3
	local k d
	for k in {1..5}; do post_acked "$M" "before node 4 $k"; done
	group_node_add
	assert_equal "$GROUP_N" 4
	[[ ! -e $GROUP_DIR/n4 ]] || fail "node 4's store exists before it started"
	group_node_start 4 || fail "node 4 did not start: $(cat "$GROUP_DIR/n4.log")"
	group_joined 30 || fail "node 4 did not join: $(group_health_all)"
	assert_equal "$(group_role 4)" replica
	all_resolve 4
	post_acked "$M" "after node 4"
	resolves 4 "${ACKED[-1]}"
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" status
	assert_line "peer: $(group_site 4) connected"
}

# big_message K: a file with {"message": "big K xxx...x"} (3 MB: jq would
# take it as an argument, over the kernel's limit) in BIG_FILE, its
# message's sha256 in BIG_DIGEST
big_message() {
	BIG_FILE=$BATS_TEST_TMPDIR/big.$1.json
	{ printf '{"message":"big %s ' "$1"; head -c 3000000 /dev/zero | tr '\0' x; printf '"}'; } >"$BIG_FILE"
	BIG_DIGEST=$({ printf 'big %s ' "$1"; head -c 3000000 /dev/zero | tr '\0' x; } | sha256sum | cut -c1-64)
}

# A replica that caught up by copying the master's databases anew
# (internal init) while its worker held group.db and messages.db open:
# libdb kills those handles (or, within the same second, leaves them
# reading the removed files), and the worker must open them again.  Seen
# in the group soak: such a worker answered POSTs with 503 "no master"
# for good, its /healthz naming the master's site for want of its URL.
# --workers 1: the worker that held the handles is the one asked.
@test "a replica re-initialized from the master while its worker holds its handles: POST 307, the master's URL, GETs served there" {
	own_group 3 --workers 1
	local k ino logs big=() master
	post_acked "$M" "before the init"
	# the worker opens messages.db (a GET) and group.db (the master's URL)
	resolves "$R1" "${ACKED[0]}"
	names_master "$R1" "$M"
	ino=$(stat -c %i "$GROUP_DIR/n$R1/messages.db")
	group_signal "$R1" STOP
	# 18 MB: the master's log moves on to a second file
	for k in {1..6}; do
		big_message "$k"
		http "$M" POST /messages "$BIG_FILE"
		assert_equal "$CODE" 201
		assert_equal "$(jq -r .digest "$BODY")" "$BIG_DIGEST"
		big+=("$BIG_DIGEST")
	done
	# The checkpoint removes no log file here: repmgr keeps those it last
	# knew a site to need.  Remove them as an archive would once the
	# replica was gone (after the checkpoint, the master's own recovery
	# needs only the last).  The replica, continued, finds the records it
	# needs gone, and copies the master's databases anew.
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" checkpoint
	logs=("$GROUP_DIR/n$M"/log.*)
	((${#logs[@]} >= 2)) || fail "the master's log is still one file: ${logs[*]}"
	rm -- "${logs[@]:0:${#logs[@]}-1}"
	group_signal "$R1" CONT
	for k in {1..300}; do
		[[ $(stat -c %i "$GROUP_DIR/n$R1/messages.db" 2>/dev/null) != "$ino" ]] && break
		sleep 0.1
	done
	[[ $(stat -c %i "$GROUP_DIR/n$R1/messages.db" 2>/dev/null) != "$ino" ]] ||
		fail "node $R1 did not copy the master's databases within 30 s (no internal init: the test proves nothing)"
	# POSTs first: a GET would reopen everything on its own (messages.db's
	# handle is dead too).  While the copy ends, 503 "no master" may come.
	for k in {1..100}; do
		http "$R1" POST /messages "$(json_body "after the init $k")"
		[[ $CODE == 503 ]] || break
		sleep 0.1
	done
	[[ $CODE == 307 ]] || fail "POST on the re-initialized replica: $CODE, not 307, after $k tries: $(cat "$BODY") ($(group_health_all))"
	# The master the group agrees on now: node R1, continued after 2 s
	# without the master's heartbeats, may call an election.
	master=$(group_master 10) || fail "no agreed master after the init: $(group_health_all)"
	[[ $(header Location) == "$(group_url "$master")/messages" ]] ||
		fail "307 to $(header Location), not to the master (node $master, first node $M): $(group_health_all)"
	assert_equal "$(group_names_master "$R1")" "$(group_url "$master")"
	# what it copied is served there, not redirected
	for k in "${big[@]}"; do
		resolves "$R1" "$k"
	done
}

# A replica whose replication process died attached: the one started
# next recovers the environment, and libdb fails every later call on the
# worker's handles ("PANIC: fatal region error detected").  The worker
# must join again.  Seen after an internal init (the test above): GETs and
# /healthz joined again, POSTs answered 503 "store unavailable" for good.
@test "a replica's replication process killed: the worker joins the recovered store again, POST 307, not 503" {
	own_group 3 --workers 1
	local k repl
	post_acked "$M" "before the kill"
	# the worker joins the environment and knows the master's URL
	resolves "$R1" "${ACKED[0]}"
	names_master "$R1" "$M"
	repl=$(group_repl_pid "$R1")
	[[ -n $repl ]] || fail "no process listens on node $R1's site"
	kill -KILL "$repl"
	# the next one recovers the store (the dead one was attached)
	for k in {1..100}; do
		grep -q "replication process $repl ended" "$GROUP_DIR/n$R1.log" &&
			[[ -n $(group_repl_pid "$R1") ]] && break
		sleep 0.1
	done
	[[ -n $(group_repl_pid "$R1") ]] || fail "node $R1's replication process was not restarted: $(cat "$GROUP_DIR/n$R1.log")"
	# While it rejoins the group, 503 "no master" may come.
	for k in {1..100}; do
		http "$R1" POST /messages "$(json_body "after the kill $k")"
		[[ $CODE == 503 ]] || break
		sleep 0.1
	done
	[[ $CODE == 307 ]] || fail "POST on node $R1: $CODE, not 307, after $k tries: $(cat "$BODY") ($(grep -v ' 200 ' "$GROUP_DIR/n$R1.log" | tail -3))"
	assert_equal "$(header Location)" "$(group_url "$M")/messages"
	resolves "$R1" "${ACKED[0]}"
}

# Master leases: a replica grants the master a lease with each
# acknowledgement and votes in no election while it runs.  Without them, a
# replica continued after a stop (its heartbeat monitor expired meanwhile)
# called an election that the other replica joined, and one of them became
# master while the master was alive and writing: a stall of the writes and
# a rollback of the master's unacknowledged records (DESIGN.md §9.2).
# Without leases the second half failed 2 runs in 4 (the master itself
# then "electing").
@test "master leases: the replicas grant them; a replica continued after 2.5 s stopped starts no failover while the master writes" {
	own_group 3
	local k i grants writer
	post_acked "$M" "before the stops"
	# the quorum is one replica: the other may grant its first lease a
	# moment after the POST's answer
	for k in "$R1" "$R2"; do
		for i in {1..50}; do
			run -0 db5.3_stat -r -h "$GROUP_DIR/n$k"
			grants=$(awk '/Duration of maximum lease/ {print $1}' <<<"$output")
			[[ $grants =~ ^[1-9][0-9]*\. ]] && break
			sleep 0.1
		done
		[[ $grants =~ ^[1-9][0-9]*\. ]] || fail "node $k granted no lease in 5 s: $output"
	done
	# a write every 50 ms keeps the leases running
	(
		for ((i = 0; i < 400; i++)); do
			curl -s -o /dev/null -m 2 --data-binary "{\"message\":\"lease $i\"}" \
				"$(group_url "$M")/messages"
			sleep 0.05
		done
	) 3>&- &
	writer=$!
	for k in "$R1" "$R2"; do
		group_signal "$k" STOP
		sleep 2.5
		group_signal "$k" CONT
		sleep 2
		assert_equal "$(group_role "$M")" master
		assert_equal "$(group_role "$k")" replica
	done
	kill "$writer" 2>/dev/null
	wait "$writer" 2>/dev/null || true
	assert_equal "$(group_master 10)" "$M"
	post_acked "$M" "after the stops"
	resolves "$R1" "${ACKED[-1]}"
}

@test "remove-site: a stopped node taken out of the group is no longer listed by the master's status; a non-member is refused" {
	own_group 3
	local gone=$R2 k
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" status
	assert_line --partial "peer: $(group_site "$gone") "
	group_node_stop "$gone"
	# asked on the other replica's store: it forwards the change to the master
	run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$R1" remove-site "$(group_site "$gone")"
	assert_equal "$stderr" ""
	for k in {1..50}; do
		run -0 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" status
		[[ $output != *"$(group_site "$gone")"* ]] && break
		sleep 0.1
	done
	refute_output --partial "$(group_site "$gone")"
	assert_line "peer: $(group_site "$R1") connected"
	# a site that is no longer (or never was) a member: exit 2, one line
	run -2 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$R1" remove-site "$(group_site "$gone")"
	assert_one_line_error "not a member of the group"
	run -2 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" remove-site 127.0.0.1:1
	assert_one_line_error "127.0.0.1:1 is not a member"
	# the two left are the whole group: writes are acknowledged
	post_acked "$M" "after remove-site"
	resolves "$R1" "${ACKED[-1]}"
}

# no_quorum: with both replicas gone (stopped or SIGSTOPped), a POST on
# the master is 503 with Retry-After and "not replicated", earlier
# messages still read (200), and the CLI's hash exits 4 with one line.
no_quorum() {
	local d k msg f
	msg="no quorum $RANDOM$RANDOM"
	f=$(json_body "$msg")
	for k in 1 2; do
		http "$M" POST /messages "$f"
		assert_equal "$CODE" 503
		[[ $(header Retry-After) =~ ^[1-9][0-9]*$ ]] || fail "503 without a Retry-After in seconds: $(cat "$HDRS")"
		jq -e '.err_msg | test("not (yet )?replicated")' "$BODY" >/dev/null ||
			fail "503 err_msg does not say not replicated: $(cat "$BODY")"
	done
	for d in "${ACKED[@]}"; do
		http "$M" GET "/messages/$d"
		assert_equal "$CODE" 200
		body_is "$d"
	done
	run -4 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" hash "cli $msg"
	assert_one_line_error
	# an earlier message is not acknowledged again without a quorum either
	run -4 --separate-stderr "$MSGHASH" --db "$GROUP_DIR/n$M" hash "before 1"
	assert_one_line_error
}

@test "2 of 3 SIGSTOPped: POST on the master 503 with Retry-After, GETs 200, CLI hash exits 4" {
	own_group 3
	post_acked "$M" "before 1"
	post_acked "$M" "before 2"
	group_signal "$R1" STOP
	group_signal "$R2" STOP
	no_quorum
	assert_equal "$(group_role "$M")" master
}

@test "2 of 3 stopped: POST on the remaining master 503 with Retry-After, GETs 200, CLI hash exits 4" {
	own_group 3
	post_acked "$M" "before 1"
	post_acked "$M" "before 2"
	group_node_stop "$R1"
	group_node_stop "$R2"
	no_quorum
}

@test "a group of 5: a write is readable on all 5; SIGKILL of the master, a new master within 5 s" {
	own_group 5
	local i t0 ms new
	post_acked "$M" "five nodes"
	for ((i = 1; i <= 5; i++)); do
		resolves "$i" "${ACKED[0]}"
	done
	t0=$(now_ms)
	group_signal "$M" KILL
	new=$(group_new_master "$M" 20) || fail "no new master 20 s after SIGKILL: $(group_health_all)"
	ms=$(($(now_ms) - t0))
	echo "# new master (node $new) $ms ms after losing node $M" >&3
	((ms < FAILOVER_MS)) || fail "new master (node $new) after $ms ms, not within $FAILOVER_MS ms"
	http "$new" GET "/messages/${ACKED[0]}"
	assert_equal "$CODE" 200
	body_is "${ACKED[0]}"
	post_acked "$new" "five nodes, after"
	for ((i = 1; i <= 5; i++)); do
		((i == M)) || resolves "$i" "${ACKED[1]}"
	done
}

# ---------------------------------------------------------- usage errors

# serve_listening ARG...: msghash serve with a listening TCP socket as its
# fd 0 (inetd's wait mode), python3 binds it; `timeout` is a hang
# detector: a usage error must exit at once.
serve_listening() {
	timeout 10 python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(8)
os.dup2(s.fileno(), 0)
s.close()
os.execv(sys.argv[1], sys.argv[1:])
' "$MSGHASH" serve "$@"
}

@test "usage errors: --group of 2, --group without --site, bad --site, --url not http:// exit 2 with one line" {
	local a=127.0.0.1:7101 b=127.0.0.1:7102 c=127.0.0.1:7103
	run -2 --separate-stderr serve_listening --site "$a" --group "$a,$b"
	assert_usage_error
	assert_stderr_contains "2 sites"
	run -2 --separate-stderr serve_listening --site 127.0.0.1:7109 --group "$a,$b,$c"
	assert_usage_error
	assert_stderr_contains "127.0.0.1:7109"
	for bad in 127.0.0.1 127.0.0.1:0 127.0.0.1:65536 :7101 'bad host:7101'; do
		run -2 --separate-stderr serve_listening --site "$bad" --group "$a,$b,$c"
		assert_usage_error
		assert_stderr_contains "--site"
	done
	for url in 127.0.0.1:8080 ftp://127.0.0.1:8080 http:// 'http://a b'; do
		run -2 --separate-stderr serve_listening --site "$a" --group "$a,$b,$c" --url "$url"
		assert_usage_error
		assert_stderr_contains "--url"
	done
	run -2 --separate-stderr serve_listening --site "$a"
	assert_usage_error
	run -2 --separate-stderr serve_listening --group "$a,$b,$c"
	assert_usage_error
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}

@test "usage errors from MSGHASH_SITE, MSGHASH_GROUP and MSGHASH_URL too" {
	local a=127.0.0.1:7101 b=127.0.0.1:7102 c=127.0.0.1:7103
	MSGHASH_SITE=$a MSGHASH_GROUP="$a,$b" run -2 --separate-stderr serve_listening
	assert_usage_error
	MSGHASH_SITE=127.0.0.1:7109 MSGHASH_GROUP="$a,$b,$c" run -2 --separate-stderr serve_listening
	assert_usage_error
	MSGHASH_SITE=$a MSGHASH_GROUP="$a,$b,$c" MSGHASH_URL=127.0.0.1:80 run -2 --separate-stderr serve_listening
	assert_usage_error
	assert_stderr_contains "--url"
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}

@test "group options without a listening socket (a piped connection) exit 2, nothing served" {
	local a=127.0.0.1:7101 b=127.0.0.1:7102 c=127.0.0.1:7103
	run -2 --separate-stderr bash -c 'printf "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" |
		timeout 10 "$0" serve --site "$1" --group "$2"' "$MSGHASH" "$a" "$a,$b,$c"
	assert_usage_error
	assert_stderr_contains "listening socket"
	run -2 --separate-stderr bash -c 'printf "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" |
		MSGHASH_SITE=$1 MSGHASH_GROUP=$2 timeout 10 "$0" serve' "$MSGHASH" "$a" "$a,$b,$c"
	assert_usage_error
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}
