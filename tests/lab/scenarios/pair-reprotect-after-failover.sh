# Two hosts (runs on the lab host): failover and back. A guest on A, its
# 1 GiB disk on block-xrepl (64 MiB random, the rest zeroes and holes), is
# protected to B, its first sync sent as it is read (A never holds more
# than 16 MiB of it); A's power is pulled and B takes over. The guest writes
# 1 MiB more on B. A boots again with its old disk, which holds writes past
# the checkpoint B resumed from and no replication state: `xrepl protect'
# of the guest on B back to A hashes A's disk chunk by chunk and sends only
# the chunks that differ (a checksum resync), not the 1 GiB; A's replica
# then holds B's 1 MiB. With FULL set (the long suite), the way
# back ends by hand: B's xrepl protect frozen and the guest destroyed
# there, `xrepl failover' on A (both sides with a timeout that cannot end
# it first). Checked each way: the replica holds ticks
# 1..k and the resumed guest prints k or k+1 first (held paused while the
# replica is read); after the way back, A's disk holds B's 1 MiB and the
# random 64 MiB as they were. Printed: the resync's bytes against the
# disk's size, how long A took to hash its disk, the failover times.
. "$PAIR_LIB"
name=rf1
idx=41
ip=$(guest_ip $idx)
img=/var/lib/xrepl/$name.img
disk=$((1 << 30))

ticks() { on "$1" "head -c 512000 $img | tr -c '[:alnum:] \n' '\n' | sed -n 's/^tick \([0-9]*\)$/\1/p' | sort -n"; }
replica_has() { ticks "$1" | grep -qx "$2"; }
# sha256 of N MiB of the disk on HOST from MiB AT
region() { on "$1" "dd if=$img bs=1M skip=$2 count=$3 2>/dev/null | sha256sum | cut -d' ' -f1"; }

# take_over FROM TO power|manual: pulls FROM's power, or (manual) freezes
# FROM's xrepl protect, destroys the guest there and runs `xrepl failover'
# on TO, while TO holds the guest's backup paused once more; then checks
# TO's replica against the resumed guest
take_over() {
	local from=$1 to=$2 how=$3 t_cut k p r_ticks
	must_on "$to" "xl pause $name--incoming" >/dev/null
	sleep $((RANDOM % 3 + 1))
	t_cut=$(now)
	if [ "$how" = power ]; then
		power off "$from" || fail "cannot pull $from's power"
	else
		on "$from" "pkill -STOP -f '^xrepl protect'; xl destroy $name"
		t_cut=$(now)
		must_on "$to" "xrepl failover $name" >/dev/null
	fi
	wait_until 120 on "$to" "grep -q 'failover: $name runs as domain' /run/receive.log" ||
		fail "$to did not take over within 120 s: $(on "$to" tail -n 5 /run/receive.log)"
	t_failover=$(since "$t_cut")
	r_ticks=$(ticks "$to" | tr '\n' ' ')
	k=$(ticks "$to" | tail -n 1)
	[ -n "$k" ] && [ "$r_ticks" = "$(seq -s ' ' 1 "$k") " ] ||
		fail "$to's replica does not hold ticks 1..k: $r_ticks"
	must_on "$to" "xl unpause $name" >/dev/null
	p=$(first_tick "$to" $name)
	[ -n "$p" ] && { [ "$k" = "$p" ] || [ "$k" = $((p - 1)) ]; } ||
		fail "the guest resumed on $to prints tick ${p:-none} first, but the replica holds 1..$k"
	wait_until 60 replica_has "$to" $((p + 2)) ||
		fail "the guest does not run on $to after the failover (no tick $((p + 2)) on its disk)"
	echo "$from -> $to ($how): replica tick $k, first tick $p, $t_failover s"
}

