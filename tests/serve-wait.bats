#!/usr/bin/env bats
# msghash serve in wait mode: systemd-socket-activate passes the listening
# socket (LISTEN_FDS=1, fd 3; or fd 0 with --inetd and no -a) and exec()s
# msghash serve, the master, which forks --workers N worker processes (one
# per CPU by default).  The workers accept and serve many connections each;
# a dead worker is replaced; SIGTERM to the master drains and exits 0.
# The HTTP behaviour common to both modes is in serve-socket.bats, which also
# runs in wait mode as serve-socket-wait.bats.
# Expected digests come from sha256sum; only PIDs this file started (the
# master, started in the background here, and its workers) are signalled.

bats_require_minimum_version 1.5.0

load helper
load serve-helper

setup() {
	common_setup
	SOCKET_MODE='wait'
	FDS=()
	BG=()
	DIR=$BATS_TEST_TMPDIR
}

# bats ignores a failing command in teardown unless it is the last one:
# a server that outlives SIGTERM or a sanitizer report fails the test here.
teardown() {
	local fd p rc=0
	for p in "${BG[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for fd in "${FDS[@]}"; do
		exec {fd}>&- || true
	done
	stop_socket_server || rc=1
	common_teardown
	return "$rc"
}

# open_conn: a new TCP connection to our server; its fd in FD (closed in teardown)
open_conn() {
	exec {FD}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect to 127.0.0.1:$PORT"
	FDS+=("$FD")
}

# send FD FORMAT [ARGS...]: printf to the socket FD in a subshell, so that a
# peer that has closed the connection makes the write fail instead of killing
# the test with SIGPIPE
send() {
	local fd=$1
	shift
	(printf -- "$@" >&"$fd") 2>/dev/null
}

