# A PVH guest whose disk is a raw image behind block-xrepl: xl's hotplug
# script starts `xrepl disk-server', the kernel's nbd client attaches it
# and blkback serves /dev/nbdN to the guest, which writes its counter to the
# disk every second; the image must hold those writes. Destroying the guest
# must take the server and the nbd device away.
. /lab/lib.sh
name=bd1
img=/var/lib/xrepl/$name.img
run=/run/xrepl/disks
mkdir -p /var/lib/xrepl
ln -sf /usr/local/etc/xen/scripts/block-xrepl /etc/xen/scripts/block-xrepl
truncate -s 64M "$img"
start_guest "$name" 7 "disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" ||
	fail "guest with a block-xrepl disk did not boot: $(tail -n 5 /var/log/xen/block-xrepl.log 2>/dev/null)"
domid=$(xl domid "$name")
grep -q 'DOMU: up.*disks=.*xvda' "$(console_log "$name")" || fail "the guest sees no xvda"
dev=$(cat $run/backend-vbd-$domid-*.dev 2>/dev/null)
[ -b "$dev" ] || fail "no nbd device recorded for the disk"
[ "$(cat /sys/block/${dev#/dev/}/size)" = $((64 * 2048)) ] || fail "$dev is not 64 MiB"
server=$(cat $run/backend-vbd-$domid-*.pid 2>/dev/null)
grep -qa "disk-server" "/proc/$server/cmdline" 2>/dev/null || fail "no xrepl disk-server for $img"
# the guest writes "tick N" at sector N % 1000 every second
written() { grep -qa "tick $1" "$img"; }
t0=$(now)
ticks() { tr -c '[:alnum:] \n' '\n' <"$img" | grep -c '^tick [0-9]'; }
wait_for 60 written 5 || fail "the image holds no tick 5 ($(ticks) ticks)"
timing "guest-disk ticks_on_image=$(ticks) nbd=$dev seconds=$(since "$t0")"
xl destroy "$name"
wait_for 20 sh -c "! kill -0 $server 2>/dev/null" || fail "disk-server (pid $server) left after destroy"
[ "$(cat /sys/block/${dev#/dev/}/size)" = 0 ] || fail "$dev still attached after destroy"
ls $run/*.pid >/dev/null 2>&1 && fail "pid files left in $run"
rm -f "$img"
