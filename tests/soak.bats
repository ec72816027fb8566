#!/usr/bin/env bats
# The chaos soak, short (20 s of chaos) for `make check`: tests/soak/chaos
# kills, stops and terminates msghash processes under HTTP and CLI load,
# then checks that nothing acknowledged was lost, the store verifies, no
# process outlives the watchdog and new requests succeed.  The full run is
# `MSGHASH=... tests/soak/chaos 600` (CHAOS_MODE=wait for wait mode).

bats_require_minimum_version 1.5.0

load helper

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# chaos_check MODE: tests/soak/chaos 20 in MODE, and its summary line checked
chaos_check() {
	local chaos=$MSGHASH_TEST_SRCDIR/tests/soak/chaos
	[[ -r $chaos ]] || fail "cannot read $chaos"
	# its work directory (store, logs) lives in this test's directory; the
	# script's background processes must not hold bats' fd 3
	CHAOS_MODE=$1 TMPDIR=$BATS_TEST_TMPDIR run bash "$chaos" 20 3>&-
	local summary=${lines[${#lines[@]} - 1]:-}
	echo "# $1: $summary" >&3
	if ((status != 0)); then
		fail "CHAOS_MODE=$1 tests/soak/chaos 20 exited $status:
$output"
	fi
	[[ $summary =~ ^requests=[0-9]+\ kills=[0-9]+\ stops=[0-9]+\ terms=[0-9]+\ acknowledged=[0-9]+\ lost=[0-9]+\ longest_recovery_ms=[0-9]+\ survivors=[0-9]+$ ]] ||
		fail "no summary line at the end: $output"
	[[ $summary == *" lost=0 "* ]] || fail "acknowledged messages were lost: $output"
	[[ $summary == *" survivors=0" ]] || fail "msghash processes outlived the watchdog: $output"
	[[ ! $summary =~ kills=0\  && ! $summary =~ acknowledged=0\  ]] || fail "the run proved nothing: $output"
}

@test "chaos soak (20 s): lost=0, the store verifies, no survivors, requests succeed after the chaos" {
	chaos_check inetd
}

@test "chaos soak in wait mode (20 s): workers killed and replaced, lost=0, the master drains on SIGTERM" {
	chaos_check wait
}
