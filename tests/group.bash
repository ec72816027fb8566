# tests/group.bash -- a replication group of msghash nodes on 127.0.0.1 for
# the tests, the group soak and the bench.  Source it after activate.bash.
#
#   group_start N DIR [SERVE-ARG...]
#
# starts nodes 1..N, each `msghash serve` in wait mode behind its own
# systemd-socket-activate, with its store DIR/nI and its log DIR/nI.log,
# HTTP on GROUP_HTTP[i] and replication on GROUP_REPL[i] (free ports),
# and --group listing them all (node 1 first: it creates the group).
# Returns once every node answers /healthz.  Then:
#
#   group_node_start I     (re)starts node I on the same ports and store
#   group_node_stop I      SIGTERM to node I's activator and its msghash
#                          processes, and waits for them
#   group_family I         prints the PIDs of node I's processes
#   group_signal I SIG     sends SIG to all of them (KILL, STOP, CONT)
#   group_repl_pid I       prints the PID of node I's replication process
#                          (the one listening on its site's port)
#   group_role I           prints node I's role from /healthz ("" if none)
#   group_joined [SEC]     every running node is master or replica,
#                          waiting up to SEC (30)
#   group_master [SEC]     prints the index of the node every answering
#                          node names as master, waiting up to SEC (10)
#   group_new_master OLD [SEC]
#                          prints the index of a node other than OLD that
#                          says it is master, waiting up to SEC (10); OLD
#                          is never asked (a stopped node would not answer)
#   group_node_add         names one more node (GROUP_N+1, a free port,
#                          appended to GROUP_LIST), not started: then
#                          group_node_start "$GROUP_N"
#   group_url I, group_site I
#                          node I's URL (http://127.0.0.1:PORT), its site
#   group_save FILE, group_restore FILE
#                          the variables below, for another process
#                          (bats: setup_file to the tests)
#   group_stop             stops every node
#
# GROUP_N, GROUP_DIR, GROUP_ARGS, GROUP_LIST, GROUP_PID[i] (activators).
# The nodes get the sanitizer options of the caller's environment
# (systemd-socket-activate passes on only its -E variables).

GROUP_HTTP=() GROUP_REPL=() GROUP_PID=()

# A free port below the kernel's ephemeral range: one inside it may be
# taken meanwhile by any outgoing connection (the other nodes' own), and a
# node whose replication port is taken cannot start (seen in parallel runs).
group_free_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	((low > 12000)) || low=32768
	while :; do
		p=$((10000 + RANDOM % (low - 10000)))
		[[ " ${GROUP_REPL[*]} ${GROUP_HTTP[*]} " == *" $p "* ]] && continue
		activate_port_free "$p" && { echo "$p"; return; }
	done
}

group_start() {
	local i
	GROUP_N=$1 GROUP_DIR=$2
	shift 2
	GROUP_ARGS=("$@")
	GROUP_LIST=
	for ((i = 1; i <= GROUP_N; i++)); do
		GROUP_REPL[i]=$(group_free_port)
		GROUP_HTTP[i]=$(group_free_port)
		GROUP_LIST+="${GROUP_LIST:+,}127.0.0.1:${GROUP_REPL[i]}"
	done
	for ((i = 1; i <= GROUP_N; i++)); do
		group_node_start "$i" || return 1
	done
	group_joined 30
}

# Every running node is master or replica (it joined), within SEC seconds.
group_joined() {
	local limit=${1:-30} start=$SECONDS i r
	while ((SECONDS - start <= limit)); do
		for ((i = 1; i <= GROUP_N; i++)); do
			[[ -n ${GROUP_PID[i]} ]] || continue
			r=$(group_role "$i")
			[[ $r == master || $r == replica ]] || break
		done
		((i > GROUP_N)) && return 0
		sleep 0.05
	done
	return 1
}

# The activator starts msghash on the first connection: /healthz is it.
group_node_start() {
	local i=$1 n v
	local -a senv=()
	for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
		[[ -v $v ]] && senv+=(-E "$v=${!v}")
	done
	ACTIVATE_WANT_PORT=${GROUP_HTTP[i]} activate_start wait "$GROUP_DIR/n$i.log" "${senv[@]}" -- \
		"$MSGHASH" --db "$GROUP_DIR/n$i" serve --workers 2 \
		--site "127.0.0.1:${GROUP_REPL[i]}" --group "$GROUP_LIST" \
		"${GROUP_ARGS[@]}" || return 1
	GROUP_PID[i]=$ACTIVATE_PID
	GROUP_HTTP[i]=$ACTIVATE_PORT
	for n in {1..100}; do
		curl -sf -o /dev/null "http://127.0.0.1:${GROUP_HTTP[i]}/healthz" && return 0
		sleep 0.05
	done
	return 1
}

