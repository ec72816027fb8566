#!/usr/bin/env bats
# Hostile clients against `msghash serve` behind systemd-socket-activate,
# started with short limits: every behaviour must be cut off by a deadline
# or a limit.  Checked by behaviour (the status, EOF, the serve process being
# gone), never by wall time: `timeout 30` and the 30 s polls are hang
# detectors only.  Every background process is started here and stopped by
# its PID; serve processes are found as children of our activator.

bats_require_minimum_version 1.5.0

load helper
load serve-helper

# The short limits (seconds) of every server in this file.
SHORT=(--header-timeout 1 --body-timeout 2 --idle-timeout 1 --write-timeout 1)

setup() {
	common_setup
	BG_PIDS=()
	SOCK_FDS=()
}

# A failing command inside teardown is ignored unless it is the last one
# (bats 1.8): stop_socket_server's verdict (a server that ignored SIGTERM,
# a sanitizer report) is carried to the end.
teardown() {
	local p fd rc=0
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for fd in "${SOCK_FDS[@]}"; do
		exec {fd}>&- || true
	done
	stop_socket_server || rc=1
	common_teardown
	return "$rc"
}

# connect: open a TCP connection to our server; its fd in FD (closed in teardown)
connect() {
	exec {FD}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect to 127.0.0.1:$PORT"
	SOCK_FDS+=("$FD")
}

# serve_children: the msghash processes our activator started
serve_children() {
	pgrep -P "$ACTIVATOR_PID" -x msghash 2>/dev/null || true
}

# wait_serve_child: the PID of our activator's (only) msghash child into
# SERVE_PID, polling for at most 30 s (hang detector)
wait_serve_child() {
	local i
	SERVE_PID=
	for ((i = 0; i < 600; i++)); do
		SERVE_PID=$(serve_children | head -n 1)
		[[ -n $SERVE_PID ]] && return 0
		sleep 0.05
	done
	fail "no msghash serve process appeared under our activator within 30 s"
}

# wait_no_serve_children: true once our activator has no msghash child left;
# false if some are still alive after 30 s (hang detector)
wait_no_serve_children() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -z $(serve_children) ]] && return 0
		sleep 0.05
	done
	return 1
}

# describe_children: state of our activator's children, for failure messages
describe_children() {
	local p
	for p in $(serve_children); do
		printf 'pid %s: %s, wchan %s\n' "$p" "$(grep -E '^State' "/proc/$p/status" 2>/dev/null)" \
			"$(cat "/proc/$p/wchan" 2>/dev/null)"
	done
}

# read_to_eof FD FILE: read the connection until the server closes it; the
# status of `timeout 30 cat` into READ_RC (124: the server never closed it).
read_to_eof() {
	READ_RC=0
	timeout 30 cat <&"$1" >"$2" 2>"$2.err" || READ_RC=$?
}

