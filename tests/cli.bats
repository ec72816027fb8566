#!/usr/bin/env bats
# The msghash command line, tested from the specification (msghash 0.1.0):
# expected digests come from sha256sum, expected text from the specification.

bats_require_minimum_version 1.5.0

load helper

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- help, version

@test "--help: usage on stdout, exit 0, lists every command and the global options" {
	run -0 --separate-stderr "$MSGHASH" --help
	assert_equal "$stderr" ""
	local cmd
	for cmd in hash lookup checkpoint; do
		# the command name, then its one-line summary on the same line
		assert_line --regexp "^[[:space:]]*${cmd}[[:space:]]+[^[:space:]]"
	done
	assert_output --partial -- --db
	assert_output --partial -- --max-size
	assert_output --partial -- --help
	assert_output --partial -- --version
}

@test "-h: same text as --help, exit 0" {
	run -0 --separate-stderr "$MSGHASH" --help
	local long=$output
	run -0 --separate-stderr "$MSGHASH" -h
	assert_equal "$stderr" ""
	assert_equal "$output" "$long"
}

@test "hash --help: the command's usage and options on stdout, exit 0" {
	run -0 --separate-stderr "$MSGHASH" hash --help </dev/null
	assert_equal "$stderr" ""
	assert_output --partial hash
	assert_output --partial -- --no-store
	# usage only: nothing was hashed, so no digest line
	refute_line --regexp '^[0-9a-f]{64}$'
	[[ ! -e $MSGHASH_DB ]] || fail "hash --help created the store"
}

@test "lookup --help: the command's usage on stdout, exit 0" {
	run -0 --separate-stderr "$MSGHASH" lookup --help
	assert_equal "$stderr" ""
	assert_output --partial lookup
}

# The help texts are golden files (tests/fixtures/help/, reviewed text):
# a change to --help shows in the diff of a fixture.
@test "--help of msghash and of every command matches its golden file" {
	local f cmd
	for f in "$MSGHASH_TEST_SRCDIR"/tests/fixtures/help/*.txt; do
		cmd=${f##*/}
		cmd=${cmd%.txt}
		if [[ $cmd == msghash ]]; then
			run -0 --separate-stderr "$MSGHASH" --help
		else
			run -0 --separate-stderr "$MSGHASH" "$cmd" --help </dev/null
		fi
		assert_equal "$stderr" ""
		assert_equal "$output" "$(cat "$f")"
	done
	# every command has one
	run -0 "$MSGHASH" --help
	for cmd in $(sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' <<<"$output"); do
		[[ -f $MSGHASH_TEST_SRCDIR/tests/fixtures/help/$cmd.txt ]] ||
			fail "no golden help for '$cmd'"
	done
}

@test "--help layout: one description column per text, no trailing blanks, [OPTION...] only for commands with options" {
	local cmd text cols
	for cmd in "" hash lookup checkpoint serve verify; do
		text=$("$MSGHASH" $cmd --help </dev/null)
		! grep -n ' $' <<<"$text" || fail "'msghash $cmd --help' has a line ending in a blank"
		# the column where each option's or command's description starts
		cols=$(awk '/^  [^ ]/ || /^      --/ {
			match($0, /^ *[^ ]+( [^ ]+)? +/); print RLENGTH }' <<<"$text" | sort -u)
		(($(wc -l <<<"$cols") == 1)) ||
			fail "'msghash $cmd --help': descriptions start in columns $(tr '\n' ' ' <<<"$cols")"
		if [[ -n $cmd ]] && ! grep -q '^Options:' <<<"$text"; then
			! grep -q '\[OPTION\.\.\.\]' <<<"$text" ||
				fail "'msghash $cmd --help' shows [OPTION...] but lists no option"
		fi
	done
}

@test "an empty store path is a usage error: --db '' and MSGHASH_DB=''" {
	run -2 --separate-stderr "$MSGHASH" --db '' hash foo
	assert_usage_error
	assert_stderr_contains "--db"
	MSGHASH_DB='' run -2 --separate-stderr "$MSGHASH" hash foo
	assert_usage_error
	assert_stderr_contains "MSGHASH_DB"
	[[ ! -e $HOME/.local/share/msghash ]] || fail "the default store was used"
}

