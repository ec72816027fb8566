#!/usr/bin/env bats
# valgrind.bats — memcheck over serve in per-connection mode (the HTTP
# fixtures piped in) and the CLI: no memory errors, no definitely lost
# blocks.  (Not run in the sanitizer build: ASan and valgrind exclude each
# other, and ASan covers it there.)

bats_require_minimum_version 1.5.0
load helper

setup() {
	common_setup
	command -v valgrind >/dev/null || fail "valgrind not found (apt-get install valgrind)"
	VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
	    --suppressions="$MSGHASH_TEST_SRCDIR/tests/valgrind.supp"
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite)
}

teardown() {
	common_teardown
}

@test "valgrind: serve (per-connection mode) over every fixture: 0 errors, 0 definitely lost" {
	n=0
	for req in "$MSGHASH_TEST_SRCDIR"/tests/fixtures/http/*.req; do
		run --separate-stderr "${VG[@]}" "$MSGHASH" serve <"$req"
		((status == 0)) || fail "$(basename "$req"): exit $status: $stderr"
		n=$((n + 1))
	done
	((n >= 20)) || fail "only $n fixtures found"
}

@test "valgrind: serve with keep-alive, chunked, 100-continue and errors" {
	big=$(head -c 300000 /dev/zero | tr '\0' x)
	body="{\"message\":\"$big\"}"
	printf 'POST /messages HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\nPOST /messages HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n%sGET /messages/%s HTTP/1.1\r\nHost: a\r\nAccept: application/octet-stream\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' \
	    "${#body}" "$body" "${#body}" "$body" "$(sha256_of_string "$big")" \
	    >"$BATS_TEST_TMPDIR/req"
	run --separate-stderr "${VG[@]}" "$MSGHASH" serve <"$BATS_TEST_TMPDIR/req"
	assert_success
	assert_output --partial "HTTP/1.1 400 Bad Request"
}

@test "valgrind: hash, lookup, verify and checkpoint: 0 errors, 0 definitely lost" {
	run -0 "${VG[@]}" "$MSGHASH" hash foo bar
	run -0 "${VG[@]}" "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_output foo
	run -1 --separate-stderr "${VG[@]}" "$MSGHASH" lookup "$(sha256_of_string baz)"
	run -0 "${VG[@]}" "$MSGHASH" hash -n - </dev/null
	TMPDIR=$BATS_TEST_TMPDIR run -0 "${VG[@]}" "$MSGHASH" verify
	run -0 "${VG[@]}" "$MSGHASH" checkpoint
}
