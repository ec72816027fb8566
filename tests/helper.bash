# tests/helper.bash -- loaded by every tests/*.bats file with `load helper`.
#
# Environment (set by `make check` through AM_TESTS_ENVIRONMENT, or by hand):
#   MSGHASH              absolute path of the built msghash binary
#   MSGHASH_TEST_SRCDIR  the source tree (fixtures are read from there, never from ./)
#
# Every test calls common_setup, which points every store-location variable at
# the test's own $BATS_TEST_TMPDIR, so a test never touches a real store.
# Expected values never come from msghash itself: sha256sum, printf and the
# specification's text are the oracles.

bats_load_library bats-support
bats_load_library bats-assert

export LC_ALL=C

# The one line every usage error ends with (specification, "Usage errors").
TRY_HELP_LINE="Try 'msghash --help' for more information."
# The default message limit: 4M = 4 MiB.
DEFAULT_MAX_SIZE=4194304
# SHA-256 of the empty message (FIPS 180-4 test vector; the spec's e3b0c442...).
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# Fail the test with a clear message when the environment is incomplete.
require_test_env() {
	if [[ -z ${MSGHASH:-} ]]; then
		fail "MSGHASH is not set: export MSGHASH=/absolute/path/to/the/built/msghash"
	fi
	if [[ $MSGHASH != /* ]]; then
		fail "MSGHASH must be an absolute path (got '$MSGHASH')"
	fi
	if [[ ! -x $MSGHASH ]]; then
		fail "MSGHASH='$MSGHASH' is not an executable file"
	fi
	if [[ -z ${MSGHASH_TEST_SRCDIR:-} ]]; then
		fail "MSGHASH_TEST_SRCDIR is not set: export it to the source tree (e.g. \$(abs_top_srcdir))"
	fi
	if [[ ! -d $MSGHASH_TEST_SRCDIR ]]; then
		fail "MSGHASH_TEST_SRCDIR='$MSGHASH_TEST_SRCDIR' is not a directory"
	fi
}

common_setup() {
	require_test_env
	export MSGHASH_DB="$BATS_TEST_TMPDIR/store"
	unset STATE_DIRECTORY XDG_DATA_HOME
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	umask 022
}

# Undo permission changes so bats can remove $BATS_TEST_TMPDIR.
common_teardown() {
	chmod -R u+rwX "$BATS_TEST_TMPDIR" 2>/dev/null || true
}

# sha256_of_file FILE -> 64 lowercase hex digits on stdout
sha256_of_file() {
	sha256sum <"$1" | cut -c1-64
}

# no_leak_check CMD...: CMD with LeakSanitizer off.  A process under ptrace
# (strace, gdb) cannot run it, and a sanitizer build (--enable-sanitizers)
# would end such a process with exit 1; the address checks stay on.
no_leak_check() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"
}

# sha256_of_string STRING -> 64 lowercase hex digits of STRING's exact bytes
sha256_of_string() {
	printf %s "$1" | sha256sum | cut -c1-64
}

# make_random_file FILE BYTES: BYTES bytes from /dev/urandom
make_random_file() {
	head -c "$2" /dev/urandom >"$1"
	[[ $(stat -c %s "$1") -eq $2 ]] || fail "could not create $2 random bytes in $1"
}

# make_binary_file FILE BYTES: random bytes, guaranteed to contain NUL and
# 0xFF (the last 3 of the BYTES bytes are \0 \377 \0)
make_binary_file() {
	make_random_file "$1" "$(($2 - 3))"
	printf '\0\377\0' >>"$1"
}

# assert_stderr_lines N: after `run --separate-stderr`, stderr has exactly N lines
assert_stderr_lines() {
	if ((${#stderr_lines[@]} != $1)); then
		batslib_print_kv_single_or_multi 8 expected "$1 line(s) on stderr" \
			stderr "$stderr" | batslib_decorate "wrong number of stderr lines" | fail
	fi
}

# assert_stderr_contains TEXT: after `run --separate-stderr`
assert_stderr_contains() {
	if [[ $stderr != *"$1"* ]]; then
		batslib_print_kv_single_or_multi 9 substring "$1" stderr "$stderr" |
			batslib_decorate "stderr does not contain substring" | fail
	fi
}

# assert_usage_error: after `run -2 --separate-stderr msghash ...`: nothing on
# stdout, one line naming the problem, then the "Try ..." line, which points
# at the command's own help when the first line names a command
# ("msghash hash: ..." -> "Try 'msghash hash --help' ...").
assert_usage_error() {
	local try=$TRY_HELP_LINE
	assert_equal "$output" ""
	assert_stderr_lines 2
	[[ -n ${stderr_lines[0]} ]] || fail "first stderr line is empty"
	if [[ ${stderr_lines[0]} =~ ^msghash\ ([a-z]+): ]]; then
		try="Try 'msghash ${BASH_REMATCH[1]} --help' for more information."
	fi
	assert_equal "${stderr_lines[1]}" "$try"
}

# assert_one_line_error [TEXT]: nothing on stdout, one stderr line (containing TEXT)
assert_one_line_error() {
	assert_equal "$output" ""
	assert_stderr_lines 1
	if (($# > 0)); then
		assert_stderr_contains "$1"
	fi
}

# as_unprivileged CMD...: run CMD without root's privileges.  As root, drop to
# nobody:nogroup (util-linux setpriv); as any other user, run it as is.
as_unprivileged() {
	if ((EUID == 0)); then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	else
		"$@"
	fi
}

# make_tmpdir_reachable: as root, let nobody traverse to $BATS_TEST_TMPDIR
# (bats creates its temporary directories mode 0700).  Only directories below
# $BATS_RUN_TMPDIR, which bats created for this run, are changed.
make_tmpdir_reachable() {
	((EUID == 0)) || return 0
	local d=$BATS_TEST_TMPDIR
	while [[ $d == "$BATS_RUN_TMPDIR"* && $d != / ]]; do
		chmod o+x "$d"
		d=${d%/*}
		[[ -n $d ]] || d=/
	done
	as_unprivileged test -x "$BATS_TEST_TMPDIR" ||
		fail "nobody cannot reach $BATS_TEST_TMPDIR (a parent directory is not searchable)"
}

# hold_store_lock SECONDS: another process holds $MSGHASH_DB/msghash.lock
# for SECONDS (as a crowd of openers, or a stuck one, does); returns once it
# is held, with the holder's PID in STORE_LOCK_HOLDER
hold_store_lock() {
	local ready=$BATS_TEST_TMPDIR/locked.$RANDOM
	flock -x "$MSGHASH_DB/msghash.lock" -c "touch '$ready'; sleep $1" 3>&- &
	STORE_LOCK_HOLDER=$!
	for _ in {1..100}; do [[ -e $ready ]] && break; sleep 0.05; done
	[[ -e $ready ]] || fail "flock did not take $MSGHASH_DB/msghash.lock"
}

# loads_libcrypto FILE: status 0 if the LD_DEBUG=files report (ld.so(8)) in
# FILE shows libcrypto loaded ("needed" or dlopen(3)ed alike), 1 if not, and
# 2 if the report does not even list libc (ld.so reported nothing to go by).
loads_libcrypto() {
	local objects
	objects=$(sed -n 's/.*[[:space:]]file=\([^ ]*\) .*/\1/p' "$1")
	grep -q '^libc\.so\.' <<<"$objects" || return 2
	grep -q '^libcrypto\.' <<<"$objects"
}
