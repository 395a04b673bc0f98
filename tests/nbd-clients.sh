#!/bin/bash
# xrepl disk-server against real NBD clients: nbdinfo, qemu-io, nbdcopy and
# fio's nbd engine with verification, over a unix socket and over TCP.
. "$srcdir/tests/tap.sh"
xrepl=$builddir/tools/xrepl
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
uri="nbd+unix:///?socket=$dir/sock"

for tool in nbdinfo qemu-io nbdcopy fio; do
	command -v $tool >/dev/null || { echo "1..0 # SKIP $tool missing (setup.sh installs it)"; exit 0; }
done

truncate -s 64M "$dir/img"
"$xrepl" disk-server "$dir/img" --socket "$dir/sock" 2>"$dir/server.log" &
pid=$!
for i in $(seq 50); do [ -S "$dir/sock" ] && break; sleep 0.1; done

nbdinfo "$uri" >"$dir/info" 2>&1
check "nbdinfo: size 64M" grep -q 'export-size: 67108864' "$dir/info"
check "nbdinfo: can flush, fua, trim, zero" \
	sh -c "grep -q 'can_flush: true' $dir/info && grep -q 'can_fua: true' $dir/info &&
		grep -q 'can_trim: true' $dir/info && grep -q 'can_zero: true' $dir/info"
check "nbdinfo: block sizes" grep -q 'block_size_maximum: 33554432' "$dir/info"
check "nbdinfo --list names the export" sh -c "nbdinfo --list '$uri' | grep -q 'export=\"img\"'"

qio() { qemu-io -f raw "$uri" "$@" >>"$dir/qemu-io.log" 2>&1; }
check "qemu-io: write then read back a pattern" \
	qio -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'
check "the image holds what was written" \
	cmp -n 1048576 "$dir/img" <(head -c 1M /dev/zero | tr '\0' '\253')
check "qemu-io: write zeroes reads back zeroes" \
	qio -c 'write -P 0xcd 1M 1M' -c 'write -z 1M 1M' -c 'read -P 0 1M 1M'
check "qemu-io: write zeroes, holes allowed" \
	qio -c 'write -P 0xcd 1M 64k' -c 'write -z -u 1M 64k' -c 'read -P 0 1M 64k'
check "qemu-io: trim reads back zeroes from a file" \
	qio -c 'write -P 0x77 2M 1M' -c 'discard 2M 1M' -c 'read -P 0 2M 1M'
check "qemu-io: FUA write and flush" \
	qio -c 'write -f -P 0x11 3M 4k' -c flush -c 'read -P 0x11 3M 4k'
check "qemu-io: a read past the end fails" \
	sh -c "! qemu-io -f raw '$uri' -c 'read 64M 4k' >/dev/null 2>&1"

head -c 64M /dev/urandom >"$dir/rnd"
check "nbdcopy in" nbdcopy "$dir/rnd" "$uri"
check "nbdcopy out" nbdcopy "$uri" "$dir/out"
check "nbdcopy round trip is byte-exact" cmp "$dir/rnd" "$dir/out"
check "and the image is what went in" cmp "$dir/rnd" "$dir/img"

check "fio nbd engine: random writes, verified" \
	fio --name=verify --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k \
	--size=16M --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
	--output="$dir/fio.log"
check "fio nbd engine: mixed sizes, verified" \
	fio --name=mixed --ioengine=nbd --uri="$uri" --rw=randrw --bsrange=512-256k \
	--size=16M --verify=md5 --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
	--output="$dir/fio2.log"

kill $pid
wait $pid
check "disk-server stops on SIGTERM and removes its socket" test ! -e "$dir/sock"

"$xrepl" disk-server -r "$dir/img" --listen 127.0.0.1:0 2>"$dir/ro.log" &
pid=$!
port=
for i in $(seq 50); do
	port=$(ss -ltnp 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p { n = split($4, a, ":"); print a[n] }')
	[ -n "$port" ] && break
	sleep 0.1
done
check "TCP: the read-only server listens" test -n "$port"
check "TCP: qemu-io reads over nbd://" \
	sh -c "qemu-io -f raw -r 'nbd://127.0.0.1:$port' -c 'read 0 4k' >/dev/null 2>&1"
# refused as read-only, not for want of a server (qemu-io then says so)
check "read-only: a write is refused" \
	sh -c "[ -n '$port' ] && qemu-io -f raw 'nbd://127.0.0.1:$port' -c 'write 0 4k' 2>&1 | grep -q 'Permission denied'"
check "read-only: nbdinfo says so" \
	sh -c "nbdinfo 'nbd://127.0.0.1:$port' | grep -q 'is_read_only: true'"
kill $pid
wait $pid

"$xrepl" disk-server "$dir/nonexistent" --socket "$dir/s2" >"$dir/err" 2>&1
check "a missing image is named" grep -q "cannot open $dir/nonexistent" "$dir/err"
"$xrepl" disk-server /dev/null --socket "$dir/s2" >"$dir/err" 2>&1
check "a character device is refused" grep -q '/dev/null: not a raw image file or block device' "$dir/err"
tap_done
