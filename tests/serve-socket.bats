#!/usr/bin/env bats
# msghash serve behind systemd-socket-activate, driven by curl and raw
# sockets.  This file runs twice (SOCKET_MODE, see serve-helper.bash):
#   tests/serve-socket.bats       per-connection mode: one serve process per
#                                 TCP connection (--inetd -a, Accept=yes);
#   tests/serve-socket-wait.bats  (a symlink to this file) wait mode: the
#                                 listening socket is passed (LISTEN_FDS=1,
#                                 Accept=no) and a master's workers serve
#                                 every connection.
# The same HTTP behaviour, limits and timeouts are expected in both.
# Expected digests come from sha256sum and the specification's example.

bats_require_minimum_version 1.5.0

load helper
load serve-helper

setup() {
	common_setup
	D=$(sha256_of_string foo)
}

# bats ignores a failing command in teardown unless it is the last one:
# a server that outlives SIGTERM or a sanitizer report fails the test here.
teardown() {
	local rc=0
	stop_socket_server || rc=1
	common_teardown
	return "$rc"
}

# get_message DIGEST OUT [curl args...]: GET /messages/DIGEST; prints the status code
curl_get() {
	local d=$1 out=$2
	shift 2
	curl -sS --max-time 20 -o "$out" -w '%{http_code}' "$@" "$BASE_URL/messages/$d" 2>/dev/null || true
}

@test "the curl example: POST {\"message\": \"foo\"} -> {\"digest\":\"2c26b4...e7ae\"}, GET returns it" {
	start_socket_server
	run -0 curl -sS --max-time 20 -X POST -H "Content-Type: application/json" -d '{"message": "foo"}' "http://127.0.0.1:$PORT/messages"
	assert_output '{"digest":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}'
	assert_output "{\"digest\":\"$D\"}"
	# created the first time, 200 the second time
	run -0 curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" -d '{"message": "foo"}' "$BASE_URL/messages"
	assert_output 200
	run -0 curl -sS --max-time 20 "$BASE_URL/messages/$D"
	assert_output '{"message":"foo"}'
	run -0 curl -sS --max-time 20 -o /dev/null -w '%{http_code}' "$BASE_URL/messages/${D^^}"
	assert_output 200
	run -0 curl -sS --max-time 20 "$BASE_URL/healthz"
	assert_output '{"status":"ok"}'
}

@test "POST answers 201 with Location, GET of an unknown digest 404" {
	start_socket_server
	run -0 curl -sS --max-time 20 -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' \
		--data-binary '{"message":"socket"}' "$BASE_URL/messages"
	assert_output 201
	local d
	d=$(sha256_of_string socket)
	grep -qx "Location: /messages/$d"$'\r' "$BATS_TEST_TMPDIR/h" || fail "no Location: $(cat -v "$BATS_TEST_TMPDIR/h")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" "{\"digest\":\"$d\"}"
	run -0 curl_get 0000000000000000000000000000000000000000000000000000000000000000 "$BATS_TEST_TMPDIR/b"
	assert_output 404
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" '{"err_msg":"Message not found"}'
}