@test "a write error names the command" {
	[[ -w /dev/full ]] || fail "/dev/full is needed"
	run -3 --separate-stderr bash -c '"$1" hash --no-store foo >/dev/full' _ "$MSGHASH"
	assert_equal "$stderr" "msghash hash: write error: No space left on device"
}

@test "--version: first line is exactly 'msghash 0.1.0', exit 0" {
	run -0 --separate-stderr "$MSGHASH" --version
	assert_equal "$stderr" ""
	assert_equal "${lines[0]}" "msghash 0.1.0"
}

@test "--version, the man page and the README name the license, which LICENSE holds" {
	run -0 "$MSGHASH" --version
	assert_line --regexp '^License: MIT '
	grep -q '^MIT License$' "$MSGHASH_TEST_SRCDIR/LICENSE" || fail "LICENSE is not the MIT license"
	grep -q 'MIT license' "$MSGHASH_TEST_SRCDIR/man/msghash.1" || fail "the man page does not name the license"
	grep -q '^MIT: see \[LICENSE\]' "$MSGHASH_TEST_SRCDIR/README.md" || fail "the README does not name the license"
}

@test "-V: first line is exactly 'msghash 0.1.0', exit 0" {
	run -0 --separate-stderr "$MSGHASH" -V
	assert_equal "${lines[0]}" "msghash 0.1.0"
}

# ---------------------------------------------------------------- usage errors

@test "msghash: no command is a usage error (exit 2, problem + Try line)" {
	run -2 --separate-stderr "$MSGHASH" </dev/null
	assert_usage_error
}

@test "msghash: unknown global option is a usage error" {
	run -2 --separate-stderr "$MSGHASH" --frobnicate hash foo
	assert_usage_error
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}

@test "msghash: global option without its argument is a usage error" {
	run -2 --separate-stderr "$MSGHASH" --db
	assert_usage_error
	run -2 --separate-stderr "$MSGHASH" hash --db
	assert_usage_error
	run -2 --separate-stderr "$MSGHASH" lookup --max-size
	assert_usage_error
}

@test "msghash: unknown command exits 2 and names it" {
	run -2 --separate-stderr "$MSGHASH" frobnicate
	assert_equal "$output" ""
	assert_stderr_contains frobnicate
}

@test "hash: unknown option is a usage error" {
	run -2 --separate-stderr "$MSGHASH" hash --frobnicate foo
	assert_usage_error
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}

@test "lookup: missing operand is a usage error" {
	run -2 --separate-stderr "$MSGHASH" lookup
	assert_usage_error
}

@test "lookup: extra operand is a usage error" {
	local d
	d=$(sha256_of_string foo)
	"$MSGHASH" hash foo >/dev/null
	run -2 --separate-stderr "$MSGHASH" lookup "$d" "$d"
	assert_usage_error
}

@test "lookup: unknown option is a usage error" {
	run -2 --separate-stderr "$MSGHASH" lookup --frobnicate "$EMPTY_SHA256"
	assert_usage_error
}

