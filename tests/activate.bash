# tests/activate.bash -- the one way the bats suites, the chaos soak and the
# bench start `msghash serve` behind a real socket activator.  Source it.
#
#   activate_start MODE LOG [-E NAME=VALUE]... -- CMD...
#
# starts systemd-socket-activate in the background on 127.0.0.1 at a free
# high port, in per-connection mode (MODE inetd: --inetd -a, a CMD per
# connection) or wait mode (MODE wait: the listening socket as fd 3,
# LISTEN_FDS=1; MODE stdin: as fd 0, inetd's wait), with CMD's stdin /dev/null and its stdout and stderr
# appended to LOG.  The -E variables are passed on (the activator passes
# little else).  Returns 0 once a TCP connect to the port succeeds, with
# ACTIVATE_PID (the activator, our child) and ACTIVATE_PORT set; a port
# that turns out to be taken (the activator exits: its bind failed; or
# another process listens there) is replaced by another, 20 times at most;
# returns 1 if none worked.
# Readiness beyond the connect (a worker answering) is the caller's.
# ACTIVATE_WRAP (an array, empty by default) is put before the activator,
# e.g. to slow it down in a test.  ACTIVATE_WANT_PORT, if set, is the one
# port tried (a node restarted where its clients know it).

[[ -v ACTIVATE_WRAP ]] || ACTIVATE_WRAP=()

# activate_port_free PORT: nobody accepts on 127.0.0.1:PORT
activate_port_free() {
	! (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# activate_listens PORT PID: the listener on PORT is PID's (the process
# that took a port we found free meanwhile, in a test run beside this one,
# is not ours: our activator then fails its bind and exits)
activate_listens() {
	ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
}

activate_start() {
	local mode=$1 log=$2 port attempt i
	local -a act=() envs=()
	shift 2
	case $mode in
	inetd) act=(--inetd -a) ;;
	wait) act=() ;;
	stdin) act=(--inetd) ;;
	*) echo "activate_start: MODE must be inetd, wait or stdin, not '$mode'" >&2; return 2 ;;
	esac
	while (($# > 0)) && [[ $1 != -- ]]; do
		[[ $1 == -E && $# -ge 2 ]] || { echo "activate_start: expected -E NAME=VALUE or --" >&2; return 2; }
		envs+=(-E "$2")
		shift 2
	done
	shift
	ACTIVATE_PID=
	ACTIVATE_PORT=
	for attempt in {1..20}; do
		port=${ACTIVATE_WANT_PORT:-$((20000 + RANDOM % 40000))}
		activate_port_free "$port" || continue
		SYSTEMD_LOG_LEVEL=err "${ACTIVATE_WRAP[@]}" systemd-socket-activate "${act[@]}" \
			"${envs[@]}" -l "127.0.0.1:$port" "$@" </dev/null >>"$log" 2>&1 3>&- &
		ACTIVATE_PID=$!
		for i in {1..300}; do
			kill -0 "$ACTIVATE_PID" 2>/dev/null || break
			if ! activate_port_free "$port"; then
				activate_listens "$port" "$ACTIVATE_PID" || break
				ACTIVATE_PORT=$port
				return 0
			fi
			sleep 0.05
		done
		# exited (the port was taken meanwhile) or never listened
		kill -TERM "$ACTIVATE_PID" 2>/dev/null
		wait "$ACTIVATE_PID" 2>/dev/null
		ACTIVATE_PID=
	done
	return 1
}
