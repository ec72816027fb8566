#!/usr/bin/env bats
# verify.bats — `msghash verify`: a clean store passes; a message under the
# wrong key, a damaged database file or a damaged or missing log file fails
# with exit 3; the copies of runs that died are removed.

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

# store_big N: N random messages of 4 MB, each about 4.1 MB of log.  The
# log moves to a new file every 16 MiB (DB_CONFIG's set_lg_max): 5 make
# two log files, 9 three.
store_big() {
	local i
	for ((i = 0; i < $1; i++)); do
		head -c 4000000 /dev/urandom | "$MSGHASH" hash - >/dev/null ||
		    return 1
	done
}

# store_small: 50 short messages, about 28 KB of log.
store_small() {
	for i in $(seq "${1:-1}" "${2:-50}"); do
		echo "message number $i, padded to fill some pages"
	done | xargs -d '\n' "$MSGHASH" hash >/dev/null
}

log_file() {
	printf '%s/log.%010d' "$MSGHASH_DB" "$1"
}

# The offset of the Nth record of log file 1 (db5.3_printlog: [file][offset]).
log_record_offset() {
	db5.3_printlog -h "$MSGHASH_DB" -e 1/300000 |
	    sed -n 's/^\[1\]\[\([0-9]*\)\].*/\1/p' | sed -n "$1p"
}

# assert_damaged_log TEXT: after `run -3 --separate-stderr msghash verify`:
# no counts, one line naming the store and the damage (TEXT).
assert_damaged_log() {
	assert_equal "$output" ""
	assert_stderr_lines 1
	assert_stderr_contains "damaged log in store '$MSGHASH_DB'"
	assert_stderr_contains "$1"
}