@test "every command option with a value is its own: a bad value is refused naming that option" {
	# An option without a case in its command's handler must not be taken
	# for another option (cmd_unknown_option): each --NAME=ARG listed by a
	# command's --help, given a value no option accepts, names --NAME.
	local cmd name n=0
	for cmd in $("$MSGHASH" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p'); do
		for name in $("$MSGHASH" "$cmd" --help |
			sed -n '/^Options:/,/^$/s/^ *\(-[a-zA-Z], \)\{0,1\}--\([a-z-]*\)=.*/\2/p'); do
			run -2 --separate-stderr "$MSGHASH" "$cmd" "--$name=not-a-value" </dev/null
			assert_usage_error
			assert_stderr_contains "--$name "
			n=$((n + 1))
		done
	done
	((n >= 6)) || fail "only $n options with a value found in the commands' --help"
}

@test "--max-size: a bad value is a usage error (exit 2)" {
	local bad
	for bad in abc '' 10X 12KB 1.5M -1 K 99999999999999999999 99999999999G; do
		run -2 --separate-stderr "$MSGHASH" --max-size "$bad" hash foo
		assert_usage_error
	done
	[[ ! -e $MSGHASH_DB ]] || fail "a usage error created the store"
}

@test "-m: a bad value after the command is a usage error (exit 2)" {
	run -2 --separate-stderr "$MSGHASH" hash -m 12Q foo
	assert_usage_error
}

# ---------------------------------------------------------------- hash

@test "hash: one argument prints the SHA-256 of its exact bytes, 64 hex + newline" {
	"$MSGHASH" hash foo >"$BATS_TEST_TMPDIR/out"
	printf '%s\n' "$(sha256_of_string foo)" >"$BATS_TEST_TMPDIR/expected"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/expected"
	run -0 --separate-stderr "$MSGHASH" hash foo
	assert_output --regexp '^[0-9a-f]{64}$'
	assert_equal "$stderr" ""
}

@test "hash: several arguments print one digest per argument, in order" {
	local -a msgs=(foo 'with space' $'two\nlines' $'trailing newline\n' '' $'\t' 'héllo' foo)
	local m
	: >"$BATS_TEST_TMPDIR/expected"
	for m in "${msgs[@]}"; do
		sha256_of_string "$m" >>"$BATS_TEST_TMPDIR/expected"
	done
	"$MSGHASH" hash "${msgs[@]}" >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/expected"
	# and each one was stored
	for m in "${msgs[@]}"; do
		"$MSGHASH" lookup "$(sha256_of_string "$m")" >"$BATS_TEST_TMPDIR/got"
		printf %s "$m" | cmp - "$BATS_TEST_TMPDIR/got"
	done
}

@test "hash: the empty string argument is a valid message (e3b0c442...)" {
	run -0 --separate-stderr "$MSGHASH" hash ''
	assert_output "$(sha256_of_string '')"
	assert_output "$EMPTY_SHA256"
	"$MSGHASH" lookup "$EMPTY_SHA256" >"$BATS_TEST_TMPDIR/got"
	[[ ! -s $BATS_TEST_TMPDIR/got ]] || fail "lookup of the empty message wrote bytes"
}

@test "hash: no argument reads stdin as one message, newline kept" {
	local expected
	expected=$(echo foo | sha256sum | cut -c1-64)
	run -0 --separate-stderr bash -c 'echo foo | "$1" hash' _ "$MSGHASH"
	assert_output "$expected"
	refute_output "$(sha256_of_string foo)"
}

@test "hash: '-' reads stdin as one message" {
	printf 'line one\nline two\n\n' >"$BATS_TEST_TMPDIR/msg"
	run -0 --separate-stderr "$MSGHASH" hash - <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

@test "hash: empty stdin is the empty message" {
	run -0 --separate-stderr "$MSGHASH" hash </dev/null
	assert_output "$EMPTY_SHA256"
}

@test "hash: stdin with NUL and 0xFF bytes is hashed byte for byte" {
	printf 'a\0b\377\0\n' >"$BATS_TEST_TMPDIR/msg"
	run -0 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

@test "hash: the same message twice prints the same digest, both exit 0" {
	run -0 --separate-stderr "$MSGHASH" hash 'same message'
	local first=$output
	run -0 --separate-stderr "$MSGHASH" hash 'same message'
	assert_equal "$output" "$first"
	assert_equal "$output" "$(sha256_of_string 'same message')"
	run -0 --separate-stderr "$MSGHASH" lookup "$first"
	assert_output 'same message'
}

@test "hash -n: prints the digest without storing it" {
	"$MSGHASH" hash other >/dev/null # the store exists
	run -0 --separate-stderr "$MSGHASH" hash -n 'not stored'
	assert_output "$(sha256_of_string 'not stored')"
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string 'not stored')"
}

@test "hash --no-store: prints the digest without storing it" {
	"$MSGHASH" hash other >/dev/null
	printf 'from stdin\n' >"$BATS_TEST_TMPDIR/msg"
	run -0 --separate-stderr "$MSGHASH" hash --no-store <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	run -1 --separate-stderr "$MSGHASH" lookup "$output"
}

@test "hash -n: stdin is streamed, no size limit (5000 bytes with --max-size 1K)" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 5000
	run -0 --separate-stderr "$MSGHASH" --max-size 1K hash -n <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
}

# ---------------------------------------------------------------- message limit

@test "hash: default limit, 4194304 bytes on stdin are accepted and stored" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" "$DEFAULT_MAX_SIZE"
	run -0 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

@test "hash: default limit, 4194305 bytes on stdin exit 2, naming 4194304, nothing stored" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" $((DEFAULT_MAX_SIZE + 1))
	run -2 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_one_line_error "$DEFAULT_MAX_SIZE"
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
}