# assert_single FILE CODE [BODY]: FILE holds exactly one well-formed response
# with status CODE (and body BODY)
assert_single() {
	run -0 split_responses "$1"
	assert_output "$2"
	local problems
	problems=$(check_response "$1.1")
	[[ -z $problems ]] || fail "malformed $2 response: $problems"
	if (($# > 2)); then
		assert_equal "$(cat "$1.1.b")" "$3"
	fi
}

@test "--workers 3: the process systemd-socket-activate exec()s is the msghash master, with exactly 3 worker children that stay" {
	start_socket_server --workers 3
	assert_equal "$(cat "/proc/$ACTIVATOR_PID/comm")" msghash
	wait_for_workers 3 5 ||
		fail "expected 3 msghash children of the master $ACTIVATOR_PID within 5 s, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local first i
	first=$(printf '%s\n' "${WORKERS[@]}" | sort)
	# under traffic the same three workers serve: none exits or is replaced
	for i in {1..30}; do
		run -0 curl -sS --max-time 5 "$BASE_URL/healthz"
		assert_output "$HEALTH_BODY"
	done
	sleep 0.5
	mapfile -t WORKERS < <(serve_pids)
	assert_equal "$(printf '%s\n' "${WORKERS[@]}" | sort)" "$first"
	pid_alive "$ACTIVATOR_PID" || fail "the master exited"
}

@test "without --workers the master starts one worker per CPU it may run on (nproc; 1 under taskset -c 0)" {
	local n
	# nproc counts the CPUs of the affinity mask (unless OMP_* say otherwise)
	n=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
	start_socket_server
	wait_for_workers "$n" 5 ||
		fail "expected $n workers (nproc), got ${#WORKERS[@]}: ${WORKERS[*]}"
	stop_socket_server
	# restricted to CPU 0: one worker
	SOCKET_WRAP=(taskset -c 0)
	start_socket_server
	wait_for_workers 1 5 ||
		fail "expected 1 worker under taskset -c 0, got ${#WORKERS[@]}: ${WORKERS[*]}"
	sleep 0.5
	mapfile -t WORKERS < <(serve_pids)
	assert_equal "${#WORKERS[@]}" 1
}

@test "SIGKILL of one worker mid-traffic: every acknowledged digest resolves, a new worker replaces it within 5 s, new requests succeed" {
	start_socket_server --workers 3
	wait_for_workers 3 5 || fail "expected 3 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local before=("${WORKERS[@]}") dir=$DIR/kill c i
	mkdir -p "$dir"
	for c in {1..4}; do
		(
			for ((i = 1; i <= 3000; i++)); do
				[[ -e $dir/stop ]] && break
				m="worker death $c $i"
				code=$(curl -sS --max-time 20 -o "$dir/$c.$i.out" -w '%{http_code}' \
					-H 'Content-Type: application/json' \
					-d "{\"message\":\"$m\"}" "$BASE_URL/messages" 2>/dev/null) || true
				if [[ $code == 200 || $code == 201 ]] &&
					grep -qE '^\{"digest":"[0-9a-f]{64}"\}$' "$dir/$c.$i.out"; then
					printf '%s\t%s\n' "$m" "$(cut -c12-75 "$dir/$c.$i.out")" >>"$dir/acked"
				else
					printf '%s\t%s\n' "$m" "$code" >>"$dir/failed"
				fi
			done
		) 3>&- &
		BG+=($!)
	done
	# acks_at_least N: wait (at most 10 s) until N POSTs were acknowledged
	acks_at_least() {
		local j
		for ((j = 0; j < 200; j++)); do
			(($(cat "$dir/acked" 2>/dev/null | wc -l) >= $1)) && return 0
			sleep 0.05
		done
		return 1
	}
	acks_at_least 20 || fail "the clients got fewer than 20 answers in 10 s: $(head -5 "$dir/failed" 2>/dev/null)"
	local victim=${before[RANDOM % 3]} acked_at_kill
	acked_at_kill=$(wc -l <"$dir/acked")
	kill -KILL "$victim"
	wait_for_workers 3 5 "$victim" ||
		fail "5 s after SIGKILL of worker $victim: ${#WORKERS[@]} live workers (${WORKERS[*]}), expected 3 without it"
	local new
	new=$(comm -13 <(printf '%s\n' "${before[@]}" | sort) <(printf '%s\n' "${WORKERS[@]}" | sort))
	[[ -n $new && $(wc -l <<<"$new") -eq 1 ]] ||
		fail "expected exactly one new worker, before: ${before[*]}, now: ${WORKERS[*]}"
	pid_alive "$ACTIVATOR_PID" || fail "the master died with its worker"
	# traffic goes on after the replacement
	acks_at_least $((acked_at_kill + 20)) || fail "fewer than 20 POSTs acknowledged in 10 s after the kill"
	touch "$dir/stop"
	local p
	for p in "${BG[@]}"; do wait "$p" || true; done
	BG=()
	# only requests in progress on the killed worker may lose their
	# connection (curl's 000): at most one per client.  503 (a store
	# failure, documented, e.g. a lock the killed worker held) is counted
	# apart; any other answer is wrong.
	local nlost n503 other
	nlost=$(cut -f2 "$dir/failed" 2>/dev/null | grep -cx 000) || true
	n503=$(cut -f2 "$dir/failed" 2>/dev/null | grep -cx 503) || true
	other=$(grep -vP '\t(000|503)$' "$dir/failed" 2>/dev/null | head -5) || true
	[[ -z $other ]] || fail "unexpected answers to POSTs: $other"
	((nlost <= 4)) || fail "$nlost POSTs lost their connection (at most 4 were in flight on the killed worker): $(head -10 "$dir/failed")"
	echo "# worker $victim killed, replaced by $new; $(wc -l <"$dir/acked") POSTs acknowledged, $nlost lost, $n503 answered 503" >&3
	# every acknowledged digest is sha256sum's and resolves through the CLI
	local m d got bad=
	while IFS=$'\t' read -r m d; do
		[[ $d == "$(sha256_of_string "$m")" ]] || bad+="wrong digest for '$m': $d"$'\n'
		got=$("$MSGHASH" --db "$MSGHASH_DB" lookup "$d" 2>&1) || true
		[[ $got == "$m" ]] || bad+="acknowledged '$m' ($d): lookup -> $got"$'\n'
	done <"$dir/acked"
	[[ -z $bad ]] || fail "$bad"
	# new requests succeed
	run -0 curl -sS --max-time 20 -o "$dir/new" -w '%{http_code}' -d '{"message":"after the worker died"}' "$BASE_URL/messages"
	assert_output 201
	assert_equal "$(cat "$dir/new")" "{\"digest\":\"$(sha256_of_string 'after the worker died')\"}"
	run -0 curl -sS --max-time 20 "$BASE_URL/messages/$(sha256_of_string 'after the worker died')"
	assert_output '{"message":"after the worker died"}'
}

@test "SIGTERM drain: a POST whose body is still arriving completes with 201 and its digest, the master exits 0, then connections are refused" {
	start_socket_server --workers 2
	wait_for_workers 2 5 || fail "expected 2 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local workers=("${WORKERS[@]}") master=$ACTIVATOR_PID
	local msg=$DIR/msg body=$DIR/body len half fd
	head -c 30000 /dev/urandom | base64 -w0 >"$msg"
	json_message_body "$(cat "$msg")" >"$body"
	len=$(stat -c %s "$body")
	half=$((len / 2))
	open_conn
	fd=$FD
	{
		printf 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' "$len"
		head -c "$half" "$body"
	} >"$DIR/part1"
	(cat "$DIR/part1" >&"$fd") 2>/dev/null || fail "could not send the headers and half the body"
	sleep 1
	kill -TERM "$master"
	sleep 0.5
	(tail -c +$((half + 1)) "$body" >&"$fd") 2>/dev/null ||
		fail "the connection was closed 0.5 s after SIGTERM, before the rest of the body could be sent"
	local rc=0
	timeout 10 cat <&"$fd" >"$DIR/resp" || rc=$?
	((rc == 0)) || fail "the connection was not closed within 10 s (rc $rc), got: $(cat -v "$DIR/resp" | head -c 400)"
	assert_single "$DIR/resp" 201 "{\"digest\":\"$(sha256_of_file "$msg")\"}"
	# the master exits, with status 0
	wait_gone "$master" 10 || fail "the master $master still runs 10 s after the drained request"
	rc=0
	wait "$master" || rc=$?
	ACTIVATOR_PID=
	assert_equal "$rc" 0
	local w
	for w in "${workers[@]}"; do
		wait_gone "$w" 5 || fail "worker $w still runs after the master exited"
	done
	# nothing listens any more
	if (exec 9<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		fail "127.0.0.1:$PORT still accepts connections after the master exited"
	fi
	run -7 curl -sS --max-time 5 "$BASE_URL/healthz"
	# the drained message is stored, byte for byte
	"$MSGHASH" --db "$MSGHASH_DB" lookup "$(sha256_of_file "$msg")" >"$DIR/looked-up"
	cmp "$DIR/looked-up" "$msg"
}

@test "SIGTERM drain: a 2 MiB answer that the client reads slowly is delivered completely, then the master exits 0" {
	start_socket_server --workers 1 --write-timeout 5
	local msg=$DIR/msg body=$DIR/body d fd rc=0 master=$ACTIVATOR_PID
	head -c 1600000 /dev/urandom | base64 -w0 | head -c 2097152 >"$msg"
	json_message_body "$(cat "$msg")" >"$body"
	d=$(sha256_of_file "$msg")
	run -0 curl_post_file "$body" "$DIR/post"
	assert_output 201
	open_conn
	fd=$FD
	send "$fd" 'GET /messages/%s HTTP/1.1\r\nHost: a\r\nAccept: application/octet-stream\r\n\r\n' "$d" ||
		fail "could not send the GET"
	# the answer fills the socket buffers; then SIGTERM
	sleep 0.3
	kill -TERM "$master"
	# read 256 KiB every 0.2 s until EOF (about 2 s for 2 MiB)
	timeout 30 bash -c '
		while :; do
			n=$(head -c 262144 | tee -a "$1" | wc -c)
			((n > 0)) || exit 0
			sleep 0.2
		done' reader "$DIR/resp" <&"$fd" || rc=$?
	((rc == 0)) || fail "the connection did not end within 30 s (rc $rc)"
	run -0 split_responses "$DIR/resp"
	assert_output 200
	cmp "$DIR/resp.1.b" "$msg"
	wait_gone "$master" 10 || fail "the master still runs 10 s after the answer was delivered"
	rc=0
	wait "$master" || rc=$?
	ACTIVATOR_PID=
	assert_equal "$rc" 0
}

@test "SIGTERM closes an idle keep-alive connection at once (not after --idle-timeout 60), then every worker and the master exit, the master with 0" {
	start_socket_server --workers 2 --idle-timeout 60
	wait_for_workers 2 5 || fail "expected 2 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local workers=("${WORKERS[@]}") master=$ACTIVATOR_PID fd t0 t1 rc=0
	open_conn
	fd=$FD
	send "$fd" 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n' || fail "could not send"
	read_one_response "$fd" "$DIR/first" || fail "no answer: $(cat -v "$DIR/first")"
	assert_single "$DIR/first" 200 "$HEALTH_BODY"
	has_close "$DIR/first.1" && fail "the keep-alive request was answered with Connection: close"
	t0=$(now_us)
	kill -TERM "$master"
	timeout 10 cat <&"$fd" >"$DIR/rest" || rc=$?
	t1=$(now_us)
	((rc == 0)) || fail "the idle connection was still open 10 s after SIGTERM"
	[[ ! -s $DIR/rest ]] || fail "an idle connection is closed silently, got: $(cat -v "$DIR/rest")"
	(((t1 - t0) < 5000000)) || fail "the idle connection was closed $(((t1 - t0) / 1000)) ms after SIGTERM"
	wait_gone "$master" 10 || fail "the master $master still runs 10 s after SIGTERM with only an idle connection"
	rc=0
	wait "$master" || rc=$?
	ACTIVATOR_PID=
	assert_equal "$rc" 0
	local w
	for w in "${workers[@]}"; do
		wait_gone "$w" 5 || fail "worker $w still runs after the master exited"
	done
}

@test "--idle-timeout 3: an idle keep-alive connection is closed silently after about 3 s while the same worker keeps serving others" {
	start_socket_server --workers 1 --idle-timeout 3
	wait_for_workers 1 5 || fail "expected 1 worker, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local worker=${WORKERS[0]} a b t0 i n reader
	local -a b_at=()
	open_conn
	a=$FD
	open_conn
	b=$FD
	send "$a" 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n' || fail "could not send on A"
	read_one_response "$a" "$DIR/a.first" || fail "no answer on A: $(cat -v "$DIR/a.first")"
	t0=${EPOCHREALTIME/./}
	# from now on A is idle: note when it reaches EOF
	(
		rc=0
		timeout 15 cat <&"$a" >"$DIR/a.rest" || rc=$?
		echo "$rc ${EPOCHREALTIME/./}" >"$DIR/a.done"
	) 3>&- &
	reader=$!
	BG+=("$reader")
	# B stays active on the same worker, a request every 0.2 s (far
	# within the idle timeout even on a loaded machine), until A has
	# been closed and 4 more were answered
	local gap prev=$t0
	n=0
	for ((i = 1; i <= 75 && n < 4; i++)); do
		gap=$(((${EPOCHREALTIME/./} - prev) / 1000))
		send "$b" 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n' ||
			fail "B was closed before request $i, $gap ms after its previous answer (idle timeout 3 s)"
		read_one_response "$b" "$DIR/b.$i" ||
			fail "no answer to B's request $i ($gap ms after the previous one): $(cat -v "$DIR/b.$i")"
		b_at[i]=${EPOCHREALTIME/./}
		prev=${b_at[i]}
		[[ -e $DIR/a.done ]] && n=$((n + 1))
		sleep 0.2
	done
	((n == 4)) || fail "A was not closed while B made $((i - 1)) requests (15 s)"
	# and new connections are served too
	run -0 curl -sS --max-time 5 -d '{"message":"after A was closed"}' "$BASE_URL/messages"
	assert_output "{\"digest\":\"$(sha256_of_string 'after A was closed')\"}"
	wait "$reader" || true
	BG=()
	local rc t_a
	read -r rc t_a <"$DIR/a.done" || fail "the reader of A did not finish"
	assert_single "$DIR/a.first" 200 "$HEALTH_BODY"
	has_close "$DIR/a.first.1" && fail "A's request was answered with Connection: close"
	((rc == 0)) || fail "idle connection A was still open 15 s later (idle timeout 3 s)"
	[[ ! -s $DIR/a.rest ]] || fail "A must be closed silently, got: $(cat -v "$DIR/a.rest")"
	local ms=$(((t_a - t0) / 1000))
	((ms >= 2700 && ms <= 8000)) || fail "idle connection A was closed after $ms ms, expected about 3000"
	# (a list, not ((i++)): bats' run sets a global i)
	local k
	for k in "${!b_at[@]}"; do
		assert_single "$DIR/b.$k" 200 "$HEALTH_BODY"
	done
	((b_at[${#b_at[@]}] > t_a)) || fail "B's last answer did not come after A was closed"
	mapfile -t WORKERS < <(serve_pids)
	assert_equal "${WORKERS[*]}" "$worker"
}

@test "one worker serves many connections at once: two stalled clients do not hold up a third (--workers 1)" {
	start_socket_server --workers 1 --header-timeout 30 --body-timeout 30
	wait_for_workers 1 5 || fail "expected 1 worker, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local worker=${WORKERS[0]} a b body
	open_conn
	a=$FD
	open_conn
	b=$FD
	# A: the header section is incomplete; B: the body is incomplete
	send "$a" 'GET /healthz HTTP/1.1\r\nHost: a\r\n' || fail "could not send on A"
	body=$(json_message_body 'stalled body')
	send "$b" 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
		"${#body}" "${body:0:10}" || fail "could not send on B"
	sleep 0.3
	run -0 curl -sS --max-time 5 -d '{"message":"meanwhile"}' "$BASE_URL/messages"
	assert_output "{\"digest\":\"$(sha256_of_string meanwhile)\"}"
	run -0 curl -sS --max-time 5 "$BASE_URL/messages/$(sha256_of_string meanwhile)"
	assert_output '{"message":"meanwhile"}'
	# now both complete their requests, B first
	send "$b" '%s' "${body:10}" || fail "B was closed"
	read_one_response "$b" "$DIR/b" || fail "no answer on B: $(cat -v "$DIR/b")"
	assert_single "$DIR/b" 201 "{\"digest\":\"$(sha256_of_string 'stalled body')\"}"
	send "$a" '\r\n' || fail "A was closed"
	read_one_response "$a" "$DIR/a" || fail "no answer on A: $(cat -v "$DIR/a")"
	assert_single "$DIR/a" 200 "$HEALTH_BODY"
	mapfile -t WORKERS < <(serve_pids)
	assert_equal "${WORKERS[*]}" "$worker"
}

# hold_idle PORT N OUT: in the background (its PID appended to BG), open N
# keep-alive connections one after another (connect, GET /healthz, read the
# answer, keep the socket) and write "ok SLOWEST_MS" to OUT, or "failed:
# WHY" if a connection is not answered within 3 s or all in 15 s.  Then hold them until
# OUT.check exists (at most 60 s), ask GET /healthz once more on each, and
# append "still ok" if every one answers.
hold_idle() {
	python3 -c '
import os, socket, sys, time
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
REQ = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
def report(line):
    with open(out, "a") as f:
        f.write(line + "\n")
def ask(s):
    s.sendall(REQ)
    got = b""
    while not (got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"\r\n\r\n{\"status\":\"ok\"}")):
        d = s.recv(4096)
        if not d:
            raise EOFError("closed by the server")
        got += d
conns, slowest, start = [], 0.0, time.monotonic()
for i in range(n):
    t = time.monotonic()
    if t - start > 15:
        report("failed: %d of %d connections answered in 15 s" % (i, n))
        sys.exit(1)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        ask(s)
    except Exception as e:
        report("failed: connection %d of %d after %.0f ms: %r" % (i + 1, n, (time.monotonic() - t) * 1000, e))
        sys.exit(1)
    conns.append(s)
    slowest = max(slowest, time.monotonic() - t)
report("ok %.0f" % (slowest * 1000))
end = time.monotonic() + 60
while not os.path.exists(out + ".check") and time.monotonic() < end:
    time.sleep(0.05)
try:
    for s in conns:
        ask(s)
    report("still ok")
except Exception as e:
    report("not still open: %r" % (e,))
' "$@" 3>&- &
	BG+=($!)
}

@test "--workers 3, 200 idle keep-alive connections open (--idle-timeout 60): new clients are answered at once, the connections are spread over the workers" {
	start_socket_server --workers 3 --idle-timeout 60
	wait_for_workers 3 5 || fail "expected 3 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	local n=200 i w st socks
	hold_idle "$PORT" "$n" "$DIR/idle"
	# one after another, each is a new client while the earlier ones idle
	for ((i = 0; i < 400; i++)); do
		[[ -s $DIR/idle ]] && break
		sleep 0.05
	done
	run -0 cat "$DIR/idle"
	assert_output --regexp '^ok [0-9]+$'
	for i in {1..5}; do
		run -0 curl -sS --max-time 3 "$BASE_URL/healthz"
		assert_output "$HEALTH_BODY"
	done
	# every worker holds about a third: at least a sixth
	for w in "${WORKERS[@]}"; do
		socks=$(find "/proc/$w/fd" -lname 'socket:*' 2>/dev/null | wc -l)
		((socks - 1 >= n / 6)) || fail "worker $w holds $((socks - 1)) of the $n connections"
	done
	touch "$DIR/idle.check"
	wait "${BG[0]}" || true
	BG=()
	run -0 cat "$DIR/idle"
	assert_line --index 1 'still ok'
}

@test "--workers 1 --max-size 1M: 64 uploads that stall 100 bytes short hold request bodies within the worker's budget (VmHWM), then all complete with 201" {
	local budget n=64 size=1000000 limit allowed
	budget=$(sed -n 's/^#define MH_SERVE_BODY_BUDGET[[:space:]]*\([0-9]*\).*/\1/p' "$MSGHASH_TEST_SRCDIR/lib/limits.h")
	[[ $budget =~ ^[0-9]+$ ]] || fail "no MH_SERVE_BODY_BUDGET in lib/limits.h"
	start_socket_server --workers 1 --max-size 1M --body-timeout 60
	wait_for_workers 1 5 || fail "expected 1 worker, got ${#WORKERS[@]}: ${WORKERS[*]}"
	# the largest body of --max-size 1M is 2 MiB + 4 KiB (JSON escapes);
	# the worker may hold `budget` of them, one more it lets finish, and
	# the first bytes of each body read with its head (up to 128 KiB)
	limit=$((2 * 1024 + 4))
	allowed=$(((budget + 1) * limit + n * 128 + 8 * 1024))
	# ASan's shadow memory and quarantine multiply RSS: a looser bound there.
	[[ ${MSGHASH_SANITIZED:-no} == yes ]] && allowed=$((allowed * 2))
	run -0 timeout 120 python3 -c '
import hashlib, socket, sys, threading, time
port, pid, n, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def hwm():
    with open("/proc/%s/status" % pid) as f:
        return [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0]
def message(i):
    return (b"%06d " % i + b"x" * size)[:size]
def upload(i, go=None):
    b = b"{\"message\":\"" + message(i) + b"\"}"
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"POST /messages HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(b) + b[:-100])
    if go is not None:
        sent[i] = True
        go.wait()
    s.sendall(b[-100:])
    got = b""
    while not got.endswith(b"\"}"):
        d = s.recv(4096)
        if not d:
            break
        got += d
    want = b"{\"digest\":\"%s\"}" % hashlib.sha256(message(i)).hexdigest().encode()
    return got.startswith(b"HTTP/1.1 201 ") and got.endswith(b"\r\n\r\n" + want)
def client(i):
    try:
        ok[i] = upload(i, go)
    except Exception as e:
        print("upload %d: %r" % (i, e))
# one whole upload first: the baseline has served one of the largest
if not upload(n):
    sys.exit("the first upload was not answered 201")
base = hwm()
go, sent, ok = threading.Event(), [False] * n, [False] * n
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
end = time.monotonic() + 10
while not all(sent) and time.monotonic() < end:
    time.sleep(0.05)
time.sleep(0.5)
grew = hwm() - base
go.set()
for t in threads:
    t.join(90)
print("grew %d kB; %d of %d uploads answered 201" % (grew, sum(ok), n))
' "$PORT" "${WORKERS[0]}" "$n" "$size"
	echo "# $output (allowed: $allowed kB)" >&3
	assert_output --regexp "^grew [0-9]+ kB; $n of $n uploads answered 201\$"
	local grew=${output#grew }
	grew=${grew%% *}
	((grew <= allowed)) || fail "the worker's VmHWM grew by $grew kB with $n bodies in progress, more than $allowed kB"
}

# round_trip: POST a message, GET it back (JSON and raw), look it up with the
# CLI, and find the POST in the access log on the server's stderr
round_trip() {
	local m="through fd 0 ($SOCKET_MODE)" d i
	d=$(sha256_of_string "$m")
	run -0 curl -sS --max-time 20 -o "$DIR/post" -w '%{http_code}' \
		-H 'Content-Type: application/json' -d "$(json_message_body "$m")" "$BASE_URL/messages"
	assert_output 201
	assert_equal "$(cat "$DIR/post")" "{\"digest\":\"$d\"}"
	run -0 curl -sS --max-time 20 "$BASE_URL/messages/$d"
	assert_output "$(json_message_body "$m")"
	run -0 curl -sS --max-time 20 -H 'Accept: application/octet-stream' "$BASE_URL/messages/$d"
	assert_output "$m"
	run -0 --separate-stderr "$MSGHASH" --db "$MSGHASH_DB" lookup "$d"
	assert_output "$m"
	for ((i = 0; i < 100; i++)); do
		grep -q ' POST /messages 201' "$SOCKET_LOG" && break
		sleep 0.05
	done
	run -0 cat "$SOCKET_LOG"
	assert_line --regexp '^127\.0\.0\.1[^ ]* POST /messages 201( |$)'
}

@test "inetd wait (systemd-socket-activate --inetd without -a: the listening socket on fd 0 and 1): workers, POST/GET round trip" {
	SOCKET_MODE=stdin
	start_socket_server --workers 2
	# the mode under test: the socket comes on fd 0, not through LISTEN_FDS
	tr '\0' '\n' <"/proc/$ACTIVATOR_PID/environ" | grep -q '^LISTEN_FDS=' &&
		fail "LISTEN_FDS is set: this is not the fd 0 case"
	assert_equal "$(cat "/proc/$ACTIVATOR_PID/comm")" msghash
	wait_for_workers 2 5 || fail "expected 2 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	round_trip
	# a second round on other connections: still the same two workers
	run -0 curl -sS --max-time 20 "$BASE_URL/healthz" "$BASE_URL/healthz"
	assert_output "$HEALTH_BODY$HEALTH_BODY"
	local first=("${WORKERS[@]}")
	mapfile -t WORKERS < <(serve_pids)
	assert_equal "${WORKERS[*]}" "${first[*]}"
}

@test "a listening socket on fd 0 alone (stdout a file, no systemd): workers, POST/GET round trip" {
	SOCKET_MODE=fd0
	start_socket_server --workers 2
	assert_equal "$(cat "/proc/$ACTIVATOR_PID/comm")" msghash
	wait_for_workers 2 5 || fail "expected 2 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
	round_trip
	# SIGTERM: the master exits 0
	stop_socket_server
	assert_equal "$STOP_RC" 0
}

@test "--workers outside 1 to 256 (0, 257, -1, abc, empty) is a usage error; 1 and 256 are accepted (and ignored when piped)" {
	local w
	for w in 0 257 -1 abc ''; do
		run -2 --separate-stderr timeout 10 "$MSGHASH" serve --workers "$w" </dev/null
		assert_usage_error
		assert_stderr_contains -workers
	done
	# per-connection mode (a request piped in): accepted and ignored
	printf -- "$PROBE_REQ" >"$DIR/req"
	local opts
	for opts in '--workers 1' '--workers=256'; do
		# shellcheck disable=SC2086 # the options are words on purpose
		serve_raw "$DIR/req" $opts
		assert_equal "$SERVE_RC" 0
		run -0 split_responses "$SERVE_OUT"
		assert_output 200
		assert_equal "$(cat "$SERVE_OUT.1.b")" "$HEALTH_BODY"
	done
}

@test "SIGINT and SIGHUP to the master shut the server down like SIGTERM: every worker exits, the master with 0" {
	local sig w rc
	for sig in INT HUP; do
		start_socket_server --workers 2
		wait_for_workers 2 5 || fail "expected 2 workers, got ${#WORKERS[@]}: ${WORKERS[*]}"
		local workers=("${WORKERS[@]}") master=$ACTIVATOR_PID
		kill -"$sig" "$master"
		wait_gone "$master" 10 || fail "the master still runs 10 s after SIG$sig"
		rc=0
		wait "$master" || rc=$?
		ACTIVATOR_PID=
		((rc == 0)) || fail "the master exited $rc after SIG$sig"
		for w in "${workers[@]}"; do
			wait_gone "$w" 5 || fail "worker $w still runs after SIG$sig to the master"
		done
		if (exec 9<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			fail "127.0.0.1:$PORT still accepts connections after SIG$sig"
		fi
	done
}
