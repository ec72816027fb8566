#!/usr/bin/env bats
# The group chaos soak, short (35 s of chaos, 3 nodes) for `make check`:
# tests/soak/group-chaos kills, stops, restarts and (as root) partitions the
# nodes of a replication group under load, then checks that every
# acknowledged digest resolves to its exact message on every node, that
# every store verifies, and that no write was acknowledged while a majority
# was down.  The full run is `make soak-group` (SOAK_SECONDS, SOAK_NODES).

bats_require_minimum_version 1.5.0

load helper

setup() {
	common_setup
}

teardown() {
	common_teardown
}

@test "group chaos soak (35 s, 3 nodes): lost=0, every store verifies, no write acknowledged without a quorum" {
	local chaos=$MSGHASH_TEST_SRCDIR/tests/soak/group-chaos summary='' i
	[[ -r $chaos ]] || fail "cannot read $chaos"
	# its work directory (stores, logs) lives in this test's directory; the
	# script's background processes must not hold bats' fd 3
	run env TMPDIR="$BATS_TEST_TMPDIR" CHAOS_NODES=3 bash "$chaos" 35 3>&-
	for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
		[[ ${lines[i]} == requests=* ]] && summary=${lines[i]} && break
	done
	echo "# ${summary:-no summary line, exit $status}" >&3
	[[ $summary =~ ^requests=[0-9]+\ acknowledged=([0-9]+)\ lost=([0-9]+)\ failovers=[0-9]+\ longest_write_outage_ms=[0-9]+\ longest_minority_outage_ms=[0-9]+\ kills=([0-9]+)\ stops=[0-9]+\ restarts=[0-9]+\ partitions=([0-9]+|skipped)\ majority_outages=[0-9]+\ acked_without_quorum=([0-9]+)\ verify=(.*)$ ]] ||
		fail "no summary line (exit $status): $output"
	((BASH_REMATCH[1] > 0)) || fail "nothing was acknowledged (the run proved nothing): $output"
	((BASH_REMATCH[2] == 0)) || fail "acknowledged messages were lost: $output"
	((BASH_REMATCH[5] == 0)) || fail "writes were acknowledged while a majority was down: $output"
	[[ ${BASH_REMATCH[6]} == 1:ok,2:ok,3:ok ]] || fail "a store does not verify: $output"
	((status == 0)) || fail "tests/soak/group-chaos 35 exited $status:
$output"
}
