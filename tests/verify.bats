#!/usr/bin/env bats
# verify.bats — `msghash verify`: a clean store passes; a message under the
# wrong key, or a damaged database file, fails with exit 3.

bats_require_minimum_version 1.5.0
load helper

setup() {
	common_setup
	export TMPDIR="$BATS_TEST_TMPDIR"
}

teardown() {
	common_teardown
}

# The raw 32-byte key of a digest, as db5.3_load -T text (\xx escapes).
load_text_key() {
	sed 's/../\\&/g' <<<"$1"
}

@test "verify: a clean store passes with counts, and leaves no copy behind" {
	run -0 "$MSGHASH" hash foo bar ''
	make_binary_file "$BATS_TEST_TMPDIR/bin" 300000
	run -0 "$MSGHASH" hash - <"$BATS_TEST_TMPDIR/bin"
	run -0 --separate-stderr "$MSGHASH" verify
	assert_line "structure: ok"
	assert_line "messages: 4"
	assert_line "bytes: $((3 + 3 + 0 + 300000))"
	assert_line "mismatched: 0"
	assert_equal "$stderr" ""
	run ls "$TMPDIR"
	refute_output --partial msghash-verify
}

@test "verify: an empty store passes" {
	mkdir -m 700 "$MSGHASH_DB"
	run -0 "$MSGHASH" verify
}

@test "verify: a missing store is 'not found', exit 1" {
	run -1 --separate-stderr "$MSGHASH" verify
	assert_one_line_error "$MSGHASH_DB"
}

@test "verify: a message stored under another digest is found, exit 3" {
	run -0 "$MSGHASH" hash foo bar
	foo=$(sha256_of_string foo)
	# Put other bytes under foo's key behind msghash's back (offline).
	printf '%s\nnot foo\n' "$(load_text_key "$foo")" |
	    db5.3_load -h "$MSGHASH_DB" -T -t btree messages.db
	run -3 --separate-stderr "$MSGHASH" verify
	assert_line --partial "mismatch: key $foo"
	assert_line --partial "$(sha256_of_string 'not foo')"
	assert_line "mismatched: 1"
	assert_stderr_lines 1
	assert_stderr_contains "1 of 2 messages"
}

@test "verify: a damaged copy of a store fails with exit 3, and lookups fail cleanly" {
	for i in $(seq 1500); do echo "message number $i, padded to fill some pages"; done |
	    xargs -d '\n' "$MSGHASH" hash >/dev/null
	run -0 "$MSGHASH" checkpoint
	copy="$BATS_TEST_TMPDIR/copy"
	cp -a "$MSGHASH_DB" "$copy"
	rm -f "$copy"/__db.*
	# Overwrite two pages in the middle of the B-tree.
	dd if=/dev/urandom of="$copy/messages.db" bs=4096 seek=5 count=2 conv=notrunc 2>/dev/null
	run -3 --separate-stderr "$MSGHASH" --db "$copy" verify
	assert_stderr_lines 1
	assert_stderr_contains "$copy"
	# Every lookup either finds its message or fails with exit 3: no crash.
	for i in $(seq 1 50 1500); do
		m="message number $i, padded to fill some pages"
		run --separate-stderr "$MSGHASH" --db "$copy" lookup "$(sha256_of_string "$m")"
		((status == 0 || status == 3)) || fail "lookup exited $status"
		((status != 0)) || assert_equal "$output" "$m"
	done
	# The original is untouched and passes.
	run -0 "$MSGHASH" verify
	assert_line "messages: 1500"
}

@test "verify: runs while writers keep writing" {
	run -0 "$MSGHASH" hash seed
	(for i in $(seq 300); do "$MSGHASH" hash "during verify $i" >/dev/null || exit 1; done) &
	writer=$!
	run -0 "$MSGHASH" verify
	assert_line "structure: ok"
	assert_line "mismatched: 0"
	wait "$writer"
	run -0 "$MSGHASH" verify
	assert_line "messages: 301"
}
