#!/usr/bin/env bats
# The source tree itself: what is distributed, and what must never be.

bats_require_minimum_version 1.5.0
load helper

setup() {
	common_setup
}

# Berkeley DB store files: regions, the registry, logs, databases.
STORE_FILE_RE='(^|/)(__db\.[0-9]+|__db\.register|log\.[0-9]{10}|[^/]*\.db|msghash\.lock)$'

@test "no Berkeley DB store is part of the source (git's index, or the unpacked distribution)" {
	local files
	if git -C "$MSGHASH_TEST_SRCDIR" rev-parse --show-toplevel >/dev/null 2>&1 &&
		[[ $(git -C "$MSGHASH_TEST_SRCDIR" rev-parse --show-toplevel) == "$(cd "$MSGHASH_TEST_SRCDIR" && pwd -P)" ]]; then
		files=$(git -C "$MSGHASH_TEST_SRCDIR" ls-files)
	else
		# a distribution tree (make distcheck): every file in it is shipped
		files=$(cd "$MSGHASH_TEST_SRCDIR" &&
			find . \( -path ./_build -o -path ./_inst \) -prune -o -type f -print)
	fi
	[[ -n $files ]] || fail "no source files found in $MSGHASH_TEST_SRCDIR"
	run grep -E "$STORE_FILE_RE" <<<"$files"
	assert_failure
	assert_output ''
}

@test "git ignores a store wherever one is made in the tree" {
	# the rules themselves, checked with git's own matcher on a scratch repo
	git init -q "$BATS_TEST_TMPDIR/repo"
	cp "$MSGHASH_TEST_SRCDIR/.gitignore" "$BATS_TEST_TMPDIR/repo/"
	local f
	for f in some/store/__db.001 demo/__db.register demo/log.0000000001 x/messages.db x/msghash.lock x/DB_CONFIG; do
		run git -C "$BATS_TEST_TMPDIR/repo" check-ignore -q "$f"
		assert_success
	done
	run git -C "$BATS_TEST_TMPDIR/repo" check-ignore -q lib/store.c
	assert_failure
}

@test "the repository stands on its own: no file cites documents outside it" {
	local files
	if git -C "$MSGHASH_TEST_SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
		files=$(git -C "$MSGHASH_TEST_SRCDIR" ls-files)
	else
		files=$(cd "$MSGHASH_TEST_SRCDIR" &&
			find . \( -path ./_build -o -path ./_inst \) -prune -o -type f -print)
	fi
	cd "$MSGHASH_TEST_SRCDIR"
	run grep -lE '\.\./shared|research/[a-z-]+\.md|reliability\.md' $files
	assert_output ''
	# every "DESIGN.md §N" names a section that DESIGN.md has
	local ref
	for ref in $(grep -ohE 'DESIGN\.md §[0-9]+(\.[0-9]+)?' $files | sort -u | sed 's/.*§//'); do
		grep -qE "^##+ ${ref//./\\.}\.? " DESIGN.md || fail "DESIGN.md has no section $ref"
	done
}

@test "one list of fuzz targets: tests/fuzz/targets is what Makefile.am builds" {
	local listed built
	listed=$(sort "$MSGHASH_TEST_SRCDIR/tests/fuzz/targets" | tr '\n' ' ')
	built=$(sed -n '/^FUZZ_TARGETS = /,/^[^\t]/s|.*tests/fuzz/fuzz-\([a-z]*\).*|\1|p' \
		"$MSGHASH_TEST_SRCDIR/Makefile.am" | sort | tr '\n' ' ')
	[[ -n $listed ]] || fail "tests/fuzz/targets is empty"
	assert_equal "$built" "$listed"
	# and fuzz-http's seeds are the fixtures, not copies of them
	local f
	for f in "$MSGHASH_TEST_SRCDIR"/tests/fuzz/corpus/http/*; do
		[[ ! -e $MSGHASH_TEST_SRCDIR/tests/fixtures/http/${f##*/} ]] ||
			fail "${f##*/} is both a fixture and a fuzz seed"
	done
}
