#!/bin/bash
# setup.sh [check|asan|distcheck|all]...
#
# Installs every package xrepl needs to build and test on Debian 12 (apt-get,
# idempotent), generates the build system and builds into build/ with
# -Werror. Then, per argument:
#   check      make check in build/
#   asan       a second build in build-asan/ under ASan/UBSan, make check there
#   distcheck  make distcheck in build/
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PKGS="autoconf automake libtool pkg-config make gcc libc6-dev
	libxen-dev liblz4-dev libnl-3-dev libnl-route-3-dev libssl-dev
	libcmocka-dev libvotequorum-dev libcmap-dev"
TEST_PKGS="man-db zstd xz-utils clang libclang-rt-14-dev iproute2
	qemu-utils libnbd-bin fio"

log() { printf '[setup] %s\n' "$*"; }

install_packages() {
	local missing=() p
	for p in $BUILD_PKGS $TEST_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return
	log "installing: ${missing[*]}"
	[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root to install packages" >&2; exit 1; }
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
		--no-install-recommends "${missing[@]}"
}

# configure_in DIR ARGS...: (re)configure DIR when its flags changed
configure_in() {
	local dir=$1
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.flags" 2>/dev/null)" != "$*" ] ||
	   [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && ../configure -q "$@")
		echo "$*" >"$dir/.flags"
	fi
}

install_packages
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi
configure_in build --enable-werror
make --no-print-directory -C build -j"$(nproc)"

for step in "$@"; do
	case "$step" in
	check) make --no-print-directory -C build -j"$(nproc)" check ;;
	asan)
		configure_in build-asan --enable-werror --enable-sanitizers
		make --no-print-directory -C build-asan -j"$(nproc)"
		make --no-print-directory -C build-asan -j"$(nproc)" check
		;;
	distcheck) make --no-print-directory -C build -j"$(nproc)" distcheck ;;
	*) echo "setup.sh: unknown step '$step'" >&2; exit 2 ;;
	esac
done