@test "a 2 MiB message (Expect: 100-continue) comes back byte-identical" {
	start_socket_server
	local msg=$BATS_TEST_TMPDIR/msg body=$BATS_TEST_TMPDIR/body
	head -c 1600000 /dev/urandom | base64 -w0 | head -c 2097152 >"$msg"
	[[ $(stat -c %s "$msg") -eq 2097152 ]] || fail "could not build the message"
	{
		printf '{"message":"'
		cat "$msg"
		printf '"}'
	} >"$body"
	local d
	d=$(sha256_of_file "$msg")
	run -0 curl -sS --max-time 60 -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' \
		-H 'Content-Type: application/json' -H 'Expect: 100-continue' --data-binary "@$body" "$BASE_URL/messages"
	assert_output 201
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" "{\"digest\":\"$d\"}"
	grep -q '^HTTP/1.1 100 Continue' "$BATS_TEST_TMPDIR/h" || fail "no 100 Continue: $(cat -v "$BATS_TEST_TMPDIR/h")"
	# JSON GET: {"message":"<msg>"} is exactly the uploaded body
	run -0 curl_get "$d" "$BATS_TEST_TMPDIR/got.json" --max-time 60
	assert_output 200
	cmp "$BATS_TEST_TMPDIR/got.json" "$body"
	run -0 curl_get "$d" "$BATS_TEST_TMPDIR/got.raw" --max-time 60 -H 'Accept: application/octet-stream'
	assert_output 200
	cmp "$BATS_TEST_TMPDIR/got.raw" "$msg"
}

@test "a chunked upload (Transfer-Encoding: chunked) of a UTF-8 message" {
	start_socket_server
	local msg=$BATS_TEST_TMPDIR/msg body=$BATS_TEST_TMPDIR/body i
	for i in {1..3000}; do printf 'ligne %d: caf\303\251 \342\202\254 \360\237\230\200 ' "$i"; done >"$msg"
	{
		printf '{"message":"'
		cat "$msg"
		printf '"}'
	} >"$body"
	run -0 curl -sS --max-time 60 -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' \
		-H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "@$body" "$BASE_URL/messages"
	assert_output 201
	local d
	d=$(sha256_of_file "$msg")
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" "{\"digest\":\"$d\"}"
	run -0 curl_get "$d" "$BATS_TEST_TMPDIR/got" -H 'Accept: application/octet-stream'
	assert_output 200
	cmp "$BATS_TEST_TMPDIR/got" "$msg"
	run -0 curl_get "$d" "$BATS_TEST_TMPDIR/got.json"
	cmp "$BATS_TEST_TMPDIR/got.json" "$body"
}

@test "two requests on one connection (curl reuses it: num_connects 1 then 0)" {
	start_socket_server
	run -0 curl -sS --max-time 20 -o /dev/null -d '{"message":"foo"}' "$BASE_URL/messages"
	run -0 curl -sS --max-time 20 -w '\n%{http_code} %{num_connects}\n' \
		"$BASE_URL/healthz" "$BASE_URL/messages/$D"
	assert_equal "${lines[0]}" '{"status":"ok"}'
	assert_equal "${lines[1]}" '200 1'
	assert_equal "${lines[2]}" '{"message":"foo"}'
	assert_equal "${lines[3]}" '200 0'
}

@test "HTTP/1.0 (curl -0): POST and GET work" {
	start_socket_server
	run -0 curl -0 -sS --max-time 20 -d '{"message":"one point oh"}' "$BASE_URL/messages"
	assert_output "{\"digest\":\"$(sha256_of_string 'one point oh')\"}"
	run -0 curl -0 -sS --max-time 20 -i "$BASE_URL/messages/$(sha256_of_string 'one point oh')"
	assert_line --index 0 --regexp '^HTTP/1\.1 200 OK'
	assert_line --index $((${#lines[@]} - 1)) '{"message":"one point oh"}'
}

@test "32 concurrent clients POST and GET distinct messages; every answer matches sha256sum" {
	start_socket_server
	local c pids=() dir=$BATS_TEST_TMPDIR/clients
	mkdir -p "$dir"
	# Each client behaves as clients should on a 503 + Retry-After (the
	# store too busy to take another opener in time: on two cores, 32
	# sanitizer-built processes at once): it retries, up to 3 times.  Any
	# other 503 fails the test (checked in the log below).  A failed curl
	# is recorded, not fatal (errexit would lose the other clients' story).
	local -a curl=(curl -sS --max-time 20 --retry 3 --retry-max-time 60)
	for c in {1..32}; do
		(
			for i in {1..5}; do
				m="client $c message $i"
				d=$(printf %s "$m" | sha256sum | cut -c1-64)
				code=$("${curl[@]}" -o "$dir/$c.$i.post" -w '%{http_code}' \
					-d "{\"message\":\"$m\"}" "$BASE_URL/messages" 2>>"$dir/$c.err") || true
				[[ $code == 201 && $(cat "$dir/$c.$i.post") == "{\"digest\":\"$d\"}" ]] ||
					echo "POST '$m': $code $(cat "$dir/$c.$i.post" 2>/dev/null)" >>"$dir/$c.fail"
				# read another client's message too (it may not exist yet: 200 or 404)
				o=$(((c % 32) + 1))
				od=$(printf %s "client $o message $i" | sha256sum | cut -c1-64)
				code=$("${curl[@]}" -o "$dir/$c.$i.other" -w '%{http_code}' \
					"$BASE_URL/messages/$od" 2>>"$dir/$c.err") || true
				if [[ $code == 200 ]]; then
					[[ $(cat "$dir/$c.$i.other") == "{\"message\":\"client $o message $i\"}" ]] ||
						echo "GET other: wrong body $(cat "$dir/$c.$i.other")" >>"$dir/$c.fail"
				elif [[ $code != 404 ]]; then
					echo "GET other: $code" >>"$dir/$c.fail"
				fi
				code=$("${curl[@]}" -o "$dir/$c.$i.get" -w '%{http_code}' \
					"$BASE_URL/messages/$d" 2>>"$dir/$c.err") || true
				[[ $code == 200 && $(cat "$dir/$c.$i.get") == "{\"message\":\"$m\"}" ]] ||
					echo "GET '$m': $code $(cat "$dir/$c.$i.get" 2>/dev/null)" >>"$dir/$c.fail"
			done
		) 3>&- &
		pids+=($!)
	done
	local p
	for p in "${pids[@]}"; do wait "$p"; done
	if compgen -G "$dir/*.fail" >/dev/null; then
		fail "$(cat "$dir"/*.fail "$dir"/*.err 2>/dev/null | head -40)"
	fi
	local busy other
	busy=$(grep -c ' 503 .* is busy' "$SOCKET_LOG" || true)
	other=$(grep ' 503 ' "$SOCKET_LOG" | grep -v ' is busy' | head -5 || true)
	echo "# $SOCKET_MODE mode: $busy answers 503 (store busy), retried" >&3
	[[ -z $other ]] || fail "503 for another reason than a busy store: $other"
	# all 160 messages are in the store (seen through the CLI)
	for c in {1..32}; do
		run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string "client $c message 5")"
		assert_output "client $c message 5"
	done
}

@test "slow client: partial headers -> 408 with Connection: close at the header timeout" {
	start_socket_server --header-timeout 0.5
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /healthz HTTP/1.1\r\nHost: a\r\n' >&"$fd"
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" || true
	exec {fd}>&-
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output 408
	has_close "$BATS_TEST_TMPDIR/resp.1" || fail "408 without Connection: close"
	is_err_body "$BATS_TEST_TMPDIR/resp.1" || fail "408 body: $(cat -v "$BATS_TEST_TMPDIR/resp.1.b")"
}

@test "raw socket: pipelined requests in one write are answered in order, Connection: close ends it" {
	start_socket_server
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n{"message":"foo"}GET /messages/%s HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' "$D" >&"$fd"
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" || true
	exec {fd}>&-
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output '201 200 200'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/resp.2.b")" '{"message":"foo"}'
	has_close "$BATS_TEST_TMPDIR/resp.3" || fail "no Connection: close"
}

@test "SIGKILL of serve processes mid-traffic: every digest a client received still resolves" {
	# per-connection mode: kill serve processes, children of the activator;
	# wait mode: kill workers, children of the master, one at a time, each
	# replaced before the next kill.  The activator/master is never killed.
	start_socket_server
	local dir=$BATS_TEST_TMPDIR/kill c pids=() max=40 nworkers=0
	mkdir -p "$dir"
	if [[ $SOCKET_MODE != inetd ]]; then
		# workers live long: the clients run until the kills are done
		max=2000
		mapfile -t WORKERS < <(serve_pids)
		nworkers=${#WORKERS[@]}
		((nworkers > 0)) || fail "the master ($ACTIVATOR_PID) has no worker children"
	fi
	for c in {1..6}; do
		(
			for ((i = 1; i <= max; i++)); do
				[[ -e $dir/stop ]] && break
				m="kill test $c $i"
				code=$(curl -sS --max-time 20 -o "$dir/$c.$i.out" -w '%{http_code}' \
					-d "{\"message\":\"$m\"}" "$BASE_URL/messages" 2>/dev/null) || true
				if [[ $code == 200 || $code == 201 ]] &&
					grep -qE '^\{"digest":"[0-9a-f]{64}"\}$' "$dir/$c.$i.out"; then
					printf '%s\t%s\n' "$m" "$(cut -c12-75 "$dir/$c.$i.out")" >>"$dir/acked"
				fi
			done
		) 3>&- &
		pids+=($!)
	done
	local kills=0 alive p k kids i victim replaced=0 bad=
	if [[ $SOCKET_MODE == inetd ]]; then
		# kill serve processes (children of OUR activator only) while the clients run
		while :; do
			alive=0
			for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
			((alive)) || break
			kids=$(pgrep -P "$ACTIVATOR_PID") || true
			# A serve process lives a few milliseconds: look again at once
			# until one is caught, then let traffic flow for a moment.
			[[ -n $kids ]] || continue
			# every one until the first kill, then half of them
			for k in $kids; do
				if ((kills == 0 || RANDOM % 2)); then
					kill -KILL "$k" 2>/dev/null && kills=$((kills + 1))
				fi
			done
			sleep 0.$((RANDOM % 3))
		done
	else
		for ((k = 0; k < 3; k++)); do
			# let some POSTs through first (bounded: 10 s)
			for ((i = 0; i < 200; i++)); do
				(($(cat "$dir/acked" 2>/dev/null | wc -l) >= 10 * (k + 1))) && break
				sleep 0.05
			done
			mapfile -t WORKERS < <(serve_pids)
			((${#WORKERS[@]})) || { bad+="no live worker before kill $((k + 1))"$'\n'; break; }
			victim=${WORKERS[RANDOM % ${#WORKERS[@]}]}
			kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
			if wait_for_workers "$nworkers" 5 "$victim"; then
				replaced=$((replaced + 1))
			else
				bad+="after SIGKILL of worker $victim: ${#WORKERS[@]} live workers (${WORKERS[*]}) 5 s later, expected $nworkers new ones"$'\n'
			fi
			pid_alive "$ACTIVATOR_PID" || { bad+="the master died after SIGKILL of worker $victim"$'\n'; break; }
		done
		touch "$dir/stop"
	fi
	for p in "${pids[@]}"; do wait "$p" || true; done
	((kills > 0)) || fail "no serve process was killed (the test proved nothing)"
	[[ -z $bad ]] || fail "$bad"
	echo "# $SOCKET_MODE mode: $kills serve processes killed, $(wc -l <"$dir/acked" 2>/dev/null || echo 0) POSTs acknowledged" >&3
	[[ -s $dir/acked ]] || fail "no POST was acknowledged at all ($kills kills)"
	pid_alive "$ACTIVATOR_PID" || fail "the activator/master $ACTIVATOR_PID died: $(tail -20 "$SOCKET_LOG")"
	# every acknowledged digest is right and still resolves, on new connections
	local m d code
	while IFS=$'\t' read -r m d; do
		[[ $d == "$(sha256_of_string "$m")" ]] || bad+="wrong digest for '$m': $d"$'\n'
		code=$(curl_get "$d" "$dir/get")
		[[ $code == 200 && $(cat "$dir/get") == "{\"message\":\"$m\"}" ]] ||
			bad+="acknowledged '$m' ($d): GET -> $code $(cat "$dir/get" 2>/dev/null)"$'\n'
	done <"$dir/acked"
	[[ -z $bad ]] || fail "$bad($kills serve processes killed)"
	# and new requests succeed
	run -0 curl -sS --max-time 20 -o "$dir/new" -w '%{http_code}' -d '{"message":"after the kills"}' "$BASE_URL/messages"
	assert_output 201
	assert_equal "$(cat "$dir/new")" "{\"digest\":\"$(sha256_of_string 'after the kills')\"}"
	run -0 curl_get "$(sha256_of_string 'after the kills')" "$dir/new.get"
	assert_output 200
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string 'after the kills')"
	assert_output 'after the kills'
}

@test "one access-log line per request on the server's stderr (peer, method, path, status)" {
	start_socket_server
	local d404 i
	d404=$(sha256_of_string "never stored in $BATS_TEST_TMPDIR")
	run -0 curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -d '{"message":"logged"}' "$BASE_URL/messages"
	assert_output 201
	run -0 curl_get "$d404" /dev/null
	assert_output 404
	# the line may be written just after the response: poll, bounded
	for ((i = 0; i < 100; i++)); do
		grep -q "/messages/$d404" "$SOCKET_LOG" && break
		sleep 0.05
	done
	run -0 cat "$SOCKET_LOG"
	# space-separated fields, the peer first (msghash(1))
	assert_line --regexp '^127\.0\.0\.1[^ ]* POST /messages 201( |$)'
	assert_line --regexp "^127\\.0\\.0\\.1[^ ]* GET /messages/$d404 404( |\$)"
	# exactly one line for the GET of that digest
	assert_equal "$(grep -c "/messages/$d404" "$SOCKET_LOG")" 1
}

@test "body timeout over a socket: a stalled body -> 408 with Connection: close, nothing stored" {
	start_socket_server --body-timeout 0.5
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	# Content-Length 20, only 17 bytes sent
	printf 'POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"message":"abc"}' >&"$fd"
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" || true
	exec {fd}>&-
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output 408
	has_close "$BATS_TEST_TMPDIR/resp.1" || fail "408 without Connection: close"
	is_err_body "$BATS_TEST_TMPDIR/resp.1" || fail "408 body: $(cat -v "$BATS_TEST_TMPDIR/resp.1.b")"
	run -0 curl_get "$(sha256_of_string abc)" "$BATS_TEST_TMPDIR/b"
	assert_output 404
}

@test "idle timeout over a socket: a kept-alive connection is closed silently after its answer" {
	start_socket_server --idle-timeout 0.5
	local fd rc=0
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf -- "$PROBE_REQ" >&"$fd"
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" || rc=$?
	exec {fd}>&-
	((rc == 0)) || fail "the connection was not closed by the server (cat: $rc)"
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output 200
	has_close "$BATS_TEST_TMPDIR/resp.1" && fail "a kept-alive answer carries Connection: close"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/resp.1.b")" "$HEALTH_BODY"
}

@test "SIGTERM to the processes serving an idle keep-alive connection (--idle-timeout 60) closes it within seconds; they exit" {
	# per-connection mode: the connection's own process, which waits for the
	# next request in a blocking read (SO_RCVTIMEO slices) with SIGTERM
	# blocked, so it must look for the signal between slices; wait mode:
	# the workers (the master replaces them).
	start_socket_server --idle-timeout 60
	local fd line t0 t1 rc=0 p pids
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf -- "$PROBE_REQ" >&"$fd"
	IFS= read -r -t 10 line <&"$fd" || fail "no answer"
	[[ $line == "HTTP/1.1 200 "* ]] || fail "answer: $line"
	mapfile -t pids < <(serve_pids)
	((${#pids[@]} > 0)) || fail "no serve process under the activator $ACTIVATOR_PID"
	sleep 0.3	# into the idle wait
	t0=$(now_us)
	kill -TERM "${pids[@]}"
	timeout 10 cat <&"$fd" >/dev/null || rc=$?
	t1=$(now_us)
	exec {fd}>&-
	((rc == 0)) || fail "the idle connection was still open 10 s after SIGTERM"
	(((t1 - t0) < 5000000)) || fail "the idle connection was closed $(((t1 - t0) / 1000)) ms after SIGTERM"
	for p in "${pids[@]}"; do
		wait_gone "$p" 5 || fail "serve process $p still runs 5 s after SIGTERM"
	done
	echo "# $SOCKET_MODE mode: closed $(((t1 - t0) / 1000)) ms after SIGTERM" >&3
}

@test "--max-requests 2 over a socket: three pipelined requests get two answers, then the connection ends" {
	start_socket_server --max-requests 2
	local fd rc=0
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf -- "$PROBE_REQ$PROBE_REQ$PROBE_REQ" >&"$fd"
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" || rc=$?
	exec {fd}>&-
	((rc == 0)) || fail "the connection did not end after 2 requests (cat: $rc)"
	run -0 split_responses "$BATS_TEST_TMPDIR/resp"
	assert_output '200 200'
}

@test "lingering close: a client that sends its whole oversized body before reading gets the 413 and EOF, not a reset" {
	# the 413 goes out as soon as the head is read; closing with the body
	# still arriving would reset the connection (RFC 9112 §9.6), and a
	# client that reads only after sending could lose the answer
	start_socket_server --max-size 64K
	run -0 python3 -c '
import socket, sys
body = b"{\"message\":\"" + b"a" * 600000 + b"\"}"
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /messages HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    end = "EOF"
except OSError as e:
    end = e.strerror
print(end)
sys.stdout.write(got.decode())
' "$PORT"
	assert_line --index 0 EOF
	assert_line --index 1 --partial 'HTTP/1.1 413 '
	assert_line --regexp '^Connection: close'
	assert_line --regexp '^\{"err_msg":"[^"]+"\}$'
}

@test "--workers 1: a client that never reads its answers is given up at the write timeout, others are served meanwhile" {
	# --workers is accepted and ignored in per-connection mode; in wait
	# mode the one worker must not block on the client that does not read
	start_socket_server --workers 1 --write-timeout 6
	local msg=$BATS_TEST_TMPDIR/msg body=$BATS_TEST_TMPDIR/body d fd i rc=0
	head -c 1600000 /dev/urandom | base64 -w0 | head -c 2097152 >"$msg"
	json_message_body "$(cat "$msg")" >"$body"
	d=$(sha256_of_file "$msg")
	run -0 curl_post_file "$body" "$BATS_TEST_TMPDIR/post"
	assert_output 201
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	for i in {1..20}; do
		printf 'GET /messages/%s HTTP/1.1\r\nHost: a\r\nAccept: application/octet-stream\r\n\r\n' "$d"
	done >&"$fd"
	sleep 0.5
	# 20 x 2 MiB do not fit in the socket buffers: the server is stuck on
	# us for 6 s, yet answers others at once
	for i in {1..3}; do
		run -0 curl -sS --max-time 4 "$BASE_URL/healthz"
		assert_output "$HEALTH_BODY"
	done
	# well past the write timeout, read what was sent before it gave up
	sleep 8
	timeout 20 cat <&"$fd" >"$BATS_TEST_TMPDIR/resp" 2>/dev/null || rc=$?
	exec {fd}>&-
	((rc != 124)) || fail "the connection was still open 20 s later"
	run -0 head -c 17 "$BATS_TEST_TMPDIR/resp"
	assert_output 'HTTP/1.1 200 OK'$'\r'
	local got
	got=$(stat -c %s "$BATS_TEST_TMPDIR/resp")
	((got < 20 * 2097152)) || fail "all $got bytes of 20 answers were sent to a client that did not read"
	run -0 curl -sS --max-time 5 "$BASE_URL/healthz"
	assert_output "$HEALTH_BODY"
}
