#!/usr/bin/env bats
# The store under many processes at once, and under SIGKILL.
# Every background process here is started by the test and killed only by its
# PID (or as a child of a PID the test started), never by name alone.

bats_require_minimum_version 1.5.0

load helper

setup() {
	common_setup
	PIDS=()
}

teardown() {
	# Stop whatever is still running from this test (children first).
	local p c
	for p in "${PIDS[@]}"; do
		for c in $(pgrep -P "$p" 2>/dev/null); do
			kill -KILL "$c" 2>/dev/null || true
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	common_teardown
}

# is_running PID: true while PID exists and is not a zombie
is_running() {
	local pid state
	[[ -r /proc/$1/stat ]] || return 1
	read -r pid _ state _ <"/proc/$1/stat" 2>/dev/null || return 1
	[[ $state != Z ]]
}

# wait_for_writers SECONDS: wait until every PID in PIDS has exited; after
# SECONDS, kill (SIGKILL) the msghash children and the loops still running.
# Sets HUNG to the number of loops that had to be killed.
wait_for_writers() {
	local deadline=$((SECONDS + $1)) p c
	HUNG=0
	for p in "${PIDS[@]}"; do
		while is_running "$p" && ((SECONDS < deadline)); do
			sleep 0.1
		done
	done
	for p in "${PIDS[@]}"; do
		if is_running "$p"; then
			HUNG=$((HUNG + 1))
			for c in $(pgrep -P "$p" -x msghash 2>/dev/null); do
				kill -KILL "$c" 2>/dev/null || true
			done
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	wait "${PIDS[@]}" 2>/dev/null || true
	PIDS=() # reaped: never signal these PIDs again
}

# lookup_into DIR DIGEST...: `msghash lookup` each DIGEST (hang detector:
# timeout 20) into DIR/DIGEST; a DIGEST whose lookup fails is appended,
# with its exit status, to DIR.failed.
write_lookup_script() {
	cat >"$BATS_TEST_TMPDIR/lookup.sh" <<'EOF'
msghash=$1 dir=$2
shift 2
for d in "$@"; do
	timeout 20 "$msghash" lookup "$d" >"$dir/$d" 2>>"$dir.stderr"
	rc=$?
	if ((rc != 0)); then
		printf '%s exit %s\n' "$d" "$rc" >>"$dir.failed"
	fi
done
EOF
}