@test "hash --max-size 1K: an argument of 1024 bytes is accepted, 1025 rejected naming 1024" {
	local ok big
	ok=$(head -c 1024 /dev/zero | tr '\0' a)
	big=${ok}b
	run -0 --separate-stderr "$MSGHASH" --max-size 1K hash "$ok"
	assert_output "$(sha256_of_string "$ok")"
	run -2 --separate-stderr "$MSGHASH" --max-size 1K hash "$big"
	assert_one_line_error 1024
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string "$big")"
}

@test "hash --max-size 1K: stdin of 1025 bytes exits 2 naming 1024, nothing stored" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 1025
	run -2 --separate-stderr "$MSGHASH" --max-size 1K hash <"$BATS_TEST_TMPDIR/msg"
	assert_one_line_error 1024
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
}

@test "hash --max-size 100: a plain byte count, 100 accepted, 101 rejected naming 100" {
	make_binary_file "$BATS_TEST_TMPDIR/ok" 100
	make_binary_file "$BATS_TEST_TMPDIR/big" 101
	run -0 --separate-stderr "$MSGHASH" --max-size 100 hash <"$BATS_TEST_TMPDIR/ok"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/ok")"
	run -2 --separate-stderr "$MSGHASH" --max-size 100 hash <"$BATS_TEST_TMPDIR/big"
	assert_one_line_error 100
}

@test "hash --max-size 1M: 1048576 bytes accepted, 1048577 rejected naming 1048576" {
	make_binary_file "$BATS_TEST_TMPDIR/ok" 1048576
	make_binary_file "$BATS_TEST_TMPDIR/big" 1048577
	run -0 --separate-stderr "$MSGHASH" --max-size 1M hash <"$BATS_TEST_TMPDIR/ok"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/ok")"
	run -2 --separate-stderr "$MSGHASH" --max-size 1M hash <"$BATS_TEST_TMPDIR/big"
	assert_one_line_error 1048576
}

@test "hash --max-size 1G: raises the limit above the default (5 MiB accepted)" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" $((5 * 1024 * 1024))
	run -0 --separate-stderr "$MSGHASH" --max-size 1G hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

@test "hash -m: the short limit option is accepted after the command" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 1025
	run -2 --separate-stderr "$MSGHASH" hash -m 1K <"$BATS_TEST_TMPDIR/msg"
	assert_one_line_error 1024
	run -2 --separate-stderr "$MSGHASH" hash --max-size 1K <"$BATS_TEST_TMPDIR/msg"
	assert_one_line_error 1024
}

# ---------------------------------------------------------------- lookup

@test "lookup: writes the stored message byte for byte, nothing added" {
	printf 'hello\n\n' >"$BATS_TEST_TMPDIR/msg"
	local d
	d=$("$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg")
	"$MSGHASH" lookup "$d" >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/msg"
	"$MSGHASH" hash 'no newline' >/dev/null
	"$MSGHASH" lookup "$(sha256_of_string 'no newline')" >"$BATS_TEST_TMPDIR/got"
	printf %s 'no newline' | cmp - "$BATS_TEST_TMPDIR/got"
}

