#!/usr/bin/env bats
# quickstart.bats — the README's quick start as a new user meets it.
#
# `make run` (the real target, in the build tree the tests run from, on a
# free port) serves the store that `msghash` uses without --db, prints its
# banner only once it answers, and refuses an address in use in one line;
# the README's first block then works line by line against it; no clean
# rule deletes a store; autogen.sh waits for another apt and ends a failed
# install in one line.  The clean rules and autogen.sh run on copies, with
# fakes for apt: nothing here cleans the build tree or installs anything.

bats_require_minimum_version 1.5.0

load helper
load serve-helper

setup() {
	common_setup
	# What `msghash` resolves without --db is then the test's own
	# $HOME/.local/share/msghash (common_setup set HOME).
	unset MSGHASH_DB
	README=$MSGHASH_TEST_SRCDIR/README.md
	RUN_PID=
	RUN_PORT=
	RUN_URL=
	RUN_LOG=$BATS_TEST_TMPDIR/make-run.log
	RUN_WRAP=()
	# `make run` is a make of its own here, not a part of `make check`.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	# An activator that starts listening a second late: a banner printed
	# before it listens is then told apart from one printed after.
	SLOWBIN=$BATS_TEST_TMPDIR/slowbin
	mkdir -p "$SLOWBIN"
	local real
	real=$(command -v systemd-socket-activate) ||
		fail "systemd-socket-activate not found (package systemd)"
	printf '#!/bin/sh\nsleep 1\nexec %s "$@"\n' "$real" \
		>"$SLOWBIN/systemd-socket-activate"
	chmod +x "$SLOWBIN/systemd-socket-activate"
}

teardown() {
	local rc=0
	stop_make_run || rc=1
	stop_socket_server || rc=1
	common_teardown
	return "$rc"
}

# make_run ARGS...: `make run ARGS...` in the build tree, output to RUN_LOG,
# in the background (RUN_PID: the first process of RUN_WRAP, or make).
# Descriptor 3 is bats' own and must not stay open in the server.
make_run() {
	# emptied here, not only by the background job's redirection, which
	# may come after start_make_run's first look for the banner: a later
	# run then found the one before's banner and went on before its
	# server listened
	: >"$RUN_LOG"
	PATH="$SLOWBIN:$PATH" "${RUN_WRAP[@]}" make -C "$MSGHASH_TEST_BUILDDIR" \
		--no-print-directory run "$@" </dev/null >"$RUN_LOG" 2>&1 3>&- &
	RUN_PID=$!
}