@test "hash: 8 concurrent writers x 200 distinct messages into one store" {
	local t=$BATS_TEST_TMPDIR w
	cat >"$t/writer.sh" <<'EOF'
# writer.sh MSGHASH W COUNT BATCH OUT FAILS: COUNT distinct messages, BATCH per call
msghash=$1 w=$2 count=$3 batch=$4 out=$5 fails=$6
token=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
i=0
while ((i < count)); do
	msgs=()
	for ((j = 0; j < batch && i < count; j++, i++)); do
		msgs+=("w$w-m$i-$token-$RANDOM")
	done
	if timeout 60 "$msghash" hash "${msgs[@]}" >"$out.tmp" 2>>"$fails.stderr"; then
		mapfile -t ds <"$out.tmp"
		if ((${#ds[@]} != ${#msgs[@]})); then
			echo "w$w: ${#ds[@]} digests for ${#msgs[@]} messages" >>"$fails"
		fi
		for ((k = 0; k < ${#msgs[@]}; k++)); do
			printf '%s %s\n' "${ds[k]}" "${msgs[k]}" >>"$out"
		done
	else
		echo "w$w: exit $? for ${msgs[*]}" >>"$fails"
	fi
done
EOF
	# even writers: one process per message; odd writers: 4 messages per call
	for w in 0 1 2 3 4 5 6 7; do
		bash "$t/writer.sh" "$MSGHASH" "$w" 200 $((w % 2 ? 4 : 1)) "$t/out.$w" "$t/fails" \
			</dev/null >/dev/null 2>>"$t/writers.stderr" 3>&- &
		PIDS+=($!)
	done
	wait_for_writers 300
	assert_equal "$HUNG" 0

	if [[ -s $t/fails ]]; then
		fail "some hash calls failed: $(head -20 "$t/fails"; head -5 "$t/fails.stderr" 2>/dev/null)"
	fi
	cat "$t"/out.? >"$t/all"
	run -0 wc -l <"$t/all"
	assert_equal "$output" 1600
	run -0 bash -c 'cut -d" " -f2 "$1" | sort -u | wc -l' _ "$t/all"
	assert_equal "$output" 1600

	# every digest is the SHA-256 of its message (oracle: sha256sum)
	mkdir "$t/exp"
	local d m
	while read -r d m; do
		[[ $d =~ ^[0-9a-f]{64}$ ]] || fail "not a digest: '$d' for '$m'"
		printf %s "$m" >"$t/exp/$d"
	done <"$t/all"
	run -0 bash -c 'cd "$1" && find . -type f -printf "%P\0" | xargs -0 sha256sum' _ "$t/exp"
	assert_equal "${#lines[@]}" 1600
	local line bad=0
	for line in "${lines[@]}"; do
		[[ ${line:0:64} == "${line:66}" ]] || bad=$((bad + 1))
	done
	assert_equal "$bad" 0

	# every digest looks up byte-exact
	local got mismatched=0 failed=0
	while read -r d m; do
		if "$MSGHASH" lookup "$d" >"$t/got"; then
			got=
			IFS= read -r -d '' got <"$t/got" || true
			[[ $got == "$m" ]] || mismatched=$((mismatched + 1))
		else
			failed=$((failed + 1))
		fi
	done <"$t/all"
	assert_equal "lookup failed: $failed, mismatched: $mismatched" "lookup failed: 0, mismatched: 0"
}

@test "hash: crash: writers killed with SIGKILL at random moments lose nothing acknowledged" {
	local t=$BATS_TEST_TMPDIR w
	mkdir "$t/big"
	cat >"$t/crash-writer.sh" <<'EOF'
# crash-writer.sh MSGHASH W DIR: hash unique messages until DIR/stop exists;
# a message is acknowledged (a line in DIR/ack.W) only when msghash exited 0
# and printed its digest.  Every 20th message is 200 KiB, via stdin.
msghash=$1 w=$2 dir=$3
ack=$dir/ack.$w out=$dir/out.$w
token=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
i=0
while [[ ! -e $dir/stop ]]; do
	i=$((i + 1))
	if ((i % 20 == 0)); then
		f=$dir/big/$w-$i
		head -c 204800 /dev/urandom >"$f"
		printf '%s' "-$w-$i-$token" >>"$f"
		"$msghash" hash <"$f" >"$out" 2>>"$dir/writers.stderr" &&
			IFS= read -r d <"$out" && printf '%s @%s\n' "$d" "$f" >>"$ack"
	else
		m="c$w-m$i-$token"
		"$msghash" hash "$m" >"$out" 2>>"$dir/writers.stderr" &&
			IFS= read -r d <"$out" && printf '%s %s\n' "$d" "$m" >>"$ack"
	fi
done
EOF
	for w in 1 2 3 4 5 6; do
		bash "$t/crash-writer.sh" "$MSGHASH" "$w" "$t" </dev/null >/dev/null 2>&1 3>&- &
		PIDS+=($!)
	done

	# The killer: every 20-150 ms, SIGKILL one random msghash that is a
	# child of one of our writer loops (retrying at once while none is
	# running, since each msghash lives only a few milliseconds).  It runs
	# for 18 s, and on until there is enough evidence (30 kills, 200
	# acknowledged digests): a sanitizer build on a busy machine writes ten
	# times slower.  The cap (300 s) only stops a run that makes no progress.
	local kills=0 start=$SECONDS ms delay v parents acked=0
	local -a victims
	parents=$(IFS=,; echo "${PIDS[*]}")
	while ((SECONDS - start < 18 || ((kills < 30 || acked < 200) &&
		SECONDS - start < 300))); do
		ms=$((RANDOM % 131 + 20))
		printf -v delay '0.%03d' "$ms"
		sleep "$delay"
		while ((SECONDS - start < 300)); do
			victims=($(pgrep -P "$parents" -x msghash 2>/dev/null || true))
			((${#victims[@]} > 0)) || continue
			v=${victims[RANDOM % ${#victims[@]}]}
			if kill -KILL "$v" 2>/dev/null; then
				kills=$((kills + 1))
				break
			fi
		done
		acked=$(cat "$t"/ack.? 2>/dev/null | wc -l)
	done
	touch "$t/stop"
	wait_for_writers 120

	cat "$t"/ack.? >"$t/acks" 2>/dev/null || true
	acked=$(wc -l <"$t/acks")
	echo "# crash test: kills=$kills acknowledged=$acked hung-writers-killed=$HUNG in $((SECONDS - start)) s" >&3

	# The first lookup after the chaos (store open + recovery): hang detector.
	local d m first
	read -r first _ <"$t/acks" || fail "nothing was acknowledged"
	run -0 --separate-stderr timeout 10 "$MSGHASH" lookup "$first"

	# Every acknowledged digest: it is the SHA-256 of its message, and
	# lookup returns exactly that message.
	mkdir "$t/exp" "$t/got"
	while read -r d m; do
		[[ $d =~ ^[0-9a-f]{64}$ ]] || fail "acknowledged a non-digest: '$d'"
		if [[ $m == @* ]]; then
			ln -s "${m#@}" "$t/exp/$d"
		else
			printf %s "$m" >"$t/exp/$d"
		fi
	done <"$t/acks"
	write_lookup_script
	run -0 bash -c 'cut -d" " -f1 "$1" | xargs -P 4 -n 100 bash "$2" "$3" "$4"' _ \
		"$t/acks" "$t/lookup.sh" "$MSGHASH" "$t/got"

	local line wrong_digest=0 lost=0
	run -0 bash -c 'cd "$1" && find . -type l -printf "%P\0" -o -type f -printf "%P\0" | xargs -0 sha256sum' _ "$t/exp"
	for line in "${lines[@]}"; do
		[[ ${line:0:64} == "${line:66}" ]] || wrong_digest=$((wrong_digest + 1))
	done
	((${#lines[@]} == acked)) || wrong_digest=$((wrong_digest + acked - ${#lines[@]}))
	local -A good=()
	run -0 bash -c 'cd "$1" && find . -type f -printf "%P\0" | xargs -0 -r sha256sum' _ "$t/got"
	for line in "${lines[@]}"; do
		[[ ${line:0:64} == "${line:66}" ]] && good[${line:66}]=1
	done
	while read -r d m; do
		[[ -n ${good[$d]:-} ]] || lost=$((lost + 1))
	done <"$t/acks"
	echo "# crash test: lost=$lost (lookup failures: $(cat "$t/got.failed" 2>/dev/null | wc -l))" >&3

	((kills >= 30)) || fail "only $kills kills happened (need >= 30)"
	((acked >= 200)) || fail "only $acked digests were acknowledged (need >= 200)"
	assert_equal "acknowledged digests that are not sha256 of their message: $wrong_digest" \
		"acknowledged digests that are not sha256 of their message: 0"
	if ((lost > 0)); then
		fail "$lost of $acked acknowledged messages lost; first failures: $(head -5 "$t/got.failed" 2>/dev/null; head -5 "$t/got.stderr" 2>/dev/null)"
	fi

	# A copy of the store passes Berkeley DB's own recovery and verification.
	cp -a "$MSGHASH_DB" "$t/copy"
	run -0 --separate-stderr timeout 300 db5.3_recover -h "$t/copy"
	run -0 --separate-stderr timeout 300 db5.3_verify -h "$t/copy" "$t/copy/messages.db"
}

@test "msghash.lock: a process waits its turn, also when it cannot make a timer (RLIMIT_SIGPENDING 0)" {
	run -0 "$MSGHASH" hash foo
	local d=$output
	hold_store_lock 1
	PIDS+=("$STORE_LOCK_HOLDER")
	run -0 --separate-stderr timeout 20 "$MSGHASH" lookup "$d"
	assert_output foo
	# timer_create fails at this limit: the wait falls back to polling
	hold_store_lock 1
	PIDS+=("$STORE_LOCK_HOLDER")
	run -0 --separate-stderr timeout 20 bash -c 'ulimit -i 0 && exec "$1" lookup "$2"' _ "$MSGHASH" "$d"
	assert_output foo
}

@test "msghash.lock: a process that gets no turn for 10 s gives up with exit 3, naming the busy store (also with SIGALRM and SIGRTMIN blocked by its parent)" {
	run -0 "$MSGHASH" hash foo
	local d=$output
	hold_store_lock 30
	PIDS+=("$STORE_LOCK_HOLDER")
	# a wait that the timer did not end would run into timeout's 124; the
	# parent leaves SIGALRM and the timer's signal blocked (a mask survives
	# exec), which msghash must undo
	run -3 --separate-stderr timeout 20 python3 -c '
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGRTMIN})
os.execv(sys.argv[1], sys.argv[1:])' "$MSGHASH" lookup "$d"
	assert_equal "$stderr" "msghash lookup: store '$MSGHASH_DB' is busy: no turn at its lock for 10000 ms"
	assert_output ''
}

# fake_live_slots N: appends N slots to the store's DB_REGISTER registry,
# each locked by a process of ours as libdb's registered processes lock
# theirs, so every opener takes them for live processes and tries each
# slot's lock.  Linux checks a POSIX lock against every lock on the file:
# an open's registry scan then costs CPU time in proportion to N squared.
# Sets FAKER to that process's PID.
fake_live_slots() {
	local ready=$BATS_TEST_TMPDIR/faker.ready i
	rm -f "$ready"
	python3 -c '
import fcntl, os, signal, sys
path, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_RDWR)
end = os.lseek(fd, 0, os.SEEK_END)
os.write(fd, b"%24d\n" % os.getpid() * n)
for i in reversed(range(n)):  # each lock goes first: cheaper to add
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, end + 25 * i)
open(ready, "w").close()
signal.pause()' "$MSGHASH_DB/__db.register" "$1" "$ready" 3>&- &
	FAKER=$!
	PIDS+=("$FAKER")
	for ((i = 0; i < 1200; i++)); do
		[[ -e $ready ]] && return 0
		sleep 0.1
	done
	fail "$1 fake registry slots were not ready after 120 s"
}

# children_cpu: sets CHILDREN_CPU_US to the CPU time (user + system) of
# this shell's finished children; `times` must run in this shell itself.
children_cpu() {
	times >"$BATS_TEST_TMPDIR/times"
	CHILDREN_CPU_US=$(awk -F '[ ms]+' 'NR == 2 {
		printf "%d", ($1 * 60 + $2 + $3 * 60 + $4) * 1e6 }' "$BATS_TEST_TMPDIR/times")
}

@test "msghash.lock: a holder that is slow but running keeps the lock past its alarm (MH_STORE_GATE_SEC) and answers" {
	local gate d n t0 t1 base
	gate=$(awk '$2 == "MH_STORE_GATE_SEC" {print $3}' "$MSGHASH_TEST_SRCDIR/lib/limits.h")
	[[ $gate =~ ^[0-9]+$ ]] || fail "no MH_STORE_GATE_SEC in lib/limits.h"
	run -0 "$MSGHASH" hash foo
	d=$output
	# The CPU time of a registry scan here, with 5000 fake live slots: a
	# lookup's, less a lookup's without them (CPU, not wall time: tests
	# running beside this one do not change it).
	children_cpu
	t0=$CHILDREN_CPU_US
	run -0 --separate-stderr "$MSGHASH" lookup "$d"
	children_cpu
	base=$((CHILDREN_CPU_US - t0))
	fake_live_slots 5000
	children_cpu
	t0=$CHILDREN_CPU_US
	run -0 --separate-stderr "$MSGHASH" lookup "$d"
	children_cpu
	t1=$((CHILDREN_CPU_US - base))
	kill "$FAKER"
	wait "$FAKER" || true
	# Their owner is gone: this open recovers and frees the slots.
	run -0 --separate-stderr "$MSGHASH" lookup "$d"
	# Enough slots for a scan of about twice the gate's alarm, in CPU time.
	n=$(awk -v us=$((t1 - t0)) -v g="$gate" 'BEGIN {
		n = int(5000 * sqrt(2 * g * 1e6 / (us > 1000 ? us : 1000)))
		print (n > 200000 ? 200000 : n) }')
	fake_live_slots "$n"
	t0=$EPOCHREALTIME
	run --separate-stderr timeout 120 "$MSGHASH" lookup "$d"
	t1=$EPOCHREALTIME
	kill "$FAKER"
	wait "$FAKER" || true
	# Before the fix the alarm killed it here, mid-open, holding the lock.
	assert_success
	assert_output foo
	assert_equal "$stderr" ''
	# What makes this test mean something: the open outlasted the alarm.
	(( (${t1/./} - ${t0/./}) / 1000000 >= gate )) ||
		fail "the open took under $gate s ($n slots): this run proved nothing"
}