@test "lookup: does not load libcrypto (a lookup never hashes: its start-up is cheaper)" {
	local d
	d=$("$MSGHASH" hash 'no hashing here')
	LD_DEBUG=files "$MSGHASH" lookup "$d" >"$BATS_TEST_TMPDIR/out" \
	    2>"$BATS_TEST_TMPDIR/ld"
	printf %s 'no hashing here' | cmp - "$BATS_TEST_TMPDIR/out"
	run -1 loads_libcrypto "$BATS_TEST_TMPDIR/ld"
}

@test "hash: a libcrypto that will not load is a one-line error, exit 3 (where it is loaded at run time)" {
	mkdir "$BATS_TEST_TMPDIR/lib"
	: >"$BATS_TEST_TMPDIR/lib/libcrypto.so.3"	# empty: not an ELF object
	LD_DEBUG=files "$MSGHASH" hash -n probe >/dev/null 2>"$BATS_TEST_TMPDIR/ld"
	run loads_libcrypto "$BATS_TEST_TMPDIR/ld"
	((status != 2)) || fail "ld.so reported no libc: LD_DEBUG=files not honoured"
	if ((status == 1)); then
		# --enable-static-deps: linked in, so nothing to load
		LD_LIBRARY_PATH=$BATS_TEST_TMPDIR/lib run -0 "$MSGHASH" hash -n abc
		assert_output "$(sha256_of_string abc)"
		return
	fi
	LD_LIBRARY_PATH=$BATS_TEST_TMPDIR/lib run -3 --separate-stderr "$MSGHASH" hash abc
	assert_one_line_error 'msghash hash: cannot load libcrypto.so.3'
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string abc)"
}

@test "lookup: upper-case hex digest is accepted" {
	"$MSGHASH" hash 'Case' >/dev/null
	local d
	d=$(sha256_of_string 'Case')
	run -0 --separate-stderr "$MSGHASH" lookup "${d^^}"
	assert_output 'Case'
}

@test "lookup: unknown digest exits 1 with one line on stderr naming it" {
	"$MSGHASH" hash 'something else' >/dev/null
	local d
	d=$(sha256_of_string 'never stored')
	run -1 --separate-stderr "$MSGHASH" lookup "$d"
	assert_one_line_error "$d"
}

@test "lookup: a digest of 63 hex characters exits 2 with one line on stderr" {
	"$MSGHASH" hash foo >/dev/null
	local d
	d=$(sha256_of_string foo)
	run -2 --separate-stderr "$MSGHASH" lookup "${d:0:63}"
	assert_one_line_error
}

@test "lookup: a digest of 65 hex characters exits 2 with one line on stderr" {
	"$MSGHASH" hash foo >/dev/null
	local d
	d=$(sha256_of_string foo)
	run -2 --separate-stderr "$MSGHASH" lookup "${d}0"
	assert_one_line_error
}

@test "lookup: a 64-character digest containing 'g' exits 2 with one line on stderr" {
	"$MSGHASH" hash foo >/dev/null
	local d
	d=$(sha256_of_string foo)
	run -2 --separate-stderr "$MSGHASH" lookup "g${d:1}"
	assert_one_line_error
}

@test "lookup: an empty digest exits 2 with one line on stderr" {
	"$MSGHASH" hash foo >/dev/null
	run -2 --separate-stderr "$MSGHASH" lookup ''
	assert_one_line_error
}

@test "lookup: a store directory that does not exist exits 1 and is not created" {
	local d
	d=$(sha256_of_string foo)
	run -1 --separate-stderr "$MSGHASH" lookup "$d"
	assert_equal "$output" ""
	[[ ! -e $MSGHASH_DB ]] || fail "lookup created $MSGHASH_DB"
	run -1 --separate-stderr "$MSGHASH" --db "$BATS_TEST_TMPDIR/other" lookup "$d"
	[[ ! -e $BATS_TEST_TMPDIR/other ]] || fail "lookup created the --db directory"
}

# ---------------------------------------------------------------- binary round trip

@test "hash/lookup: 64 KiB of binary (NUL, 0xFF) round-trips byte for byte" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 65536
	run -0 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

