#!/usr/bin/env bats
# man.bats — man/msghash.1 is lint-clean and in step with --help and the
# status table (lib/status.c): every command, every option, every exit code.

load helper

setup() {
	common_setup
	MAN="$MSGHASH_TEST_SRCDIR/man/msghash.1"
	# Rendered as plain text: \- becomes -, formatting is dropped.
	MANTEXT="$BATS_TEST_TMPDIR/msghash.txt"
	mandoc -Tascii "$MAN" | col -b >"$MANTEXT"
}

# Long options (--name) in a help text.
long_options() {
	grep -oE -- '--[a-z][a-z-]*' | sort -u
}

@test "man: mandoc -Tlint -Wwarning reports nothing" {
	run mandoc -Tlint -Wwarning "$MAN"
	assert_success
	assert_output ""
}

@test "man: has every section users look for" {
	for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT \
	    FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		grep -qx "$section" "$MANTEXT" || fail "section '$section' missing"
	done
}

@test "man: documents every command listed by msghash --help" {
	run "$MSGHASH" --help
	assert_success
	commands=$(sed -n '/^Commands:/,/^$/p' <<<"$output" | awk 'NF && !/:$/ {print $1}')
	[ -n "$commands" ] || fail "no commands found in --help"
	for c in $commands; do
		grep -qE "^ +$c( |$)" "$MANTEXT" || fail "command '$c' not documented"
	done
}

@test "man: documents every option of msghash --help and of each command's --help" {
	run "$MSGHASH" --help
	assert_success
	opts=$(long_options <<<"$output")
	commands=$(sed -n '/^Commands:/,/^$/p' <<<"$output" | awk 'NF && !/:$/ {print $1}')
	for c in $commands; do
		run "$MSGHASH" "$c" --help
		assert_success
		opts="$opts $(long_options <<<"$output")"
	done
	[ -n "$opts" ] || fail "no options found"
	for o in $opts; do
		grep -qF -- "$o" "$MANTEXT" || fail "option '$o' not in the man page"
	done
}

@test "man: EXIT STATUS lists every exit code of the status table" {
	# The table rows look like: [MH_NOTFOUND] = { 1, 404, "not found" },
	codes=$(grep -oE '^\s*\[MH_[A-Z]+\]\s*=\s*\{ *[0-9]+' \
	    "$MSGHASH_TEST_SRCDIR/lib/status.c" | grep -oE '[0-9]+$' | sort -u)
	[ "$(wc -w <<<"$codes")" -ge 4 ] || fail "status table not found"
	section=$(sed -n '/^EXIT STATUS/,/^EXAMPLES/p' "$MANTEXT")
	for code in $codes; do
		grep -qE "^ +$code[[:space:]]+[A-Z]" <<<"$section" ||
		    fail "exit code $code not in EXIT STATUS"
	done
}

@test "man: --version prints the package version" {
	run "$MSGHASH" --version
	assert_success
	assert_line --index 0 "msghash $MSGHASH_VERSION"
}

@test "man: README names every command and every option of --help" {
	readme="$MSGHASH_TEST_SRCDIR/README.md"
	run "$MSGHASH" --help
	commands=$(sed -n '/^Commands:/,/^$/p' <<<"$output" | awk 'NF && !/:$/ {print $1}')
	opts=$(long_options <<<"$output")
	for c in $commands; do
		grep -qE "msghash (\[[^]]*\] )*$c" "$readme" ||
		    fail "command '$c' not in README usage"
		run "$MSGHASH" "$c" --help
		opts="$opts $(long_options <<<"$output")"
	done
	for o in $opts; do
		case $o in --help|--version) continue ;; esac
		grep -qF -- "$o" "$readme" || fail "option '$o' not in README"
	done
}
