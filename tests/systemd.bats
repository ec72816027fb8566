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
	grep -qE '^ListenStream=8080$' "$s"
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
	grep -qE '^ListenStream=8080$' "$s"
}

@test "systemd: the service runs as the sysusers user in its state directory" {
	grep -qx 'User=msghash' "$UNITS/msghash@.service"
	grep -qx 'StateDirectory=msghash' "$UNITS/msghash@.service"
	grep -qE '^RuntimeMaxSec=' "$UNITS/msghash@.service"
	grep -qE '^u msghash ' "$MSGHASH_TEST_SRCDIR/systemd/msghash.sysusers"
}
