#!/bin/sh
# autogen.sh — make a fresh Debian 12 clone buildable, then configure it.
#
# When a build or test dependency is missing: as root, install it with apt-get
# (after an update); otherwise print the exact apt-get line and stop.
# Then regenerate the build system and run ./configure with our arguments.
set -eu

cd "$(dirname "$0")"

# Debian 12 packages for the build, `make check`, the CI's fuzzing step
# (clang, libclang-rt-14-dev) and `make bench` (wrk, git, openssl).
# Keep in step with README.md.
DEPS="build-essential autoconf automake pkgconf libssl-dev libcjson-dev libdb-dev
db5.3-util bats bats-support bats-assert mandoc curl valgrind systemd python3
python3-bsddb3 clang libclang-rt-14-dev wrk git openssl"

missing=""
for pkg in $DEPS; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $pkg"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "autogen.sh: installing:$missing" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing
	else
		echo "autogen.sh: missing build dependencies; run:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
fi

autoreconf -fi
exec ./configure "$@"