start_receiver
# the ticks' first MiB stays zeroes: a tick reads as one only after a NUL
GUEST_SETUP="truncate -s 1G $img && dd if=/dev/urandom of=$img bs=1M seek=1 count=64 conv=notrunc 2>/dev/null" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_a_to_b $name $idx 10 >/dev/null
random64=$(region A 1 64)
synced=$(on A "json_field sent_bytes /run/xrepl/$name.primary.json")
held=$(on A "json_field held_max_bytes /run/xrepl/$name.primary.json")
[ "${synced:-0}" -ge $((64 << 20)) ] || fail "the first sync sent ${synced:-nothing}, less than the random 64 MiB"
[ "${held:-$disk}" -lt $((17 << 20)) ] ||
	fail "A held ${held:-?} bytes of the first sync at once, not at most 16 MiB"
timing "pair-reprotect first_sync_sent_bytes=$synced first_sync_held_max_bytes=$held"
take_over A B power
t_ab=$t_failover

[ "$(on B "echo fill | nc -w 30 $ip 9")" = ok ] || fail "the guest on B did not write its 1 MiB"
filled=$(region B 512 1)

# no lab_reset on A: its disk is what the failback must bring up to date
power on A >/dev/null || fail "A does not boot again"
# a timeout that cannot end it: the way back ends by xrepl failover alone
on_bg A /run/receive.log "XREPL_LOG=info exec xrepl receive --listen 10.0.1.1:7800 --timeout 600000 --ack-trace /run/ack.trace"
on A 'wait_for 20 sh -c "ss -ltn | grep -q 10.0.1.1:7800"' ||
	fail "xrepl receive does not listen on A: $(on A tail -n 3 /run/receive.log)"
t0=$(now)
must_on B "rm -f /run/xrepl/$name.primary.json; PROTECT_FLAGS='--timeout 600000' INTERVAL_MS=100 protect_to_host $name a" >/dev/null
back() { [ "$(on B "json_field acked /run/xrepl/$name.primary.json")" -ge 10 ] 2>/dev/null; }
wait_until 240 back || fail "protection back to A did not start: $(on B tail -n 5 /run/protect.log)"
t_back=$(since "$t0")
on B "grep -E 'replicating disk|resynced|synced' /run/protect.log /var/log/xen/block-xrepl.log 2>/dev/null" | tail -n 3
sent=$(on B "json_field sent_bytes /run/xrepl/$name.primary.json")
hashed=$(on A "sed -n 's/.*hashed for a checksum resync (\([0-9]*\) chunks, \([0-9.]*\) s).*/\1 \2/p' /run/receive.log")
[ -n "$hashed" ] || fail "A did not hash its disk: $(on A "grep 'disk xvda' /run/receive.log")"
on B "grep -q 'checksum resync' /run/protect.log" || fail "B did not resync by checksum"
digests=$((${hashed% *} * 32))
[ "${sent:-$disk}" -le $((digests + (4 << 20))) ] ||
	fail "the way back sent $sent bytes of a $disk-byte disk, not what differs"
timing "pair-reprotect resync_sent_bytes=$sent digest_bytes=$digests disk_bytes=$disk a_hash_seconds=${hashed#* } seconds_to_protected_back=$t_back"

# A's replica, committed past the resync: B's 1 MiB, and the random 64 MiB
[ "$(region A 512 1)" = "$filled" ] || fail "A's disk does not hold the 1 MiB the guest wrote on B"
[ "$(region A 1 64)" = "$random64" ] || fail "A's disk lost the random 64 MiB"
[ -n "${FULL:-}" ] || exit 0
take_over B A manual
on A "grep -q 'primary lost' /run/receive.log" && fail "A took over by timeout, not by xrepl failover"
[ "$(region A 512 1)" = "$filled" ] || fail "A's disk does not hold the 1 MiB the guest wrote on B"
[ "$(region A 1 64)" = "$random64" ] || fail "A's disk lost the random 64 MiB"
timing "pair-reprotect failover_a_to_b_seconds=$t_ab manual_failover_b_to_a_seconds=$t_failover"
on A "xl destroy $name"