# systemd-socket-activate exec()s msghash: the activator's PID is serve's
# master; its children are the workers and the replication process.
group_family() {
	local pid=${GROUP_PID[$1]}
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	echo "$pid"
	pgrep -P "$pid" || true
}

group_signal() {
	local pids
	pids=$(group_family "$1")
	[[ -n $pids ]] && kill -s "$2" $pids 2>/dev/null
	return 0
}

group_repl_pid() {
	ss -Hltnp "sport = :${GROUP_REPL[$1]}" |
		sed -n 's/.*pid=\([0-9]*\),.*/\1/p' | head -1
}

# A process that runs: exists and is not a zombie (the activators are our
# children: one that died stays a zombie until `wait`, and kill -0 succeeds).
group_pid_running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

group_node_stop() {
	local pid=${GROUP_PID[$1]} n
	[[ -n $pid ]] || return 0
	group_signal "$1" CONT
	kill -TERM "$pid" 2>/dev/null || true	# it may be gone already
	for n in {1..200}; do
		group_pid_running "$pid" || break
		sleep 0.05
	done
	group_signal "$1" KILL
	wait "$pid" 2>/dev/null || true	# its status: killed, or serve's
	GROUP_PID[$1]=
}

group_role() {
	curl -s -m 2 "http://127.0.0.1:${GROUP_HTTP[$1]}/healthz" |
		sed -n 's/.*"role":"\([a-z]*\)".*/\1/p'
}

group_url() {
	echo "http://127.0.0.1:${GROUP_HTTP[$1]}"
}

group_site() {
	echo "127.0.0.1:${GROUP_REPL[$1]}"
}

# Node I's /healthz "master" (its master's URL, or its site while the URL
# is not known there yet); "" if it does not answer.
group_names_master() {
	curl -s -m 2 "http://127.0.0.1:${GROUP_HTTP[$1]}/healthz" |
		sed -n 's/.*"master":"\([^"]*\)".*/\1/p'
}

# The node that says it is master and that every other answering master
# or replica names by its URL (two nodes that both say master, as across a
# network partition, are no answer).
group_master() {
	local limit=${1:-10} start=$SECONDS i j r m agreed
	while ((SECONDS - start <= limit)); do
		for ((i = 1; i <= GROUP_N; i++)); do
			[[ -n ${GROUP_PID[i]} ]] || continue
			[[ $(group_role "$i") == master ]] || continue
			agreed=1
			for ((j = 1; j <= GROUP_N; j++)); do
				((j != i)) && [[ -n ${GROUP_PID[j]} ]] || continue
				r=$(group_role "$j")
				[[ $r == master ]] && agreed=0
				[[ $r == replica ]] || continue
				# by its URL: until a replica has it (the master
				# publishes it in group.db) it answers 503, not 307
				m=$(group_names_master "$j")
				[[ $m == "$(group_url "$i")" ]] || agreed=0
			done
			((agreed)) && { echo "$i"; return 0; }
		done
		sleep 0.05
	done
	return 1
}

group_new_master() {
	local old=$1 limit=${2:-10} start=$SECONDS i
	while ((SECONDS - start <= limit)); do
		for ((i = 1; i <= GROUP_N; i++)); do
			((i != old)) && [[ -n ${GROUP_PID[i]} ]] || continue
			[[ $(group_role "$i") == master ]] && { echo "$i"; return 0; }
		done
		sleep 0.02
	done
	return 1
}

group_node_add() {
	GROUP_N=$((GROUP_N + 1))
	GROUP_REPL[GROUP_N]=$(group_free_port)
	GROUP_HTTP[GROUP_N]=
	GROUP_PID[GROUP_N]=
	GROUP_LIST+=",127.0.0.1:${GROUP_REPL[GROUP_N]}"
}

group_save() {
	declare -p GROUP_N GROUP_DIR GROUP_ARGS GROUP_LIST GROUP_HTTP GROUP_REPL \
		GROUP_PID >"$1"
}

# `declare` in a function is local to it: -g for the caller's globals.
group_restore() {
	# shellcheck disable=SC1090
	source <(sed -e 's/^declare -- /declare -g /' -e 't' \
		-e 's/^declare -/declare -g/' "$1")
}

group_stop() {
	local i
	for ((i = 1; i <= GROUP_N; i++)); do
		group_node_stop "$i"
	done
}
