#!/bin/bash
# configure names the Debian package for every missing dependency.
. "$srcdir/tests/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
configure=$(cd "$srcdir" && pwd)/configure

# An empty pkg-config search path hides every dependency; the first one
# checked is Xen's.
(cd "$tmp" && PKG_CONFIG_LIBDIR=$tmp PKG_CONFIG_PATH= "$configure" -q) >"$tmp/out" 2>&1
check "configure fails without libxen-dev" test $? != 0
check "names the Xen package" grep -q 'apt-get install libxen-dev' "$tmp/out"

# With everything but cmocka visible, the error names libcmocka-dev.
mkdir "$tmp/pc"
for pc in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
	[ -d "$pc" ] && cp -n "$pc"/*.pc "$tmp/pc/" 2>/dev/null
done
rm -f "$tmp/pc/cmocka.pc"
(cd "$tmp" && PKG_CONFIG_LIBDIR=$tmp/pc PKG_CONFIG_PATH= "$configure" -q) >"$tmp/out" 2>&1
check "configure fails without cmocka" test $? != 0
check "names the cmocka package" grep -q 'apt-get install libcmocka-dev' "$tmp/out"
tap_done
