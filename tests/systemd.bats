#!/usr/bin/env bats
# systemd.bats — the shipped units are valid and sandboxed (research §C).

load helper

setup() {
	common_setup
	UNITS="$BATS_TEST_TMPDIR/units"
	mkdir -p "$UNITS"
	# The generated units name @bindir@, which need not exist here: point
	# ExecStart at the built binary so verify can check it is executable.
	for u in msghash@.service msghash-server.service \
	    msghash-checkpoint.service; do
		sed "s|^ExecStart=[^ ]*/msghash |ExecStart=$MSGHASH |" \
		    "$MSGHASH_TEST_BUILDDIR/systemd/$u" >"$UNITS/$u"
	done
	cp "$MSGHASH_TEST_SRCDIR/systemd/msghash.socket" \
	    "$MSGHASH_TEST_SRCDIR/systemd/msghash-server.socket" \
	    "$MSGHASH_TEST_SRCDIR/systemd/msghash-checkpoint.timer" "$UNITS/"
}

# assert_exposure_at_most_1 UNIT: systemd-analyze security's overall
# exposure level of UNIT (in $UNITS) is at most 1.0 (research §C)
assert_exposure_at_most_1() {
	local level
	cd "$UNITS"
	run systemd-analyze security --offline=true "$1"
	level=$(grep -oE 'Overall exposure level for [^:]*: [0-9.]+' <<<"$output" |
	    grep -oE '[0-9.]+$')
	[ -n "$level" ] || fail "no exposure level in: $output"
	awk -v l="$level" 'BEGIN { exit !(l <= 1.0) }' ||
	    fail "exposure of $1: $level > 1.0"
}

@test "systemd: systemd-analyze is available (the checks below need it)" {
	run command -v systemd-analyze
	assert_success
}

@test "systemd: generated units have @bindir@ substituted" {
	run grep -h '^ExecStart=' "$MSGHASH_TEST_BUILDDIR/systemd/msghash@.service" \
	    "$MSGHASH_TEST_BUILDDIR/systemd/msghash-server.service" \
	    "$MSGHASH_TEST_BUILDDIR/systemd/msghash-checkpoint.service"
	assert_success
	refute_output --partial '@bindir@'
	assert_line --regexp '^ExecStart=/.*/msghash serve$'
	assert_line --regexp '^ExecStart=/.*/msghash checkpoint$'
}

@test "systemd: systemd-analyze verify accepts every unit" {
	cd "$UNITS"
	run systemd-analyze verify --man=no msghash.socket msghash@.service \
	    msghash-server.socket msghash-server.service \
	    msghash-checkpoint.service msghash-checkpoint.timer
	assert_success
	assert_output ""
}

@test "systemd: the connection service's exposure is at most 1.0" {
	assert_exposure_at_most_1 msghash@.service
}

@test "systemd: the wait-mode service's exposure is at most 1.0" {
	assert_exposure_at_most_1 msghash-server.service
}

@test "systemd: the wait-mode socket hands its listening socket over (Accept=no)" {
	s="$UNITS/msghash-server.socket"
	grep -qx 'Accept=no' "$s"
	# serve refuses LISTEN_FDS=2: one address
	[ "$(grep -c '^ListenStream=' "$s")" -eq 1 ]
	grep -qx 'Conflicts=msghash.socket' "$s"
	grep -qx 'User=msghash' "$UNITS/msghash-server.service"
	grep -qx 'StateDirectory=msghash' "$UNITS/msghash-server.service"
}

@test "systemd: the checkpoint service's exposure is at most 1.0" {
	assert_exposure_at_most_1 msghash-checkpoint.service
}

@test "systemd: the socket accepts per connection, without a trigger limit" {
	s="$UNITS/msghash.socket"
	grep -qx 'Accept=yes' "$s"
	grep -qx 'TriggerLimitIntervalSec=0' "$s"
	grep -qE '^MaxConnections=[0-9]+$' "$s"
}

@test "systemd: the service runs as the sysusers user in its state directory" {
	grep -qx 'User=msghash' "$UNITS/msghash@.service"
	grep -qx 'StateDirectory=msghash' "$UNITS/msghash@.service"
	grep -qE '^RuntimeMaxSec=' "$UNITS/msghash@.service"
	grep -qE '^u msghash ' "$MSGHASH_TEST_SRCDIR/systemd/msghash.sysusers"
}

# listen_streams UNIT: the values of UNIT's ListenStream= lines, one a line
listen_streams() {
	sed -n 's/^ListenStream=[[:space:]]*//p' "$UNITS/$1"
}

@test "systemd: both sockets listen on loopback only, port 8080" {
	# An unauthenticated write API: nothing but loopback unless an
	# operator's drop-in says otherwise (README, Deployment).
	for u in msghash.socket msghash-server.socket; do
		run listen_streams "$u"
		assert_success
		[ -n "$output" ] || fail "$u: no ListenStream="
		while read -r addr; do
			[[ $addr =~ ^(127\.[0-9]+\.[0-9]+\.[0-9]+|\[::1\]):8080$ ]] ||
			    fail "$u: ListenStream=$addr is not a loopback address on port 8080"
		done <<<"$output"
	done
}

@test "systemd: the per-connection socket listens on 127.0.0.1 and ::1, and starts without IPv6" {
	run listen_streams msghash.socket
	assert_output "127.0.0.1:8080
[::1]:8080"
	# without ::1 (disable_ipv6=1) the [::1] bind would fail the unit
	grep -qx 'FreeBind=yes' "$UNITS/msghash.socket"
}

@test "systemd: README and msghash(1) show the drop-in that exposes the socket" {
	readme="$MSGHASH_TEST_SRCDIR/README.md"
	man="$MSGHASH_TEST_SRCDIR/man/msghash.1"
	for f in "$readme" "$man"; do
		grep -q 'systemctl edit msghash.socket' "$f" || fail "$f: no 'systemctl edit msghash.socket'"
		grep -qx ' *\[Socket\]' "$f" || fail "$f: no [Socket] line"
		grep -qx ' *ListenStream=' "$f" || fail "$f: no empty ListenStream= (the reset)"
		grep -qx ' *ListenStream=0\.0\.0\.0:8080' "$f" || fail "$f: no ListenStream=0.0.0.0:8080"
	done
}
