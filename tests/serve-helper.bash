# tests/serve-helper.bash -- helpers for serve.bats (per-connection mode) and for
# serve-socket.bats, serve-socket-wait.bats and serve-wait.bats
# (systemd-socket-activate + curl).  Load after helper:
#
#   load helper
#   load serve-helper
#
# Expected values come from the specification (RFC 9110 reason phrases, the
# header order of msghash(1)) and from sha256sum, never from a run of msghash.

# shellcheck source=tests/activate.bash
source "$MSGHASH_TEST_SRCDIR/tests/activate.bash"

# Raw request/expected-response pairs, read from the source tree (VPATH builds).
HTTP_FIXTURES="$MSGHASH_TEST_SRCDIR/tests/fixtures/http"

# The probe request appended after a request under test: if the connection
# stays open it must be answered with 200 {"status":"ok"}.
PROBE_REQ='GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'
HEALTH_BODY='{"status":"ok"}'
NOTFOUND_BODY='{"err_msg":"Message not found"}'

# RFC 9110 section 15 reason phrases for every status msghash may send.
declare -gA REASON=(
	[100]='Continue' [200]='OK' [201]='Created' [204]='No Content'
	[400]='Bad Request' [404]='Not Found' [405]='Method Not Allowed'
	[406]='Not Acceptable' [408]='Request Timeout' [411]='Length Required'
	[413]='Content Too Large' [414]='URI Too Long' [417]='Expectation Failed'
	[431]='Request Header Fields Too Large' [500]='Internal Server Error'
	[501]='Not Implemented' [503]='Service Unavailable'
	[505]='HTTP Version Not Supported'
)

# The response header order of the specification.
RESPONSE_HEADER_ORDER=(Date Content-Type Content-Length Location Allow Retry-After Connection)

# Global options placed before "serve" by serve_raw (e.g. SERVE_GLOBAL=(--max-size 1K)).
SERVE_GLOBAL=()
SERVE_SEQ=0

# -------------------------------------------------------- per-connection mode

# serve_raw FILE [serve options...]: pipe FILE into `msghash serve`.
# Sets SERVE_OUT (stdout, the responses), SERVE_ERR (stderr) and SERVE_RC.
# `timeout 20` is a hang detector only.
serve_raw() {
	local in=$1
	shift
	SERVE_SEQ=$((SERVE_SEQ + 1))
	SERVE_OUT=$BATS_TEST_TMPDIR/serve.$SERVE_SEQ.out
	SERVE_ERR=$BATS_TEST_TMPDIR/serve.$SERVE_SEQ.err
	SERVE_RC=0
	timeout 20 "$MSGHASH" "${SERVE_GLOBAL[@]}" serve "$@" <"$in" >"$SERVE_OUT" 2>"$SERVE_ERR" ||
		SERVE_RC=$?
}

# serve_printf FORMAT [serve options...]: the request is printf FORMAT's output.
serve_printf() {
	local fmt=$1
	shift
	local req=$BATS_TEST_TMPDIR/req.$((SERVE_SEQ + 1))
	printf -- "$fmt" >"$req"
	serve_raw "$req" "$@"
}

# norm_date [FILE]: the byte stream with every IMF-fixdate Date header value
# (RFC 9110 section 5.6.7) replaced by the literal DATE.  A Date in any other
# format is left as it is, so it shows up as a difference.
norm_date() {
	sed -E 's/^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\r$/Date: DATE\r/' "$@"
}

