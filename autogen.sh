#!/bin/sh
# autogen.sh — make a fresh Debian 12 clone buildable, then configure it.
#
# When a build or test dependency is missing: as root, install it with apt-get
# (after an update, waiting for another apt's lock; a failure ends in one
# line with the command to run); otherwise print the exact apt-get line and
# stop.
# Then regenerate the build system and run ./configure with our arguments.
set -eu

cd "$(dirname "$0")"

# Debian 12 packages for the build, `make check`, the CI's fuzzing step
# (clang, libclang-rt-14-dev) and `make bench` (wrk, git, openssl).
# Keep in step with README.md.
DEPS="build-essential autoconf automake pkgconf libssl-dev libcjson-dev libdb-dev
db5.3-util bats bats-support bats-assert mandoc curl valgrind systemd python3
python3-bsddb3 nftables iproute2 strace gdb clang libclang-rt-14-dev wrk git openssl"

missing=""
for pkg in $DEPS; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $pkg"
	fi
done

# Wait for another apt instead of failing at once: on a fresh VM one
# (apt-daily, unattended-upgrades) usually runs for a few minutes at boot.
# DPkg::Lock::Timeout makes apt-get wait for dpkg's lock.
apt_get() {
	apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# That option does not cover the package lists' lock, which another
# `apt-get update` holds: apt 2.6 fails at once.  So retry the update while
# its error is that lock, for the same 10 minutes (LC_ALL=C: apt's message
# in English).
apt_update() {
	err=$(mktemp)
	waited=0
	until LC_ALL=C apt_get update -qq 2>"$err"; do
		if ! grep -q '^E: Could not get lock' "$err" || [ "$waited" -ge 600 ]; then
			cat "$err" >&2
			rm -f "$err"
			return 1
		fi
		[ "$waited" -gt 0 ] ||
			echo "autogen.sh: another apt holds the package lists; waiting for it (at most 10 minutes)" >&2
		sleep 3
		waited=$((waited + 3))
	done
	cat "$err" >&2
	rm -f "$err"
}

if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "autogen.sh: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		# A failed update (an unreachable mirror) may leave usable lists:
		# the install tells whether the packages can be had.
		apt_update ||
			echo "autogen.sh: apt-get update failed; trying the install anyway" >&2
		# shellcheck disable=SC2086
		if ! apt_get install -y -qq --no-install-recommends $missing; then
			# One line of its own under apt-get's messages, with the command.
			echo "autogen.sh: installing the dependencies failed; fix the cause above, then run: apt-get update && apt-get install -y --no-install-recommends$missing && ./autogen.sh" >&2
			exit 1
		fi
	else
		echo "autogen.sh: missing build dependencies; run:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
fi

autoreconf -fi
exec ./configure "$@"