@test "hash/lookup: 1 MiB of binary (NUL, 0xFF) round-trips byte for byte" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 1048576
	run -0 --separate-stderr "$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg"
	assert_output "$(sha256_of_file "$BATS_TEST_TMPDIR/msg")"
	"$MSGHASH" lookup "$output" | cmp - "$BATS_TEST_TMPDIR/msg"
}

# ---------------------------------------------------------------- store location

@test "hash: --db DIR wins over MSGHASH_DB" {
	local dir=$BATS_TEST_TMPDIR/flag
	run -0 --separate-stderr "$MSGHASH" --db "$dir" hash foo
	[[ -f $dir/messages.db ]] || fail "no $dir/messages.db"
	[[ ! -e $MSGHASH_DB ]] || fail "MSGHASH_DB was used although --db was given"
	run -0 --separate-stderr "$MSGHASH" -d "$dir" lookup "$(sha256_of_string foo)"
	assert_output foo
	run -1 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string foo)"
}

@test "hash: global options are accepted after the command name" {
	local dir=$BATS_TEST_TMPDIR/after
	run -0 --separate-stderr "$MSGHASH" hash --db "$dir" foo
	assert_output "$(sha256_of_string foo)"
	[[ -f $dir/messages.db ]] || fail "hash --db DIR did not use DIR"
	[[ ! -e $MSGHASH_DB ]] || fail "MSGHASH_DB was used although --db was given"
	run -0 --separate-stderr "$MSGHASH" lookup -d "$dir" "$(sha256_of_string foo)"
	assert_output foo
	run -0 --separate-stderr "$MSGHASH" hash -d "$dir" bar
	run -0 --separate-stderr "$MSGHASH" lookup --db "$dir" "$(sha256_of_string bar)"
	assert_output bar
}

@test "hash: MSGHASH_DB wins over STATE_DIRECTORY" {
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	run -0 --separate-stderr "$MSGHASH" hash foo
	[[ -f $MSGHASH_DB/messages.db ]] || fail "no $MSGHASH_DB/messages.db"
	[[ ! -e $STATE_DIRECTORY ]] || fail "STATE_DIRECTORY was used although MSGHASH_DB is set"
}

@test "hash: STATE_DIRECTORY wins over XDG_DATA_HOME" {
	unset MSGHASH_DB
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	export XDG_DATA_HOME=$BATS_TEST_TMPDIR/xdg
	run -0 --separate-stderr "$MSGHASH" hash foo
	[[ -f $STATE_DIRECTORY/messages.db ]] || fail "no $STATE_DIRECTORY/messages.db"
	[[ ! -e $XDG_DATA_HOME ]] || fail "XDG_DATA_HOME was used although STATE_DIRECTORY is set"
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_output foo
}

@test "hash: XDG_DATA_HOME/msghash wins over HOME" {
	unset MSGHASH_DB
	export XDG_DATA_HOME=$BATS_TEST_TMPDIR/xdg
	run -0 --separate-stderr "$MSGHASH" hash foo
	[[ -f $XDG_DATA_HOME/msghash/messages.db ]] || fail "no $XDG_DATA_HOME/msghash/messages.db"
	[[ ! -e $HOME/.local ]] || fail "HOME was used although XDG_DATA_HOME is set"
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_output foo
}

@test "hash: without any setting the store is HOME/.local/share/msghash" {
	unset MSGHASH_DB
	run -0 --separate-stderr "$MSGHASH" hash foo
	[[ -f $HOME/.local/share/msghash/messages.db ]] || fail "no $HOME/.local/share/msghash/messages.db"
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_output foo
}

@test "hash: the store is created mode 0700 with parents, messages.db mode 0600" {
	local dir=$BATS_TEST_TMPDIR/a/b/c/store
	run -0 --separate-stderr "$MSGHASH" --db "$dir" hash foo
	assert_equal "$(stat -c %a "$dir")" 700
	assert_equal "$(stat -c %a "$dir/messages.db")" 600
}

@test "hash: every file the store creates is mode 0600" {
	run -0 --separate-stderr "$MSGHASH" hash foo
	run -0 --separate-stderr "$MSGHASH" hash bar
	run -0 --separate-stderr "$MSGHASH" checkpoint
	run -0 find "$MSGHASH_DB" -type f ! -perm 600 -printf '%m %p\n'
	assert_output ""
}