# split_responses FILE [N...]: split the response stream FILE into responses
# FILE.1, FILE.2, ... (FILE.N.h = status line + headers, FILE.N.b = body),
# framed by Content-Length; the responses numbered N... answer HEAD requests
# and have no body.  Prints the status codes on one line ("100 201 200").
# Returns 1 (with the reason on stderr) if the stream is not a sequence of
# complete responses.
split_responses() {
	local f=$1
	shift
	local -A nobody=()
	local i
	for i in "$@"; do nobody[$i]=1; done
	local size off=0 n=0 line code cl hlen blen got_end first
	local codes=()
	size=$(stat -c %s "$f")
	rm -f "$f".[0-9]*
	while ((off < size)); do
		n=$((n + 1))
		hlen=0 cl= code= got_end=0 first=1
		while IFS= read -r line; do
			hlen=$((hlen + ${#line} + 1))
			if [[ $line != *$'\r' ]]; then
				echo "response $n: header line not ended by CRLF: ${line@Q}" >&2
				return 1
			fi
			line=${line%$'\r'}
			if ((first)); then
				first=0
				if [[ ! $line =~ ^HTTP/1\.1\ ([0-9]{3})\ [^[:cntrl:]]*$ ]]; then
					echo "response $n: bad status line: ${line@Q}" >&2
					return 1
				fi
				code=${BASH_REMATCH[1]}
				continue
			fi
			if [[ -z $line ]]; then
				got_end=1
				break
			fi
			if [[ ${line,,} == content-length:* ]]; then
				cl=${line#*:}
				cl=${cl//[[:space:]]/}
			fi
		done < <(tail -c +$((off + 1)) "$f")
		if ((!got_end)); then
			echo "response $n: incomplete header section at byte $off" >&2
			return 1
		fi
		if [[ $code == 1?? || $code == 204 || -n ${nobody[$n]:-} ]]; then
			blen=0
		elif [[ $cl =~ ^[0-9]+$ ]]; then
			blen=$cl
		else
			echo "response $n ($code): no valid Content-Length" >&2
			return 1
		fi
		if ((off + hlen + blen > size)); then
			echo "response $n ($code): body shorter than Content-Length $blen" >&2
			return 1
		fi
		tail -c +$((off + 1)) "$f" | head -c $((hlen + blen)) >"$f.$n"
		head -c "$hlen" "$f.$n" >"$f.$n.h"
		tail -c +$((hlen + 1)) "$f.$n" >"$f.$n.b"
		off=$((off + hlen + blen))
		codes+=("$code")
	done
	echo "${codes[*]}"
}

# resp_header PART NAME: the value of header NAME (case-insensitive) in the
# response PART (FILE.N from split_responses); returns 1 if absent.
resp_header() {
	local line name=${2,,}
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [[ ${line,,} == "$name":* ]]; then
			line=${line#*:}
			line=${line#"${line%%[! ]*}"}
			printf '%s\n' "$line"
			return 0
		fi
	done <"$1.h"
	return 1
}

# check_response PART [head]: print every way in which response PART breaks
# the specification's response format; no output means well formed.
check_response() {
	local p=$1 head=${2:-} status code line name i last=-1 idx
	local -a names=()
	status=$(head -n 1 "$p.h")
	status=${status%$'\r'}
	code=${status:9:3}
	if [[ -z ${REASON[$code]:-} ]]; then
		echo "unexpected status code in ${status@Q}"
	elif [[ $status != "HTTP/1.1 $code ${REASON[$code]}" ]]; then
		echo "status line ${status@Q}, expected 'HTTP/1.1 $code ${REASON[$code]}'"
	fi
	if [[ $code == 1?? ]]; then
		[[ $(wc -c <"$p.h") -eq $((${#status} + 4)) ]] || echo "1xx response with header fields"
		return 0
	fi
	while IFS= read -r line; do
		line=${line%$'\r'}
		[[ -n $line ]] || continue
		names+=("${line%%:*}")
	done < <(tail -n +2 "$p.h")
	for name in "${names[@]}"; do
		idx=-1
		for i in "${!RESPONSE_HEADER_ORDER[@]}"; do
			[[ ${RESPONSE_HEADER_ORDER[$i]} == "$name" ]] && idx=$i
		done
		((idx < 0)) && continue
		((idx > last)) || echo "header $name out of order (${names[*]})"
		last=$idx
	done
	local date
	if date=$(resp_header "$p" Date); then
		[[ $date =~ ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun),\ [0-3][0-9]\ (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\ [0-9]{4}\ [0-2][0-9]:[0-5][0-9]:[0-6][0-9]\ GMT$ ]] ||
			echo "Date is not an IMF-fixdate: ${date@Q}"
	else
		echo "no Date header"
	fi
	if [[ $code == 204 ]]; then
		resp_header "$p" Content-Length >/dev/null && echo "204 with Content-Length"
	else
		resp_header "$p" Content-Length >/dev/null || echo "no Content-Length"
	fi
	if [[ -z $head && -s $p.b ]] && [[ $(head -c 1 "$p.b") == '{' ]]; then
		[[ $(resp_header "$p" Content-Type) == application/json ]] ||
			echo "JSON body without Content-Type: application/json"
	fi
	if [[ $code == 405 || $code == 204 ]]; then
		resp_header "$p" Allow >/dev/null || echo "$code without Allow"
	fi
	return 0
}

# is_err_body PART: the body is {"err_msg":"<non-empty>"} with the JSON type.
is_err_body() {
	[[ $(resp_header "$1" Content-Type) == application/json ]] &&
		grep -qaE '^\{"err_msg":"([^"\\]|\\.)+"\}$' "$1.b" &&
		[[ $(wc -l <"$1.b") -eq 0 ]]
}

# has_close PART: the response carries Connection: close.
has_close() {
	[[ $(resp_header "$1" Connection) == close ]]
}

# ------------------------------------------------------- rows of the B2 table

# expect_row WANT CONN FORMAT [serve options...]
#   Pipe printf FORMAT followed by the probe GET /healthz into msghash serve.
#   WANT: the status code, or an extended regex of codes ("413|400");
#   CONN: "close": exactly one response, carrying Connection: close (the probe
#         is never read); "keep": the response without Connection: close, then
#         the probe's 200.
#   Failures are collected in ROW_FAILURES; call assert_rows at the end.
#   If set, ROW_ALLOW is the expected Allow value and ROW_ERRMSG a substring
#   of the expected body.
ROW_FAILURES=()
ROW_ALLOW=
ROW_ERRMSG=
expect_row() {
	local want=$1 conn=$2 fmt=$3
	shift 3
	local req=$BATS_TEST_TMPDIR/row.$((SERVE_SEQ + 1)).req codes problem=
	printf -- "$fmt" >"$req"
	printf -- "$PROBE_REQ" >>"$req"
	serve_raw "$req" "$@"
	local -a c=()
	if ! codes=$(split_responses "$SERVE_OUT" 2>&1); then
		problem="unparsable response stream: $codes"
	else
		read -r -a c <<<"$codes"
		if ((SERVE_RC != 0)); then
			problem="msghash serve exited $SERVE_RC"
		elif [[ $conn == close ]]; then
			if ((${#c[@]} != 1)) || [[ ! ${c[0]} =~ ^($want)$ ]]; then
				problem="expected exactly one response ($want) and close, got: ${codes:-none}"
			elif ! has_close "$SERVE_OUT.1"; then
				problem="${c[0]} without 'Connection: close'"
			fi
		else
			if ((${#c[@]} != 2)) || [[ ! ${c[0]} =~ ^($want)$ || ${c[1]} != 200 ]]; then
				problem="expected $want then the probe's 200 (connection kept), got: ${codes:-none}"
			elif has_close "$SERVE_OUT.1"; then
				problem="${c[0]} with 'Connection: close' (should keep the connection)"
			elif [[ $(cat "$SERVE_OUT.2.b") != "$HEALTH_BODY" ]]; then
				problem="probe answered with a wrong body"
			fi
		fi
		if [[ -z $problem && ${c[0]} -ge 400 ]] && ! is_err_body "$SERVE_OUT.1"; then
			problem="${c[0]} body is not {\"err_msg\":\"...\"} with Content-Type: application/json: $(cat -v "$SERVE_OUT.1.b")"
		fi
		if [[ -z $problem && -n $ROW_ALLOW ]] && [[ $(resp_header "$SERVE_OUT.1" Allow) != "$ROW_ALLOW" ]]; then
			problem="Allow: '$(resp_header "$SERVE_OUT.1" Allow)', expected '$ROW_ALLOW'"
		fi
		if [[ -z $problem && -n $ROW_ERRMSG ]] && ! grep -qF -- "$ROW_ERRMSG" "$SERVE_OUT.1.b"; then
			problem="body $(cat -v "$SERVE_OUT.1.b") does not contain '$ROW_ERRMSG'"
		fi
	fi
	if [[ -n $problem ]]; then
		local shown
		shown=$(printf %q "$fmt")
		((${#shown} <= 160)) || shown="${shown:0:120}...(${#fmt} bytes of format)...${shown: -30}"
		ROW_FAILURES+=("request $shown ${SERVE_GLOBAL[*]:+(${SERVE_GLOBAL[*]})}${*:+(serve $*)}: $problem")
	fi
}

# assert_rows: fail listing every collected row failure.
assert_rows() {
	if ((${#ROW_FAILURES[@]})); then
		printf '%s\n' "${ROW_FAILURES[@]}" |
			batslib_decorate "${#ROW_FAILURES[@]} request(s) answered against the specification" | fail
	fi
}

# ------------------------------------------------ slow writers (fifo stdin)

WRITER_PID=
# start_writer FIFO DELAY FORMAT: a background writer that prints FORMAT into
# FIFO (all at once if DELAY is 0, else one byte per DELAY seconds), then
# keeps FIFO open (it never sends EOF).  Its PID is WRITER_PID.
start_writer() {
	local fifo=$1 delay=$2 fmt=$3
	[[ -p $fifo ]] || mkfifo "$fifo"
	local data=$BATS_TEST_TMPDIR/writer.data
	printf -- "$fmt" >"$data"
	(
		if [[ $delay == 0 ]]; then
			cat "$data"
		else
			while IFS= read -r -n 1 -d '' ch; do
				if [[ -z $ch ]]; then printf '\0'; else printf '%s' "$ch"; fi
				sleep "$delay"
			done <"$data"
		fi
		exec sleep 60
	) >"$fifo" 3>&- &
	WRITER_PID=$!
}

# stop_writer: end the writer started by start_writer (only that PID).
stop_writer() {
	if [[ -n $WRITER_PID ]]; then
		kill "$WRITER_PID" 2>/dev/null || true
		wait "$WRITER_PID" 2>/dev/null || true
		WRITER_PID=
	fi
}

# serve_fifo DELAY FORMAT [serve options...]: msghash serve reading from a
# writer that never closes its end; the response must come (and serve exit)
# without EOF.  Sets SERVE_OUT, SERVE_ERR, SERVE_RC like serve_raw.
serve_fifo() {
	local delay=$1 fmt=$2
	shift 2
	local fifo=$BATS_TEST_TMPDIR/stdin.fifo
	start_writer "$fifo" "$delay" "$fmt"
	serve_raw "$fifo" "$@"
	stop_writer
}

# ------------------------------------------------------------- socket mode
#
# SOCKET_MODE chooses how start_socket_server runs msghash serve on
# 127.0.0.1:$PORT:
#   inetd  one msghash serve per accepted connection, the connection on fd 0
#          and 1 (systemd-socket-activate --inetd -a; msghash.socket with
#          Accept=yes).  The default.
#   wait   wait mode: the listening socket passed as fd 3 with LISTEN_FDS=1
#          (systemd-socket-activate without --inetd and -a; Accept=no).
#          systemd-socket-activate exec()s msghash on the first connection
#          attempt, so ACTIVATOR_PID is then the msghash master, and the
#          workers are its children.
#   stdin  wait mode, the listening socket on fd 0 and fd 1
#          (systemd-socket-activate --inetd without -a: inetd's "wait").
#   fd0    wait mode, the listening socket on fd 0 only (python3 binds it,
#          then exec()s msghash serve with stdout a file).
# A test file whose name ends in -wait.bats runs in wait mode: that is how
# tests/serve-socket-wait.bats, a symlink to serve-socket.bats, runs the same
# tests against the persistent server.  A test may set SOCKET_MODE itself
# before start_socket_server.
if [[ ${BATS_TEST_FILENAME:-} == *-wait.bats ]]; then
	SOCKET_MODE='wait'
else
	SOCKET_MODE=${SOCKET_MODE:-inetd}
fi

ACTIVATOR_PID=
PORT=
BASE_URL=
SOCKET_LOG=
# the exit status of the last server stop_socket_server waited for
STOP_RC=
# a command that exec()s its arguments, put before systemd-socket-activate
# (e.g. SOCKET_WRAP=(taskset -c 0)); ACTIVATOR_PID stays the same process
SOCKET_WRAP=()

# pid_alive PID: PID exists and is not a zombie (a worker whose master has
# not reaped it yet, or an orphan that PID 1 does not reap, counts as gone).
pid_alive() {
	local st
	{ IFS= read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	[[ -n $st && $st != [ZX]* ]]
}

# wait_gone PID SECONDS: poll until PID has exited; 1 if it is still alive
# after SECONDS
wait_gone() {
	local i
	for ((i = 0; i <= $2 * 20; i++)); do
		pid_alive "$1" || return 0
		sleep 0.05
	done
	return 1
}

# now_us: the wall clock in microseconds
now_us() {
	local t=$EPOCHREALTIME
	echo $((10#${t/./}))
}

# serve_pids: the live msghash children of our ACTIVATOR_PID, one PID a
# line: the per-connection serve processes (inetd mode), or the master's
# workers (wait modes).
serve_pids() {
	local p
	[[ -n $ACTIVATOR_PID ]] || return 0
	for p in $(pgrep -P "$ACTIVATOR_PID" -x msghash 2>/dev/null); do
		if pid_alive "$p"; then echo "$p"; fi
	done
	return 0
}

# wait_for_workers N [SECONDS] [GONE_PID]: poll (every 0.05 s, for at most
# SECONDS, default 5) until the master has exactly N live workers, none of
# them GONE_PID.  Returns 1 when that does not happen in time; WORKERS holds
# the last PIDs seen either way.
WORKERS=()
wait_for_workers() {
	local n=$1 secs=${2:-5} gone=${3:-} i
	for ((i = 0; i <= secs * 20; i++)); do
		mapfile -t WORKERS < <(serve_pids)
		if ((${#WORKERS[@]} == n)) && [[ " ${WORKERS[*]} " != *" $gone "* || -z $gone ]]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# start_socket_server [serve options...]: msghash serve in SOCKET_MODE on
# 127.0.0.1:$PORT (a free random high port; another is tried if the bind
# fails).  Ready when a TCP connect succeeds and, in the wait modes,
# GET /healthz answers 200 (a worker accepts).  Sets PORT, BASE_URL,
# ACTIVATOR_PID and SOCKET_LOG (the server's stdout and stderr: the access
# log).  All waits are bounded.
start_socket_server() {
	local port i code v
	SOCKET_LOG=$BATS_TEST_TMPDIR/activator.log
	case $SOCKET_MODE in
	inetd | wait | stdin | fd0) ;;
	*) fail "unknown SOCKET_MODE '$SOCKET_MODE' (inetd, wait, stdin or fd0)" ;;
	esac
	# systemd-socket-activate passes on only PATH, TERM, USER, HOME and its
	# -E variables.  Without the sanitizer options the served processes ran
	# without tests/lsan.supp, and libdb's leak after a kill failed the
	# sanitizer build (CI).
	local -a senv=()
	for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
		[[ -v $v ]] && senv+=(-E "$v=${!v}")
	done
	if [[ $SOCKET_MODE == fd0 ]]; then
		# the kernel picks a free port; python3 reports it, then
		# becomes msghash serve with the listening socket on fd 0
		local portfile=$BATS_TEST_TMPDIR/port
		python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(128)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
os.dup2(s.fileno(), 0)
s.close()
os.execv(sys.argv[2], sys.argv[2:])
' "$portfile" "$MSGHASH" serve "$@" </dev/null >>"$SOCKET_LOG" 2>&1 3>&- &
		ACTIVATOR_PID=$!
		for i in {1..200}; do
			[[ -s $portfile ]] && break
			sleep 0.05
		done
		port=$(cat "$portfile" 2>/dev/null) ||
			fail "python3 did not report a listening port: $(cat "$SOCKET_LOG")"
	else
		ACTIVATE_WRAP=("${SOCKET_WRAP[@]}")
		activate_start "$SOCKET_MODE" "$SOCKET_LOG" -E MSGHASH_DB="$MSGHASH_DB" \
			"${senv[@]}" -- "$MSGHASH" serve "$@" ||
			fail "could not start systemd-socket-activate on a free port: $(cat "$SOCKET_LOG")"
		ACTIVATOR_PID=$ACTIVATE_PID
		port=$ACTIVATE_PORT
	fi
	# Ready: per connection once it accepts; in the wait modes once a
	# worker answers GET /healthz.
	for i in {1..300}; do
		pid_alive "$ACTIVATOR_PID" ||
			fail "msghash serve ($SOCKET_MODE mode) exited before it answered GET /healthz: $(cat "$SOCKET_LOG")"
		code=200
		if [[ $SOCKET_MODE != inetd ]]; then
			code=$(curl -sS --max-time 1 -o /dev/null -w '%{http_code}' \
				"http://127.0.0.1:$port/healthz" 2>/dev/null) || true
		elif activate_port_free "$port"; then
			code=000
		fi
		if [[ $code == 200 ]]; then
			PORT=$port
			BASE_URL=http://127.0.0.1:$PORT
			return 0
		fi
		sleep 0.05
	done
	stop_socket_server || true
	fail "msghash serve ($SOCKET_MODE mode) on 127.0.0.1:$port did not become ready: $(cat "$SOCKET_LOG")"
}

# stop_socket_server: SIGTERM to our activator or master only (the
# activator forwards it to the serve processes it started; the master stops
# its workers), wait at most 10 s for it (its status in STOP_RC), then at
# most 10 s until the processes it had started are gone.  Whatever is still
# alive then is SIGKILLed (only our processes) and the call returns 1, so a
# server that ignores SIGTERM fails the test from teardown; so does a
# sanitizer report in the server's stderr ($SOCKET_LOG).
stop_socket_server() {
	[[ -n $ACTIVATOR_PID ]] || {
		check_server_log
		return
	}
	local pid=$ACTIVATOR_PID kids k i left=
	kids=$(serve_pids)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	if pid_alive "$pid"; then
		left+=" $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	STOP_RC=0
	wait "$pid" 2>/dev/null || STOP_RC=$?
	ACTIVATOR_PID=
	for k in $kids; do
		for ((i = 0; i < 200; i++)); do
			pid_alive "$k" || break
			sleep 0.05
		done
		if pid_alive "$k"; then
			left+=" $k"
			kill -KILL "$k" 2>/dev/null || true
		fi
	done
	if [[ -n $left ]]; then
		echo "stop_socket_server ($SOCKET_MODE mode): still running 10 s after SIGTERM, SIGKILLed:$left" >&2
		return 1
	fi
	check_server_log
}

# check_server_log: fail (return 1, the report on stderr) if the servers'
# stderr ($SOCKET_LOG) holds a sanitizer report: with --enable-sanitizers a
# worker may die of one and be replaced without any client noticing.
check_server_log() {
	local re='ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:'
	if [[ -n $SOCKET_LOG ]] && grep -qE "$re" "$SOCKET_LOG" 2>/dev/null; then
		echo "sanitizer report in the server's stderr ($SOCKET_MODE mode):" >&2
		grep -E -A12 "$re" "$SOCKET_LOG" | head -60 >&2
		return 1
	fi
	return 0
}

# read_one_response FD OUT: read exactly one response (status line, header
# fields, Content-Length bytes of body) from the socket FD into OUT without
# waiting for the connection to close.  Returns 1 if it does not arrive
# within 10 s per read.  Bodies must be text (JSON): read drops NUL bytes.
read_one_response() {
	local fd=$1 out=$2 line cl=0 body
	: >"$out"
	while :; do
		IFS= read -r -t 10 line <&"$fd" || return 1
		printf '%s\n' "$line" >>"$out"
		if [[ ${line,,} == content-length:* ]]; then
			cl=${line#*:}
			cl=${cl//[[:space:]]/}
		fi
		[[ $line != $'\r' ]] || break
	done
	if ((cl > 0)); then
		IFS= read -r -d '' -t 10 -N "$cl" body <&"$fd" || return 1
		printf '%s' "$body" >>"$out"
	fi
	return 0
}

# curl_post_file BODY_FILE OUT: POST BODY_FILE to /messages with curl, the
# response body to OUT; prints the HTTP status code ("000" when it failed).
curl_post_file() {
	curl -sS --max-time 20 -o "$2" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$1" \
		"$BASE_URL/messages" 2>/dev/null || true
}

# json_message_body STRING: {"message":"STRING"} for a STRING that needs no
# JSON escaping (printable ASCII without " and \).
json_message_body() {
	printf '{"message":"%s"}' "$1"
}