# start_make_run [ARGS...]: make_run RUN_ADDRESS=127.0.0.1:PORT ARGS... on a
# free random port (another if the port was taken meanwhile); returns as
# soon as the banner is out, nothing else in between.  Sets RUN_PORT and
# RUN_URL.  All waits are bounded.
start_make_run() {
	local attempt port i
	for attempt in {1..10}; do
		port=$((20000 + RANDOM % 40000))
		if (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		make_run RUN_ADDRESS="127.0.0.1:$port" "$@"
		for ((i = 0; i < 1200; i++)); do
			if grep -qs '^msghash: serving ' "$RUN_LOG"; then
				RUN_PORT=$port
				RUN_URL=http://127.0.0.1:$port
				return 0
			fi
			pid_alive "$RUN_PID" || break
			sleep 0.025
		done
		if pid_alive "$RUN_PID"; then
			stop_make_run
			fail "make run printed no banner in 30 s: $(cat "$RUN_LOG")"
		fi
		wait "$RUN_PID" 2>/dev/null || true
		RUN_PID=
		grep -q 'in use' "$RUN_LOG" ||
			fail "make run exited before its banner: $(cat "$RUN_LOG")"
	done
	fail "no free port for make run: $(cat "$RUN_LOG")"
}

# stop_make_run [SIGNAL [PID]]: SIGNAL (default TERM) to PID (default
# make's), then at most 10 s each for make to exit and for every process it
# had started (the activator, the serve processes) to be gone; whatever is
# left is SIGKILLed and the call returns 1.
stop_make_run() {
	[[ -n $RUN_PID ]] || return 0
	local sig=${1:-TERM} target=${2:-$RUN_PID} pid=$RUN_PID p kids left=
	kids=$(pgrep -P "$pid"; for p in $(pgrep -P "$pid"); do pgrep -P "$p"; done) || true
	RUN_PID=
	kill "-$sig" -- "$target" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		left+=" $pid"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	for p in $kids; do
		if ! wait_gone "$p" 10; then
			left+=" $p"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	if [[ -n $left ]]; then
		echo "make run: still running 10 s after SIG$sig, SIGKILLed:$left" >&2
		return 1
	fi
}

# readme_fenced MARKER: the line after the opening ``` fence that follows
# "<!-- MARKER -->" in README.md (as .ci/run reads the test command)
readme_fenced() {
	awk -v m="<!-- $1 -->" '$0 == m {f = 1; next}
	    f && /^```/ {g++; next} f && g == 1 {print; exit}' "$README"
}

# readme_example: the README's first block, the indented lines after the
# "<!-- example" marker: EX_CMDS[i] is a command (after "$ "), EX_OUTS[i]
# the lines shown under it.
readme_example() {
	local line started=0 n=-1
	EX_CMDS=()
	EX_OUTS=()
	while IFS= read -r line; do
		if ((!started)); then
			[[ $line == '<!-- example'* ]] && started=1
			continue
		fi
		if [[ $line != '    '* ]]; then
			[[ -z $line && n -lt 0 ]] && continue
			break
		fi
		line=${line#    }
		if [[ $line == '$ '* ]]; then
			n=$((n + 1))
			EX_CMDS[n]=${line#'$ '}
			EX_OUTS[n]=
		else
			((n >= 0)) || fail "README example: output before any command: $line"
			EX_OUTS[n]+=${EX_OUTS[n]:+$'\n'}$line
		fi
	done <"$README"
	((n >= 1)) || fail "README.md: no example block after '<!-- example'"
}

# run_readme_line I: the example's command I as a user types it in a second
# shell once make run is up: in the clone (here the build tree), after the
# README's PATH line, with our port for 8080.  Its output must be the one
# the README shows.
run_readme_line() {
	local cmd=${EX_CMDS[$1]}
	if [[ $cmd == curl* ]]; then
		[[ $cmd == *' http://127.0.0.1:8080/'* ]] ||
			fail "README example: a curl line not on make run's address: $cmd"
		cmd=${cmd//127.0.0.1:8080/127.0.0.1:$RUN_PORT}
	fi
	# stdout only: curl's progress meter, which a terminal does not get,
	# goes to stderr here
	run --separate-stderr bash -c "cd \"\$1\" && $PATH_LINE && $cmd" _ "$MSGHASH_TEST_BUILDDIR"
	assert_success
	assert_output "${EX_OUTS[$1]}"
}

# check_readme_example: the block's digests are SHA-256 of its message, and
# the README's PATH line puts the built msghash first.
check_readme_example() {
	local d foo
	readme_example
	foo=$(sha256_of_string foo)
	for d in $(printf '%s\n' "${EX_CMDS[@]}" "${EX_OUTS[@]}" | grep -oE '[0-9a-f]{64}'); do
		assert_equal "$d" "$foo"
	done
	PATH_LINE=$(readme_fenced path-command)
	[[ -n $PATH_LINE ]] || fail "README.md: no <!-- path-command --> block"
	run bash -c "cd \"\$1\" && $PATH_LINE && command -v msghash" _ "$MSGHASH_TEST_BUILDDIR"
	assert_success
	assert_output "$MSGHASH"
}

@test "quickstart: the README's first block works line by line against make run" {
	check_readme_example
	start_make_run
	local i
	for i in "${!EX_CMDS[@]}"; do
		run_readme_line "$i"
	done
}

# readme_line GLOB: the index of the example's command matching GLOB
readme_line() {
	local i
	for i in "${!EX_CMDS[@]}"; do
		# shellcheck disable=SC2053
		if [[ ${EX_CMDS[i]} == $1 ]]; then
			echo "$i"
			return 0
		fi
	done
	fail "README example: no command like '$1'"
}

# run_readme_lines GLOB...: the example's commands matching each GLOB, in
# that order, each with the output the README shows
run_readme_lines() {
	local glob i
	for glob in "$@"; do
		i=$(readme_line "$glob")
		run_readme_line "$i"
	done
}

@test "quickstart: a message POSTed to make run is found by msghash lookup (README's lines)" {
	# The issue: `msghash lookup` of a digest POSTed with curl said "no
	# message" (make run served ./store, the CLI its default store).
	check_readme_example
	start_make_run
	run_readme_lines 'curl -X POST *' 'msghash lookup *' 'curl http*' 'msghash hash *'
	[ -f "$HOME/.local/share/msghash/messages.db" ] ||
		fail "make run did not serve \$HOME/.local/share/msghash"
}

@test "quickstart: a message stored by msghash hash is served by make run (README's lines)" {
	check_readme_example
	start_make_run
	run_readme_lines 'msghash hash *' 'curl http*' 'msghash lookup *' 'curl -X POST *'
}

@test "quickstart: make run's banner comes once it answers, with RUN_ADDRESS's address" {
	start_make_run
	# Right after the banner, with no retry: the activator starts a second
	# late (setup), so a banner printed before it listens fails here.
	run curl -sS --max-time 10 "$RUN_URL/healthz"
	assert_success
	assert_output '{"status":"ok"}'
	run grep -c '^msghash: serving ' "$RUN_LOG"
	assert_output 1
	run grep '^msghash: serving ' "$RUN_LOG"
	assert_output "msghash: serving $RUN_URL/ on the store $HOME/.local/share/msghash (Ctrl-C stops it)"
	# every address it shows is the real one; RUN_ADDRESS is named
	run cat "$RUN_LOG"
	refute_output --regexp ':8080([^0-9]|$)'
	assert_output --partial "$RUN_URL/messages"
	assert_output --partial RUN_ADDRESS=
	# its PATH line puts this build's msghash first
	local line
	line=$(grep -m1 '^  export PATH=' "$RUN_LOG") || fail "no PATH line: $(cat "$RUN_LOG")"
	run bash -c "$line && command -v msghash"
	assert_output "$MSGHASH"
}

@test "quickstart: make run refuses an address in use in one line, without a banner" {
	# A msghash already there answers GET /healthz too: the banner must
	# not take it for make run's own server.
	SOCKET_MODE=inetd
	MSGHASH_DB=$BATS_TEST_TMPDIR/other start_socket_server
	run timeout 60 env PATH="$SLOWBIN:$PATH" make -C "$MSGHASH_TEST_BUILDDIR" \
		--no-print-directory run RUN_ADDRESS="127.0.0.1:$PORT" </dev/null 3>&-
	assert_failure
	refute_output --partial 'serving'
	# make's own "make: *** [...] Error 1" aside, one line, naming the
	# address and how to choose another
	local -a own
	mapfile -t own < <(grep -v '^make: \*\*\* ' <<<"$output")
	assert_equal "${#own[@]}" 1
	[[ ${own[0]} == *"127.0.0.1:$PORT is in use"*RUN_ADDRESS=* ]] ||
		fail "not the one-line refusal: ${own[0]}"
	# and the server that was there is untouched
	run curl -sS --max-time 10 "$BASE_URL/healthz"
	assert_output '{"status":"ok"}'
}

@test "quickstart: make run stops on SIGTERM to make and on Ctrl-C (SIGINT to its group)" {
	start_make_run
	stop_make_run TERM
	(exec 9<>"/dev/tcp/127.0.0.1/$RUN_PORT") 2>/dev/null &&
		fail "port $RUN_PORT still listening after SIGTERM to make"
	# Ctrl-C: the terminal signals the whole foreground group.  Its own
	# session, SIGINT not ignored (bats' background jobs ignore it).
	RUN_WRAP=(setsid env --default-signal=INT)
	start_make_run
	run curl -sS --max-time 10 "$RUN_URL/healthz"
	assert_success
	stop_make_run INT "-$RUN_PID"
	(exec 9<>"/dev/tcp/127.0.0.1/$RUN_PORT") 2>/dev/null &&
		fail "port $RUN_PORT still listening after Ctrl-C"
	true
}

@test "quickstart: make run RUN_STORE=DIR serves DIR and prints the CLI's export line" {
	local store=$BATS_TEST_TMPDIR/other-store
	start_make_run RUN_STORE="$store"
	run grep '^msghash: serving ' "$RUN_LOG"
	assert_output "msghash: serving $RUN_URL/ on the store $store (Ctrl-C stops it)"
	run grep -x "  export MSGHASH_DB='$store'" "$RUN_LOG"
	assert_success
	run curl -sS --max-time 10 -H 'Content-Type: application/json' \
		-d '{"message": "bar"}' "$RUN_URL/messages"
	assert_output "{\"digest\":\"$(sha256_of_string bar)\"}"
	run "$MSGHASH" --db "$store" lookup "$(sha256_of_string bar)"
	assert_output bar
}

@test "quickstart: no clean rule deletes a store in the build tree" {
	# The build's Makefile, copied alone into a directory of its own: its
	# clean rules name relative paths, so they act on the copy, never on
	# the build tree the tests run from (-o Makefile: not remade; the
	# overrides keep every path inside the copy).
	local build=$BATS_TEST_TMPDIR/build target digest
	mkdir "$build"
	cp -p "$MSGHASH_TEST_BUILDDIR/Makefile" "$build/"
	run "$MSGHASH" --db "$build/store" hash foo
	assert_success
	digest=$output
	(cd "$build/store" && find . | sort) >"$BATS_TEST_TMPDIR/before"
	for target in clean distclean; do
		run make -C "$build" -o Makefile --no-print-directory "$target" \
			VPATH= srcdir=. top_srcdir=. abs_srcdir="$build" \
			abs_top_srcdir="$build" abs_builddir="$build" \
			abs_top_builddir="$build"
		assert_success
		[ -d "$build/store" ] || fail "make $target deleted the store"
		(cd "$build/store" && find . | sort) >"$BATS_TEST_TMPDIR/after"
		diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" ||
			fail "make $target removed files from the store"
		run "$MSGHASH" --db "$build/store" lookup "$digest"
		assert_success
		assert_output foo
	done
	# the copy was cleaned: the rules did run
	[ ! -e "$build/Makefile" ] || fail "make distclean did not run in the copy"
}

# fake_apt: a copy of autogen.sh in $SRC, and fakes first on PATH that make
# it see every package missing, as root, without touching the system:
# dpkg-query (not installed), id (uid 0), apt-get (appends its arguments
# to $APT_LOG; FAKE_UPDATE_LOCKED: how many updates first fail on the lists
# lock; FAKE_UPDATE_RC, FAKE_INSTALL_RC: the statuses after that), and
# autoreconf and ./configure, which append their names to $APT_LOG.
fake_apt() {
	SRC=$BATS_TEST_TMPDIR/src
	FAKEBIN=$BATS_TEST_TMPDIR/fakebin
	APT_LOG=$BATS_TEST_TMPDIR/apt.log
	export APT_LOG
	mkdir -p "$SRC" "$FAKEBIN"
	: >"$APT_LOG"
	cp "$MSGHASH_TEST_SRCDIR/autogen.sh" "$SRC/"
	cat >"$FAKEBIN/dpkg-query" <<-'EOF'
	#!/bin/sh
	echo 'unknown ok not-installed'
	EOF
	cat >"$FAKEBIN/id" <<-'EOF'
	#!/bin/sh
	if [ "$*" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi
	EOF
	cat >"$FAKEBIN/apt-get" <<-'EOF'
	#!/bin/bash
	printf 'apt-get %s\n' "$*" >>"$APT_LOG"
	case " $* " in
	*" update "*)
		n=$(grep -c ' update' "$APT_LOG")
		if ((n <= ${FAKE_UPDATE_LOCKED:-0})); then
			echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
			echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
			exit 100
		fi
		exit "${FAKE_UPDATE_RC:-0}" ;;
	*" install "*)
		if [[ ${FAKE_INSTALL_RC:-0} != 0 ]]; then
			echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2
		fi
		exit "${FAKE_INSTALL_RC:-0}" ;;
	esac
	exit 1
	EOF
	printf '#!/bin/sh\necho "autoreconf $*" >>"$APT_LOG"\n' >"$FAKEBIN/autoreconf"
	printf '#!/bin/sh\necho "configure $*" >>"$APT_LOG"\n' >"$SRC/configure"
	chmod +x "$FAKEBIN"/* "$SRC/configure"
}

# run_autogen ARGS...: the copy of autogen.sh with the fakes first on PATH
run_autogen() {
	run --separate-stderr env PATH="$FAKEBIN:$PATH" sh "$SRC/autogen.sh" "$@"
}

@test "quickstart: autogen.sh waits for another apt's locks, then installs and configures" {
	fake_apt
	export FAKE_UPDATE_LOCKED=1
	run_autogen --enable-werror
	assert_success
	# the update is retried while another apt holds the lists, each apt-get
	# waits for dpkg's lock, then the build system is made
	run cat "$APT_LOG"
	assert_line --index 0 'apt-get -o DPkg::Lock::Timeout=600 update -qq'
	assert_line --index 1 'apt-get -o DPkg::Lock::Timeout=600 update -qq'
	assert_line --index 2 --regexp '^apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends build-essential .* openssl$'
	assert_line --index 3 'autoreconf -fi'
	assert_line --index 4 'configure --enable-werror'
	assert_equal "${#lines[@]}" 5
	assert_stderr_contains 'waiting for it'
}

@test "quickstart: autogen.sh ends a failed install with one line and the command to run" {
	fake_apt
	export FAKE_UPDATE_RC=100 FAKE_INSTALL_RC=100
	run_autogen
	assert_failure
	# apt-get's messages, then ours, on a line of its own, last
	assert_stderr_contains 'E: Could not get lock /var/lib/dpkg/lock-frontend'
	local last=${stderr_lines[${#stderr_lines[@]} - 1]}
	local re='^autogen\.sh: .*failed.* run: apt-get update && apt-get install -y --no-install-recommends build-essential .* openssl && \./autogen\.sh$'
	[[ $last =~ $re ]] || fail "last line of stderr is not the one-line failure: $last"
	run grep -c 'failed' <<<"$stderr"
	assert_output 2 # "apt-get update failed; trying the install anyway" and the last
	# both apt-gets wait for the lock; nothing is configured after a failure
	run cat "$APT_LOG"
	assert_line --index 0 'apt-get -o DPkg::Lock::Timeout=600 update -qq'
	assert_line --index 1 --regexp '^apt-get -o DPkg::Lock::Timeout=600 install '
	refute_line --partial autoreconf
	refute_line --partial configure
}

# readme_deploy_lines: the README's indented systemd-socket-activate lines
# (Deployment), one a line
readme_deploy_lines() {
	sed -n 's/^    \(systemd-socket-activate .*\)$/\1/p' "$README"
}

@test "quickstart: the README's systemd-socket-activate deployment lines serve as written" {
	local line cmdline n=0 port store=$BATS_TEST_TMPDIR/deploy-store pid code attempt
	mkdir -m 700 "$store"
	while IFS= read -r line; do
		n=$((n + 1))
		# the same line with the test's store and binary ...
		line=${line//"/var/lib/msghash"/$store}
		line=${line//"/usr/local/bin/msghash"/$MSGHASH}
		line=${line/ msghash serve/ $MSGHASH serve}
		[[ $line == *"$MSGHASH serve"* ]] || fail "README line $n runs no msghash serve: $line"
		# ... and a free port: another one when the bind fails (an
		# outgoing connection may hold a random high port)
		code=000
		for attempt in {1..10}; do
			port=$((20000 + RANDOM % 40000))
			activate_port_free "$port" || continue
			cmdline=${line//127.0.0.1:8080/127.0.0.1:$port}
			# (a line without MSGHASH_DB serves the default store of
			# the test's HOME, which is where the lookup below looks)
			SYSTEMD_LOG_LEVEL=err bash -c "exec $cmdline" </dev/null >"$BATS_TEST_TMPDIR/deploy.$n.log" 2>&1 3>&- &
			pid=$!
			for _ in {1..100}; do
				kill -0 "$pid" 2>/dev/null || break
				code=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' -X POST \
					-H 'Content-Type: application/json' -d '{"message":"foo"}' \
					"http://127.0.0.1:$port/messages" 2>/dev/null) && [[ $code == 20[01] ]] && break
				sleep 0.1
			done
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" || true
			[[ $code == 20[01] ]] && break
			grep -q 'Address already in use' "$BATS_TEST_TMPDIR/deploy.$n.log" || break
		done
		[[ $code == 20[01] ]] || fail "README line $n did not serve (last: $code): $cmdline: $(cat "$BATS_TEST_TMPDIR/deploy.$n.log")"
		if [[ $line == *MSGHASH_DB=* ]]; then
			run -0 "$MSGHASH" --db "$store" lookup "$(sha256_of_string foo)"
		else
			run -0 "$MSGHASH" lookup "$(sha256_of_string foo)"
		fi
		assert_output foo
	done < <(readme_deploy_lines)
	((n >= 2)) || fail "found $n systemd-socket-activate lines in the README (per connection and wait mode)"
}

@test "quickstart: the README's inetd and xinetd lines give msghash arguments it accepts" {
	local store=$BATS_TEST_TMPDIR/inetd-store args
	local -a argv
	# inetd: "... /usr/local/bin/msghash msghash serve --db DIR": argv[0], then the arguments
	args=$(sed -n 's|^    127\.0\.0\.1:8080 stream tcp nowait[^ ]* msghash /usr/local/bin/msghash msghash \(.*\)$|\1|p' "$README")
	[[ -n $args ]] || fail "no inetd nowait line in the README"
	read -r -a argv <<<"${args//\/var\/lib\/msghash/$store}"
	run -0 bash -c 'printf "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" | "$@"' _ "$MSGHASH" "${argv[@]}"
	assert_output --partial '{"status":"ok"}'
	# xinetd: server_args
	args=$(sed -n 's|^ *server_args *= *\(.*\)$|\1|p' "$README")
	[[ -n $args ]] || fail "no xinetd server_args in the README"
	read -r -a argv <<<"${args//\/var\/lib\/msghash/$store}"
	run -0 bash -c 'printf "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" | "$@"' _ "$MSGHASH" "${argv[@]}"
	assert_output --partial '{"status":"ok"}'
	[[ -d $store ]] || fail "the lines did not use the --db they name"
}
