# Protection of a guest on a block-xrepl disk stops cleanly (xrepl
# unprotect): the backup keeps its replica and records what it was last
# committed under. The guest writes on unprotected; a second protection
# then resyncs only the chunks changed since, not the whole disk, and after
# it stops too the replica holds exactly the primary's ticks up to where it
# was committed.
. /lab/lib.sh
name=br1
img=/var/lib/xrepl/$name.img
replica=/var/lib/xrepl/$name-replica.img
state_dir=/var/lib/xrepl
mkdir -p "$state_dir"
ln -sf /usr/local/etc/xen/scripts/block-xrepl /etc/xen/scripts/block-xrepl
rm -f "$img" "$replica" "$state_dir"/*.state
truncate -s 64M "$img"
: >/var/log/xen/block-xrepl.log

ticks() { head -c 512000 "$1" | tr -c '[:alnum:] \n' '\n' | sed -n 's/^tick \([0-9]*\)$/\1/p' | sort -n; }
has_tick() { head -c 512000 "$1" | grep -qa "tick $2\$"; }
stop_protection() {
	xrepl unprotect "$name" || fail "xrepl unprotect failed"
	wait "$ppid" || { show_logs; fail "xrepl protect exited $? after unprotect"; }
	wait_for 30 sh -c "! pgrep -f '^xrepl receive' >/dev/null" || fail "xrepl receive still runs"
}

xrepl genkey /run/$name.key || fail "xrepl genkey failed"
export DISKS= RECEIVE_FLAGS="--disk-map $img=$replica --state-dir $state_dir"
GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_with_retries "$name" 12 20 400 protect_to_localhost "$name" /run/$name.key
grep -q 'replicating disk xvda (full sync)' /run/protect.log || fail "the first protection was no full sync"
stop_protection
ls "$state_dir"/*.state >/dev/null 2>&1 || fail "the backup kept no replica state in $state_dir"

# unprotected, the guest writes on
last=$(ticks "$img" | tail -n 1)
wait_for 60 has_tick "$img" $((last + 3)) || fail "the guest does not write on (tick $last)"

rm -f "/run/xrepl/$name.primary.json"
protect_to_localhost "$name" /run/$name.key
wait_acked "$name" 20 300 || { show_logs; fail "the second protection did not reach 20 epochs"; }
grep -q 'replicating disk xvda (the backup offers its replica for a resync' /run/protect.log || { show_logs; fail "the second protection did not resync"; }
resynced=$(sed -n 's/.*resynced \([0-9]*\) of 67108864 bytes.*/\1/p' /var/log/xen/block-xrepl.log | tail -n 1)
[ -n "$resynced" ] || fail "the disk-server logged no resync: $(tail -n 3 /var/log/xen/block-xrepl.log)"
[ "$resynced" -le $((4 << 20)) ] || fail "the resync sent $resynced bytes of 64 MiB"
stop_protection

k=$(ticks "$replica" | tail -n 1)
[ "$(ticks "$replica" | tr '\n' ' ')" = "$(seq -s ' ' 1 "$k") " ] ||
	fail "the replica's ticks are not 1..$k: $(ticks "$replica" | tr '\n' ' ')"
[ "$k" -ge $((last + 3)) ] || fail "the replica did not get the ticks written unprotected (has 1..$k)"
cmp -n $(((k + 1) * 512)) "$img" "$replica" || fail "sectors 0..$k differ from the primary's"
timing "blkrepl-resync resynced_bytes=$resynced disk_bytes=67108864 ticks_unprotected=$((k - last))"
xl destroy "$name"
rm -f "$img" "$replica" "$state_dir"/*.state