@test "hostile: 50 connections that send nothing are all closed by the server, which still answers meanwhile" {
	start_socket_server "${SHORT[@]}"
	local i fds=()
	for i in {1..50}; do
		connect
		fds+=("$FD")
	done
	# meanwhile, a normal request is answered
	run -0 curl -sS --max-time 20 "$BASE_URL/healthz"
	assert_output "$HEALTH_BODY"
	# every silent connection reads EOF: the server closed it (silently, or
	# with a single 408 and Connection: close); all read at once, so the
	# hang detector is 30 s in all
	local readers=() out=$BATS_TEST_TMPDIR/silent
	for i in "${!fds[@]}"; do
		(
			rc=0
			timeout 30 cat <&"${fds[i]}" >"$out.$i" 2>"$out.$i.err" || rc=$?
			echo "$rc" >"$out.$i.rc"
		) 3>&- &
		readers+=($!)
		BG_PIDS+=($!)
	done
	wait "${readers[@]}"
	local bad=() rc codes
	for i in "${!fds[@]}"; do
		rc=$(cat "$out.$i.rc")
		if ((rc == 124)); then
			bad+=("connection $i: still open after 30 s")
		elif ((rc != 0)); then
			bad+=("connection $i: read failed ($rc): $(cat "$out.$i.err")")
		elif [[ -s $out.$i ]]; then
			if ! codes=$(split_responses "$out.$i" 2>&1) || [[ $codes != 408 ]] ||
				! has_close "$out.$i.1"; then
				bad+=("connection $i: sent $(head -c 200 "$out.$i" | cat -v)")
			fi
		fi
	done
	((${#bad[@]} == 0)) || fail "$(printf '%s\n' "${bad[@]}" | head -10)"
	# and every serve process has exited
	wait_no_serve_children || fail "serve processes still alive: $(describe_children)"
	run -0 curl -sS --max-time 20 "$BASE_URL/healthz"
	assert_output "$HEALTH_BODY"
}

@test "hostile: a header trickled one byte every 0.3 s gets 408 and the connection is closed" {
	start_socket_server "${SHORT[@]}"
	wait_no_serve_children || fail "the readiness probe's serve process did not exit"
	connect
	local req i
	# a header section of ~150 bytes: 45 s at 0.3 s per byte, far beyond the
	# 1 s header timeout
	printf -v req 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Trickle: %s\r\n\r\n' "$(printf 'a%.0s' {1..100})"
	(
		for ((i = 0; i < ${#req}; i++)); do
			printf %s "${req:i:1}" >&"$FD" || exit 0
			sleep 0.3
		done
		touch "$BATS_TEST_TMPDIR/trickle.done"
	) 2>/dev/null 3>&- &
	BG_PIDS+=($!)
	read_to_eof "$FD" "$BATS_TEST_TMPDIR/resp"
	((READ_RC != 124)) || fail "the connection is still open after 30 s: $(describe_children)"
	[[ ! -e $BATS_TEST_TMPDIR/trickle.done ]] || fail "the whole header was accepted at 0.3 s per byte"
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output 408
	has_close "$BATS_TEST_TMPDIR/resp.1" || fail "408 without Connection: close"
	is_err_body "$BATS_TEST_TMPDIR/resp.1" || fail "408 body: $(cat -v "$BATS_TEST_TMPDIR/resp.1.b")"
	wait_no_serve_children || fail "the serve process is still alive: $(describe_children)"
}

@test "hostile: an endless chunked body ends with 413 (or 408), the connection closed, nothing stored" {
	start_socket_server --max-size 64K "${SHORT[@]}"
	connect
	local chunk first
	chunk=$(printf 'a%.0s' {1..1024})
	first='{"message":"'${chunk:12}
	(
		printf 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' >&"$FD" || exit 0
		printf '400\r\n%s\r\n' "$first" >&"$FD" || exit 0
		n=1
		# 1 KiB chunks for ever: only the server can end this
		while printf '400\r\n%s\r\n' "$chunk" >&"$FD"; do
			n=$((n + 1))
			# appended, not rewritten: a reader between a truncation
			# and its write saw an empty count (CI, distcheck)
			echo "$n" >>"$BATS_TEST_TMPDIR/chunks"
		done
	) 2>/dev/null 3>&- &
	BG_PIDS+=($!)
	read_to_eof "$FD" "$BATS_TEST_TMPDIR/resp"
	((READ_RC != 124)) || fail "the connection is still open after 30 s: $(describe_children)"
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output --regexp '^(413|408)$'
	has_close "$BATS_TEST_TMPDIR/resp.1" || fail "$output without Connection: close"
	is_err_body "$BATS_TEST_TMPDIR/resp.1" || fail "$output body: $(cat -v "$BATS_TEST_TMPDIR/resp.1.b")"
	if [[ $output == 413 ]]; then
		# the limit is 2 * 64 KiB + 4 KiB = 135168 decoded bytes: 132 chunks
		local sent
		sent=$(tail -n 1 "$BATS_TEST_TMPDIR/chunks" 2>/dev/null)
		sent=${sent:-1}
		((sent > 132)) || fail "413 after only $sent chunks of 1 KiB (the limit is 135168 bytes)"
	fi
	wait_no_serve_children || fail "the serve process is still alive: $(describe_children)"
	# nothing stored: the store is created only when a message is first stored
	[[ ! -e $MSGHASH_DB ]] || fail "the store was created: $(ls -la "$MSGHASH_DB")"
}

@test "hostile: pipelined GETs of a 4 MiB message never read: the serve process gives up and exits" {
	local msg=$BATS_TEST_TMPDIR/msg d
	make_binary_file "$msg" "$DEFAULT_MAX_SIZE"
	run -0 --separate-stderr "$MSGHASH" hash <"$msg"
	d=$output
	assert_equal "$d" "$(sha256_of_file "$msg")"
	start_socket_server "${SHORT[@]}"
	wait_no_serve_children || fail "the readiness probe's serve process did not exit"
	connect
	local req i
	printf -v req 'GET /messages/%s HTTP/1.1\r\nHost: a\r\nAccept: application/octet-stream\r\n\r\n' "$d"
	for i in {1..50}; do printf %s "$req"; done >&"$FD"
	wait_serve_child
	local pid=$SERVE_PID
	# never read; the process must give up on us (write timeout) and exit
	# while our end of the connection is still open
	local gone=0
	for ((i = 0; i < 600; i++)); do
		if ! kill -0 "$pid" 2>/dev/null || [[ $(serve_children) != *"$pid"* ]]; then
			gone=1
			break
		fi
		sleep 0.05
	done
	((gone)) || fail "serve process $pid still alive after 30 s with a client that does not read: $(describe_children)"
	wait_no_serve_children || fail "serve processes still alive: $(describe_children)"
	# what it had sent before giving up: the start of a 200 with the raw
	# message, far less than 50 responses
	read_to_eof "$FD" "$BATS_TEST_TMPDIR/resp"
	((READ_RC != 124)) || fail "the connection is still open after 30 s"
	run -0 head -c 17 "$BATS_TEST_TMPDIR/resp"
	assert_output 'HTTP/1.1 200 OK'$'\r'
	local got
	got=$(stat -c %s "$BATS_TEST_TMPDIR/resp")
	((got < 50 * DEFAULT_MAX_SIZE)) || fail "all $got bytes of 50 responses were sent to a client that did not read"
	echo "# the serve process gave up after sending $got bytes" >&3
}

@test "hostile: peak RSS of a serve process receiving a 4 MiB message stays below 64 MiB" {
	local msg=$BATS_TEST_TMPDIR/msg body=$BATS_TEST_TMPDIR/body d
	head -c 3200000 /dev/urandom | base64 -w0 | head -c "$DEFAULT_MAX_SIZE" >"$msg"
	[[ $(stat -c %s "$msg") -eq $DEFAULT_MAX_SIZE ]] || fail "could not build the message"
	{
		printf '{"message":"'
		cat "$msg"
		printf '"}'
	} >"$body"
	d=$(sha256_of_file "$msg")
	start_socket_server --header-timeout 1 --body-timeout 10 --idle-timeout 10 --write-timeout 1
	# The readiness probe's own serve process must be gone first, or we
	# would measure it (slow to exit under ASan) instead of ours.
	wait_no_serve_children || fail "the readiness probe's serve process did not exit"
	connect
	wait_serve_child
	local pid=$SERVE_PID
	{
		printf 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' \
			"$(stat -c %s "$body")"
		cat "$body"
	} >&"$FD"
	# the status line comes after the message is stored; the connection is
	# then kept alive, so the process is still there: its VmHWM now is the
	# peak of its whole life, receiving, parsing and storing included
	local status line hwm
	IFS= read -r -t 30 -u "$FD" status || fail "no response within 30 s"
	hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$pid/status" 2>/dev/null)
	assert_equal "${status%$'\r'}" 'HTTP/1.1 201 Created'
	[[ $hwm =~ ^[0-9]+$ ]] || fail "cannot read VmHWM of serve process $pid (it exited before the connection ended)"
	# the rest of the response: the digest
	local len=
	while IFS= read -r -t 30 -u "$FD" line && [[ $line != $'\r' ]]; do
		[[ ${line,,} == content-length:* ]] && len=${line#*:} && len=${len//[!0-9]/}
	done
	[[ -n $len ]] || fail "no Content-Length in the response"
	IFS= read -r -t 30 -N "$len" -u "$FD" line || fail "short response body"
	assert_equal "$line" "{\"digest\":\"$d\"}"
	echo "# peak RSS (VmHWM) of one serve process receiving a 4 MiB message: $hwm kB ($((hwm / 1024)) MiB)" >&3
	# ASan's shadow memory and quarantine multiply RSS: a looser bound there.
	limit=$((64 * 1024))
	[[ ${MSGHASH_SANITIZED:-no} == yes ]] && limit=$((512 * 1024))
	((hwm < limit)) || fail "VmHWM $hwm kB is not below $((limit / 1024)) MiB"
	"$MSGHASH" lookup "$d" | cmp - "$msg" || fail "lookup does not return the message"
}

@test "access log: two workers sharing a pipe write whole lines only, under load" {
	local log=$BATS_TEST_TMPDIR/log.txt info=$BATS_TEST_TMPDIR/listen n bad master port
	# A wait-mode server whose stderr is a pipe (as under journald), read
	# by cat: python binds a free port, reports it and its PID, and
	# becomes msghash serve with the listening socket on fd 0.
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(128)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d %d\n" % (s.getsockname()[1], os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
os.dup2(s.fileno(), 0)
s.close()
os.execv(sys.argv[2], sys.argv[2:])
' "$info" "$MSGHASH" serve --workers 2 2>&1 >/dev/null </dev/null 3>&- | cat >"$log" &
	BG_PIDS+=($!)
	for _ in {1..200}; do [[ -s $info ]] && break; sleep 0.05; done
	read -r port master <"$info" || fail "the server did not report its port"
	BG_PIDS+=("$master")
	run -0 curl -sS --max-time 10 --retry 5 --retry-connrefused "http://127.0.0.1:$port/healthz"
	run -0 wrk -t 2 -c 16 -d 3s "http://127.0.0.1:$port/healthz"
	kill -TERM "$master"
	# cat ends when the master and both workers have closed the pipe
	run -0 timeout 20 tail --pid="${BG_PIDS[0]}" -f /dev/null
	n=$(wc -l <"$log")
	((n >= 2000)) || fail "only $n log lines: too few requests to tell"
	bad=$(grep -cvE '^127\.0\.0\.1(:[0-9]+)? GET /healthz 200 [0-9]+ [0-9]+us$' "$log" || true)
	((bad == 0)) || fail "$bad of $n lines are torn or merged: $(grep -vE '^127\.0\.0\.1(:[0-9]+)? GET /healthz 200 [0-9]+ [0-9]+us$' "$log" | head -3)"
}