# wait_for_copy [EXCLUDE]: prints a verify copy directory (other than
# EXCLUDE) once the copying has begun, waiting up to 20 s for one.
wait_for_copy() {
	local d i
	for ((i = 0; i < 2000; i++)); do
		for d in "$TMPDIR"/msghash-verify.*; do
			[[ -e $d/messages.db && $d != "${1:-}" ]] || continue
			echo "$d"
			return 0
		done
		sleep 0.01
	done
	return 1
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

@test "verify: garbage over the middle of the log, store in use: exit 3, names the log file" {
	store_small 1 50
	# Its records run to about 28 KB; the store's environment stays up.
	dd if=/dev/urandom of="$(log_file 1)" bs=4096 seek=3 count=1 conv=notrunc 2>/dev/null
	store_small 51 55
	# Before: "structure: ok", fewer messages than stored, exit 0; the
	# next recovery would have lost the rest.
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000001 is unreadable from offset"
	assert_stderr_contains "restore a backup"
}

@test "verify: a damaged record in a log file before the last: exit 3, names file and offset" {
	store_big 5
	[ -e "$(log_file 2)" ] || fail "only one log file"
	dd if=/dev/urandom of="$(log_file 1)" bs=4096 seek=1250 count=1 conv=notrunc 2>/dev/null
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000001 is unreadable at offset"
}

@test "verify: zeros over the rest of a log file before the last: exit 3" {
	store_big 5
	[ -e "$(log_file 2)" ] || fail "only one log file"
	# Zeros end a file for its readers: from a record on, the rest of
	# log.0000000001 is skipped without an error.
	off=$(log_record_offset 30)
	[ -n "$off" ] || fail "no record offset from db5.3_printlog"
	truncate -s "$off" "$(log_file 1)"
	truncate -s 16M "$(log_file 1)"
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000001 breaks off at offset $off"
}

@test "verify: deleted log files, store in use: exit 3, names the missing file" {
	store_small
	rm "$(log_file 1)"
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000001 is missing"
}

@test "verify: a gap in the log files, then the oldest ones gone: exit 3" {
	store_big 9
	[ -e "$(log_file 3)" ] || fail "fewer than three log files"
	rm "$(log_file 2)"
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000002 is missing"
	rm "$(log_file 1)"
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "the log files up to log.0000000002 are missing"
}

@test "verify: the log file the last checkpoint needs is gone: exit 3" {
	store_big 3
	run -0 "$MSGHASH" checkpoint
	store_big 3
	[ -e "$(log_file 2)" ] || fail "only one log file"
	# Recovery starts at the checkpoint, in log.0000000001.
	rm "$(log_file 1)"
	run -3 --separate-stderr "$MSGHASH" verify
	assert_damaged_log "log.0000000001 are missing"
}

@test "verify: several log files, checkpoints and removed log files: no false alarm" {
	store_big 3
	run -0 "$MSGHASH" checkpoint
	store_big 3
	[ -e "$(log_file 1)" ] && [ -e "$(log_file 2)" ] || fail "not two log files"
	run -0 --separate-stderr "$MSGHASH" verify
	assert_line "messages: 6"
	# The checkpoint removes log.0000000001, no longer needed.
	run -0 "$MSGHASH" checkpoint
	[ ! -e "$(log_file 1)" ] || fail "the checkpoint kept log.0000000001"
	run -0 --separate-stderr "$MSGHASH" verify
	assert_line "messages: 6"
	assert_equal "$stderr" ""
	run -0 "$MSGHASH" hash foo
	run -0 "$MSGHASH" verify
	assert_line "messages: 7"
	run -0 "$MSGHASH" checkpoint
	run -0 "$MSGHASH" verify
	assert_line "messages: 7"
}

# A checkpoint removes a log file while verify's backup has copied the
# database file but not yet that log file: strace holds the backup's open
# of log.0000000001 for 4 s, and the checkpoint runs meanwhile.  Without a
# second copy the backup fails to open it ("cannot copy", exit 3), or its
# copy lacks it: a false alarm either way.
@test "verify: a checkpoint removes a log file during the backup: a new copy, no false alarm" {
	local v size rc=0
	store_big 5
	[ -e "$(log_file 2)" ] || fail "not two log files"
	no_leak_check strace -f -qq -o /dev/null -P "$(log_file 1)" -e trace=openat \
	    -e inject=openat:delay_enter=4000000 "$MSGHASH" verify \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	v=$!
	# the database file is copied whole: the backup is at the log files
	size=$(stat -c %s "$MSGHASH_DB/messages.db")
	for _ in $(seq 300); do
		copy=$(wait_for_copy) && [[ $(stat -c %s "$copy/messages.db") == "$size" ]] && break
		sleep 0.01
	done
	run -0 "$MSGHASH" checkpoint
	[ ! -e "$(log_file 1)" ] || fail "the checkpoint kept log.0000000001"
	kill -0 "$v" || fail "verify ended before the checkpoint: nothing was tested"
	wait "$v" || rc=$?
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
	assert_equal "$rc" 0
	run grep -x "messages: 5" "$BATS_TEST_TMPDIR/out"
	assert_success
}

# libdb's own message for a log file it cannot copy prints a buffer it
# never filled (binary garbage, tabs, newlines): the line keeps the
# system's text, or, when libdb cut its message short, says it was
# unreadable (seen in the sanitizer build).
@test "verify: a log file the backup cannot open: exit 3 and one printable line, not libdb's garbage" {
	store_big 5
	[ -e "$(log_file 2)" ] || fail "not two log files"
	run -3 --separate-stderr no_leak_check strace -f -qq -o /dev/null -P "$(log_file 1)" \
	    -e trace=openat -e inject=openat:error=ENOENT "$MSGHASH" verify
	assert_stderr_lines 1
	local head="msghash verify: cannot copy store '$MSGHASH_DB': "
	[[ $stderr == "$head"* ]] || fail "not the line expected: $stderr"
	[[ ${stderr#"$head"} == "No such file or directory" ||
	    ${stderr#"$head"} == "Berkeley DB's message is unreadable" ]] ||
		fail "neither the system's text nor 'unreadable': $stderr"
}

@test "verify: the copy of a killed run is removed by the next run, a running one's is kept" {
	store_big 4
	other="$BATS_TEST_TMPDIR/other"
	MSGHASH_DB=$other store_big 2
	# Killed while copying: the copy stays behind.
	"$MSGHASH" verify >/dev/null 2>&1 &
	killed=$!
	dead=$(wait_for_copy) || fail "no copy appeared"
	kill -KILL "$killed"
	wait "$killed" || true
	[ -d "$dead" ] || fail "the killed run left no copy"
	# Stopped while copying another store into the same TMPDIR: alive.
	MSGHASH_DB=$other "$MSGHASH" verify >/dev/null 2>&1 &
	stopped=$!
	live=$(wait_for_copy "$dead") || fail "no second copy appeared"
	kill -STOP "$stopped"
	run -0 "$MSGHASH" verify
	assert_line "messages: 4"
	kill -CONT "$stopped"
	[ ! -e "$dead" ] || fail "the killed run's copy is still there"
	[ -d "$live" ] || fail "the running verify's copy was removed"
	wait "$stopped" || fail "the stopped verify failed when continued"
	run ls "$TMPDIR"
	refute_output --partial msghash-verify
}

@test "verify: removes nothing it did not create" {
	run -0 "$MSGHASH" hash foo
	lock=msghash-verify.lock
	t=$TMPDIR
	mkdir "$t/msghash-verify.nolock"		# no lock yet: a run starting
	mkdir "$t/msghash-verify.toolong1"		# not a name mkdtemp makes
	touch "$t/msghash-verify.toolong1/$lock"
	echo data >"$t/msghash-verify.afile1"		# not a directory
	mkdir "$t/target"
	touch "$t/target/$lock" "$t/target/keep"
	ln -s target "$t/msghash-verify.link01"		# a symbolic link
	mkdir "$t/msghash-verify.lnklck"		# its lock a symbolic link
	ln -s "../target/$lock" "$t/msghash-verify.lnklck/$lock"
	mkdir "$t/msghash-verify.locked"		# its lock held
	touch "$t/msghash-verify.locked/$lock"
	(exec 9<"$t/msghash-verify.locked/$lock" && flock 9 && exec sleep 60) \
	    >/dev/null 2>&1 3>&- &
	holder=$!
	for ((i = 0; i < 1000; i++)); do
		flock -n "$t/msghash-verify.locked/$lock" true || break
		sleep 0.01
	done
	if ((EUID == 0)); then				# another user's
		mkdir "$t/msghash-verify.others"
		touch "$t/msghash-verify.others/$lock"
		chown -R nobody "$t/msghash-verify.others"
	fi
	# The control: a dead run's copy, which goes.
	mkdir "$t/msghash-verify.dead01"
	touch "$t/msghash-verify.dead01/$lock" "$t/msghash-verify.dead01/messages.db"
	run -0 "$MSGHASH" verify
	kill "$holder"
	wait "$holder" || true
	[ ! -e "$t/msghash-verify.dead01" ] || fail "the dead run's copy is still there"
	for f in nolock toolong1 afile1 link01 lnklck locked; do
		[ -e "$t/msghash-verify.$f" ] || fail "msghash-verify.$f was removed"
	done
	[ -e "$t/msghash-verify.toolong1/$lock" ] && [ -e "$t/target/keep" ] &&
	    [ -e "$t/msghash-verify.locked/$lock" ] || fail "a file was removed"
	if ((EUID == 0)); then
		[ -e "$t/msghash-verify.others/$lock" ] || fail "another user's copy was removed"
	fi
}