# ---------------------------------------------------------------- unusable store

@test "hash: --db pointing at a regular file exits 3 naming the path" {
	local file=$BATS_TEST_TMPDIR/plainfile
	printf 'not a directory\n' >"$file"
	run -3 --separate-stderr "$MSGHASH" --db "$file" hash foo
	assert_one_line_error "$file"
}

@test "lookup: --db pointing at a regular file exits 3 naming the path" {
	local file=$BATS_TEST_TMPDIR/plainfile
	printf 'not a directory\n' >"$file"
	run -3 --separate-stderr "$MSGHASH" --db "$file" lookup "$(sha256_of_string foo)"
	assert_one_line_error "$file"
}

@test "hash: a store directory that cannot be created exits 3 naming the path" {
	make_tmpdir_reachable
	local parent=$BATS_TEST_TMPDIR/readonly
	mkdir "$parent"
	chmod 555 "$parent"
	run -3 --separate-stderr as_unprivileged "$MSGHASH" --db "$parent/store" hash foo
	assert_one_line_error "$parent/store"
}

@test "hash: a store directory the user cannot access exits 3 naming the path" {
	make_tmpdir_reachable
	local dir=$BATS_TEST_TMPDIR/locked
	"$MSGHASH" --db "$dir" hash foo >/dev/null
	chmod 000 "$dir"
	run -3 --separate-stderr as_unprivileged "$MSGHASH" --db "$dir" hash bar
	assert_one_line_error "$dir"
}

@test "lookup: a store directory the user cannot access exits 3 naming the path" {
	make_tmpdir_reachable
	local dir=$BATS_TEST_TMPDIR/locked
	"$MSGHASH" --db "$dir" hash foo >/dev/null
	chmod 000 "$dir"
	run -3 --separate-stderr as_unprivileged "$MSGHASH" --db "$dir" lookup "$(sha256_of_string foo)"
	assert_one_line_error "$dir"
}

@test "lookup: messages.db overwritten with garbage exits 3 naming the store" {
	"$MSGHASH" hash foo >/dev/null
	local db=$MSGHASH_DB/messages.db size
	size=$(stat -c %s "$db")
	head -c "$size" /dev/urandom >"$db"
	run -3 --separate-stderr timeout 20 "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_one_line_error "$MSGHASH_DB"
}

@test "hash: messages.db overwritten with garbage exits 3 naming the store" {
	"$MSGHASH" hash foo >/dev/null
	local db=$MSGHASH_DB/messages.db size
	size=$(stat -c %s "$db")
	head -c "$size" /dev/urandom >"$db"
	run -3 --separate-stderr timeout 20 "$MSGHASH" hash bar
	assert_one_line_error "$MSGHASH_DB"
}

@test "hash: a stdout write failure (/dev/full) exits 3 with an error on stderr" {
	run -3 --separate-stderr bash -c '"$1" hash foo >/dev/full' _ "$MSGHASH"
	[[ -n $stderr ]] || fail "nothing on stderr"
}

# ---------------------------------------------------------------- checkpoint

@test "checkpoint: on an existing store exits 0 and messages remain retrievable" {
	make_binary_file "$BATS_TEST_TMPDIR/msg" 70000
	local d1 d2
	d1=$("$MSGHASH" hash <"$BATS_TEST_TMPDIR/msg")
	"$MSGHASH" hash foo bar >/dev/null
	run -0 --separate-stderr "$MSGHASH" checkpoint
	"$MSGHASH" lookup "$d1" | cmp - "$BATS_TEST_TMPDIR/msg"
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string bar)"
	assert_output bar
	run -0 --separate-stderr "$MSGHASH" checkpoint
	"$MSGHASH" hash baz >/dev/null
	run -0 --separate-stderr "$MSGHASH" lookup "$(sha256_of_string foo)"
	assert_output foo
}

@test "checkpoint: a store directory that does not exist exits 1" {
	run -1 --separate-stderr "$MSGHASH" checkpoint
	assert_equal "$output" ""
}
