# Two hosts (runs on the lab host): `xl reboot' of a protected guest (disk
# on block-xrepl, output buffered). B is told (reboot) and destroys its
# copy; xl builds the guest again as a new domain, and xrepl protect
# protects that one again by itself. Exactly one copy runs, with its
# backup, after the reboot. The rebooted guest's disk has a new
# disk-server, which takes over what the old one saved of the chunks the
# replica lacks: the disk (its first 16 MiB random) is resynced, not sent
# whole. The time to protected again and the bytes the resync sent are
# printed.
. "$PAIR_LIB"
name=gr1
idx=38
img=/var/lib/xrepl/$name.img
start_receiver
GUEST_SETUP="head -c 16M /dev/urandom >$img && truncate -s 64M $img" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_a_to_b $name $idx 10 >/dev/null
old=$(on A "xl domid $name")
t0=$(now)
must_on A "xl reboot $name" >/dev/null
on B "wait_for 60 grep -q 'the primary stopped protection (reboot)' /run/receive.log" ||
	fail "B was not told of the reboot: $(on B tail -n 3 /run/receive.log)"
again() {
	local id
	id=$(on A "xl domid $name" 2>/dev/null) && [ "$id" != "$old" ] &&
		[ "$(on A "json_field domid /run/xrepl/$name.primary.json")" = "$id" ] &&
		[ "$(acked A $name)" -ge 5 ]
}
wait_until 240 again || fail "the rebooted guest is not protected again: $(on A tail -n 5 /run/protect.log)"
took=$(since "$t0")
on A "grep -v 'All records' /run/protect.log | tail -n 8"
on B "grep -q failover /run/receive.log" && fail "B failed over on the reboot"
one_copy_and_backup $name || fail "not one copy and its backup (copies above)"
sent=$(on A "json_field sent_bytes /run/xrepl/$name.primary.json")
waited=$(on B "grep -c 'waiting for the receiver of $name' /run/receive.log")
on A "grep -h 'not yet on its replica' /var/log/xen/block-xrepl.log" | tail -n 2
[ "${sent:-$((64 << 20))}" -lt $((4 << 20)) ] ||
	fail "the rebooted guest's disk sent $sent bytes, not just what changed"
timing "pair-guest-reboot seconds_to_protected_again=$took old_domid=$old new_domid=$(on A "xl domid $name") disk_sent_bytes=${sent:-?} disk_bytes=$((64 << 20)) b_waited_for_old_receiver=${waited:-?}"
